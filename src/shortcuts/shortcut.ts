/**
 * The `Shortcut` interface: an artifact that stamps an image in place and reports where it lies.
 * @module
 */
import type { Rng } from "../rng.ts";

/** Height, width and channel count of one image. */
export interface ImageShape {
  height: number;
  width: number;
  channels: number;
}

/**
 * A shortcut artifact. `stamp` changes one image (row-major `[height, width, channels]`, values in [0, 1])
 * in place and returns its mask: `height * width` bytes, 1 where the artifact lies. On a mid-gray image the
 * mask is exactly the set of pixels the stamp changed; on a real image a masked pixel may keep its value
 * when it already had the artifact's colour.
 */
export interface Shortcut {
  /** Short name used on the command line and in metrics, e.g. `square`. */
  name: string;
  /** One sentence for the report. */
  description: string;
  /** Stamps `image` in place; `rng` varies per-image details (e.g. the timestamp's digits). */
  stamp(image: Float32Array, shape: ImageShape, rng: Rng): Uint8Array;
}

/** Whether artifacts should be light (on dark images such as MNIST) or dark (on light images). */
export type Tone = "light" | "dark";

/** The artifact colour value for a tone: 1 for light, 0 for dark. */
export function toneValue(tone: Tone): number {
  return tone === "light" ? 1 : 0;
}

/** Blends pixel (y, x) of `image` toward `value` by `alpha` in every channel and marks it in `mask`. */
export function blendPixel(
  image: Float32Array,
  mask: Uint8Array,
  shape: ImageShape,
  y: number,
  x: number,
  value: number,
  alpha: number,
): void {
  if (y < 0 || x < 0 || y >= shape.height || x >= shape.width) return;
  const base = (y * shape.width + x) * shape.channels;
  for (let c = 0; c < shape.channels; c++) {
    image[base + c] = (1 - alpha) * image[base + c] + alpha * value;
  }
  mask[y * shape.width + x] = 1;
}
