/**
 * SmoothGrad (Smilkov et al. 2017): the gradient averaged over noisy copies of the input. The noisy-gradient
 * loop here is shared with SmoothGrad² and VarGrad, which only reduce the samples differently.
 * @module
 */
import { tfSeed } from "../rng.ts";
import { tf } from "../deps.ts";
import type { ExplainableModel } from "./explainable_model.ts";
import { inputsPerPass, mapChunks, reduceChannels, sampledGradients } from "./batching.ts";
import { sliceTarget, type Target, targetWeights } from "./target.ts";

/** The noise options shared by SmoothGrad, SmoothGrad² and VarGrad. */
export interface NoiseOptions {
  /** Noisy copies per image (default 32). */
  samples?: number;
  /** Standard deviation of the Gaussian noise as a fraction of the input range (default 0.15). */
  noiseLevel?: number;
  /** The input range the noise level refers to (default [0, 1]). */
  inputRange?: [number, number];
  /** Most model inputs per backward pass (default 256; fewer when the device or the memory budget needs it). */
  batchSize?: number;
  /** Seed of the noise (default 0); image `i` of a call gets the noise of seed `seed + 7919·i`. */
  seed?: number;
}

/** Options of {@link smoothGrad}. */
export interface SmoothGradOptions extends NoiseOptions {
  /** Max of |mean gradient| over channels (true, the default) or the signed sum (false). */
  absolute?: boolean;
}

/** What {@link noisyGradientMaps} hands to its reducer per chunk: sums over the noisy copies. */
export interface NoisySums {
  /** Sum of the gradients, `[m,H,W,C]`. */
  sum: tf.Tensor4D;
  /** Sum of the squared gradients, when asked for. */
  sumSquares?: tf.Tensor4D;
  /** Number of noisy copies per image. */
  samples: number;
}

/**
 * Gradients at `samples` noisy copies of every image, reduced to maps `[n,H,W]` by `reduce` chunk by chunk
 * (inside tf.tidy). `squares` asks for the sum of squared gradients too. The noise is seeded: the same
 * seed, images and batch size give the same maps.
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
 * const x = tf.randomUniform([2, 4, 4, 1]) as tf.Tensor4D;
 * // Mean gradient, summed over channels: for a linear model the noise changes nothing.
 * const maps = await noisyGradientMaps(model, x, [0, 1], { samples: 2 }, false, ({ sum, samples }) =>
 *   tf.sum(tf.div(sum, samples), 3) as tf.Tensor3D);
 * const plain = await gradient(model, x, [0, 1], { absolute: false });
 * const diff = tf.tidy(() => tf.sub(maps, plain).abs().max());
 * assert.ok(diff.dataSync()[0] < 1e-5);
 * tf.dispose([x, maps, plain, diff]);
 * ```
 */
export async function noisyGradientMaps(
  model: ExplainableModel,
  images: tf.Tensor4D,
  target: Target,
  options: NoiseOptions,
  squares: boolean,
  reduce: (sums: NoisySums) => tf.Tensor3D,
): Promise<tf.Tensor3D> {
  const samples = options.samples ?? 32;
  const [lo, hi] = options.inputRange ?? [0, 1];
  const sigma = (options.noiseLevel ?? 0.15) * (hi - lo);
  const batchSize = await inputsPerPass(model, images, {
    kind: "backward",
    requested: options.batchSize ?? 256,
    label: "SmoothGrad",
  });
  const seed = options.seed ?? 0;
  const chunkImages = Math.max(1, Math.floor(batchSize / samples));
  const [, height, width, channels] = images.shape;
  return mapChunks(images, chunkImages, (x, start, end) => {
    const w = targetWeights(sliceTarget(target, start, end), model.classes);
    // Each image's noise comes from its own seed, so the maps do not depend on how the images are batched.
    const noise = Array.from(
      { length: end - start },
      (_, j) =>
        tf.randomNormal(
          [samples, height, width, channels],
          0,
          sigma,
          "float32",
          tfSeed(seed + 7919 * (start + j)),
        ),
    );
    const sums = sampledGradients(
      model,
      x,
      w,
      samples,
      (k0, k1) =>
        tf.add(
          tf.tile(x, [k1 - k0, 1, 1, 1]),
          tf.stack(noise.map((n) => n.slice(k0, k1 - k0)), 1).reshape([
            (k1 - k0) * (end - start),
            height,
            width,
            channels,
          ]),
        ) as tf.Tensor4D,
      batchSize,
      squares,
    );
    return reduce({ ...sums, samples });
  });
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
export function smoothGrad(
  model: ExplainableModel,
  images: tf.Tensor4D,
  target: Target,
  options: SmoothGradOptions = {},
): Promise<tf.Tensor3D> {
  return noisyGradientMaps(
    model,
    images,
    target,
    options,
    false,
    ({ sum, samples }) => reduceChannels(tf.div(sum, samples) as tf.Tensor4D, options.absolute ?? true),
  );
}
