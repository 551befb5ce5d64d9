/**
 * Faithfulness of saliency maps by perturbation (Petsiuk et al. 2018): the deletion curve removes pixels in
 * the map's order, most relevant first, and tracks the target's softmax probability; the insertion curve
 * starts from an image with no information and puts the pixels back in the same order. A faithful map makes
 * deletion fall fast (low area under the curve) and insertion rise fast (high area).
 *
 * Pixel flipping (Bach et al. 2015; "MoRF" in Samek et al. 2017) is the deletion curve with baseline 0; pass
 * `score: "logit"` to track the raw score as they did. Samek et al.'s region perturbation with uniform noise
 * is not implemented separately: it differs only in what the removed pixels become.
 *
 * Batched on the GPU: for a batch of images, all `steps + 1` perturbed copies come from one broadcast op on
 * the pixels' rank in the map, and the probabilities are read back once at the end.
 * @module
 */
import { onForwardEngine } from "../model/forward_engine.ts";
import { tf } from "../deps.ts";
import { HansError } from "../errors.ts";
import type { ExplainableModel } from "../explain/explainable_model.ts";
import { inputsPerPass } from "../explain/batching.ts";
import { type Target, targetLength, targetScores, targetWeights } from "../explain/target.ts";

/** Options of {@link deletion} and {@link insertion}. */
export interface PerturbationOptions {
  /**
   * One map per image, `n * H * W` values row-major (what a method's maps give when read back). Pixels are
   * taken in decreasing order of the value, ties by pixel index; pass absolute values to rank by magnitude.
   */
  maps: ArrayLike<number>;
  /** The class per image, or a contrast (whose curve is probability p − probability q). */
  target: Target;
  /** Number of steps K; the curve has K + 1 points at fractions 0, 1/K, …, 1 of the pixels (default 16). */
  steps?: number;
  /** Value that removed pixels take (deletion) or that the start image has (insertion); default 0. */
  baseline?: number;
  /** What is tracked: the target's softmax `probability` (the default, as Petsiuk et al.) or its `logit`. */
  score?: "probability" | "logit";
  /** Most model inputs per forward pass (default 512; fewer when the device or the memory budget needs it). */
  batchSize?: number;
}

/** Options of {@link insertion}. */
export interface InsertionOptions extends PerturbationOptions {
  /**
   * The image pixels are inserted into: a constant `baseline` image (the default) or a Gaussian-`blur`red copy
   * of the image itself (as Petsiuk et al.), so that insertion adds detail rather than brightness.
   */
  start?: "baseline" | "blur";
  /** Standard deviation of the blur in pixels (default the shorter side / 28, at least 1: 1 px on MNIST). */
  blurSigma?: number;
}

/** A deletion or insertion curve per image, with its area. */
export interface PerturbationCurves {
  /** Share of pixels removed or inserted at each point, from 0 to 1 (K + 1 values). */
  fractions: number[];
  /** Per image, the tracked score at each fraction. */
  curves: number[][];
  /** Per image, the area under its curve over [0, 1] (trapezoid rule). */
  auc: number[];
  /** The curves averaged over images. */
  meanCurve: number[];
  /** The areas averaged over images. */
  meanAuc: number;
}

/**
 * Area under a curve by the trapezoid rule.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * assert.equal(trapezoidAuc([0, 0.5, 1], [1, 1, 0]), 0.75);
 * ```
 */
export function trapezoidAuc(fractions: ArrayLike<number>, values: ArrayLike<number>): number {
  let area = 0;
  for (let k = 1; k < fractions.length; k++) {
    area += (fractions[k] - fractions[k - 1]) * (values[k] + values[k - 1]) / 2;
  }
  return area;
}

/**
 * Pixel indices of one map, most relevant first (ties by index).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(Array.from(relevanceOrder([0.1, 0.9, 0.5, 0.9])), [1, 3, 2, 0]); // ties by index
 * ```
 */
export function relevanceOrder(map: ArrayLike<number>): Int32Array {
  const order = Int32Array.from({ length: map.length }, (_, i) => i);
  order.sort((a, b) => (map[b] - map[a]) || (a - b));
  return order;
}

/** Rank of every pixel in its map (0 = most relevant), `[n, H*W]` as float32 for the GPU. */
function pixelRanks(maps: ArrayLike<number>, n: number, pixels: number): Float32Array {
  const ranks = new Float32Array(n * pixels);
  for (let i = 0; i < n; i++) {
    const order = relevanceOrder(Float64Array.from({ length: pixels }, (_, p) => maps[i * pixels + p]));
    for (let r = 0; r < pixels; r++) ranks[i * pixels + order[r]] = r;
  }
  return ranks;
}

/**
 * Gaussian blur of `x` with standard deviation `sigma` (pixels), renormalized at the borders.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 *
 * await tf.setBackend("cpu");
 * const flat = tf.fill([1, 5, 5, 1], 0.5) as tf.Tensor4D;
 * const blurred = gaussianBlur(flat, 1);
 * // Renormalized at the borders: a flat image stays flat, corners included.
 * assert.ok(tf.tidy(() => tf.sub(blurred, flat).abs().max().dataSync()[0]) < 1e-6);
 * tf.dispose([flat, blurred]);
 * ```
 */
export function gaussianBlur(x: tf.Tensor4D, sigma: number): tf.Tensor4D {
  return tf.tidy(() => {
    const channels = x.shape[3];
    const radius = Math.max(1, Math.ceil(3 * sigma));
    const taps = Array.from(
      { length: 2 * radius + 1 },
      (_, i) => Math.exp(-((i - radius) ** 2) / (2 * sigma ** 2)),
    );
    const total = taps.reduce((a, b) => a + b, 0);
    const kernel = tf.tensor1d(taps.map((t) => t / total));
    const vertical = tf.tile(kernel.reshape([2 * radius + 1, 1, 1, 1]), [1, 1, channels, 1]) as tf.Tensor4D;
    const horizontal = tf.tile(kernel.reshape([1, 2 * radius + 1, 1, 1]), [1, 1, channels, 1]) as tf.Tensor4D;
    const blur = (t: tf.Tensor4D) =>
      tf.depthwiseConv2d(tf.depthwiseConv2d(t, vertical, 1, "same"), horizontal, 1, "same");
    return tf.div(blur(x), blur(tf.onesLike(x))) as tf.Tensor4D;
  });
}

/**
 * Scores `[n, K+1]` of copies `from ⊙ (1 − R_k) + to ⊙ R_k`, R_k the `count[k]` top-ranked pixels of each map.
 * `source(x)` gives `from` and `to` for a chunk of images.
 */
/** The curves, on the engine `forward_engine.ts` picks for the model's forward-only work. */
function curves(
  model: ExplainableModel,
  images: tf.Tensor4D,
  options: PerturbationOptions,
  source: (x: tf.Tensor4D) => [tf.Tensor4D, tf.Tensor4D],
): Promise<PerturbationCurves> {
  return onForwardEngine(model, images, (x) => curvesHere(model, x, options, source));
}

async function curvesHere(
  model: ExplainableModel,
  images: tf.Tensor4D,
  options: PerturbationOptions,
  source: (x: tf.Tensor4D) => [tf.Tensor4D, tf.Tensor4D],
): Promise<PerturbationCurves> {
  const [n, height, width, channels] = images.shape;
  const pixels = height * width;
  const steps = options.steps ?? 16;
  if (!Number.isInteger(steps) || steps < 1) {
    throw new HansError(`steps must be a whole number ≥ 1; got ${steps}.`);
  }
  if (options.maps.length !== n * pixels) {
    throw new HansError(
      `expected ${n} maps of ${height}x${width} (${n * pixels} values); got ${options.maps.length}.`,
    );
  }
  if (targetLength(options.target) !== n) {
    throw new HansError(`expected a target per image (${n}); got ${targetLength(options.target)}.`);
  }
  const counts = Array.from({ length: steps + 1 }, (_, k) => Math.round(k * pixels / steps));
  const probability = (options.score ?? "probability") === "probability";
  const perPass = await inputsPerPass(model, images, {
    kind: "forward",
    requested: options.batchSize ?? 512,
    extraBytesPerInput: 12 * pixels * channels,
    label: "a perturbation curve",
  });
  // A pass takes whole images' curves when they fit, else part of one image's curve.
  const stepsPerPass = Math.min(steps + 1, perPass);
  const imagesPerPass = Math.max(1, Math.floor(perPass / stepsPerPass));
  const ranks = tf.tensor2d(pixelRanks(options.maps, n, pixels), [n, pixels]);
  const weights = targetWeights(options.target, model.classes);
  const parts: tf.Tensor[] = [];
  for (let start = 0; start < n; start += imagesPerPass) {
    const end = Math.min(n, start + imagesPerPass);
    const m = end - start;
    const row: tf.Tensor[] = [];
    for (let k0 = 0; k0 <= steps; k0 += stepsPerPass) {
      const k1 = Math.min(steps + 1, k0 + stepsPerPass);
      row.push(tf.tidy(() => {
        const x = images.slice([start, 0, 0, 0], [m, -1, -1, -1]);
        const [from, to] = source(x);
        const thresholds = tf.tensor1d(counts.slice(k0, k1)).reshape([1, k1 - k0, 1, 1, 1]);
        const rank = ranks.slice([start, 0], [m, -1]).reshape([m, 1, height, width, 1]);
        const moved = tf.cast(tf.less(rank, thresholds), "float32");
        const copies = tf.add(tf.mul(from.expandDims(1), tf.sub(1, moved)), tf.mul(to.expandDims(1), moved))
          .reshape([m * (k1 - k0), height, width, channels]) as tf.Tensor4D;
        let out = model.logits(copies);
        if (probability) out = tf.softmax(out);
        const w = tf.tile(weights.slice([start, 0], [m, -1]).expandDims(1), [1, k1 - k0, 1])
          .reshape([m * (k1 - k0), model.classes]) as tf.Tensor2D;
        return targetScores(out, w).reshape([m, k1 - k0]);
      }));
    }
    parts.push(row.length === 1 ? row[0] : tf.concat(row, 1));
    if (row.length > 1) tf.dispose(row);
  }
  const all = tf.concat(parts, 0);
  const values = await all.data();
  [all, ...parts, ranks, weights].forEach((t) => t.dispose());
  const fractions = counts.map((c) => c / pixels);
  const perImage = Array.from(
    { length: n },
    (_, i) => Array.from(values.subarray(i * (steps + 1), (i + 1) * (steps + 1))),
  );
  const auc = perImage.map((c) => trapezoidAuc(fractions, c));
  const meanCurve = fractions.map((_, k) => perImage.reduce((s, c) => s + c[k], 0) / Math.max(1, n));
  return {
    fractions,
    curves: perImage,
    auc,
    meanCurve,
    meanAuc: auc.reduce((a, b) => a + b, 0) / Math.max(1, n),
  };
}

/**
 * Deletion curves: the most relevant pixels (all channels) are set to `baseline` (default 0) in `steps`
 * (default 16) equal steps, and the target's softmax probability is tracked. Lower area = more faithful map.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import { fromLayersModel } from "../explain/explainable_model.ts";
 *
 * await tf.setBackend("cpu");
 * const net = tf.sequential();
 * net.add(tf.layers.flatten({ inputShape: [4, 4, 1] }));
 * net.add(tf.layers.dense({ units: 3, useBias: false }));
 * const x = tf.randomUniform([1, 4, 4, 1]) as tf.Tensor4D;
 * const maps = Array.from({ length: 16 }, (_, i) => i); // one map: the last pixel is the most relevant
 * const result = await deletion(fromLayersModel(net), x, { maps, target: [1], steps: 4, score: "logit" });
 * assert.deepEqual(result.fractions, [0, 0.25, 0.5, 0.75, 1]);
 * // Once every pixel is removed (set to 0), a model without biases scores 0.
 * assert.ok(Math.abs(result.curves[0][4]) < 1e-6);
 * x.dispose();
 * net.dispose();
 * ```
 */
export function deletion(
  model: ExplainableModel,
  images: tf.Tensor4D,
  options: PerturbationOptions,
): Promise<PerturbationCurves> {
  const baseline = options.baseline ?? 0;
  return curves(model, images, options, (x) => [x, tf.fill(x.shape, baseline) as tf.Tensor4D]);
}

/**
 * Insertion curves: the most relevant pixels are copied onto a start image (default: constant 0; or a blurred
 * copy, `start: "blur"`) in `steps` (default 16) equal steps, and the target's softmax probability is tracked.
 * Higher area = more faithful map.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import { fromLayersModel } from "../explain/explainable_model.ts";
 *
 * await tf.setBackend("cpu");
 * const net = tf.sequential();
 * net.add(tf.layers.flatten({ inputShape: [4, 4, 1] }));
 * net.add(tf.layers.dense({ units: 3, useBias: false }));
 * const x = tf.randomUniform([1, 4, 4, 1]) as tf.Tensor4D;
 * const maps = Array.from({ length: 16 }, (_, i) => i); // one map: the last pixel is the most relevant
 * const result = await insertion(fromLayersModel(net), x, { maps, target: [1], steps: 4 });
 * assert.equal(result.curves[0].length, 5); // steps + 1 points
 * // The start image is all 0: without biases every logit is 0, so each of the 3 classes has probability 1/3.
 * assert.ok(Math.abs(result.curves[0][0] - 1 / 3) < 1e-6);
 * x.dispose();
 * net.dispose();
 * ```
 */
export function insertion(
  model: ExplainableModel,
  images: tf.Tensor4D,
  options: InsertionOptions,
): Promise<PerturbationCurves> {
  const baseline = options.baseline ?? 0;
  const [, height, width] = images.shape;
  const sigma = options.blurSigma ?? Math.max(1, Math.min(height, width) / 28);
  return curves(model, images, options, (x) => {
    const start = (options.start ?? "baseline") === "blur"
      ? gaussianBlur(x, sigma)
      : tf.fill(x.shape, baseline);
    return [start as tf.Tensor4D, x];
  });
}
