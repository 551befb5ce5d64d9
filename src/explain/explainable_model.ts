/**
 * What every explanation method needs from a model: logits of a batch, and gradients of target scores.
 * @module
 */
import { tf } from "../deps.ts";
import { HansError } from "../errors.ts";
import { fusedForward } from "../model/cnn_fused.ts";
import { disposeGraph, graphLogits, graphTensors, type ModelGraph } from "./graph.ts";
import { graphProblem, graphProblemNow, layerClassProblem, readsSynchronously } from "./graph_check.ts";
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
 * when it can trust it, as `loadModel` does: every layer is the class its name says, and the graph's output
 * reproduces the model's on two seeded random images (`graphProblem`). Otherwise the methods that need a graph
 * are unavailable (`graphUnavailable` says why) and the logits are the model's output. Where the backend reads
 * synchronously (cpu, wasm) the output check runs here; on WebGPU it runs before the first explanation
 * ({@link settleModel}: `explain`, `explainTargets`, `noiseTunnel`, `availableMethods` and the tasks'
 * pipelines call it; a model `asTwoClasses` or `withInputRange` wraps follows it). A method's own function
 * called directly does not: `await settled(fromLayersModel(net))` first.
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
  const explainable = read.classes === 1 ? asTwoClasses(read) : read;
  const shape = imageShape(model);
  if (read.graph && shape && !readsSynchronously()) {
    // The graph's output is compared with the model's before the first explanation (see settleModel).
    let started: Promise<void> | undefined;
    unchecked.set(explainable, () =>
      started ??= (async () => {
        const problem = await graphProblem(read.graph!, forwardOf(model), shape).catch((e) =>
          `hans's reading of the model fails on images (${(e as Error).message?.split("\n")[0]}).`
        );
        if (problem === undefined) return;
        // What fromLayersModel gives where it checks at once: the model's own output and no graph.
        const plain = withoutGraph(model, read.classes, problem);
        if (explainable.graph) disposeGraph(explainable.graph);
        delete explainable.graph;
        Object.assign(explainable, read.classes === 1 ? asTwoClasses(plain) : plain);
      })());
  }
  return explainable;
}

/**
 * Models from {@link fromLayersModel} on a backend that reads back only asynchronously (WebGPU), whose graph
 * is still to be compared with the model's own output.
 */
const unchecked = new WeakMap<ExplainableModel, () => Promise<void>>();

/**
 * Runs the check {@link fromLayersModel} could not run at once: on a backend that cannot read a tensor back
 * synchronously (tfjs's WebGPU under Deno), the comparison of hans's graph with the model's output waits for
 * this call, which `explain`, `explainTargets`, `noiseTunnel` and `availableMethods` make before any work
 * (once per model; later calls wait for the same check). When the graph does not reproduce the model, the
 * model is changed in place to what fromLayersModel gives at once on cpu or wasm: `graph` gone,
 * `graphUnavailable` saying why, `logits` the model's own output. A model with nothing left to check returns
 * at once.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 *
 * await tf.setBackend("cpu");
 * const net = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [2, 2, 1] }), tf.layers.dense({ units: 2 })] });
 * const model = fromLayersModel(net); // on cpu the check ran already
 * await settleModel(model);
 * assert.ok(model.graph);
 * net.dispose();
 * ```
 */
export async function settleModel(model: ExplainableModel): Promise<void> {
  await unchecked.get(model)?.();
}

/**
 * `model` once {@link settleModel} has run on it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 *
 * await tf.setBackend("cpu");
 * const net = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [2, 2, 1] }), tf.layers.dense({ units: 2 })] });
 * const model = await settled(fromLayersModel(net)); // checked on any backend
 * assert.ok(model.graph);
 * net.dispose();
 * ```
 */
export async function settled(model: ExplainableModel): Promise<ExplainableModel> {
  await settleModel(model);
  return model;
}

/**
 * Makes `outer`, which a wrapper built from `inner` (asTwoClasses, withInputRange), follow `inner`'s deferred
 * check: settling `outer` settles `inner`, and when `inner` lost its graph, `outer` drops its own and takes the
 * fields `rebuild` gives from the settled `inner` (the wrapper applied again). Nothing to do when `inner` has
 * no check pending.
 */
export function followCheck(
  inner: ExplainableModel,
  outer: ExplainableModel,
  rebuild: () => ExplainableModel,
) {
  if (!unchecked.has(inner) || outer === inner) return;
  let started: Promise<void> | undefined;
  unchecked.set(outer, () =>
    started ??= (async () => {
      await settleModel(inner);
      if (inner.graph || !outer.graph) return;
      disposeGraph(outer.graph);
      delete outer.graph;
      Object.assign(outer, rebuild());
    })());
}

/** The model's input `[height, width, channels]` when all three are known. */
function imageShape(model: tf.LayersModel): [number, number, number] | undefined {
  const shape = model.inputs[0].shape;
  const [, height, width, channels] = shape;
  const dims = [height, width, channels];
  return shape.length === 4 && dims.every((d) => typeof d === "number" && d > 0)
    ? dims as [number, number, number]
    : undefined;
}

/** The model's own forward pass (in inference mode). */
function forwardOf(model: tf.LayersModel): (x: tf.Tensor4D) => tf.Tensor {
  return (x) => model.apply(x, { training: false }) as tf.Tensor;
}

/**
 * The model explained on its own output, with `why` there is no graph. Never the fused forward pass: it reads
 * the layers as the graph does, and that reading is what failed.
 */
function withoutGraph(model: tf.LayersModel, classes: number, why: string): ExplainableModel {
  return {
    classes,
    logits: (x) => model.apply(x, { training: false }) as tf.Tensor2D,
    outputs: "logits",
    graphUnavailable: why,
    tensors: () => model.weights.map((w) => w.read()),
  };
}

/** The model's output as logits: fused where hans's kernels can, else `model.apply` in inference mode. */
function modelOutput(model: tf.LayersModel): (x: tf.Tensor4D) => tf.Tensor2D {
  // On hans's WebGPU kernels, a Sequential model's conv + ReLU + pool and dense layers run fused.
  // (Only while that backend is active: forward-only work may run the same model on wasm.)
  const fused = fusedForward(model);
  const backend = tf.getBackend();
  return (x: tf.Tensor4D) =>
    fused && tf.getBackend() === backend
      ? fused(x, { input: true, weights: false })
      : model.apply(x, { training: false }) as tf.Tensor2D;
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
  const apply = modelOutput(model);
  const weights = () => model.weights.map((w) => w.read());
  let graph: ModelGraph;
  try {
    graph = layersGraph(model);
  } catch (e) {
    if (!(e instanceof HansError)) throw e;
    return withoutGraph(model, classes, e.message);
  }
  const problem = layerClassProblem(model) ?? (reproduce ? reproductionProblem(model, graph) : undefined);
  if (problem) {
    disposeGraph(graph);
    return withoutGraph(model, classes, problem);
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
 * when it cannot be told here (a backend that reads only asynchronously, where {@link settleModel} tells it
 * later; an input of unknown size).
 */
function reproductionProblem(model: tf.LayersModel, graph: ModelGraph): string | undefined {
  const shape = imageShape(model);
  if (!readsSynchronously() || !shape) return undefined;
  try {
    return graphProblemNow(graph, forwardOf(model), shape);
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
  const two: ExplainableModel = {
    ...model,
    classes: 2,
    logits,
    graph,
    tensors: () => [...(model.tensors?.() ?? []), ...(graph?.owned ?? [])],
  };
  followCheck(model, two, () => asTwoClasses(model));
  return two;
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
