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

/** Integrated Gradients maps `[n,H,W]`; signed sum over channels by default, so they sum to the score gap. */
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
