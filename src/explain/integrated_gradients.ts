/**
 * Integrated Gradients (Sundararajan et al. 2017): (x − baseline) times the gradient averaged along the
 * straight path from the baseline to x. The attributions of an image sum to f(x) − f(baseline), up to the
 * error of the Riemann sum (midpoint rule), which shrinks as `steps` grows.
 * @module
 */
import { tf } from "../deps.ts";
import { type ExplainableModel, mapChunks, reduceChannels, sampledGradients } from "./model_fn.ts";
import { sliceTarget, type Target, targetWeights } from "./target.ts";

/** Options of {@link integratedGradients}. */
export interface IntegratedGradientsOptions {
  /** Points on the path (midpoint rule; default 32). */
  steps?: number;
  /** Baseline pixel value (default 0, black). */
  baseline?: number;
  /** Max of absolute values over channels (true) or the signed sum (false, the default). */
  absolute?: boolean;
  /** Model inputs per backward pass (default 256). */
  batchSize?: number;
}

/**
 * Integrated Gradients maps `[n,H,W]`; signed sum over channels by default, so they sum to the score gap.
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
 * const maps = await integratedGradients(model, x, [1], { steps: 4 });
 * // Completeness: the map sums to f(x) − f(baseline), here logit 1 at x minus logit 1 at a black image.
 * const [fx, f0] = tf.tidy(() => [x, tf.zerosLike(x)].map((t) => model.logits(t).dataSync()[1]));
 * const total = tf.tidy(() => maps.sum().dataSync()[0]);
 * assert.ok(Math.abs(total - (fx - f0)) < 1e-4);
 * tf.dispose([x, maps]);
 * ```
 */
export function integratedGradients(
  model: ExplainableModel,
  images: tf.Tensor4D,
  target: Target,
  options: IntegratedGradientsOptions = {},
): Promise<tf.Tensor3D> {
  const steps = options.steps ?? 32;
  const baseline = options.baseline ?? 0;
  const batchSize = options.batchSize ?? 256;
  const chunkImages = Math.max(1, Math.floor(batchSize / steps));
  return Promise.resolve(mapChunks(images, chunkImages, (x, start, end) => {
    const w = targetWeights(sliceTarget(target, start, end), model.classes);
    const delta = tf.sub(x, baseline);
    const { sum } = sampledGradients(model, x, w, steps, (k0, k1) => {
      const alphas = tf.range(k0, k1).add(0.5).div(steps).reshape([k1 - k0, 1, 1, 1, 1]);
      const path = tf.add(tf.mul(alphas, delta.expandDims(0)), baseline);
      return path.reshape([(k1 - k0) * x.shape[0], ...x.shape.slice(1)]) as tf.Tensor4D;
    }, batchSize);
    return reduceChannels(tf.mul(delta, tf.div(sum, steps)) as tf.Tensor4D, options.absolute ?? false);
  }));
}
