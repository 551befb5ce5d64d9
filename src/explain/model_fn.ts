/**
 * What every explanation method needs from a model: logits of a batch, and gradients of target scores.
 * @module
 */
import { tf } from "../deps.ts";
import { HansError } from "../errors.ts";
import { fusedForward } from "../model/cnn_fused.ts";
import { graphLogits, graphTensors, type ModelGraph } from "./graph.ts";
import { layersGraph } from "./graph_layers.ts";
import { planPass, type PlanPassOptions } from "../model/pass_plan.ts";
import { targetScores } from "./target.ts";

/**
 * What a model's `logits` give: its own output (`logits`), the input of its final softmax (`pre-softmax`), or,
 * when neither is reachable, the log of its probabilities (`log-probabilities`, whose differences between
 * classes equal the logits' differences). A binary classifier with one output z (see {@link asTwoClasses}) is
 * explained on z: its own output (`logits`), the input of its final sigmoid (`pre-sigmoid`) or, when that is out
 * of reach, the log-odds of its probability (`log-odds`, equal to the input of the sigmoid).
 */
export type ModelOutputs = "logits" | "pre-softmax" | "log-probabilities" | "pre-sigmoid" | "log-odds";

/** A differentiable classifier: images `[n,H,W,C]` to logits `[n,classes]`. */
export interface ExplainableModel {
  /** Logits; must be differentiable with tf.grad (no read-backs inside). */
  logits(x: tf.Tensor4D): tf.Tensor2D;
  /** Number of classes. */
  classes: number;
  /** What `logits` gives (default `logits`). */
  outputs?: ModelOutputs;
  /**
   * The model as a graph hans can run and look inside, when it could be read: Grad-CAM, activations, Guided
   * Backprop and LRP need it.
   */
  graph?: ModelGraph;
  /** Why there is no graph (shown where a method that needs one is left out). */
  graphUnavailable?: string;
  /**
   * Every tensor `logits` reads (weights, constants): with it, forward-only work can run on another tfjs
   * backend (`forward_engine.ts`); without it, the model stays on the active one.
   */
  tensors?: () => tf.Tensor[];
}

/**
 * Wraps a tfjs LayersModel (Sequential or functional). A final softmax is left out: the model is explained on
 * the logits before it (`outputs: "pre-softmax"`). When hans cannot read the model's layers, the methods that
 * need a graph are unavailable (`graphUnavailable` says why) and the logits are the model's output.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 *
 * await tf.setBackend("cpu");
 * const net = tf.sequential();
 * net.add(tf.layers.flatten({ inputShape: [4, 4, 1] }));
 * net.add(tf.layers.dense({ units: 3, activation: "softmax" }));
 * const model = fromLayersModel(net);
 * assert.equal(model.outputs, "pre-softmax"); // explained on the logits, not the probabilities
 * const x = tf.randomUniform([2, 4, 4, 1]) as tf.Tensor4D;
 * tf.tidy(() => {
 *   const probabilities = tf.softmax(model.logits(x));
 *   assert.ok(tf.sub(probabilities, net.predict(x) as tf.Tensor).abs().max().dataSync()[0] < 1e-6);
 * });
 * x.dispose();
 * net.dispose();
 * ```
 */
export function fromLayersModel(model: tf.LayersModel): ExplainableModel {
  const read = layersModelLogits(model);
  return read.classes === 1 ? asTwoClasses(read) : read;
}

/**
 * {@link fromLayersModel} before a one-output model becomes two classes: `classes` is the model's output width
 * and `logits` its output, or the input of a final softmax or sigmoid.
 */
export function layersModelLogits(model: tf.LayersModel): ExplainableModel {
  const classes = model.outputs[0].shape[model.outputs[0].shape.length - 1] as number;
  // On hans's WebGPU kernels, a Sequential model's conv + ReLU + pool and dense layers run fused.
  // (Only while that backend is active: forward-only work may run the same model on wasm.)
  const fused = fusedForward(model);
  const backend = tf.getBackend();
  const apply = (x: tf.Tensor4D) =>
    fused && tf.getBackend() === backend
      ? fused(x, { input: true, weights: false })
      : model.apply(x, { training: false }) as tf.Tensor2D;
  const weights = () => model.weights.map((w) => w.read());
  let graph: ModelGraph;
  try {
    graph = layersGraph(model);
  } catch (e) {
    if (!(e instanceof HansError)) throw e;
    return { classes, logits: apply, outputs: "logits", graphUnavailable: e.message, tensors: weights };
  }
  const tensors = () => [...weights(), ...graphTensors(graph)];
  if (!graph.softmaxRemoved && !graph.sigmoidRemoved) {
    return { classes, logits: apply, outputs: "logits", graph, tensors };
  }
  return {
    classes,
    logits: (x) => tf.tidy(() => graphLogits(graph, x)),
    outputs: graph.softmaxRemoved ? "pre-softmax" : "pre-sigmoid",
    graph,
    tensors,
  };
}

/**
 * A binary classifier with one output z (a logit, or the input of its final sigmoid) as two classes: logits
 * `[−z/2, z/2]` for class 0 (negative) and class 1 (positive). Their softmax is the model's own
 * `[1 − σ(z), σ(z)]`, the map of class 1 explains z/2 and that of class 0 −z/2, and the contrast "1 rather
 * than 0" explains z itself. The graph, when there is one, gets the same as a last dense node
 * (`hans/two_classes`), so Grad-CAM, Guided Backprop and LRP run on it unchanged.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 *
 * await tf.setBackend("cpu");
 * const z = (x: tf.Tensor4D) => tf.sum(x, [1, 2, 3]).reshape([-1, 1]) as tf.Tensor2D; // one logit
 * const model = asTwoClasses({ classes: 1, logits: z });
 * const x = tf.fill([1, 2, 2, 1], 0.5) as tf.Tensor4D; // z = 2
 * tf.tidy(() => {
 *   assert.deepEqual(Array.from(model.logits(x).dataSync()), [-1, 1]);
 *   // The softmax of the two logits is the sigmoid of z.
 *   const p = tf.softmax(model.logits(x)).dataSync()[1];
 *   assert.ok(Math.abs(p - 1 / (1 + Math.exp(-2))) < 1e-6);
 * });
 * x.dispose();
 * ```
 */
export function asTwoClasses(model: ExplainableModel): ExplainableModel {
  if (model.classes !== 1) {
    throw new HansError(`asTwoClasses takes a model with one output; this one has ${model.classes}.`);
  }
  const logits = (x: tf.Tensor4D) =>
    tf.tidy(() => {
      const z = model.logits(x);
      return tf.concat([tf.mul(z, -0.5), tf.mul(z, 0.5)], 1) as tf.Tensor2D;
    });
  const graph = model.graph ? withTwoClassHead(model.graph) : undefined;
  return {
    ...model,
    classes: 2,
    logits,
    graph,
    tensors: () => [...(model.tensors?.() ?? []), ...(graph?.owned ?? [])],
  };
}

/** The graph with a dense node `hans/two_classes` (kernel `[[−½, ½]]`, no bias) after its one-column output. */
function withTwoClassHead(graph: ModelGraph): ModelGraph {
  const kernel = tf.tensor2d([[-0.5, 0.5]]);
  const name = "hans/two_classes";
  const shapes = new Map(graph.shapes);
  shapes.set(name, [1, 2]);
  return {
    ...graph,
    nodes: [
      ...graph.nodes,
      { op: "dense", name, inputs: [graph.output], kernel, bias: null, activation: "linear" },
    ],
    output: name,
    shapes,
    owned: [...graph.owned, kernel],
  };
}

/**
 * The model's graph for `method`; a HansError saying why when the model has none.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 *
 * await tf.setBackend("cpu");
 * const layers = [tf.layers.flatten({ inputShape: [4, 4, 1] }), tf.layers.dense({ units: 3 })];
 * const net = tf.sequential({ layers });
 * assert.equal(modelGraph(fromLayersModel(net), "Grad-CAM").source, "layers-model");
 * // A plain function of the input has no graph to look inside.
 * const logits = (x: tf.Tensor4D) => tf.sum(x, [1, 2, 3]).reshape([-1, 1]) as tf.Tensor2D;
 * assert.throws(() => modelGraph({ classes: 1, logits }, "Grad-CAM"), /needs it as a graph/);
 * net.dispose();
 * ```
 */
export function modelGraph(model: ExplainableModel, method: string): ModelGraph {
  if (model.graph) return model.graph;
  throw new HansError(
    `${method} looks inside the model and needs it as a graph; ${
      model.graphUnavailable ?? "this model is a plain function of its input"
    }`,
  );
}

/**
 * Gradients of the target scores with respect to the input batch `x` (same shape as `x`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
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
