/**
 * Vanilla gradient saliency (Simonyan et al. 2014): the gradient of the target score with respect to the input.
 * @module
 */
import type { tf } from "../deps.ts";
import type { ExplainableModel } from "./explainable_model.ts";
import { inputGradients, reduceChannels, targetChunks } from "./batching.ts";
import { checkOptions, type MethodDescriptor } from "./descriptor.ts";
import { batchSize, flag } from "./option_checks.ts";
import type { Target } from "./target.ts";

/** Options of {@link gradient}. */
export interface GradientOptions {
  /** Max of |gradient| over channels (true, the default) or the signed sum over channels (false). */
  absolute?: boolean;
  /** Most images per backward pass (default 256; fewer when the device or the memory budget needs it). */
  batchSize?: number;
}

/**
 * Gradient maps `[n,H,W]`; absolute by default.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import { fromLayersModel } from "./explainable_model.ts";
 *
 * await tf.setBackend("cpu");
 * const layers = [tf.layers.flatten({ inputShape: [4, 4, 1] }), tf.layers.dense({ units: 3 })];
 * const net = tf.sequential({ layers });
 * const x = tf.randomUniform([1, 4, 4, 1]) as tf.Tensor4D;
 * const maps = await gradient(fromLayersModel(net), x, [2], { absolute: false });
 * assert.deepEqual(maps.shape, [1, 4, 4]);
 * // The model is linear: the map is column 2 of the dense kernel, whatever the image.
 * const column = net.getWeights()[0].slice([0, 2], [16, 1]);
 * const diff = tf.tidy(() => tf.sub(maps.reshape([16, 1]), column).abs().max());
 * assert.ok(diff.dataSync()[0] < 1e-6);
 * tf.dispose([x, maps, column, diff]);
 * net.dispose();
 * ```
 */
export function gradient(
  model: ExplainableModel,
  images: tf.Tensor4D,
  target: Target,
  options: GradientOptions = {},
): Promise<tf.Tensor3D> {
  options = checkOptions(gradientMethod, options);
  const absolute = options.absolute ?? true;
  return targetChunks(
    model,
    images,
    target,
    { kind: "backward", label: "Gradient", batchSize: options.batchSize },
    (x, weights) => reduceChannels(inputGradients(model, x, weights), absolute),
  );
}

/** The gradient as a registered method (`explain("gradient", …)`). */
export const gradientMethod: MethodDescriptor<"gradient", GradientOptions> = {
  name: "gradient",
  label: "Gradient",
  signed: false,
  description: "max over channels of |∂score/∂x| (Simonyan et al.)",
  attribution: true,
  cost: "single",
  options: {
    absolute: flag("max of |gradient| over channels (true, the default) or the signed sum (false)"),
    batchSize: batchSize(),
  },
  passes: () => ({ forward: 0, backward: 1 }),
  linearInTarget: (o) => !(o.absolute ?? true),
  defaults: () => ({ absolute: true }),
  explain: gradient,
};
