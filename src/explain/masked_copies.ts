/**
 * Perturbed copies for the forward-only methods (occlusion, RISE): every image times every mask, plus a fill,
 * in two broadcast ops (why not a WGSL kernel: docs/performance.md).
 * @module
 */
import { tf } from "../deps.ts";
import { reportProgress } from "../progress.ts";

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

/** One block of masks for {@link maskedScoreSums}: rows `[b, H·W]`. */
export interface MaskBlock {
  /** What each masked copy keeps of the image. */
  keep: tf.Tensor2D;
  /** What each masked copy adds (the occluding value), or none. */
  fill?: tf.Tensor2D;
  /** The weight of each mask in the sums (its footprint). */
  weight: tf.Tensor2D;
}

/** Options of {@link maskedScoreSums}. */
export interface MaskedScoreOptions {
  /** Number of masks in all. */
  count: number;
  /** Masks `k0..k1−1` (made on demand and released after use). */
  block: (k0: number, k1: number) => MaskBlock;
  /** Most model inputs per forward pass. */
  perPass: number;
  /** Score softmax probabilities instead of logits. */
  probability?: boolean;
  /** The loop's name in progress reports (masks done of `count`; see `src/progress.ts`). Default `masks`. */
  label?: string;
}

/** What {@link maskedScoreSums} adds up, per target. */
export interface MaskedScoreSums {
  /** Σ_k score_k · weight_k, `[n, H·W]`. */
  sums: tf.Tensor2D;
  /** Σ_k score_k, `[n, 1]`. */
  scoreSums: tf.Tensor2D;
}

/** Values of one mask block at most: 64 MB, well inside any device's binding limit. */
export const MASK_BLOCK_VALUES = 1 << 24;

/**
 * The forward-only core of occlusion and RISE: every image is run through the model under every mask
 * (`x · keep + fill`), and each target's score of each copy is summed into `Σ_k score_k · weight_k`. Masks come
 * in blocks of at most {@link MASK_BLOCK_VALUES} values and at most `perPass` masks, a pass takes one block
 * for as many images as `perPass` copies allow, and each pass's activations are released before the next. Several
 * targets (`weights`, one `[n, classes]` matrix each, from targetWeights) share the passes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 *
 * await tf.setBackend("cpu");
 * const model = { logits: (x: tf.Tensor4D) => tf.sum(x, [1, 2]) as tf.Tensor2D }; // one class: the pixel sum
 * const x = tf.ones([1, 1, 2, 1]) as tf.Tensor4D;
 * const w = tf.ones([1, 1]) as tf.Tensor2D;
 * const masks = tf.tensor2d([[1, 0], [1, 1]]);
 * const block = (k0: number, k1: number) => ({ keep: masks.slice(k0, k1 - k0), weight: masks.slice(k0, k1 - k0) });
 * const [{ sums, scoreSums }] = await maskedScoreSums(model, x, [w], { count: 2, block, perPass: 1 });
 * assert.deepEqual(Array.from(scoreSums.dataSync()), [3]); // scores 1 and 2
 * assert.deepEqual(Array.from(sums.dataSync()), [3, 2]); // pixel 0 under both masks, pixel 1 under the second
 * tf.dispose([x, w, masks, sums, scoreSums]);
 * ```
 */
export async function maskedScoreSums(
  model: { logits(x: tf.Tensor4D): tf.Tensor2D },
  images: tf.Tensor4D,
  weights: tf.Tensor2D[],
  options: MaskedScoreOptions,
): Promise<MaskedScoreSums[]> {
  const [n, height, width] = images.shape;
  const pixels = height * width;
  const perPass = Math.max(1, Math.floor(options.perPass));
  // A block is at most one pass of masks: on wasm, slicing a pass out of a larger block copies the whole block
  // (docs/real-size.md).
  const blockSize = Math.max(1, Math.min(options.count, perPass, Math.floor(MASK_BLOCK_VALUES / pixels)));
  let totals = weights.map(() => ({
    sums: tf.zeros([n, pixels]) as tf.Tensor2D,
    scoreSums: tf.zeros([n, 1]) as tf.Tensor2D,
  }));
  for (let b0 = 0; b0 < options.count; b0 += blockSize) {
    const b = Math.min(options.count, b0 + blockSize) - b0;
    const masks = options.block(b0, b0 + b);
    try {
      const sub = Math.min(b, perPass);
      const imagesPerPass = Math.max(1, Math.floor(perPass / sub));
      // Scores of every image under every mask of the block, `[n, b]` per target.
      const rows: tf.Tensor2D[][] = weights.map(() => []);
      for (let start = 0; start < n; start += imagesPerPass) {
        const m = Math.min(n, start + imagesPerPass) - start;
        const cols: tf.Tensor2D[][] = weights.map(() => []);
        for (let k0 = 0; k0 < b; k0 += sub) {
          const k = Math.min(b, k0 + sub) - k0;
          const scores = tf.tidy(() => {
            const x = images.slice([start, 0, 0, 0], [m, -1, -1, -1]);
            const whole = k === b;
            const keep = whole ? masks.keep : masks.keep.slice([k0, 0], [k, -1]);
            const fill = whole ? masks.fill : masks.fill?.slice([k0, 0], [k, -1]);
            let out = model.logits(maskedCopies(x, keep, fill));
            if (options.probability) out = tf.softmax(out);
            return weights.map((w) => {
              const rowsOf = tf.tile(w.slice([start, 0], [m, -1]).expandDims(1), [1, k, 1]);
              return tf.sum(tf.mul(out, rowsOf.reshape(out.shape)), 1).reshape([m, k]) as tf.Tensor2D;
            });
          });
          scores.forEach((s, t) => cols[t].push(s));
        }
        cols.forEach((c, t) => {
          rows[t].push(c.length === 1 ? c[0] : tf.concat(c, 1));
          if (c.length > 1) tf.dispose(c);
        });
      }
      const next = tf.tidy(() =>
        rows.map((r, t) => {
          const scores = r.length === 1 ? r[0] : tf.concat(r, 0);
          return {
            sums: tf.add(totals[t].sums, tf.matMul(scores, masks.weight)) as tf.Tensor2D,
            scoreSums: tf.add(totals[t].scoreSums, tf.sum(scores, 1, true)) as tf.Tensor2D,
          };
        })
      );
      rows.forEach((r) => tf.dispose(r));
      totals.forEach((t) => tf.dispose([t.sums, t.scoreSums]));
      totals = next;
    } finally {
      tf.dispose([masks.keep, masks.fill, masks.weight].filter((t) => t !== undefined) as tf.Tensor[]);
    }
    const settled = totals[0]?.scoreSums;
    await reportProgress(b0 + b, options.count, options.label ?? "masks", settled && (() => settled.data()));
  }
  return totals;
}
