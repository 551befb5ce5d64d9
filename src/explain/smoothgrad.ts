/**
 * SmoothGrad (Smilkov et al. 2017): the gradient averaged over noisy copies of the input.
 * @module
 */
import { tf } from "../deps.ts";
import { type ExplainableModel, mapChunks, reduceChannels, sampledGradients } from "./model_fn.ts";
import { sliceTarget, type Target, targetWeights } from "./target.ts";

/** Options of {@link smoothGrad}. */
export interface SmoothGradOptions {
  /** Noisy copies per image (default 32). */
  samples?: number;
  /** Standard deviation of the Gaussian noise as a fraction of the input range (default 0.15). */
  noiseLevel?: number;
  /** The input range the noise level refers to (default [0, 1]). */
  inputRange?: [number, number];
  /** Max of |mean gradient| over channels (true, the default) or the signed sum (false). */
  absolute?: boolean;
  /** Model inputs per backward pass (default 256). */
  batchSize?: number;
  /** Seed of the noise (default 0). */
  seed?: number;
}

/** SmoothGrad maps `[n,H,W]`: mean gradient over `samples` noisy copies; absolute by default. */
export function smoothGrad(
  model: ExplainableModel,
  images: tf.Tensor4D,
  target: Target,
  options: SmoothGradOptions = {},
): Promise<tf.Tensor3D> {
  const samples = options.samples ?? 32;
  const [lo, hi] = options.inputRange ?? [0, 1];
  const sigma = (options.noiseLevel ?? 0.15) * (hi - lo);
  const batchSize = options.batchSize ?? 256;
  const seed = options.seed ?? 0;
  const chunkImages = Math.max(1, Math.floor(batchSize / samples));
  return Promise.resolve(mapChunks(images, chunkImages, (x, start, end) => {
    const w = targetWeights(sliceTarget(target, start, end), model.classes);
    const { sum } = sampledGradients(model, x, w, samples, (k0, k1) => {
      const tiled = tf.tile(x, [k1 - k0, 1, 1, 1]);
      return tf.add(tiled, tf.randomNormal(tiled.shape, 0, sigma, "float32", seed + start * 7919 + k0));
    }, batchSize);
    return reduceChannels(tf.div(sum, samples) as tf.Tensor4D, options.absolute ?? true);
  }));
}
