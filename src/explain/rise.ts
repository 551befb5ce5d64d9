/**
 * RISE (Petsiuk et al. 2018, "Randomized Input Sampling for Explanation of black-box models"): score the
 * image under many random smooth masks and average the masks weighted by the score,
 * saliency = Σ_i score(x ⊙ M_i) · M_i / (N · p). A black-box method: it only runs the model forward.
 *
 * Masks as in the paper: an s×s grid of cells kept with probability p, upsampled bilinearly to
 * (s+1)·⌈H/s⌉ × (s+1)·⌈W/s⌉ and cropped to H×W at a random shift of less than one cell. Grids and shifts come
 * from a seeded generator, so the same seed gives the same masks. Batched on the GPU: the masks are built by
 * two ops (one resize, one crop of all masks at once), each forward pass takes the masked copies of a few
 * images made by one broadcast multiply, and the scores are folded into the maps by one matrix product per
 * block of masks (one block on small images). Nothing is read back until the caller reads the maps.
 * @module
 */
import { maskedCopies } from "./masked_copies.ts";
import { tf } from "../deps.ts";
import { HansError } from "../errors.ts";
import { Rng } from "../rng.ts";
import type { ExplainableModel } from "./model_fn.ts";
import { type Target, targetLength, targetScores, targetWeights } from "./target.ts";

/** Options of {@link rise}. */
export interface RiseOptions {
  /**
   * Number of random masks N (default 1000). Each mask costs one forward pass per image. Measured on MNIST
   * with the default CNN (lavapipe, about 270 forward passes/s): N = 1000 gives 0.3 maps/s and maps that
   * correlate 0.92 on average (0.86 at worst over 8 images) with maps from N = 8000; N = 500: 0.91 (0.77);
   * N = 2000: 0.96 (0.89) at half the speed.
   */
  masks?: number;
  /** Cells per side of the random grid, s (default 7, or the image's shorter side if that is smaller). */
  grid?: number;
  /** Probability that a grid cell is kept, p (default 0.5). */
  keep?: number;
  /**
   * What is scored: the target's logit (or logit p − logit q; the default, as every hans method) or its
   * softmax probability (probability p − probability q for a contrast), as in the paper.
   */
  score?: "logit" | "probability";
  /**
   * Subtract the mean score over the masks (default false, as in the paper), so that 0 means "no influence":
   * the map then estimates E[score | pixel kept] − E[score] instead of E[score | pixel kept].
   */
  center?: boolean;
  /** Seed of the masks (default 0). */
  seed?: number;
  /** Model inputs per forward pass (default 512). */
  batchSize?: number;
}

/** Mask parameters: what {@link riseMasks} needs. */
export type RiseMaskOptions = Pick<RiseOptions, "masks" | "grid" | "keep" | "seed">;

/** Random grids (`masks * grid * grid` values, 0 or 1) and shifts (`masks * 2`, in pixels) for a seed. */
function maskPlan(height: number, width: number, options: RiseMaskOptions) {
  const n = options.masks ?? 1000;
  const s = options.grid ?? Math.min(7, height, width);
  const p = options.keep ?? 0.5;
  if (!Number.isInteger(n) || n < 1 || !Number.isInteger(s) || s < 1 || s > Math.min(height, width)) {
    throw new HansError(
      `RISE needs a whole number of masks ≥ 1 and a grid of 1..${Math.min(height, width)} cells per side; ` +
        `got masks ${n}, grid ${s}.`,
    );
  }
  if (!(p > 0 && p <= 1)) throw new HansError(`RISE keep probability must lie in (0, 1]; got ${p}.`);
  const rng = new Rng(options.seed ?? 0);
  const grids = new Float32Array(n * s * s);
  for (let i = 0; i < grids.length; i++) grids[i] = rng.next() < p ? 1 : 0;
  const cellH = Math.ceil(height / s);
  const cellW = Math.ceil(width / s);
  const shifts = new Int32Array(n * 2);
  for (let i = 0; i < n; i++) {
    shifts[2 * i] = rng.int(cellH);
    shifts[2 * i + 1] = rng.int(cellW);
  }
  return { n, s, p, grids, shifts, upH: (s + 1) * cellH, upW: (s + 1) * cellW };
}

/** Masks `k0..k1-1` of a plan as `[k1-k0, H*W]`: bilinear upsampling of the grids, then the shifted crops. */
function buildMasks(
  plan: ReturnType<typeof maskPlan>,
  height: number,
  width: number,
  k0: number,
  k1: number,
): tf.Tensor2D {
  return tf.tidy(() => {
    const b = k1 - k0;
    const { s, upH, upW } = plan;
    const grids = tf.tensor4d(plan.grids.subarray(k0 * s * s, k1 * s * s), [b, s, s, 1]);
    const up = tf.image.resizeBilinear(grids, [upH, upW], false, true);
    // Each mask is the upsampled grid shifted by whole pixels: rows dy..dy+H−1, columns dx..dx+W−1, taken
    // with a gather (tfjs's cropAndResize drops the column shift on the wasm backend when dy is 0).
    const at = new Int32Array(b * height * width);
    for (let i = 0; i < b; i++) {
      const dy = plan.shifts[2 * (k0 + i)];
      const dx = plan.shifts[2 * (k0 + i) + 1];
      for (let y = 0; y < height; y++) {
        const from = (i * upH + dy + y) * upW + dx;
        for (let x = 0; x < width; x++) at[(i * height + y) * width + x] = from + x;
      }
    }
    return tf.gather(up.reshape([b * upH * upW]), tf.tensor1d(at, "int32")).reshape([
      b,
      height * width,
    ]) as tf.Tensor2D;
  });
}

/**
 * The RISE masks `[N, H*W]` (values in [0, 1]) that {@link rise} uses for these options.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 *
 * await tf.setBackend("cpu");
 * const masks = riseMasks(4, 4, { masks: 3, grid: 2, seed: 1 });
 * assert.deepEqual(masks.shape, [3, 16]); // one row of H·W values per mask
 * const [low, high] = tf.tidy(() => [masks.min().dataSync()[0], masks.max().dataSync()[0]]);
 * assert.ok(low >= 0 && high <= 1);
 * masks.dispose();
 * ```
 */
export function riseMasks(height: number, width: number, options: RiseMaskOptions = {}): tf.Tensor2D {
  const plan = maskPlan(height, width, options);
  return buildMasks(plan, height, width, 0, plan.n);
}

/** Masks per block: all of them unless they would take more than 64 MB. */
const MASK_BLOCK_VALUES = 1 << 24;

/**
 * RISE maps `[n,H,W]`, signed when logits are scored (the default). Every image gets the same masks. Cost:
 * N forward passes per image, in batches of `batchSize`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import { fromLayersModel } from "./model_fn.ts";
 *
 * await tf.setBackend("cpu");
 * const layers = [tf.layers.flatten({ inputShape: [4, 4, 1] }), tf.layers.dense({ units: 3 })];
 * const model = fromLayersModel(tf.sequential({ layers }));
 * const x = tf.randomUniform([1, 4, 4, 1]) as tf.Tensor4D;
 * const maps = await rise(model, x, [2], { masks: 8, seed: 1 });
 * assert.deepEqual(maps.shape, [1, 4, 4]);
 * // With every cell kept (p = 1) each mask is all ones: every pixel gets the score of the whole image.
 * const whole = await rise(model, x, [2], { masks: 2, keep: 1 });
 * const logit = tf.tidy(() => model.logits(x).dataSync()[2]);
 * assert.ok(tf.tidy(() => tf.sub(whole, logit).abs().max().dataSync()[0]) < 1e-5);
 * tf.dispose([x, maps, whole]);
 * ```
 */
export function rise(
  model: ExplainableModel,
  images: tf.Tensor4D,
  target: Target,
  options: RiseOptions = {},
): Promise<tf.Tensor3D> {
  const [n, height, width] = images.shape;
  const plan = maskPlan(height, width, options);
  const batchSize = Math.max(1, Math.floor(options.batchSize ?? 512));
  const probability = (options.score ?? "logit") === "probability";
  const block = Math.max(1, Math.min(plan.n, Math.floor(MASK_BLOCK_VALUES / (height * width))));
  if (targetLength(target) !== n) {
    throw new HansError(`RISE needs a target per image (${n}); got ${targetLength(target)}.`);
  }
  const weights = targetWeights(target, model.classes);
  let sum: tf.Tensor2D = tf.zeros([n, height * width]);
  let scoreSum: tf.Tensor2D = tf.zeros([n, 1]);
  let maskSum: tf.Tensor2D = tf.zeros([1, height * width]);
  for (let b0 = 0; b0 < plan.n; b0 += block) {
    const b1 = Math.min(plan.n, b0 + block);
    const b = b1 - b0;
    const masks = buildMasks(plan, height, width, b0, b1);
    const perPass = Math.min(b, batchSize);
    const imagesPerPass = Math.max(1, Math.floor(batchSize / perPass));
    const rows: tf.Tensor2D[] = [];
    for (let start = 0; start < n; start += imagesPerPass) {
      const end = Math.min(n, start + imagesPerPass);
      rows.push(tf.tidy(() => {
        const m = end - start;
        const x = images.slice([start, 0, 0, 0], [m, -1, -1, -1]);
        const w = weights.slice([start, 0], [m, -1]).expandDims(1);
        const cols: tf.Tensor[] = [];
        for (let k0 = 0; k0 < b; k0 += perPass) {
          const k = Math.min(b, k0 + perPass) - k0;
          const masked = maskedCopies(x, masks.slice([k0, 0], [k, -1]));
          let out = model.logits(masked);
          if (probability) out = tf.softmax(out);
          const tiled = tf.tile(w, [1, k, 1]).reshape([m * k, model.classes]) as tf.Tensor2D;
          cols.push(targetScores(out, tiled).reshape([m, k]));
        }
        return (cols.length === 1 ? cols[0] : tf.concat(cols, 1)) as tf.Tensor2D;
      }));
    }
    const [nextSum, nextScores, nextMasks] = tf.tidy(() => {
      const scores = rows.length === 1 ? rows[0] : tf.concat(rows, 0);
      return [
        tf.add(sum, tf.matMul(scores, masks)),
        tf.add(scoreSum, tf.sum(scores, 1, true)),
        tf.add(maskSum, tf.sum(masks, 0, true)),
      ];
    });
    rows.forEach((r) => r.dispose());
    masks.dispose();
    sum.dispose();
    scoreSum.dispose();
    maskSum.dispose();
    [sum, scoreSum, maskSum] = [nextSum, nextScores, nextMasks] as tf.Tensor2D[];
  }
  const maps = tf.tidy(() => {
    let total: tf.Tensor = sum;
    if (options.center ?? false) total = tf.sub(sum, tf.matMul(tf.div(scoreSum, plan.n), maskSum));
    return tf.div(total, plan.n * plan.p).reshape([n, height, width]) as tf.Tensor3D;
  });
  weights.dispose();
  sum.dispose();
  scoreSum.dispose();
  maskSum.dispose();
  return Promise.resolve(maps);
}
