/**
 * VarGrad (Adebayo et al. 2018, "Local explanation methods for deep neural networks lack sensitivity to
 * parameter values"): the variance of the gradient over noisy copies of the input.
 * @module
 */
import { tf } from "../deps.ts";
import { checkOptions, type MethodDescriptor } from "./descriptor.ts";
import type { ExplainableModel } from "./explainable_model.ts";
import { NOISE_DEFAULTS } from "./noise_tunnel.ts";
import {
  NOISY_GRADIENT_OPTIONS,
  NOISY_PRESETS,
  type NoisyGradientOptions,
  noisyGradients,
  noisyPasses,
} from "./smoothgrad.ts";
import type { Target } from "./target.ts";

/** Options of {@link varGrad}: the noise options of SmoothGrad (32 copies, σ = 15% of [0, 1]). */
export type VarGradOptions = NoisyGradientOptions;

/**
 * VarGrad maps `[n,H,W]`: per input value the population variance of the gradient over the noisy copies,
 * mean(g²) − mean(g)² (clipped at 0 against rounding), max over channels. Unsigned (≥ 0) by construction.
 * A model whose gradient does not change with the input (a linear one) gets 0 everywhere.
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
 * const x = tf.randomUniform([2, 4, 4, 1]) as tf.Tensor4D;
 * const maps = await varGrad(fromLayersModel(net), x, [0, 1], { samples: 4 });
 * assert.deepEqual(maps.shape, [2, 4, 4]);
 * assert.ok(maps.max().dataSync()[0] < 1e-6); // a linear model's gradient does not vary
 * tf.dispose([x, maps]);
 * net.dispose();
 * ```
 */
export async function varGrad(
  model: ExplainableModel,
  images: tf.Tensor4D,
  target: Target,
  options: VarGradOptions = {},
): Promise<tf.Tensor3D> {
  options = checkOptions(varGradMethod, options);
  const variance = await noisyGradients(model, images, target, options, "vargrad");
  const maps = tf.max(variance, 3) as tf.Tensor3D;
  variance.dispose();
  return maps;
}

/** VarGrad as a registered method (`explain("vargrad", …)`). */
export const varGradMethod: MethodDescriptor<"vargrad", VarGradOptions> = {
  name: "vargrad",
  label: "VarGrad",
  signed: false,
  description:
    "variance of the gradient over 32 noisy copies, noise σ = 15% of the input range; max over channels",
  attribution: true,
  cost: "sampled",
  options: NOISY_GRADIENT_OPTIONS,
  presets: NOISY_PRESETS,
  passes: noisyPasses,
  defaults: () => ({ ...NOISE_DEFAULTS }),
  explain: varGrad,
};
