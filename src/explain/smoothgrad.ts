/**
 * SmoothGrad (Smilkov et al. 2017): the gradient averaged over noisy copies of the input. The noisy-gradient
 * loop here is shared with SmoothGrad² and VarGrad, which only reduce the samples differently.
 * @module
 */
import { tfSeed } from "../rng.ts";
import { tf } from "../deps.ts";
import { type ExplainableModel, mapChunks, reduceChannels, sampledGradients } from "./model_fn.ts";
import { sliceTarget, type Target, targetWeights } from "./target.ts";

/** The noise options shared by SmoothGrad, SmoothGrad² and VarGrad. */
export interface NoiseOptions {
  /** Noisy copies per image (default 32). */
  samples?: number;
  /** Standard deviation of the Gaussian noise as a fraction of the input range (default 0.15). */
  noiseLevel?: number;
  /** The input range the noise level refers to (default [0, 1]). */
  inputRange?: [number, number];
  /** Model inputs per backward pass (default 256). */
  batchSize?: number;
  /** Seed of the noise (default 0). */
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
 */
export function noisyGradientMaps(
  model: ExplainableModel,
  images: tf.Tensor4D,
  target: Target,
  options: NoiseOptions,
  squares: boolean,
  reduce: (sums: NoisySums) => tf.Tensor3D,
): tf.Tensor3D {
  const samples = options.samples ?? 32;
  const [lo, hi] = options.inputRange ?? [0, 1];
  const sigma = (options.noiseLevel ?? 0.15) * (hi - lo);
  const batchSize = options.batchSize ?? 256;
  const seed = options.seed ?? 0;
  const chunkImages = Math.max(1, Math.floor(batchSize / samples));
  return mapChunks(images, chunkImages, (x, start, end) => {
    const w = targetWeights(sliceTarget(target, start, end), model.classes);
    const sums = sampledGradients(
      model,
      x,
      w,
      samples,
      (k0, k1) => {
        const tiled = tf.tile(x, [k1 - k0, 1, 1, 1]);
        return tf.add(
          tiled,
          tf.randomNormal(tiled.shape, 0, sigma, "float32", tfSeed(seed + start * 7919 + k0)),
        );
      },
      batchSize,
      squares,
    );
    return reduce({ ...sums, samples });
  });
}

/** SmoothGrad maps `[n,H,W]`: mean gradient over `samples` noisy copies; absolute by default. */
export function smoothGrad(
  model: ExplainableModel,
  images: tf.Tensor4D,
  target: Target,
  options: SmoothGradOptions = {},
): Promise<tf.Tensor3D> {
  return Promise.resolve(
    noisyGradientMaps(
      model,
      images,
      target,
      options,
      false,
      ({ sum, samples }) => reduceChannels(tf.div(sum, samples) as tf.Tensor4D, options.absolute ?? true),
    ),
  );
}
