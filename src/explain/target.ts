/**
 * Explanation targets: a class per image, or a contrast "logit p minus logit q" per image.
 * @module
 */
import { tf } from "../deps.ts";
import { HansError } from "../errors.ts";

/** A contrast per image: explain logit `p[i]` minus logit `q[i]` ("why p rather than q"). */
export interface ContrastTarget {
  p: ArrayLike<number>;
  q: ArrayLike<number>;
}

/** A class per image, or a {@link ContrastTarget}. */
export type Target = ArrayLike<number> | ContrastTarget;

/**
 * True when `target` is a contrast.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * assert.equal(isContrast({ p: [3], q: [8] }), true);
 * assert.equal(isContrast([3]), false);
 * ```
 */
export function isContrast(target: Target): target is ContrastTarget {
  return typeof target === "object" && target !== null && "p" in target && "q" in target;
}

/**
 * Number of images a target speaks of.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * assert.equal(targetLength([3, 1, 4]), 3);
 * assert.equal(targetLength({ p: [3, 1], q: [8, 7] }), 2);
 * ```
 */
export function targetLength(target: Target): number {
  return isContrast(target) ? target.p.length : target.length;
}

/**
 * The entries `[start, end)` of a target.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(sliceTarget([3, 1, 4], 1, 3), [1, 4]);
 * assert.deepEqual(sliceTarget({ p: [3, 1, 4], q: [8, 7, 9] }, 0, 1), { p: [3], q: [8] });
 * ```
 */
export function sliceTarget(target: Target, start: number, end: number): Target {
  if (isContrast(target)) {
    return { p: Array.from(target.p).slice(start, end), q: Array.from(target.q).slice(start, end) };
  }
  return Array.from(target).slice(start, end);
}

/**
 * The target as a weight matrix `[n, classes]`: the score of image i is `sum_k logits[i,k] * w[i,k]`
 * (a one-hot row for a class; +1 at p and -1 at q for a contrast).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 *
 * await tf.setBackend("cpu");
 * const w = targetWeights({ p: [2], q: [0] }, 3); // "why class 2 rather than class 0"
 * assert.deepEqual(w.arraySync(), [[-1, 0, 1]]);
 * w.dispose();
 * ```
 */
export function targetWeights(target: Target, classes: number): tf.Tensor2D {
  const n = targetLength(target);
  const w = new Float32Array(n * classes);
  const check = (c: number) => {
    if (!Number.isInteger(c) || c < 0 || c >= classes) {
      throw new HansError(`explanation target class ${c} is outside 0..${classes - 1}.`);
    }
    return c;
  };
  for (let i = 0; i < n; i++) {
    if (isContrast(target)) {
      w[i * classes + check(target.p[i])] += 1;
      w[i * classes + check(target.q[i])] -= 1;
    } else {
      w[i * classes + check(target[i])] = 1;
    }
  }
  return tf.tensor2d(w, [n, classes]);
}

/**
 * Per-image target scores `[n]` from logits `[n, classes]` and weights from {@link targetWeights}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 *
 * await tf.setBackend("cpu");
 * const logits = tf.tensor2d([[1, 2, 5], [4, 0, 1]]);
 * const weights = targetWeights([2, 0], 3);
 * const scores = targetScores(logits, weights);
 * assert.deepEqual(scores.arraySync(), [5, 4]);
 * tf.dispose([logits, weights, scores]);
 * ```
 */
export function targetScores(logits: tf.Tensor2D, weights: tf.Tensor2D): tf.Tensor1D {
  return tf.sum(tf.mul(logits, weights), 1);
}
