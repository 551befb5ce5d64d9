/**
 * The `square` shortcut: a big solid patch in the top-left corner.
 * @module
 */
import { blendPixel, type Shortcut, type Tone, toneValue } from "./shortcut.ts";

/** Options of {@link squareShortcut}. */
export interface SquareShortcutOptions {
  /** `light` (white, for dark images like MNIST) or `dark` (black, for light images). Default `dark`. */
  tone?: Tone;
  /** Side as a fraction of the smaller image side (default 0.25: 7 px on 28x28). */
  size?: number;
  /** Offset from the top-left corner in pixels (default 1). */
  offset?: number;
}

/** A solid square patch of a fixed place and colour. */
export function squareShortcut(options: SquareShortcutOptions = {}): Shortcut {
  const value = toneValue(options.tone ?? "dark");
  const fraction = options.size ?? 0.25;
  const offset = options.offset ?? 1;
  return {
    name: "square",
    description: `a solid ${value ? "white" : "black"} square in the top-left corner`,
    stamp(image, shape) {
      const side = Math.max(2, Math.round(fraction * Math.min(shape.height, shape.width)));
      const mask = new Uint8Array(shape.height * shape.width);
      for (let y = offset; y < offset + side; y++) {
        for (let x = offset; x < offset + side; x++) blendPixel(image, mask, shape, y, x, value, 1);
      }
      return mask;
    },
  };
}
