/**
 * Gradient × input (Shrikumar et al. 2016): the gradient multiplied element-wise by the input.
 * @module
 */
import { tf } from "../deps.ts";
import { type ExplainableModel, inputGradients, mapChunks, reduceChannels } from "./model_fn.ts";
import { sliceTarget, type Target, targetWeights } from "./target.ts";

/** Options of {@link gradientInput}. */
export interface GradientInputOptions {
  /** Signed sum over channels (false, the default) or max of absolute values (true). */
  absolute?: boolean;
  /** Images per backward pass (default 128). */
  batchSize?: number;
}

/** Gradient × input maps `[n,H,W]`; signed by default. */
export function gradientInput(
  model: ExplainableModel,
  images: tf.Tensor4D,
  target: Target,
  options: GradientInputOptions = {},
): Promise<tf.Tensor3D> {
  const absolute = options.absolute ?? false;
  return Promise.resolve(mapChunks(images, options.batchSize ?? 128, (x, start, end) => {
    const w = targetWeights(sliceTarget(target, start, end), model.classes);
    return reduceChannels(tf.mul(inputGradients(model, x, w), x) as tf.Tensor4D, absolute);
  }));
}
