/**
 * Gradient × input (Shrikumar et al. 2016): the gradient multiplied element-wise by the input.
 * @module
 */
import { tf } from "../deps.ts";
import type { ExplainableModel } from "./explainable_model.ts";
import { inputGradients, reduceChannels, targetChunks } from "./batching.ts";
import { checkOptions, type MethodDescriptor } from "./descriptor.ts";
import { batchSize, flag } from "./option_checks.ts";
import type { Target } from "./target.ts";

/** Options of {@link gradientInput}. */
export interface GradientInputOptions {
  /** Signed sum over channels (false, the default) or max of absolute values (true). */
  absolute?: boolean;
  /** Images per backward pass (default 128). */
  batchSize?: number;
}

/**
 * Gradient × input maps `[n,H,W]`; signed by default.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import { fromLayersModel } from "./explainable_model.ts";
 *
 * await tf.setBackend("cpu");
 * const net = tf.sequential();
 * net.add(tf.layers.flatten({ inputShape: [4, 4, 1] }));
 * net.add(tf.layers.dense({ units: 3, useBias: false }));
 * const x = tf.randomUniform([1, 4, 4, 1]) as tf.Tensor4D;
 * const maps = await gradientInput(fromLayersModel(net), x, [2]);
 * // A linear model without bias: gradient × input sums to the logit.
 * const logit = tf.tidy(() => (net.predict(x) as tf.Tensor).dataSync()[2]);
 * assert.ok(Math.abs(tf.tidy(() => maps.sum().dataSync()[0]) - logit) < 1e-5);
 * tf.dispose([x, maps]);
 * net.dispose();
 * ```
 */
export async function gradientInput(
  model: ExplainableModel,
  images: tf.Tensor4D,
  target: Target,
  options: GradientInputOptions = {},
): Promise<tf.Tensor3D> {
  options = checkOptions(gradientInputMethod, options);
  const absolute = options.absolute ?? false;
  return await targetChunks(
    model,
    images,
    target,
    { kind: "backward", label: "Gradient × input", batchSize: options.batchSize },
    (x, w) => reduceChannels(tf.mul(inputGradients(model, x, w), x) as tf.Tensor4D, absolute),
  );
}

/** Gradient × input as a registered method (`explain("gradient_input", …)`). */
export const gradientInputMethod: MethodDescriptor<"gradient_input", GradientInputOptions> = {
  name: "gradient_input",
  label: "Gradient × input",
  signed: true,
  description: "sum over channels of x · ∂score/∂x",
  attribution: true,
  cost: "single",
  options: {
    absolute: flag("signed sum over channels (false, the default) or max of |value| (true)"),
    batchSize: batchSize(),
  },
  passes: () => ({ forward: 0, backward: 1 }),
  linearInTarget: (o) => !(o.absolute ?? false),
  defaults: () => ({ absolute: false }),
  explain: gradientInput,
};
