/**
 * Perturbed copies for the forward-only methods (occlusion, RISE): every image times every mask, plus a fill,
 * in two broadcast ops. (A WGSL kernel for the same was measured no faster, 16.2 against 15.9 occlusion
 * maps/s: the forward passes over the copies take the time, so it was removed.)
 * @module
 */
import { tf } from "../deps.ts";

/**
 * `[m·k, H, W, C]`: image `i` times mask `p` at row `i·k + p`, i.e. `x[i] · keep[p] + fill[p]` per pixel (every
 * channel alike). `keep` and `fill` are `[k, H·W]`; without `fill` nothing is added. Throws a RangeError when a
 * mask has another size.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 *
 * await tf.setBackend("cpu");
 * const x = tf.tensor4d([1, 2, 3, 4, 5, 6, 7, 8], [2, 2, 2, 1]); // two 2×2 images
 * const keep = tf.tensor2d([[1, 0, 0, 1], [0, 1, 1, 0]]); // two masks
 * const copies = maskedCopies(x, keep);
 * assert.deepEqual(copies.shape, [4, 2, 2, 1]);
 * assert.deepEqual(Array.from(copies.dataSync()), [1, 0, 0, 4, 0, 2, 3, 0, 5, 0, 0, 8, 0, 6, 7, 0]);
 * tf.dispose([x, keep, copies]);
 * ```
 */
export function maskedCopies(x: tf.Tensor4D, keep: tf.Tensor2D, fill?: tf.Tensor2D): tf.Tensor4D {
  const [m, height, width, channels] = x.shape;
  const k = keep.shape[0];
  if (
    keep.shape[1] !== height * width || (fill && (fill.shape[0] !== k || fill.shape[1] !== height * width))
  ) {
    throw new RangeError(
      `masked copies: masks must be [k, ${height * width}], got keep ${keep.shape}` +
        (fill ? ` and fill ${fill.shape}` : ""),
    );
  }
  return tf.tidy(() => {
    const shape = [1, k, height, width, 1];
    const kept = tf.mul(tf.cast(x, "float32").expandDims(1), keep.reshape(shape));
    const out = fill ? tf.add(kept, fill.reshape(shape)) : kept;
    return out.reshape([m * k, height, width, channels]) as tf.Tensor4D;
  });
}
