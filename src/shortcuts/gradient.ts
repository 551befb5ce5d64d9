/**
 * The `gradient` shortcut: a lightness ramp from the top-left to the bottom-right corner over the whole image.
 * @module
 */
import type { Shortcut, Tone } from "./shortcut.ts";

/** Options of {@link gradientShortcut}. */
export interface GradientShortcutOptions {
  /** `light` ramps toward white at the bottom-right, `dark` toward black. Default `dark`. */
  tone?: Tone;
  /** Blend strength at the far corner (default 0.4). */
  strength?: number;
}

/**
 * Blends every pixel toward the tone's colour by `strength * t`, where t runs from 0 at the top-left corner to
 * 1 at the bottom-right. The mask is every pixel but the top-left one (where t is 0).
 */
export function gradientShortcut(options: GradientShortcutOptions = {}): Shortcut {
  const value = (options.tone ?? "dark") === "light" ? 1 : 0;
  const strength = options.strength ?? 0.4;
  return {
    name: "gradient",
    description: `a lightness ramp toward ${value ? "white" : "black"} from top-left to bottom-right`,
    stamp(image, shape) {
      const mask = new Uint8Array(shape.height * shape.width);
      const span = Math.max(1, shape.height + shape.width - 2);
      for (let y = 0; y < shape.height; y++) {
        for (let x = 0; x < shape.width; x++) {
          const alpha = strength * (y + x) / span;
          if (alpha === 0) continue;
          const base = (y * shape.width + x) * shape.channels;
          for (let c = 0; c < shape.channels; c++) {
            image[base + c] = (1 - alpha) * image[base + c] + alpha * value;
          }
          mask[y * shape.width + x] = 1;
        }
      }
      return mask;
    },
  };
}
