/**
 * SmoothGrad² (Hooker et al. 2019, "SG-SQ"): the mean of the squared gradient over noisy copies of the input.
 * Unlike SmoothGrad it cannot cancel: a pixel whose gradient flips sign from copy to copy still counts.
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

/** Options of {@link smoothGradSquared}: the noise options of SmoothGrad (32 copies, σ = 15% of [0, 1]). */
export type SmoothGradSquaredOptions = NoisyGradientOptions;

/**
 * SmoothGrad² maps `[n,H,W]`: mean over noisy copies of the squared gradient, max over channels. Unsigned
 * (≥ 0) by construction, in squared score units per squared input unit.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import { gradient } from "./gradient.ts";
 * import { fromLayersModel } from "./explainable_model.ts";
 *
 * await tf.setBackend("cpu");
 * const layers = [tf.layers.flatten({ inputShape: [4, 4, 1] }), tf.layers.dense({ units: 3 })];
 * const model = fromLayersModel(tf.sequential({ layers }));
 * const x = tf.randomUniform([1, 4, 4, 1]) as tf.Tensor4D;
 * const maps = await smoothGradSquared(model, x, [1], { samples: 2 });
 * // A linear model's gradient does not change with the noise: the map is the squared gradient.
 * const plain = await gradient(model, x, [1]);
 * const diff = tf.tidy(() => tf.sub(maps, tf.square(plain)).abs().max());
 * assert.ok(diff.dataSync()[0] < 1e-5);
 * tf.dispose([x, maps, plain, diff]);
 * ```
 */
export async function smoothGradSquared(
  model: ExplainableModel,
  images: tf.Tensor4D,
  target: Target,
  options: SmoothGradSquaredOptions = {},
): Promise<tf.Tensor3D> {
  options = checkOptions(smoothGradSquaredMethod, options);
  const meanSquares = await noisyGradients(model, images, target, options, "smoothgrad_sq");
  const maps = tf.max(meanSquares, 3) as tf.Tensor3D;
  meanSquares.dispose();
  return maps;
}

/** SmoothGrad² as a registered method (`explain("smoothgrad_sq", …)`). */
export const smoothGradSquaredMethod: MethodDescriptor<"smoothgrad_sq", SmoothGradSquaredOptions> = {
  name: "smoothgrad_sq",
  label: "SmoothGrad²",
  signed: false,
  description:
    "mean squared gradient over 32 noisy copies, noise σ = 15% of the input range; max over channels",
  attribution: true,
  cost: "sampled",
  options: NOISY_GRADIENT_OPTIONS,
  presets: NOISY_PRESETS,
  passes: noisyPasses,
  defaults: () => ({ ...NOISE_DEFAULTS }),
  explain: smoothGradSquared,
};
