/**
 * The noise tunnel (Captum's NoiseTunnel; Smilkov et al. 2017): attributions at seeded noisy copies of the
 * input, combined over the copies as their mean (`smoothgrad`), the mean of their squares (`smoothgrad_sq`) or
 * their variance (`vargrad`). One loop serves two uses: the registry's SmoothGrad, SmoothGrad² and VarGrad run
 * it on the raw input gradient `[n,H,W,C]` (before the channels are reduced, as the papers do), and
 * {@link noiseTunnelOver} runs it on the maps of any method (SmoothGrad over Integrated Gradients, say; the
 * registry's `noiseTunnel` takes the method by name).
 * @module
 */
import { tf } from "../deps.ts";
import { reportProgress, withoutProgress } from "../progress.ts";
import { tfSeed } from "../rng.ts";
import { inputsPerPass } from "./batching.ts";
import { checkOptions, checkOptionValues, type MethodDescriptor } from "./descriptor.ts";
import type { ExplainableModel } from "./explainable_model.ts";
import { finiteNumber, integer, interval, wholeNumber } from "./option_checks.ts";
import { isContrast, sliceTarget, type Target, targetLength } from "./target.ts";

/** The noise options of the SmoothGrad family and of {@link noiseTunnelOver}. */
export interface NoiseOptions {
  /** Noisy copies per image (default 32). */
  samples?: number;
  /** Standard deviation of the Gaussian noise as a fraction of the input range (default 0.15). */
  noiseLevel?: number;
  /** The input range the noise level refers to (default [0, 1]). */
  inputRange?: [number, number];
  /** Seed of the noise (default 0); copy k of image i gets the same noise whatever the batching. */
  seed?: number;
}

/** The checks of {@link NoiseOptions}, for the descriptors that take them. */
export const NOISE_OPTIONS = {
  samples: wholeNumber("noisy copies per image (default 32)", 1),
  noiseLevel: finiteNumber("noise σ as a fraction of the input range (default 0.15)", { min: 0 }),
  inputRange: interval("the input range the noise level refers to (default [0, 1])"),
  seed: integer("seed of the noise (default 0)"),
};

/** The noise settings when none is given. */
export const NOISE_DEFAULTS = {
  samples: 32,
  noiseLevel: 0.15,
  inputRange: [0, 1] as [number, number],
  seed: 0,
};

/** How the attributions of the noisy copies are combined. */
export type NoiseKind = "smoothgrad" | "smoothgrad_sq" | "vargrad";

/**
 * Combines per-image sums over `samples` copies: the mean, the mean of squares, or the population variance
 * mean(a²) − mean(a)² (clipped at 0 against rounding).
 */
function combine(
  kind: NoiseKind,
  sum: tf.Tensor,
  sumSquares: tf.Tensor | undefined,
  samples: number,
): tf.Tensor {
  return tf.tidy(() => {
    const mean = tf.div(sum, samples);
    if (kind === "smoothgrad") return mean;
    const meanSquares = tf.div(sumSquares!, samples);
    return kind === "smoothgrad_sq" ? meanSquares : tf.relu(tf.sub(meanSquares, tf.square(mean)));
  });
}

/** What {@link tunnel} needs besides the images. */
export interface TunnelSettings extends NoiseOptions {
  /** How the copies' attributions are combined. */
  kind: NoiseKind;
  /** Most noisy inputs per call of `attribute`. */
  inputsPerCall: number;
  /** The loop's name in progress reports (noisy copies done of all; see `src/progress.ts`). Default `kind`. */
  label?: string;
}

/**
 * The noise tunnel's loop: for chunks of images and of copies, `attribute(noisy, target)` on the noisy inputs
 * (copy-major: `[(k1−k0)·m,H,W,C]` for `m` images, with the target's rows repeated the same way) returns one
 * attribution per input (`[(k1−k0)·m, …]`); they are summed per image and combined by `kind`. Image `i`'s copy
 * `k` is the same noise whatever the batching (a seed per image), so the result does not depend on it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 *
 * await tf.setBackend("cpu");
 * const x = tf.ones([3, 2, 2, 1]) as tf.Tensor4D;
 * // The attribution of a copy is the copy itself: the mean converges on x, the variance on σ².
 * const settings = { kind: "vargrad" as const, samples: 400, noiseLevel: 0.1, inputsPerCall: 64 };
 * const variance = await tunnel(x, [0, 0, 0], settings, (noisy) => Promise.resolve(noisy.clone()));
 * const mean = tf.mean(variance).dataSync()[0];
 * assert.ok(Math.abs(mean - 0.01) < 0.002, `variance ${mean}`);
 * // Batching does not change the noise.
 * const other = await tunnel(x, [0, 0, 0], { ...settings, inputsPerCall: 7 }, (n) => Promise.resolve(n.clone()));
 * assert.ok(tf.sub(variance, other).abs().max().dataSync()[0] < 1e-6);
 * tf.dispose([x, variance, other]);
 * ```
 */
export async function tunnel(
  images: tf.Tensor4D,
  target: Target,
  settings: TunnelSettings,
  attribute: (noisy: tf.Tensor4D, target: Target) => Promise<tf.Tensor>,
): Promise<tf.Tensor> {
  const { kind, samples = NOISE_DEFAULTS.samples, seed = NOISE_DEFAULTS.seed } = settings;
  const [lo, hi] = settings.inputRange ?? NOISE_DEFAULTS.inputRange;
  const sigma = (settings.noiseLevel ?? NOISE_DEFAULTS.noiseLevel) * (hi - lo);
  const [n, height, width, channels] = images.shape;
  const imagesPerChunk = Math.max(1, Math.floor(settings.inputsPerCall / samples));
  const parts: tf.Tensor[] = [];
  try {
    for (let start = 0; start < n; start += imagesPerChunk) {
      const end = Math.min(n, start + imagesPerChunk);
      const m = end - start;
      const x = images.slice([start, 0, 0, 0], [m, -1, -1, -1]);
      const rows = sliceTarget(target, start, end);
      // Image i's noise for all its copies, drawn from its own seed: [samples,H,W,C] per image.
      const noise = Array.from(
        { length: m },
        (_, j) =>
          tf.randomNormal(
            [samples, height, width, channels],
            0,
            sigma,
            "float32",
            tfSeed(seed + 7919 * (start + j)),
          ),
      );
      const copiesPerCall = Math.max(1, Math.floor(settings.inputsPerCall / m));
      let sum: tf.Tensor | undefined;
      let sumSquares: tf.Tensor | undefined;
      try {
        for (let k0 = 0; k0 < samples; k0 += copiesPerCall) {
          const k1 = Math.min(samples, k0 + copiesPerCall);
          const noisy = tf.tidy(() =>
            tf.add(
              tf.tile(x, [k1 - k0, 1, 1, 1]),
              tf.stack(noise.map((e) => e.slice(k0, k1 - k0)), 1).reshape([
                (k1 - k0) * m,
                height,
                width,
                channels,
              ]),
            )
          ) as tf.Tensor4D;
          let a: tf.Tensor;
          try {
            a = await withoutProgress(() => attribute(noisy, repeatTarget(rows, k1 - k0)));
          } finally {
            noisy.dispose();
          }
          const [nextSum, nextSquares] = tf.tidy(() => {
            const blocks = a.reshape([k1 - k0, m, ...a.shape.slice(1)]);
            const s = tf.sum(blocks, 0);
            const q = kind === "smoothgrad" ? undefined : tf.sum(tf.square(blocks), 0);
            return [sum ? tf.add(sum, s) : s, q && sumSquares ? tf.add(sumSquares, q) : q];
          });
          a.dispose();
          sum?.dispose();
          sumSquares?.dispose();
          [sum, sumSquares] = [nextSum, nextSquares];
          const settled = nextSum;
          await reportProgress(
            start * samples + k1 * m,
            n * samples,
            settings.label ?? kind,
            () => settled.data(),
          );
        }
        parts.push(combine(kind, sum!, sumSquares, samples));
      } finally {
        tf.dispose([x, ...noise]);
        sum?.dispose();
        sumSquares?.dispose();
      }
    }
  } catch (e) {
    tf.dispose(parts);
    throw e;
  }
  if (parts.length === 1) return parts[0];
  const out = tf.concat(parts, 0);
  tf.dispose(parts);
  return out;
}

/** The target's rows repeated `copies` times, copy-major (row k·m + j is row j). */
function repeatTarget(target: Target, copies: number): Target {
  if (copies === 1) return target;
  const m = targetLength(target);
  const pick = (rows: ArrayLike<number>) => Array.from({ length: copies * m }, (_, i) => rows[i % m]);
  return isContrast(target) ? { p: pick(target.p), q: pick(target.q) } : pick(target);
}

/** Options of {@link noiseTunnelOver}. */
export interface NoiseTunnelOptions<O> extends NoiseOptions {
  /** How the maps of the noisy copies are combined (default `smoothgrad`, their mean). */
  kind?: NoiseKind;
  /** Options of the wrapped method (checked like the method's own). */
  methodOptions?: O;
}

/**
 * Maps `[n,H,W]` of any method combined over noisy copies of `images`: the same noise and seeds as SmoothGrad,
 * so the tunnel over the signed gradient is SmoothGrad's signed map. Seeded: the same seed and images give the
 * same maps.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import { fromLayersModel } from "./explainable_model.ts";
 * import { integratedGradientsMethod } from "./integrated_gradients.ts";
 *
 * await tf.setBackend("cpu");
 * const layers = [tf.layers.flatten({ inputShape: [4, 4, 1] }), tf.layers.dense({ units: 3 })];
 * const model = fromLayersModel(tf.sequential({ layers }));
 * const x = tf.randomUniform([1, 4, 4, 1]) as tf.Tensor4D;
 * const options = { samples: 2, seed: 7, methodOptions: { steps: 4 } };
 * const a = await noiseTunnelOver(integratedGradientsMethod, model, x, [0], options);
 * const b = await noiseTunnelOver(integratedGradientsMethod, model, x, [0], options);
 * assert.deepEqual(a.shape, [1, 4, 4]);
 * assert.deepEqual(a.arraySync(), b.arraySync()); // seeded: the same noise both times
 * assert.throws(() => noiseTunnelOver(integratedGradientsMethod, model, x, [0], { samples: 0 }), /samples/);
 * tf.dispose([x, a, b]);
 * ```
 */
export function noiseTunnelOver<O extends object>(
  method: MethodDescriptor<string, O>,
  model: ExplainableModel,
  images: tf.Tensor4D,
  target: Target,
  options: NoiseTunnelOptions<O> = {},
): Promise<tf.Tensor3D> {
  const { methodOptions, kind = "smoothgrad", ...noise } = options;
  const checkedNoise = checkOptionValues(`noise tunnel over ${method.name}`, NOISE_OPTIONS, noise);
  const inner = checkOptions(method, methodOptions);
  return (async () => {
    const inputsPerCall = await inputsPerPass(model, images, {
      kind: method.usesGradient === false ? "forward" : "backward",
      label: `noise tunnel over ${method.label}`,
    });
    return await tunnel(
      images,
      target,
      { ...checkedNoise, kind, inputsPerCall, label: `noise tunnel over ${method.label}` },
      (noisy, rows) => method.explain(model, noisy, rows, inner),
    ) as tf.Tensor3D;
  })();
}
