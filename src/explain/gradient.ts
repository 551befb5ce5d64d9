/**
 * Vanilla gradient saliency (Simonyan et al. 2014): the gradient of the target score with respect to the input.
 * @module
 */
import type { tf } from "../deps.ts";
import { type ExplainableModel, inputGradients, mapChunks, reduceChannels } from "./model_fn.ts";
import { sliceTarget, type Target, targetWeights } from "./target.ts";

/** Options of {@link gradient}. */
export interface GradientOptions {
  /** Max of |gradient| over channels (true, the default) or the signed sum over channels (false). */
  absolute?: boolean;
  /** Images per backward pass (default 128). */
  batchSize?: number;
}

/** Gradient maps `[n,H,W]`; absolute by default. */
export function gradient(
  model: ExplainableModel,
  images: tf.Tensor4D,
  target: Target,
  options: GradientOptions = {},
): Promise<tf.Tensor3D> {
  const absolute = options.absolute ?? true;
  return Promise.resolve(mapChunks(images, options.batchSize ?? 128, (x, start, end) => {
    const w = targetWeights(sliceTarget(target, start, end), model.classes);
    return reduceChannels(inputGradients(model, x, w), absolute);
  }));
}
