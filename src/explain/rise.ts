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
import { MASK_BLOCK_VALUES, type MaskBlock, type MaskedScoreSums, maskedScoreSums } from "./masked_copies.ts";
import { tf } from "../deps.ts";
import { HansError } from "../errors.ts";
import { Rng } from "../rng.ts";
import type { ExplainableModel } from "./explainable_model.ts";
import {
  DEFAULT_FORWARD_INPUTS_PER_PASS,
  inputsPerPass,
  manyOnForwardEngine,
  onForwardEngine,
} from "./batching.ts";
import { checkOptions, type MethodDescriptor } from "./descriptor.ts";
import { batchSize, finiteNumber, flag, integer, oneOf, wholeNumber } from "./option_checks.ts";
import { type Target, targetLength, targetWeights } from "./target.ts";

/** Options of {@link rise}. */
export interface RiseOptions {
  /**
   * Number of random masks N (default 1000). Each mask costs one forward pass per image; how close the maps
   * come to those of many more masks is measured in docs/saliency-methods.md.
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
  /** Most model inputs per forward pass (default 512; fewer when the device or the memory budget needs it). */
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

/**
 * RISE maps `[n,H,W]`, signed when logits are scored (the default). Every image gets the same masks. Cost:
 * N forward passes per image, as many copies a pass as the device and the memory budget allow.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import { fromLayersModel } from "./explainable_model.ts";
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
export async function rise(
  model: ExplainableModel,
  images: tf.Tensor4D,
  target: Target,
  options: RiseOptions = {},
): Promise<tf.Tensor3D> {
  options = checkOptions(riseMethod, options);
  const [maps] = await riseMany(model, images, [target], options);
  return maps;
}

/**
 * RISE maps `[n,H,W]` for several targets from the same forward passes (each target's score is read off the
 * same outputs): the maps for class P, class Q and "P rather than Q" cost one set of passes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import { fromLayersModel } from "./explainable_model.ts";
 *
 * await tf.setBackend("cpu");
 * const layers = [tf.layers.flatten({ inputShape: [4, 4, 1] }), tf.layers.dense({ units: 3 })];
 * const model = fromLayersModel(tf.sequential({ layers }));
 * const x = tf.randomUniform([1, 4, 4, 1]) as tf.Tensor4D;
 * const [p, q, contrast] = await riseMany(model, x, [[0], [2], { p: [0], q: [2] }], { masks: 8 });
 * // Logits are scored: the map of logit 0 − logit 2 is the map of logit 0 minus the map of logit 2.
 * const diff = tf.tidy(() => tf.sub(contrast, tf.sub(p, q)).abs().max());
 * assert.ok(diff.dataSync()[0] < 1e-5);
 * tf.dispose([x, p, q, contrast, diff]);
 * ```
 */
export async function riseMany(
  model: ExplainableModel,
  images: tf.Tensor4D,
  targets: Target[],
  options: RiseOptions = {},
): Promise<tf.Tensor3D[]> {
  options = checkOptions(riseMethod, options);
  const [n, height, width, channels] = images.shape;
  const plan = maskPlan(height, width, options);
  for (const target of targets) {
    if (targetLength(target) !== n) {
      throw new HansError(`RISE needs a target per image (${n}); got ${targetLength(target)}.`);
    }
  }
  const perPass = await inputsPerPass(model, images, {
    kind: "forward",
    requested: options.batchSize ?? DEFAULT_FORWARD_INPUTS_PER_PASS,
    extraBytesPerInput: 4 * height * width * channels,
    label: "RISE",
  });
  const block = (k0: number, k1: number): MaskBlock => {
    const masks = buildMasks(plan, height, width, k0, k1);
    return { keep: masks, weight: masks };
  };
  const weights = targets.map((t) => targetWeights(t, model.classes));
  let totals: MaskedScoreSums[];
  try {
    totals = await maskedScoreSums(model, images, weights, {
      count: plan.n,
      label: "RISE",
      block,
      perPass,
      probability: (options.score ?? "logit") === "probability",
    });
  } finally {
    tf.dispose(weights);
  }
  const maskSum = options.center ? maskTotal(plan, height, width) : undefined;
  const maps = tf.tidy(() =>
    totals.map(({ sums, scoreSums }) => {
      let total: tf.Tensor = sums;
      if (maskSum) total = tf.sub(sums, tf.matMul(tf.div(scoreSums, plan.n), maskSum));
      return tf.div(total, plan.n * plan.p).reshape([n, height, width]) as tf.Tensor3D;
    })
  );
  totals.forEach((t) => tf.dispose([t.sums, t.scoreSums]));
  maskSum?.dispose();
  return maps;
}

/** Σ over all masks of each pixel's mask value, `[1, H·W]`, built block by block. */
function maskTotal(plan: ReturnType<typeof maskPlan>, height: number, width: number): tf.Tensor2D {
  const block = Math.max(1, Math.min(plan.n, Math.floor(MASK_BLOCK_VALUES / (height * width))));
  let total = tf.zeros([1, height * width]) as tf.Tensor2D;
  for (let k0 = 0; k0 < plan.n; k0 += block) {
    const masks = buildMasks(plan, height, width, k0, Math.min(plan.n, k0 + block));
    const next = tf.tidy(() => tf.add(total, tf.sum(masks, 0, true)) as tf.Tensor2D);
    tf.dispose([masks, total]);
    total = next;
  }
  return total;
}

/** RISE as a registered method (`explain("rise", …)`), run on the fastest forward engine. */
export const riseMethod: MethodDescriptor<"rise", RiseOptions> = {
  name: "rise",
  label: "RISE",
  signed: true,
  description: "mean of 1000 random masks (7×7 cells kept with p = 0.5, bilinear, shifted) weighted by the " +
    "masked image's score, / p",
  attribution: true,
  usesGradient: false,
  cost: "sampled",
  options: {
    masks: wholeNumber("number of random masks N (default 1000)", 1),
    grid: wholeNumber("cells per side of the random grid (default 7, or the image's shorter side)", 1),
    keep: finiteNumber("probability that a grid cell is kept (default 0.5)", { above: 0, max: 1 }),
    score: oneOf(
      "what is scored: the target's logit (default) or its softmax probability",
      [
        "logit",
        "probability",
      ] as const,
    ),
    center: flag("subtract the mean score over the masks (default false, as in the paper)"),
    seed: integer("seed of the masks (default 0)"),
    batchSize: batchSize(DEFAULT_FORWARD_INPUTS_PER_PASS),
  },
  presets: { light: { masks: 200, center: true }, quick: { masks: 50, center: true } },
  passes: (o) => ({ forward: o.masks ?? 1000, backward: 0 }),
  defaults: ([height, width]) => ({
    masks: 1000,
    grid: Math.min(7, height, width),
    keep: 0.5,
    score: "logit",
    center: false,
    seed: 0,
  }),
  explain: onForwardEngine(rise),
  explainMany: manyOnForwardEngine(riseMany),
};
