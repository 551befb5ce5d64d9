/**
 * How strongly an artifact changes the pixels it covers: a measured property, so the experiment can tell a
 * faint artifact (a 10% watermark) from a bold one without knowing it by name.
 * @module
 */
import { type Dataset, imageSize, subset } from "../data/dataset.ts";
import { stampAll } from "./plan.ts";
import type { Shortcut } from "./shortcut.ts";

/**
 * Mean absolute change of the pixel values inside the mask when `shortcut` stamps the first `count` images
 * of `data` (every channel of every masked pixel); 0 when it masks nothing.
 */
export function artifactStrength(data: Dataset, shortcut: Shortcut, seed: number, count = 32): number {
  const original = subset(data, [...Array(Math.min(count, data.count)).keys()]);
  const stamped = stampAll(original, shortcut, seed);
  const size = imageSize(data);
  let sum = 0, n = 0;
  stamped.masks.forEach((mask, i) => {
    for (let p = 0; p < mask.length; p++) {
      if (!mask[p]) continue;
      for (let c = 0; c < data.channels; c++) {
        const k = i * size + p * data.channels + c;
        sum += Math.abs(stamped.data.images[k] - original.images[k]);
        n++;
      }
    }
  });
  return n ? sum / n : 0;
}
