/**
 * What every explanation method needs from a model: logits of a batch, and gradients of target scores.
 * @module
 */
import { tf } from "../deps.ts";
import { HansError } from "../errors.ts";
import { fusedForward } from "../model/cnn_fused.ts";
import { disposeGraph, graphLogits, graphTensors, type ModelGraph } from "./graph.ts";
import { graphProblemNow, layerClassProblem, readsSynchronously } from "./graph_check.ts";
import { layersGraph } from "./graph_layers.ts";

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
 * the logits before it (`outputs: "pre-softmax"`). hans reads the model's layers as a graph and keeps it only
 * when it can trust it, as `loadModel` does: every layer is the class its name says, and, where the backend
 * reads synchronously (cpu, wasm; not WebGPU), the graph's output reproduces the model's on two seeded random
 * images (`graphProblem`). Otherwise the methods that need a graph are unavailable (`graphUnavailable` says
 * why) and the logits are the model's output.
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
 * and `logits` its output, or the input of a final softmax or sigmoid. With `reproduce: false` the graph's
 * output is not compared with the model's here: `loadModel` compares them itself, knowing whether the model
 * gives probabilities, and on any backend.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 *
 * await tf.setBackend("cpu");
 * const layers = [tf.layers.flatten({ inputShape: [4, 4, 1] }), tf.layers.dense({ units: 1, name: "head" })];
 * const net = tf.sequential({ layers });
 * const model = layersModelLogits(net);
 * assert.deepEqual([model.classes, model.outputs, model.graph?.output], [1, "logits", "head"]);
 * net.dispose();
 * ```
 */
export function layersModelLogits(
  model: tf.LayersModel,
  { reproduce = true }: { reproduce?: boolean } = {},
): ExplainableModel {
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
  const problem = layerClassProblem(model) ?? (reproduce ? reproductionProblem(model, graph) : undefined);
  if (problem) {
    disposeGraph(graph);
    return { classes, logits: apply, outputs: "logits", graphUnavailable: problem, tensors: weights };
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
 * Why `graph` does not reproduce `model`'s output on the probe of {@link graphProblemNow}, or undefined: also
 * when it cannot be told here (a backend that reads only asynchronously, an input of unknown size).
 */
function reproductionProblem(model: tf.LayersModel, graph: ModelGraph): string | undefined {
  const [, height, width, channels] = model.inputs[0].shape;
  const known = [height, width, channels].every((d) => typeof d === "number" && d > 0);
  if (!readsSynchronously() || model.inputs[0].shape.length !== 4 || !known) return undefined;
  const forward = (x: tf.Tensor4D) => model.apply(x, { training: false }) as tf.Tensor;
  try {
    return graphProblemNow(graph, forward, [height!, width!, channels!]);
  } catch (e) {
    return `hans's reading of the model fails on images (${(e as Error).message?.split("\n")[0]}).`;
  }
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
