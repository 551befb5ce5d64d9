/**
 * The plumbing every method shares: input gradients of target scores, reducing channels, and running a method
 * chunk by chunk within what one pass may take (the device's buffer limits and the memory budget).
 * @module
 */
import { tf } from "../deps.ts";
import { tensorOnForwardEngine } from "../model/forward_engine.ts";
import { planPass, type PlanPassOptions } from "../model/pass_plan.ts";
import { reportProgress } from "../progress.ts";
import type { ExplainableModel } from "./explainable_model.ts";
import { sliceTarget, type Target, targetScores, targetWeights } from "./target.ts";

/**
 * Gradients of the target scores with respect to the input batch `x` (same shape as `x`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import { fromLayersModel } from "./explainable_model.ts";
 * import { targetWeights } from "./target.ts";
 *
 * await tf.setBackend("cpu");
 * const layers = [tf.layers.flatten({ inputShape: [4, 4, 1] }), tf.layers.dense({ units: 3 })];
 * const net = tf.sequential({ layers });
 * const x = tf.randomUniform([1, 4, 4, 1]) as tf.Tensor4D;
 * const weights = targetWeights([1], 3);
 * const g = inputGradients(fromLayersModel(net), x, weights);
 * // The model is linear: the gradient of logit 1 is column 1 of the dense kernel.
 * const column = net.getWeights()[0].slice([0, 1], [16, 1]);
 * const diff = tf.tidy(() => tf.sub(g.reshape([16, 1]), column).abs().max());
 * assert.ok(diff.dataSync()[0] < 1e-6);
 * tf.dispose([x, weights, g, column, diff]);
 * net.dispose();
 * ```
 */
export function inputGradients(model: ExplainableModel, x: tf.Tensor4D, weights: tf.Tensor2D): tf.Tensor4D {
  return tf.tidy(() => {
    const f = (input: tf.Tensor) => tf.sum(targetScores(model.logits(input as tf.Tensor4D), weights));
    return tf.grad(f)(x) as tf.Tensor4D;
  });
}

/**
 * Reduces `[n,H,W,C]` attributions to maps `[n,H,W]`: signed sum over channels, or max of absolute values.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 *
 * await tf.setBackend("cpu");
 * const a = tf.tensor4d([1, -3, 2, 2], [1, 1, 2, 2]); // one image of 1x2 pixels, 2 channels
 * const signed = reduceChannels(a, false);
 * const absolute = reduceChannels(a, true);
 * assert.deepEqual(signed.arraySync(), [[[-2, 4]]]);
 * assert.deepEqual(absolute.arraySync(), [[[3, 2]]]);
 * tf.dispose([a, signed, absolute]);
 * ```
 */
export function reduceChannels(a: tf.Tensor4D, absolute: boolean): tf.Tensor3D {
  return tf.tidy(() => (absolute ? tf.max(tf.abs(a), 3) : tf.sum(a, 3)) as tf.Tensor3D);
}

/**
 * Model inputs one pass of a method may take on `images` (`[n,H,W,C]`): `options.requested` (the method's
 * `batchSize`, or its default) when it fits the device's buffer limits and the memory budget, else fewer
 * (see {@link planPass}). A single image that cannot fit is a HansError naming the limit.
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
 * const x = tf.zeros([2, 4, 4, 1]) as tf.Tensor4D;
 * assert.equal(await inputsPerPass(model, x, { kind: "backward", requested: 128 }), 128);
 * x.dispose();
 * ```
 */
export async function inputsPerPass(
  model: ExplainableModel,
  images: tf.Tensor4D,
  options: PlanPassOptions,
): Promise<number> {
  const [, height, width, channels] = images.shape;
  return (await planPass(model, [height, width, channels], options)).inputs;
}

/**
 * Runs `fn` on chunks of `batchSize` images of `x` (and the matching target rows) and concatenates the maps.
 * Each chunk runs inside tf.tidy, so only the maps outlive it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 *
 * await tf.setBackend("cpu");
 * const x = tf.ones([5, 2, 2, 1]) as tf.Tensor4D;
 * const chunks: number[][] = [];
 * const maps = mapChunks(x, 2, (chunk, start, end) => {
 *   chunks.push([start, end]);
 *   return tf.sum(chunk, 3);
 * });
 * assert.deepEqual(chunks, [[0, 2], [2, 4], [4, 5]]);
 * assert.deepEqual(maps.shape, [5, 2, 2]);
 * tf.dispose([x, maps]);
 * ```
 */
export function mapChunks(
  x: tf.Tensor4D,
  batchSize: number,
  fn: (chunk: tf.Tensor4D, start: number, end: number) => tf.Tensor3D,
): tf.Tensor3D {
  const n = x.shape[0];
  const size = Math.max(1, Math.floor(batchSize));
  const parts: tf.Tensor3D[] = [];
  for (let start = 0; start < n; start += size) {
    const end = Math.min(n, start + size);
    parts.push(tf.tidy(() => fn(x.slice([start, 0, 0, 0], [end - start, -1, -1, -1]), start, end)));
  }
  if (parts.length === 1) return parts[0];
  const out = tf.concat(parts, 0);
  parts.forEach((p) => p.dispose());
  return out;
}

/**
 * Sum over `samples` of the input gradients at perturbed copies of a chunk `x` (`m` images). `makeSamples(k0,
 * k1)` returns the copies for samples k0..k1-1, sample-major (`[(k1-k0)*m,H,W,C]`). At most `batchSize`
 * inputs go through the model at once. Returns the sum of gradients and, when `squares`, the sum of squares.
 * With `sampleWeights` (one number per sample), sample k's gradients are scaled by `sampleWeights[k]` before
 * they are summed (a quadrature rule's weights); the squares are of the scaled gradients.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import { fromLayersModel } from "./explainable_model.ts";
 * import { targetWeights } from "./target.ts";
 *
 * await tf.setBackend("cpu");
 * const layers = [tf.layers.flatten({ inputShape: [4, 4, 1] }), tf.layers.dense({ units: 3 })];
 * const net = tf.sequential({ layers });
 * const model = fromLayersModel(net);
 * const x = tf.randomUniform([2, 4, 4, 1]) as tf.Tensor4D;
 * const w = targetWeights([0, 2], 3);
 * // 3 unchanged copies per image, 2 model inputs per pass: 3 times the plain gradient.
 * const { sum } = sampledGradients(model, x, w, 3, (k0, k1) => tf.tile(x, [k1 - k0, 1, 1, 1]), 2);
 * const once = inputGradients(model, x, w);
 * const diff = tf.tidy(() => tf.sub(sum, tf.mul(once, 3)).abs().max());
 * assert.ok(diff.dataSync()[0] < 1e-5);
 * // Weighted by 0.5, 1 and 2: 3.5 times the plain gradient.
 * const weighted = sampledGradients(model, x, w, 3, (k0, k1) => tf.tile(x, [k1 - k0, 1, 1, 1]), 2, false, [0.5, 1, 2]);
 * const diff2 = tf.tidy(() => tf.sub(weighted.sum, tf.mul(once, 3.5)).abs().max());
 * assert.ok(diff2.dataSync()[0] < 1e-5);
 * tf.dispose([x, w, sum, once, diff, weighted.sum, diff2]);
 * net.dispose();
 * ```
 */
export function sampledGradients(
  model: ExplainableModel,
  x: tf.Tensor4D,
  weights: tf.Tensor2D,
  samples: number,
  makeSamples: (k0: number, k1: number) => tf.Tensor4D,
  batchSize: number,
  squares = false,
  sampleWeights?: ArrayLike<number>,
): { sum: tf.Tensor4D; sumSquares?: tf.Tensor4D } {
  const m = x.shape[0];
  const classes = weights.shape[1];
  const per = Math.max(1, Math.floor(batchSize / m));
  let sum: tf.Tensor4D = tf.zerosLike(x);
  let sumSquares: tf.Tensor4D | undefined = squares ? tf.zerosLike(x) : undefined;
  for (let k0 = 0; k0 < samples; k0 += per) {
    const k1 = Math.min(samples, k0 + per);
    const [nextSum, nextSquares] = tf.tidy(() => {
      const batch = makeSamples(k0, k1);
      let w = tf.tile(weights, [k1 - k0, 1]);
      if (sampleWeights) {
        const scale = tf.tensor3d(Float32Array.from({ length: k1 - k0 }, (_, j) => sampleWeights[k0 + j]), [
          k1 - k0,
          1,
          1,
        ]);
        w = tf.mul(w.reshape([k1 - k0, m, classes]), scale).reshape([(k1 - k0) * m, classes]);
      }
      const g = inputGradients(model, batch, w);
      const blocks = g.reshape([k1 - k0, ...x.shape]);
      const s = tf.add(sum, tf.sum(blocks, 0)) as tf.Tensor4D;
      const q = sumSquares ? tf.add(sumSquares, tf.sum(tf.square(blocks), 0)) as tf.Tensor4D : undefined;
      return [s, q];
    });
    sum.dispose();
    sumSquares?.dispose();
    sum = nextSum as tf.Tensor4D;
    sumSquares = nextSquares as tf.Tensor4D | undefined;
  }
  return { sum, sumSquares };
}

/**
 * Most model inputs one pass takes when a method's `batchSize` is not given: an upper bound that keeps one pass
 * short enough for progress and cancellation on a small model; on real-size images the device's buffer limits
 * and the memory budget bind long before it (see {@link planPass}).
 */
export const DEFAULT_INPUTS_PER_PASS = 256;

/**
 * The same bound for methods that run the model forward only (occlusion, RISE): twice as many, since a forward
 * pass keeps no activations for a backward one.
 */
export const DEFAULT_FORWARD_INPUTS_PER_PASS = 2 * DEFAULT_INPUTS_PER_PASS;

/** A method's function: maps `[n,H,W]` of images `[n,H,W,C]` for a target. */
export type MapsFunction<O> = (
  model: ExplainableModel,
  images: tf.Tensor4D,
  target: Target,
  options?: O,
) => Promise<tf.Tensor3D>;

/** A method's function for several targets at once, sharing its work (maps per target, in their order). */
export type ManyMapsFunction<O> = (
  model: ExplainableModel,
  images: tf.Tensor4D,
  targets: Target[],
  options?: O,
) => Promise<tf.Tensor3D[]>;

/**
 * A forward-only method run on the engine `forward_engine.ts` picks for the model (wasm on a software adapter,
 * where it measures faster); its maps come back on the active backend.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import { fromLayersModel } from "./explainable_model.ts";
 * import { occlusion } from "./occlusion.ts";
 *
 * await tf.setBackend("cpu");
 * const layers = [tf.layers.flatten({ inputShape: [4, 4, 1] }), tf.layers.dense({ units: 3 })];
 * const model = fromLayersModel(tf.sequential({ layers }));
 * const x = tf.randomUniform([1, 4, 4, 1]) as tf.Tensor4D;
 * const maps = await onForwardEngine(occlusion)(model, x, [1], { patch: 2 });
 * assert.deepEqual(maps.shape, [1, 4, 4]);
 * tf.dispose([x, maps]);
 * ```
 */
export function onForwardEngine<O>(fn: MapsFunction<O>): MapsFunction<O> {
  return (model, images, target, options) =>
    tensorOnForwardEngine(model, images, (x) => fn(model, x, target, options));
}

/** {@link onForwardEngine} for several targets: the maps travel back stacked, one tensor. */
export function manyOnForwardEngine<O>(fn: ManyMapsFunction<O>): ManyMapsFunction<O> {
  return async (model, images, targets, options) => {
    const stacked = await tensorOnForwardEngine(model, images, async (x) => {
      const maps = await fn(model, x, targets, options);
      const out = tf.stack(maps) as tf.Tensor4D;
      tf.dispose(maps);
      return out;
    });
    const maps = tf.unstack(stacked) as tf.Tensor3D[];
    stacked.dispose();
    return maps;
  };
}

/** How {@link targetChunks} sizes its chunks. */
export interface ChunkOptions {
  /** `forward` or `backward` passes (a backward pass holds the activations of its inputs). */
  kind: PlanPassOptions["kind"];
  /** The method's name for messages, e.g. `Grad-CAM`. */
  label: string;
  /** The method's `batchSize` option, when given (default {@link DEFAULT_INPUTS_PER_PASS}). */
  batchSize?: number;
  /** Memory of one input's pass relative to a plain pass of its kind (default 1). */
  factor?: number;
}

/**
 * The one chunking loop of the methods: maps `[n,H,W]` of `images` for `target`, made by `fn` on chunks of as
 * many images as one pass may take (the `batchSize` asked for, fewer when the device or the memory budget
 * needs it), each chunk with its rows of the target as one-hot (or ±1 contrast) weights `[m,classes]`. Each
 * chunk runs inside tf.tidy, so only the maps outlive it.
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
 * const x = tf.randomUniform([5, 4, 4, 1]) as tf.Tensor4D;
 * const seen: number[][] = [];
 * const maps = await targetChunks(model, x, [0, 1, 2, 0, 1], { kind: "backward", label: "demo", batchSize: 2 },
 *   (chunk, weights, start, end) => {
 *     seen.push([start, end, ...weights.argMax(1).dataSync()]);
 *     return reduceChannels(inputGradients(model, chunk, weights), false);
 *   });
 * assert.deepEqual(seen, [[0, 2, 0, 1], [2, 4, 2, 0], [4, 5, 1]]);
 * assert.deepEqual(maps.shape, [5, 4, 4]);
 * tf.dispose([x, maps]);
 * ```
 */
export async function targetChunks(
  model: ExplainableModel,
  images: tf.Tensor4D,
  target: Target,
  options: ChunkOptions,
  fn: (x: tf.Tensor4D, weights: tf.Tensor2D, start: number, end: number) => tf.Tensor3D,
): Promise<tf.Tensor3D> {
  const batch = await inputsPerPass(model, images, {
    kind: options.kind,
    requested: options.batchSize ?? DEFAULT_INPUTS_PER_PASS,
    label: options.label,
    ...(options.factor === undefined ? {} : { factor: options.factor }),
  });
  return await reportedChunks(images, batch, options.label, (x, start, end) => {
    const weights = targetWeights(sliceTarget(target, start, end), model.classes);
    return fn(x, weights, start, end);
  });
}

/**
 * {@link mapChunks} that reports its progress (images done of all, under `label`; see `src/progress.ts`) after
 * each chunk. With a progress callback listening, each chunk's maps are read back before it is reported, so a
 * chunk counts when the device has made it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import { withProgress } from "../progress.ts";
 *
 * await tf.setBackend("cpu");
 * const x = tf.ones([5, 2, 2, 1]) as tf.Tensor4D;
 * const seen: string[] = [];
 * const maps = await withProgress(
 *   (done, total, label) => seen.push(`${label} ${done}/${total}`),
 *   () => reportedChunks(x, 2, "demo", (chunk) => tf.sum(chunk, 3)),
 * );
 * assert.deepEqual(seen, ["demo 2/5", "demo 4/5", "demo 5/5"]);
 * tf.dispose([x, maps]);
 * ```
 */
export async function reportedChunks(
  x: tf.Tensor4D,
  batchSize: number,
  label: string,
  fn: (chunk: tf.Tensor4D, start: number, end: number) => tf.Tensor3D,
): Promise<tf.Tensor3D> {
  const n = x.shape[0];
  const size = Math.max(1, Math.floor(batchSize));
  const parts: tf.Tensor3D[] = [];
  try {
    for (let start = 0; start < n; start += size) {
      const end = Math.min(n, start + size);
      const part = tf.tidy(() => fn(x.slice([start, 0, 0, 0], [end - start, -1, -1, -1]), start, end));
      parts.push(part);
      await reportProgress(end, n, label, () => part.data());
    }
  } catch (e) {
    tf.dispose(parts);
    throw e;
  }
  if (parts.length === 1) return parts[0];
  const out = tf.concat(parts, 0);
  parts.forEach((p) => p.dispose());
  return out;
}
