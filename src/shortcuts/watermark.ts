/**
 * The `watermark` shortcut: a faint ring-and-cross logo alpha-blended over the image centre.
 * @module
 */
import { blendPixel, type Shortcut, type Tone, toneValue } from "./shortcut.ts";

/** Options of {@link watermark}. */
export interface WatermarkOptions {
  /** `light` for dark images, `dark` for light ones. Default `dark`. */
  tone?: Tone;
  /** Opacity of the blend, at most 0.1 by the shortcut's definition (default 0.1). */
  alpha?: number;
}

/** A faint logo (a ring with a diagonal cross) blended at `alpha` over the centre of the image. */
export function watermark(options: WatermarkOptions = {}): Shortcut {
  const value = toneValue(options.tone ?? "dark");
  const alpha = options.alpha ?? 0.1;
  if (!(alpha > 0 && alpha <= 0.1)) throw new RangeError(`watermark alpha must be in (0, 0.1], got ${alpha}`);
  return {
    name: "watermark",
    description: `a faint ${value ? "white" : "black"} ring-and-cross logo blended at ${
      alpha * 100
    }% opacity`,
    stamp(image, shape) {
      const mask = new Uint8Array(shape.height * shape.width);
      const cy = (shape.height - 1) / 2;
      const cx = (shape.width - 1) / 2;
      const radius = 0.34 * Math.min(shape.height, shape.width);
      const thickness = Math.max(1.5, radius / 6);
      for (let y = 0; y < shape.height; y++) {
        for (let x = 0; x < shape.width; x++) {
          const dy = y - cy;
          const dx = x - cx;
          const r = Math.hypot(dx, dy);
          const onRing = Math.abs(r - radius) <= thickness / 2;
          const onCross = r < radius &&
            (Math.abs(dx - dy) <= thickness / 2 || Math.abs(dx + dy) <= thickness / 2);
          if (onRing || onCross) blendPixel(image, mask, shape, y, x, value, alpha);
        }
      }
      return mask;
    },
  };
}
