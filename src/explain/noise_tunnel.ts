/**
 * A noise tunnel (Captum's NoiseTunnel): any attribution method run on noisy copies of the input, its maps
 * averaged (`smoothgrad`), their squares averaged (`smoothgrad_sq`) or their variance taken (`vargrad`).
 * SmoothGrad over Integrated Gradients or Guided Backprop is the common use. The registry's `smoothgrad`,
 * `smoothgrad_sq` and `vargrad` are the tunnel's presets on the gradient, with one difference that the papers
 * make: they average the raw gradient `[n,H,W,C]` before the channels are reduced, where the tunnel averages
 * the maps a method returns.
 * @module
 */
import { tf } from "../deps.ts";
import { HansError } from "../errors.ts";
import { tfSeed } from "../rng.ts";
import type { ExplainableModel } from "./explainable_model.ts";
import { checkMethodOptions, method, type MethodName, type MethodOptionsByName } from "./registry.ts";
import type { Target } from "./target.ts";

/** Options of {@link noiseTunnel}. */
export interface NoiseTunnelOptions<N extends MethodName> {
  /** How the maps of the noisy copies are combined (default `smoothgrad`, their mean). */
  kind?: "smoothgrad" | "smoothgrad_sq" | "vargrad";
  /** Noisy copies per image (default 16). */
  samples?: number;
  /** Standard deviation of the Gaussian noise as a fraction of the input range (default 0.15). */
  noiseLevel?: number;
  /** The input range the noise level refers to (default [0, 1]). */
  inputRange?: [number, number];
  /** Seed of the noise (default 0). */
  seed?: number;
  /** Options of the wrapped method. */
  methodOptions?: MethodOptionsByName[N];
}

/**
 * Maps `[n,H,W]` of method `name` combined over `samples` noisy copies of `images` (one batched call of the
 * method per copy). Seeded: the same seed and images give the same maps.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import { fromLayersModel } from "./explainable_model.ts";
 *
 * await tf.setBackend("cpu");
 * const layers = [tf.layers.flatten({ inputShape: [4, 4, 1] }), tf.layers.dense({ units: 3 })];
 * const model = fromLayersModel(tf.sequential({ layers }));
 * const x = tf.randomUniform([1, 4, 4, 1]) as tf.Tensor4D;
 * const options = { samples: 2, seed: 7, methodOptions: { steps: 4 } };
 * const a = await noiseTunnel("integrated_gradients", model, x, [0], options);
 * const b = await noiseTunnel("integrated_gradients", model, x, [0], options);
 * assert.deepEqual(a.shape, [1, 4, 4]);
 * assert.deepEqual(a.arraySync(), b.arraySync()); // seeded: the same noise both times
 * tf.dispose([x, a, b]);
 * ```
 */
export async function noiseTunnel<N extends MethodName>(
  name: N,
  model: ExplainableModel,
  images: tf.Tensor4D,
  target: Target,
  options: NoiseTunnelOptions<N> = {},
): Promise<tf.Tensor3D> {
  const samples = options.samples ?? 16;
  if (!Number.isInteger(samples) || samples < 1) {
    throw new HansError(`noise tunnel: samples must be a whole number of at least 1, got ${samples}.`);
  }
  const kind = options.kind ?? "smoothgrad";
  const [lo, hi] = options.inputRange ?? [0, 1];
  const sigma = (options.noiseLevel ?? 0.15) * (hi - lo);
  const info = method(name);
  checkMethodOptions(name, options.methodOptions as Record<string, unknown> | undefined);
  let sum: tf.Tensor3D | undefined;
  let sumSquares: tf.Tensor3D | undefined;
  for (let s = 0; s < samples; s++) {
    const noisy = tf.tidy(() =>
      tf.add(
        images,
        tf.randomNormal(images.shape, 0, sigma, "float32", tfSeed((options.seed ?? 0) + 7919 * s)),
      )
    ) as tf.Tensor4D;
    let maps: tf.Tensor3D;
    try {
      maps = await info.explain(model, noisy, target, options.methodOptions);
    } catch (e) {
      sum?.dispose();
      sumSquares?.dispose();
      throw e;
    } finally {
      noisy.dispose();
    }
    const [nextSum, nextSquares] = tf.tidy(() => [
      sum ? tf.add(sum, maps) : maps.clone(),
      kind === "smoothgrad" ? undefined : sumSquares ? tf.add(sumSquares, tf.square(maps)) : tf.square(maps),
    ]) as [tf.Tensor3D, tf.Tensor3D | undefined];
    maps.dispose();
    sum?.dispose();
    sumSquares?.dispose();
    sum = nextSum;
    sumSquares = nextSquares;
  }
  const result = tf.tidy(() => {
    const mean = tf.div(sum!, samples);
    if (kind === "smoothgrad") return mean;
    const meanSquares = tf.div(sumSquares!, samples);
    return kind === "smoothgrad_sq" ? meanSquares : tf.relu(tf.sub(meanSquares, tf.square(mean)));
  }) as tf.Tensor3D;
  sum?.dispose();
  sumSquares?.dispose();
  return result;
}
