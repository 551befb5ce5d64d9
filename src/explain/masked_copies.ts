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
 * import { tf } from "../deps.ts";
 * const copies = maskedCopies(tf.ones([2, 2, 2, 1]), tf.tensor2d([[1, 0, 1, 0], [0, 1, 0, 1]]));
 * console.assert(copies.shape[0] === 4);
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
