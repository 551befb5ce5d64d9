/**
 * Counterfactuals by input optimization: change a misclassified image as little as possible until the model
 * puts it in its true class. Minimizes cross-entropy to the true class + λ1·‖x′−x‖₁ + λ2·‖x′−x‖₂², with Adam on
 * the smooth part, a proximal (soft-threshold) step for the L1 part, and x′ kept in the pixel range. Many images
 * optimize together; the update step is one WGSL kernel on WebGPU (see src/kernels/counterfactual_step.ts).
 * @module
 */
import { tf } from "../deps.ts";
import { reportProgress, withoutProgress } from "../progress.ts";
import type { ExplainableModel } from "../explain/explainable_model.ts";
import { inputsPerPass } from "../explain/batching.ts";
import { reconstructionError, type Reconstructor } from "../model/autoencoder.ts";
import {
  counterfactualStep,
  counterfactualStepReference,
  type StepSettings,
} from "../kernels/counterfactual_step.ts";

/** Options of {@link findCounterfactuals}; every field has a default. */
export interface CounterfactualOptions {
  /** Adam steps per round (default 150). */
  steps?: number;
  /** Rounds of the λ1 search (default 3): after a round, an image that reached its class gets λ1 × 2 (a
   * smaller change is tried), one that did not gets λ1 / 4. The kept result is the successful x′ with the
   * smallest L1 change over all rounds, i.e. the largest penalty that still reaches the true class. */
  rounds?: number;
  /** Starting λ1 in units of the loss's gradient per pixel (default 0.01), and λ2 (default 0.01, fixed). */
  lambda1?: number;
  lambda2?: number;
  /** Adam's learning rate (default 0.02). */
  learningRate?: number;
  /** Success margin κ: logit of the true class minus the best other logit (default 0.5). */
  kappa?: number;
  /** Read the margins back once every this many steps (default 10). */
  checkEvery?: number;
  /** Valid pixel range (default [0, 1]). */
  range?: [number, number];
  /** An autoencoder prior: adds γ·‖AE(x′) − x′‖₂² per image to the loss (none by default). */
  prior?: CounterfactualPrior;
  /** Use the plain tfjs step instead of the fused kernel (for comparison). */
  reference?: boolean;
  /** Called after each round. */
  onRound?: (round: number, succeeded: number) => void;
  /**
   * Called after each Adam step: `done` of `total` steps, where `total` is groups × rounds × steps (images
   * that optimize together form a group) and a round that ends early, every image having reached its class,
   * counts as finished.
   */
  onStep?: (done: number, total: number) => void;
}

/**
 * The autoencoder prior of {@link findCounterfactuals} (as in CEM, Dhurandhar et al. 2018, and
 * prototype-guided counterfactuals, Van Looveren & Klaise 2021): the loss gains γ·‖AE(x′) − x′‖₂² per image,
 * which keeps x′ where the autoencoder reconstructs well, i.e. near the data it was trained on. Its gradient
 * comes from tfjs autodiff through the autoencoder and is added to the model loss's gradient before the
 * (fused) update step.
 */
export interface CounterfactualPrior {
  /** The autoencoder: x′ `[n,H,W,C]` in pixel space to its reconstruction (a function or a LayersModel). */
  reconstruct: Reconstructor;
  /** γ, the weight of the squared reconstruction error, summed over pixels (default
   * {@link DEFAULT_PRIOR_WEIGHT}). */
  weight?: number;
}

/** The default γ of {@link CounterfactualPrior}; see the README for how it was chosen. */
export const DEFAULT_PRIOR_WEIGHT = 0.1;

/** The counterfactuals of a batch. */
export interface Counterfactuals {
  /** x′ per image (`n * size`), the original where no round succeeded. */
  images: Float32Array;
  success: boolean[];
  /** Steps the kept result took (in its round), or the steps of every round when it never succeeded. */
  steps: number[];
  /** λ1 of the kept result. */
  lambda1: number[];
}

/**
 * Finds counterfactuals of `images` (`[n,H,W,C]`) for the classes `target` (the true classes). Works on the
 * GPU throughout; reads back only margins, once every `checkEvery` steps, from the logits the next step's loss
 * computes anyway. The images optimize together as far as the device and the memory budget allow one backward
 * pass to take them (`pass_plan.ts`), else in groups one after another; each image's result is the same
 * either way. `onRound` then reports each round once every group has run it.
 */
export async function findCounterfactuals(
  model: ExplainableModel,
  images: tf.Tensor4D,
  target: number[],
  options: CounterfactualOptions = {},
): Promise<Counterfactuals> {
  const [n, height, width, channels] = images.shape;
  const perPass = await inputsPerPass(model, images, {
    kind: "backward",
    factor: options.prior ? 2 : 1,
    // The state (x′, Adam's two moments), the gradient and the original, per image.
    extraBytesPerInput: 5 * 4 * height * width * channels,
    requested: n,
    label: "a counterfactual search",
  });
  if (perPass >= n) return await searchGroup(model, images, target, options);
  const parts: Counterfactuals[] = [];
  const succeeded = new Array<number>(options.rounds ?? 3).fill(0);
  const groups = Math.ceil(n / perPass);
  for (let start = 0; start < n; start += perPass) {
    const m = Math.min(perPass, n - start);
    const group = images.slice([start, 0, 0, 0], [m, -1, -1, -1]);
    const before = parts.length;
    try {
      parts.push(
        await withoutProgress(() =>
          searchGroup(model, group, target.slice(start, start + m), {
            ...options,
            onRound: (round, k) => void (succeeded[round] += k),
            onStep: (done, total) => options.onStep?.(before * total + done, groups * total),
          })
        ),
      );
      await reportProgress(start + m, n, "counterfactual images");
    } finally {
      group.dispose();
    }
  }
  succeeded.forEach((k, round) => options.onRound?.(round, k));
  const joined = new Float32Array(n * height * width * channels);
  let offset = 0;
  for (const p of parts) {
    joined.set(p.images, offset);
    offset += p.images.length;
  }
  return {
    images: joined,
    success: parts.flatMap((p) => p.success),
    steps: parts.flatMap((p) => p.steps),
    lambda1: parts.flatMap((p) => p.lambda1),
  };
}

/** {@link findCounterfactuals} on images that optimize together. */
async function searchGroup(
  model: ExplainableModel,
  images: tf.Tensor4D,
  target: number[],
  options: CounterfactualOptions,
): Promise<Counterfactuals> {
  const [n, height, width, channels] = images.shape;
  const size = height * width * channels;
  const steps = options.steps ?? 150;
  const rounds = options.rounds ?? 3;
  const kappa = options.kappa ?? 0.5;
  const checkEvery = options.checkEvery ?? 10;
  const lambda2 = options.lambda2 ?? 0.01;
  const lambda1 = new Array(n).fill(options.lambda1 ?? 0.01);
  const settings: Omit<StepSettings, "t"> = {
    learningRate: options.learningRate ?? 0.02,
    beta1: 0.9,
    beta2: 0.999,
    epsilon: 1e-8,
    range: options.range ?? [0, 1],
  };
  const step = options.reference ? counterfactualStepReference : counterfactualStep;
  const original = await images.data() as Float32Array;
  const best = { images: original.slice(), l1: new Array(n).fill(Infinity), steps: new Array(n).fill(0) };
  const keptLambda = new Array(n).fill(NaN);
  const loss = counterfactualLoss(model, target, options.prior);
  for (let round = 0; round < rounds; round++) {
    let state = tf.tidy(() => tf.concat([images.reshape([1, -1]), tf.zeros([2, n * size])]) as tf.Tensor2D);
    const active = new Array(n).fill(1);
    const reached = new Array(n).fill(0);
    /** Retires the images whose margin reached κ after step `t`; true once none is left. */
    const settle = (margins: number[], t: number): boolean => {
      for (let i = 0; i < n; i++) {
        if (active[i] && margins[i] >= kappa) {
          active[i] = 0;
          reached[i] = t;
        }
      }
      return active.every((a) => a === 0);
    };
    for (let t = 1; t <= steps; t++) {
      // The check after step t − 1 reads the logits step t's loss computes anyway: no extra forward pass.
      const seen: { logits?: tf.Tensor2D } = {};
      const keep = t > 1 && (t - 1) % checkEvery === 0
        ? (l: tf.Tensor2D) => void (seen.logits = tf.keep(l))
        : undefined;
      const grad = tf.tidy(() => {
        const x = state.slice([0, 0], [1, -1]).reshape([n, height, width, channels]);
        return tf.grad((x) => loss.value(x as tf.Tensor4D, keep))(x);
      });
      if (seen.logits && settle(await margins(seen.logits, target), t - 1)) {
        grad.dispose();
        break;
      }
      const params = tf.tensor2d(lambda1.flatMap((l1, i) => [l1, lambda2, active[i]]), [n, 3]);
      const next = tf.tidy(() => step({ original: images, state, grad, params }, { ...settings, t }));
      [params, grad, state].forEach((x) => x.dispose());
      state = next;
      if (t === steps) {
        const logits = tf.tidy(() => model.logits(state.slice([0, 0], [1, -1]).reshape(images.shape)));
        settle(await margins(logits, target), t);
      }
      if (t < steps) options.onStep?.(round * steps + t, rounds * steps);
    }
    options.onStep?.((round + 1) * steps, rounds * steps);
    const last = state.slice([0, 0], [1, -1]);
    const x = await last.data() as Float32Array;
    last.dispose();
    state.dispose();
    let succeeded = 0;
    for (let i = 0; i < n; i++) {
      if (reached[i] > 0) {
        succeeded++;
        let l1 = 0;
        for (let j = i * size; j < (i + 1) * size; j++) l1 += Math.abs(x[j] - original[j]);
        if (l1 < best.l1[i]) {
          best.l1[i] = l1;
          best.images.set(x.subarray(i * size, (i + 1) * size), i * size);
          best.steps[i] = reached[i];
          keptLambda[i] = lambda1[i];
        }
        lambda1[i] *= 2;
      } else {
        if (best.l1[i] === Infinity) best.steps[i] += steps;
        lambda1[i] /= 4;
      }
    }
    options.onRound?.(round, succeeded);
    await reportProgress(round + 1, rounds, "counterfactual rounds");
  }
  loss.dispose();
  return {
    images: best.images,
    success: best.l1.map((l) => l !== Infinity),
    steps: best.steps,
    lambda1: keptLambda,
  };
}

/** The smooth loss of {@link findCounterfactuals}, built once per call of {@link counterfactualLoss}. */
export interface CounterfactualLoss {
  /** The loss of a batch x′ `[n,H,W,C]`, summed over the batch. Builds its tensors inside tf.tidy, so it can
   * run inside tf.grad; `onLogits` gets the model's logits of x′ (`tf.keep` them to use them afterwards). */
  value(x: tf.Tensor4D, onLogits?: (logits: tf.Tensor2D) => void): tf.Scalar;
  /** Frees the one-hot targets the loss holds; call it once the loss is no longer used. */
  dispose(): void;
}

/**
 * The smooth loss that {@link findCounterfactuals} differentiates with tfjs autodiff, summed over the batch:
 * per image, the softmax cross-entropy of the model's logits to its target class, plus γ·‖AE(x′) − x′‖₂² with a
 * prior. (λ2·‖x′ − x‖₂² and the L1 penalty live in the update step.) The one-hot targets are built here, once,
 * not at every step; `dispose()` frees them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import { fromLayersModel } from "../explain/explainable_model.ts";
 *
 * await tf.setBackend("cpu");
 * // A model whose three logits are always 0: each class has probability 1/3.
 * const net = tf.sequential({
 *   layers: [tf.layers.flatten({ inputShape: [4, 4, 1] }), tf.layers.dense({ units: 3, kernelInitializer: "zeros" })],
 * });
 * const images = tf.zeros([2, 4, 4, 1]) as tf.Tensor4D;
 * const loss = counterfactualLoss(fromLayersModel(net), [2, 1]); // image 0 towards class 2, image 1 towards 1
 * const value = loss.value(images);
 * assert.ok(Math.abs(value.dataSync()[0] - 2 * Math.log(3)) < 1e-5); // −ln(1/3) per image, summed
 * const grad = tf.grad((x) => loss.value(x as tf.Tensor4D))(images);
 * assert.deepEqual(grad.shape, [2, 4, 4, 1]);
 * loss.dispose();
 * tf.dispose([images, value, grad]);
 * net.dispose();
 * ```
 */
export function counterfactualLoss(
  model: ExplainableModel,
  target: number[],
  prior?: CounterfactualPrior,
): CounterfactualLoss {
  const weight = prior?.weight ?? DEFAULT_PRIOR_WEIGHT;
  // Kept out of any tidy the caller may be in: the loss outlives it.
  const oneHot = tf.keep(tf.tidy(() => tf.oneHot(tf.tensor1d(target, "int32"), model.classes)));
  return {
    value: (x, onLogits) =>
      tf.tidy(() => {
        const logits = model.logits(x);
        onLogits?.(logits);
        let l = tf.losses.softmaxCrossEntropy(oneHot, logits, undefined, undefined, tf.Reduction.NONE);
        if (prior) l = tf.add(l, tf.mul(reconstructionError(prior.reconstruct, x), weight));
        return tf.sum(l);
      }),
    dispose: () => oneHot.dispose(),
  };
}

/** Per image: logit of the target class minus the best other logit. Disposes `logits`. */
async function margins(logits: tf.Tensor2D, target: number[]): Promise<number[]> {
  const values = await logits.data() as Float32Array;
  const classes = logits.shape[1];
  logits.dispose();
  return target.map((q, i) => {
    let other = -Infinity;
    for (let k = 0; k < classes; k++) if (k !== q) other = Math.max(other, values[i * classes + k]);
    return values[i * classes + q] - other;
  });
}

/** L0 (pixels changed by more than `tolerance` in any channel), L1 and L2 of the change of one image. */
export function changeNorms(
  original: Float32Array,
  changed: Float32Array,
  channels: number,
  tolerance = 1e-3,
): { l0: number; l1: number; l2: number } {
  let l0 = 0;
  let l1 = 0;
  let l2 = 0;
  for (let p = 0; p < original.length / channels; p++) {
    let moved = false;
    for (let c = 0; c < channels; c++) {
      const d = changed[p * channels + c] - original[p * channels + c];
      l1 += Math.abs(d);
      l2 += d * d;
      if (Math.abs(d) > tolerance) moved = true;
    }
    if (moved) l0++;
  }
  return { l0, l1, l2: Math.sqrt(l2) };
}
