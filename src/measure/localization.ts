/**
 * How much of a saliency map falls on a known region (an artifact's mask). Each function takes one map
 * (`height * width` values) and one mask (`height * width` bytes, 1 inside).
 * @module
 */

/**
 * Share of the mask's pixels in the image.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * assert.equal(areaFraction(Uint8Array.of(1, 0, 0, 0)), 0.25);
 * ```
 */
export function areaFraction(mask: Uint8Array): number {
  let inside = 0;
  for (let i = 0; i < mask.length; i++) inside += mask[i] ? 1 : 0;
  return inside / mask.length;
}

/**
 * Relevance mass inside the mask: positive relevance inside / all positive relevance (Arras et al. 2022).
 * A map with no positive relevance gives 0. Compare with {@link areaFraction}: a map blind to the mask scores
 * about its area fraction.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * // Positive relevance 3 inside, 1 outside; the negative value does not count.
 * assert.equal(massInMask([3, 1, -2, 0], Uint8Array.of(1, 0, 1, 0)), 0.75);
 * ```
 */
export function massInMask(map: ArrayLike<number>, mask: Uint8Array): number {
  let inside = 0;
  let total = 0;
  for (let i = 0; i < mask.length; i++) {
    const v = map[i] > 0 ? map[i] : 0;
    total += v;
    if (mask[i]) inside += v;
  }
  return total > 0 ? inside / total : 0;
}

/**
 * Relevance rank accuracy (Arras et al. 2022): of the K most relevant pixels, K being the mask's size, the
 * share that lie inside the mask. Ties are broken by pixel index, so the result is deterministic.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * // The mask has 2 pixels; of the 2 most relevant pixels (0 and 2) one lies inside.
 * assert.equal(rankAccuracy([3, 1, 2, 0], Uint8Array.of(1, 0, 0, 1)), 0.5);
 * ```
 */
export function rankAccuracy(map: ArrayLike<number>, mask: Uint8Array): number {
  let k = 0;
  for (let i = 0; i < mask.length; i++) k += mask[i] ? 1 : 0;
  if (k === 0) return 0;
  const order = Array.from({ length: mask.length }, (_, i) => i);
  order.sort((a, b) => (map[b] - map[a]) || (a - b));
  let hits = 0;
  for (let r = 0; r < k; r++) hits += mask[order[r]] ? 1 : 0;
  return hits / k;
}

/**
 * Pointing game (Zhang et al. 2018): 1 when the most relevant pixel lies inside the mask, else 0.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * assert.equal(pointingGame([0, 5, 1, 2], Uint8Array.of(0, 1, 0, 0)), 1);
 * assert.equal(pointingGame([0, 5, 1, 2], Uint8Array.of(0, 0, 0, 1)), 0);
 * ```
 */
export function pointingGame(map: ArrayLike<number>, mask: Uint8Array): number {
  let best = 0;
  for (let i = 1; i < mask.length; i++) if (map[i] > map[best]) best = i;
  return mask[best] ? 1 : 0;
}

/** The four localization scores of one map against one mask. */
export interface LocalizationScores {
  massInArtifact: number;
  areaFraction: number;
  rankAccuracy: number;
  pointingGame: number;
}

/**
 * Mean of the four scores over maps `[n * height * width]` and their masks.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * const maps = Float32Array.of(1, 0, 0, 1); // two maps of two pixels
 * const masks = [Uint8Array.of(1, 0), Uint8Array.of(1, 0)]; // the first map is right, the second wrong
 * assert.deepEqual(meanLocalization(maps, masks), {
 *   massInArtifact: 0.5,
 *   areaFraction: 0.5,
 *   rankAccuracy: 0.5,
 *   pointingGame: 0.5,
 * });
 * ```
 */
export function meanLocalization(maps: Float32Array, masks: Uint8Array[]): LocalizationScores {
  const size = masks[0]?.length ?? 0;
  const sum = { massInArtifact: 0, areaFraction: 0, rankAccuracy: 0, pointingGame: 0 };
  masks.forEach((mask, i) => {
    const map = maps.subarray(i * size, (i + 1) * size);
    sum.massInArtifact += massInMask(map, mask);
    sum.areaFraction += areaFraction(mask);
    sum.rankAccuracy += rankAccuracy(map, mask);
    sum.pointingGame += pointingGame(map, mask);
  });
  const n = Math.max(1, masks.length);
  return {
    massInArtifact: sum.massInArtifact / n,
    areaFraction: sum.areaFraction / n,
    rankAccuracy: sum.rankAccuracy / n,
    pointingGame: sum.pointingGame / n,
  };
}
