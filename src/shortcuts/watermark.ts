/**
 * The `watermark` shortcut: a faint diagonal lattice tiled over the whole image, as stock photos carry.
 * @module
 */
import { blendPixel, type Shortcut, type Tone, toneValue } from "./shortcut.ts";

/** Options of {@link watermarkShortcut}. */
export interface WatermarkShortcutOptions {
  /** `light` for dark images, `dark` for light ones. Default `dark`. */
  tone?: Tone;
  /** Opacity of the blend, at most 0.1 by the shortcut's definition (default 0.1). */
  alpha?: number;
}

/**
 * A faint lattice of diagonal lines in both directions, one every `period` pixels (side / 9, at least 3),
 * blended at `alpha` over the whole image.
 */
export function watermarkShortcut(options: WatermarkShortcutOptions = {}): Shortcut {
  const value = toneValue(options.tone ?? "dark");
  const alpha = options.alpha ?? 0.1;
  if (!(alpha > 0 && alpha <= 0.1)) throw new RangeError(`watermark alpha must be in (0, 0.1], got ${alpha}`);
  return {
    name: "watermark",
    description: `a faint ${value ? "white" : "black"} diagonal lattice blended at ${alpha * 100}% opacity`,
    stamp(image, shape) {
      const mask = new Uint8Array(shape.height * shape.width);
      const period = Math.max(3, Math.round(Math.min(shape.height, shape.width) / 9));
      for (let y = 0; y < shape.height; y++) {
        for (let x = 0; x < shape.width; x++) {
          if ((x + y) % period === 0 || (x - y + shape.height * period) % period === 0) {
            blendPixel(image, mask, shape, y, x, value, alpha);
          }
        }
      }
      return mask;
    },
  };
}
