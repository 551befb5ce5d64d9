/**
 * SmoothGrad (Smilkov et al. 2017): the gradient averaged over noisy copies of the input. SmoothGrad² and VarGrad
 * combine the same noisy gradients differently; all three run the one noise tunnel (`noise_tunnel.ts`) on the
 * raw input gradient, before the channels are reduced.
 * @module
 */
import { tf } from "../deps.ts";
import { DEFAULT_INPUTS_PER_PASS, inputGradients, inputsPerPass, reduceChannels } from "./batching.ts";
import { checkOptions, type MethodDescriptor, type MethodPasses } from "./descriptor.ts";
import type { ExplainableModel } from "./explainable_model.ts";
import { NOISE_DEFAULTS, NOISE_OPTIONS, type NoiseKind, type NoiseOptions, tunnel } from "./noise_tunnel.ts";
import { batchSize, flag } from "./option_checks.ts";
import { type Target, targetWeights } from "./target.ts";

/** The options of the SmoothGrad family: the noise, and the most model inputs per backward pass. */
export interface NoisyGradientOptions extends NoiseOptions {
  /** Most model inputs per backward pass (default 256; fewer when the device or the memory budget needs it). */
  batchSize?: number;
}

/** Options of {@link smoothGrad}. */
export interface SmoothGradOptions extends NoisyGradientOptions {
  /** Max of |mean gradient| over channels (true, the default) or the signed sum (false). */
  absolute?: boolean;
}

/** The option checks of the SmoothGrad family. */
export const NOISY_GRADIENT_OPTIONS = { ...NOISE_OPTIONS, batchSize: batchSize() };

/** The methods' names of the noise kinds, for progress reports. */
const NOISE_LABELS: Record<NoiseKind, string> = {
  smoothgrad: "SmoothGrad",
  smoothgrad_sq: "SmoothGrad²",
  vargrad: "VarGrad",
};

/**
 * The input gradients `[n,H,W,C]` at noisy copies of `images`, combined over the copies by `kind` (their mean,
 * the mean of their squares, or their variance). Seeded: the same seed and images give the same result,
 * whatever the batching.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import { fromLayersModel } from "./explainable_model.ts";
 * import { inputGradients } from "./batching.ts";
 * import { targetWeights } from "./target.ts";
 *
 * await tf.setBackend("cpu");
 * const layers = [tf.layers.flatten({ inputShape: [4, 4, 1] }), tf.layers.dense({ units: 3 })];
 * const model = fromLayersModel(tf.sequential({ layers }));
 * const x = tf.randomUniform([2, 4, 4, 1]) as tf.Tensor4D;
 * // For a linear model the noise changes nothing: the mean is the plain gradient, the variance 0.
 * const mean = await noisyGradients(model, x, [0, 1], { samples: 3 }, "smoothgrad");
 * const w = targetWeights([0, 1], 3);
 * const plain = inputGradients(model, x, w);
 * assert.ok(tf.sub(mean, plain).abs().max().dataSync()[0] < 1e-5);
 * const variance = await noisyGradients(model, x, [0, 1], { samples: 3 }, "vargrad");
 * assert.ok(variance.max().dataSync()[0] < 1e-6);
 * tf.dispose([x, mean, w, plain, variance]);
 * ```
 */
export async function noisyGradients(
  model: ExplainableModel,
  images: tf.Tensor4D,
  target: Target,
  options: NoisyGradientOptions,
  kind: NoiseKind,
): Promise<tf.Tensor4D> {
  const inputsPerCall = await inputsPerPass(model, images, {
    kind: "backward",
    requested: options.batchSize ?? DEFAULT_INPUTS_PER_PASS,
    label: "SmoothGrad",
  });
  return await tunnel(
    images,
    target,
    { ...options, kind, inputsPerCall, label: NOISE_LABELS[kind] },
    (noisy, rows) =>
      Promise.resolve(tf.tidy(() => {
        const w = targetWeights(rows, model.classes);
        return inputGradients(model, noisy, w);
      })),
  ) as tf.Tensor4D;
}

/**
 * SmoothGrad maps `[n,H,W]`: mean gradient over `samples` noisy copies; absolute by default.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import { fromLayersModel } from "./explainable_model.ts";
 *
 * await tf.setBackend("cpu");
 * const layers = [
 *   tf.layers.conv2d({ inputShape: [4, 4, 1], filters: 2, kernelSize: 3, activation: "relu" }),
 *   tf.layers.flatten(),
 *   tf.layers.dense({ units: 3 }),
 * ];
 * const net = tf.sequential({ layers });
 * const x = tf.randomUniform([2, 4, 4, 1]) as tf.Tensor4D;
 * const maps = await smoothGrad(fromLayersModel(net), x, [0, 2], { samples: 4, seed: 1 });
 * assert.deepEqual(maps.shape, [2, 4, 4]);
 * assert.ok(maps.min().dataSync()[0] >= 0); // absolute by default
 * tf.dispose([x, maps]);
 * net.dispose();
 * ```
 */
export async function smoothGrad(
  model: ExplainableModel,
  images: tf.Tensor4D,
  target: Target,
  options: SmoothGradOptions = {},
): Promise<tf.Tensor3D> {
  options = checkOptions(smoothGradMethod, options);
  const mean = await noisyGradients(model, images, target, options, "smoothgrad");
  const maps = reduceChannels(mean, options.absolute ?? true);
  mean.dispose();
  return maps;
}

/** Backward passes of one noisy-gradient map: one per copy. */
export function noisyPasses(options: NoiseOptions): MethodPasses {
  return { forward: 0, backward: options.samples ?? NOISE_DEFAULTS.samples };
}

/** Lighter settings of the SmoothGrad family: 16 copies in a task's default run, 4 for a first look. */
export const NOISY_PRESETS = { light: { samples: 16 }, quick: { samples: 4 } };

/** SmoothGrad as a registered method (`explain("smoothgrad", …)`). */
export const smoothGradMethod: MethodDescriptor<"smoothgrad", SmoothGradOptions> = {
  name: "smoothgrad",
  label: "SmoothGrad",
  signed: false,
  description: "|mean gradient| over 32 noisy copies, noise σ = 15% of the input range",
  attribution: true,
  cost: "sampled",
  options: {
    ...NOISY_GRADIENT_OPTIONS,
    absolute: flag("max of |mean gradient| over channels (true, the default) or the signed sum (false)"),
  },
  presets: NOISY_PRESETS,
  passes: noisyPasses,
  defaults: () => ({ ...NOISE_DEFAULTS, absolute: true }),
  explain: smoothGrad,
};
