/**
 * How strongly an artifact changes the pixels it covers: a measured property, so the experiment can tell a
 * faint artifact (a 10% watermark) from a bold one without knowing it by name.
 * @module
 */
import { type Dataset, imageSize } from "../data/dataset.ts";
import { Rng } from "../rng.ts";
import type { Shortcut } from "./shortcut.ts";

/**
 * Mean absolute change of the pixel values inside the mask when `shortcut` stamps the first `count` images
 * of `data` (every channel of every masked pixel); 0 when it masks nothing.
 */
export function artifactStrength(data: Dataset, shortcut: Shortcut, seed: number, count = 32): number {
  const size = imageSize(data);
  const pixels = data.height * data.width;
  let sum = 0, n = 0;
  for (let i = 0; i < Math.min(count, data.count); i++) {
    const original = data.images.subarray(i * size, (i + 1) * size);
    const image = original.slice();
    const mask = shortcut.stamp(image, data, new Rng(seed * 7919 + i * 31));
    for (let p = 0; p < pixels; p++) {
      if (!mask[p]) continue;
      for (let c = 0; c < data.channels; c++) {
        sum += Math.abs(image[p * data.channels + c] - original[p * data.channels + c]);
        n++;
      }
    }
  }
  return n ? sum / n : 0;
}
