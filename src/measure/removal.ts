/**
 * The removal (flip) metric of a contrastive map: remove the pixels the map ranks highest and see whether the
 * model's mistake turns into the true class ({@link removalTest}), and how much two maps agree on their top
 * pixels ({@link topOverlap}).
 * @module
 */
import { tf } from "../deps.ts";
import type { ExplainableModel } from "../explain/explainable_model.ts";
import { inputsPerPass } from "../explain/batching.ts";

/**
 * Share of the top `fraction` pixels of `a` that are also among the top `fraction` of `b` (ties broken by
 * index).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * // The top 20% of ten pixels is two: both maps rank pixel 0 among them, only one ranks pixel 1.
 * assert.equal(topOverlap([9, 8, 0, 0, 0, 0, 0, 0, 0, 0], [9, 0, 8, 0, 0, 0, 0, 0, 0, 0], 0.2), 0.5);
 * ```
 */
export function topOverlap(a: ArrayLike<number>, b: ArrayLike<number>, fraction: number): number {
  const k = Math.max(1, Math.round(fraction * a.length));
  const top = (v: ArrayLike<number>) =>
    new Set(Array.from({ length: v.length }, (_, i) => i).sort((i, j) => v[j] - v[i] || i - j).slice(0, k));
  const ta = top(a);
  let hits = 0;
  for (const i of top(b)) if (ta.has(i)) hits++;
  return hits / k;
}

/** What {@link removalTest} measures over the images. */
export interface RemovalResult {
  /** Share of the images whose prediction becomes the true class once the map's top 5% pixels are removed. */
  flipToTrueAt5: number;
  /** The same at 10%. */
  flipToTrueAt10: number;
  /** Mean fall of the margin logit p − logit q when the top 10% are removed. */
  marginDrop: number;
}

/**
 * Sets the top 5% and 10% pixels (by map value, largest first) of each image to `baseline` and measures how
 * often the prediction becomes the true class `q`, and how much the margin logit p − logit q falls (at 10%).
 * `maps` holds one `[height·width]` map per image of `x`; all perturbed copies go through the model in one
 * batch per level.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 *
 * await tf.setBackend("cpu");
 * // Class 1 wins only through pixel 0: logits [0, 10·x₀ − 1].
 * const logits = (x: tf.Tensor4D) =>
 *   tf.tidy(() => {
 *     const x0 = x.reshape([x.shape[0], -1]).slice([0, 0], [-1, 1]);
 *     return tf.concat([tf.zerosLike(x0), tf.sub(tf.mul(x0, 10), 1)], 1) as tf.Tensor2D;
 *   });
 * const x = tf.fill([1, 4, 5, 1], 0.5) as tf.Tensor4D; // predicted 1 (margin 4), truly 0
 * const map = new Float32Array(20);
 * map[0] = 1; // the map points at the culprit
 * const result = await removalTest({ classes: 2, logits }, x, map, [1], [0], 0);
 * assert.deepEqual([result.flipToTrueAt5, result.flipToTrueAt10], [1, 1]);
 * assert.ok(Math.abs(result.marginDrop - 5) < 1e-5); // from 4 to −1
 * x.dispose();
 * ```
 */
export async function removalTest(
  model: ExplainableModel,
  x: tf.Tensor4D,
  maps: Float32Array,
  p: number[],
  q: number[],
  baseline: number,
): Promise<RemovalResult> {
  const [n, height, width, channels] = x.shape;
  const pixels = height * width;
  const perPass = await inputsPerPass(model, x, {
    kind: "forward",
    requested: 512,
    extraBytesPerInput: 4 * pixels * channels,
    label: "the removal test",
  });
  const margins = async (input: tf.Tensor4D) => {
    const margin: number[] = [];
    const best = new Int32Array(n);
    for (let start = 0; start < n; start += perPass) {
      const m = Math.min(perPass, n - start);
      const [logits, arg] = tf.tidy(() => {
        const l = model.logits(input.slice([start, 0, 0, 0], [m, -1, -1, -1]));
        return [l, tf.argMax(l, 1)];
      });
      const values = await logits.data() as Float32Array;
      const classes = logits.shape[1];
      best.set(await arg.data() as Int32Array, start);
      logits.dispose();
      arg.dispose();
      for (let i = 0; i < m; i++) {
        margin.push(values[i * classes + p[start + i]] - values[i * classes + q[start + i]]);
      }
    }
    return { margin, best };
  };
  const before = await margins(x);
  const result = { flipToTrueAt5: 0, flipToTrueAt10: 0, marginDrop: 0 };
  for (const fraction of [0.05, 0.1]) {
    const k = Math.max(1, Math.round(fraction * pixels));
    const mask = new Float32Array(n * pixels);
    for (let i = 0; i < n; i++) {
      const map = maps.subarray(i * pixels, (i + 1) * pixels);
      const order = Array.from({ length: pixels }, (_, j) => j).sort((a, b) => map[b] - map[a] || a - b);
      for (let r = 0; r < k; r++) mask[i * pixels + order[r]] = 1;
    }
    const removed = tf.tidy(() => {
      const m = tf.tensor4d(mask, [n, height, width, 1]);
      return tf.add(tf.mul(x, tf.sub(1, m)), tf.mul(m, baseline)).reshape([
        n,
        height,
        width,
        channels,
      ]) as tf.Tensor4D;
    });
    const after = await margins(removed);
    removed.dispose();
    const flips = after.best.reduce((s, b, i) => s + (b === q[i] ? 1 : 0), 0) / n;
    if (fraction === 0.05) result.flipToTrueAt5 = flips;
    else {
      result.flipToTrueAt10 = flips;
      result.marginDrop = before.margin.reduce((s, m, i) => s + (m - after.margin[i]), 0) / n;
    }
  }
  return result;
}
