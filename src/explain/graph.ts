/**
 * The model as a graph hans can run and look inside: one small set of node types that both a tfjs LayersModel
 * (Sequential or functional, see {@link layersGraph}) and a tfjs GraphModel (a converted TF SavedModel, see
 * {@link graphDefGraph}) are read into. Methods that need more than logits use it: Grad-CAM and activations
 * read a node's value and differentiate from there, Guided Backprop swaps the ReLU's gradient, LRP walks the
 * graph backwards. The interpreter runs the same fused tfjs ops as the layers, so on hans's own CNN its output
 * equals `model.predict` bit for bit.
 *
 * The graph ends at the model's logits: a softmax at the end of the model is left out (its input is what the
 * methods explain), and {@link ModelGraph.softmaxRemoved} says so.
 * @module
 */
import { tf } from "../deps.ts";
import { HansError } from "../errors.ts";
import { contrastNormalize } from "../model/contrast_norm.ts";
import { type ConvGeometry, linearInputGradientOnly, padSpatial, relu6 } from "./input_gradient_ops.ts";

/** Element-wise activations the interpreter runs. */
export type GraphActivation = "linear" | "relu" | "relu6" | "sigmoid" | "tanh" | "elu" | "swish" | "softmax";

/** Explicit spatial padding `[[top, bottom], [left, right]]`. */
export type ExplicitPadding = [[number, number], [number, number]];

/** Fields every node has. */
export interface NodeBase {
  /** Layer or node name in the model. */
  name: string;
  /** Names of the nodes whose values this node takes, in order. */
  inputs: string[];
}

/** The image input. */
export interface InputNode extends NodeBase {
  /** Node type. */
  op: "input";
}

/** A 2-D convolution: kernel `[kh,kw,in,out]`. */
export interface ConvNode extends NodeBase {
  /** Node type. */
  op: "conv2d";
  /** Kernel `[kh,kw,in,out]`. */
  kernel: tf.Tensor4D;
  /** Bias `[out]`, or null. */
  bias: tf.Tensor1D | null;
  /** Strides (rows, columns). */
  strides: [number, number];
  /** `same`, `valid`, or explicit padding. */
  padding: "same" | "valid" | ExplicitPadding;
  /** Dilation rate (rows, columns). */
  dilations: [number, number];
  /** Activation applied after the bias. */
  activation: GraphActivation;
}

/** A depthwise 2-D convolution: kernel `[kh,kw,in,multiplier]`, output channels in·multiplier. */
export interface DepthwiseNode extends Omit<ConvNode, "op"> {
  /** Node type. */
  op: "depthwiseConv2d";
}

/** A dense layer on `[n, features]`: kernel `[in,out]`. */
export interface DenseNode extends NodeBase {
  /** Node type. */
  op: "dense";
  /** Kernel `[in,out]`. */
  kernel: tf.Tensor2D;
  /** Bias `[out]`, or null. */
  bias: tf.Tensor1D | null;
  /** Activation applied after the bias. */
  activation: GraphActivation;
}

/** `x · scale + offset`, broadcast (BatchNormalization at inference, BiasAdd, constant Mul/Add/Sub). */
export interface AffineNode extends NodeBase {
  /** Node type. */
  op: "affine";
  /** Multiplier, or null for 1. */
  scale: tf.Tensor | null;
  /** Added after the multiplier, or null for 0. */
  offset: tf.Tensor | null;
}

/** hans's per-pixel standardization `(x − mean) · scale`. */
export interface StandardizeNode extends NodeBase {
  /** Node type. */
  op: "standardize";
  /** Mean `[H,W,C]`. */
  mean: tf.Tensor;
  /** Scale `[H,W,C]`, positive. */
  scale: tf.Tensor;
}

/** hans's contrast normalization over channels, x · (mean_c(x²) + ε)^(−p/2). */
export interface ContrastNode extends NodeBase {
  /** Node type. */
  op: "contrast";
  /** The power p. */
  power: number;
  /** ε under the mean square. */
  epsilon: number;
}

/** A stand-alone activation. */
export interface ActivationNode extends NodeBase {
  /** Node type. */
  op: "activation";
  /** The function. */
  activation: GraphActivation;
}

/** Element-wise sum of two or more inputs (a residual connection). */
export interface AddNode extends NodeBase {
  /** Node type. */
  op: "add";
}

/** Concatenation along `axis`. */
export interface ConcatNode extends NodeBase {
  /** Node type. */
  op: "concat";
  /** Axis (negative counts from the end). */
  axis: number;
}

/** 2-D max or average pooling. */
export interface PoolNode extends NodeBase {
  /** Node type. */
  op: "maxPool" | "avgPool";
  /** Window (rows, columns). */
  poolSize: [number, number];
  /** Strides (rows, columns). */
  strides: [number, number];
  /** Padding mode. */
  padding: "same" | "valid";
}

/** Mean or max over the spatial axes. */
export interface GlobalPoolNode extends NodeBase {
  /** Node type. */
  op: "globalAvgPool" | "globalMaxPool";
  /** Keep the spatial axes (as 1×1). */
  keepDims: boolean;
}

/** Reshape to `[batch, ...shape]` (Flatten is `shape: [-1]`). */
export interface ReshapeNode extends NodeBase {
  /** Node type. */
  op: "reshape";
  /** The shape after the batch axis; one entry may be −1. */
  shape: number[];
}

/** Zero padding of the spatial axes. */
export interface PadNode extends NodeBase {
  /** Node type. */
  op: "pad";
  /** `[[top, bottom], [left, right]]`. */
  paddings: ExplicitPadding;
}

/** A node that passes its input on (Dropout at inference, Identity). */
export interface IdentityNode extends NodeBase {
  /** Node type. */
  op: "identity";
}

/** One node of a {@link ModelGraph}. */
export type GraphNode =
  | InputNode
  | ConvNode
  | DepthwiseNode
  | DenseNode
  | AffineNode
  | StandardizeNode
  | ContrastNode
  | ActivationNode
  | AddNode
  | ConcatNode
  | PoolNode
  | GlobalPoolNode
  | ReshapeNode
  | PadNode
  | IdentityNode;

/** A node with a weight kernel: convolution, depthwise convolution or dense. */
export type LinearNode = ConvNode | DepthwiseNode | DenseNode;

/**
 * True for the nodes with a weight kernel.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import { layersGraph } from "./graph_layers.ts";
 *
 * await tf.setBackend("cpu");
 * const layers = [tf.layers.flatten({ inputShape: [4, 4, 1] }), tf.layers.dense({ units: 3, name: "head" })];
 * const net = tf.sequential({ layers });
 * assert.deepEqual(layersGraph(net).nodes.filter(isLinear).map((n) => n.name), ["head"]);
 * net.dispose();
 * ```
 */
export function isLinear(node: GraphNode): node is LinearNode {
  return node.op === "conv2d" || node.op === "depthwiseConv2d" || node.op === "dense";
}

/** A model read as a graph, from its input to its logits. */
export interface ModelGraph {
  /** Nodes in an order where every node comes after its inputs. */
  nodes: GraphNode[];
  /** Name of the input node. */
  input: string;
  /** Name of the node whose value is the logits `[n, classes]`. */
  output: string;
  /** True when a softmax at the end of the model was left out, so {@link output} is its input. */
  softmaxRemoved: boolean;
  /**
   * True when a sigmoid at the end of the model was left out (a binary or multi-label classifier), so
   * {@link output} is its input.
   */
  sigmoidRemoved?: boolean;
  /** Shape of each node's value for a batch of one (`[1, ...]`), from the model or a probe run. */
  shapes: Map<string, number[]>;
  /** Where it was read from. */
  source: "layers-model" | "graph-model";
  /** Tensors the graph made itself (folded BatchNormalization): released by {@link disposeGraph}. */
  owned: tf.Tensor[];
}

/** Every tensor the graph's nodes hold (weights, biases, folded constants), each once. */
export function graphTensors(graph: ModelGraph): tf.Tensor[] {
  const found = new Set<tf.Tensor>(graph.owned);
  for (const node of graph.nodes) {
    for (const value of Object.values(node)) if (value instanceof tf.Tensor) found.add(value);
  }
  return [...found];
}

/**
 * Looks a node up by name; throws when there is none.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import { layersGraph } from "./graph_layers.ts";
 *
 * await tf.setBackend("cpu");
 * const layers = [tf.layers.flatten({ inputShape: [4, 4, 1] }), tf.layers.dense({ units: 3, name: "head" })];
 * const net = tf.sequential({ layers });
 * const graph = layersGraph(net);
 * assert.equal(graphNode(graph, "head").op, "dense");
 * assert.throws(() => graphNode(graph, "block9"), /no node "block9"/);
 * net.dispose();
 * ```
 */
export function graphNode(graph: ModelGraph, name: string): GraphNode {
  const node = graph.nodes.find((n) => n.name === name);
  if (!node) throw new HansError(`the model graph has no node "${name}".`);
  return node;
}

/**
 * Releases the tensors the graph made (not the model's weights, which it only borrows).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import { layersGraph } from "./graph_layers.ts";
 *
 * await tf.setBackend("cpu");
 * const layers = [tf.layers.flatten({ inputShape: [4, 4, 1] }), tf.layers.dense({ units: 3 })];
 * const net = tf.sequential({ layers });
 * const graph = withInputTransform(layersGraph(net), 2, -1); // makes two scalars of its own
 * const before = tf.memory().numTensors;
 * disposeGraph(graph);
 * assert.equal(tf.memory().numTensors, before - 2); // the model's weights are left alone
 * net.dispose();
 * ```
 */
export function disposeGraph(graph: ModelGraph): void {
  for (const t of graph.owned) t.dispose();
  graph.owned = [];
}

/** Hooks of {@link evaluate}: replace how an activation runs (Guided Backprop swaps ReLU and ReLU6). */
export interface ActivationHooks {
  /** Replaces ReLU, fused or stand-alone. */
  relu?: (x: tf.Tensor) => tf.Tensor;
  /** Replaces ReLU6, fused or stand-alone. */
  relu6?: (x: tf.Tensor) => tf.Tensor;
}

/** Options of {@link evaluate}. */
export interface EvaluateOptions {
  /** Values known already (by node name); their nodes are not run and nothing above them is needed. */
  given?: Map<string, tf.Tensor>;
  /** Activation hooks. */
  hooks?: ActivationHooks;
  /**
   * Release each value as soon as every node that needs it has run (default false), so a pass holds only its
   * working set instead of every activation (about 88 MB per 224×224 image on MobileNetV2). The returned map
   * then holds only the `outputs` (and the `given` values). Safe under `tf.grad`: the tape keeps its own copies
   * of what the backward pass needs.
   */
  release?: boolean;
}

/**
 * Runs the graph on images `x` and returns the values of the nodes named in `outputs` (default: the logits),
 * with every value computed on the way (by node name). Only what the outputs need is run; a value in
 * `options.given` is used as it is (so `given: {layer: a}` runs the model from that layer on). Call inside
 * tf.tidy.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import { layersGraph } from "./graph_layers.ts";
 *
 * await tf.setBackend("cpu");
 * const layers = [
 *   tf.layers.conv2d({ inputShape: [4, 4, 1], filters: 2, kernelSize: 3, activation: "relu", name: "conv" }),
 *   tf.layers.flatten(),
 *   tf.layers.dense({ units: 3 }),
 * ];
 * const net = tf.sequential({ layers });
 * const graph = layersGraph(net);
 * const x = tf.randomUniform([2, 4, 4, 1]) as tf.Tensor4D;
 * tf.tidy(() => {
 *   const values = evaluate(graph, x, [graph.output, "conv"]);
 *   assert.deepEqual(values.get("conv")!.shape, [2, 2, 2, 2]);
 *   const logits = values.get(graph.output) as tf.Tensor2D;
 *   assert.ok(tf.sub(logits, net.predict(x) as tf.Tensor).abs().max().dataSync()[0] < 1e-6);
 * });
 * x.dispose();
 * net.dispose();
 * ```
 */
export function evaluate(
  graph: ModelGraph,
  x: tf.Tensor | null,
  outputs: string[] = [graph.output],
  options: EvaluateOptions = {},
): Map<string, tf.Tensor> {
  const values = new Map<string, tf.Tensor>(options.given ?? []);
  if (x && !values.has(graph.input)) values.set(graph.input, x);
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const needed = new Set<string>();
  const stack = [...outputs];
  while (stack.length > 0) {
    const name = stack.pop()!;
    if (needed.has(name) || values.has(name)) continue;
    const node = byName.get(name);
    if (!node) throw new HansError(`the model graph has no node "${name}".`);
    needed.add(name);
    stack.push(...node.inputs);
  }
  // Uses left of each value by the nodes still to run, for `release`.
  const uses = new Map<string, number>();
  if (options.release) {
    for (const node of graph.nodes) {
      if (needed.has(node.name)) {
        for (const i of new Set(node.inputs)) uses.set(i, (uses.get(i) ?? 0) + 1);
      }
    }
  }
  const kept = new Set([...outputs, ...(options.given?.keys() ?? []), graph.input]);
  // How many live values are each tensor: identity-like nodes pass the same tensor on, and it is released only
  // when none is left (counted, not searched for, so that a long chain of identities stays linear).
  const holders = new Map<tf.Tensor, number>();
  if (options.release) {
    for (const value of values.values()) holders.set(value, (holders.get(value) ?? 0) + 1);
  }
  for (const node of graph.nodes) {
    if (!needed.has(node.name)) continue;
    if (node.op === "input") throw new HansError("the model graph needs its input image to run.");
    const args = node.inputs.map((i) => values.get(i)!);
    const result = runNode(node, args, options.hooks ?? {});
    values.set(node.name, result);
    if (!options.release) continue;
    holders.set(result, (holders.get(result) ?? 0) + 1);
    for (const i of new Set(node.inputs)) {
      const left = uses.get(i)! - 1;
      uses.set(i, left);
      if (left > 0 || kept.has(i)) continue;
      const value = values.get(i)!;
      values.delete(i);
      const holding = holders.get(value)! - 1;
      if (holding > 0) holders.set(value, holding);
      else {
        holders.delete(value);
        value.dispose();
      }
    }
  }
  return values;
}

/**
 * The logits `[n, classes]` of images `x` (softmax left out). Call inside tf.tidy.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import { layersGraph } from "./graph_layers.ts";
 *
 * await tf.setBackend("cpu");
 * const net = tf.sequential();
 * net.add(tf.layers.flatten({ inputShape: [4, 4, 1] }));
 * net.add(tf.layers.dense({ units: 3, activation: "softmax" }));
 * const graph = layersGraph(net);
 * const x = tf.randomUniform([2, 4, 4, 1]) as tf.Tensor4D;
 * tf.tidy(() => {
 *   // The graph stops before the softmax: its logits give the model's probabilities back.
 *   const probabilities = tf.softmax(graphLogits(graph, x));
 *   assert.ok(tf.sub(probabilities, net.predict(x) as tf.Tensor).abs().max().dataSync()[0] < 1e-6);
 * });
 * x.dispose();
 * net.dispose();
 * ```
 */
export function graphLogits(graph: ModelGraph, x: tf.Tensor4D): tf.Tensor2D {
  return evaluate(graph, x, [graph.output], { release: true }).get(graph.output) as tf.Tensor2D;
}

/**
 * Applies an activation (ReLU and ReLU6 through the hooks when given).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 *
 * await tf.setBackend("cpu");
 * tf.tidy(() => {
 *   const x = tf.tensor1d([-1, 2, 7]);
 *   assert.deepEqual(activate(x, "relu6").arraySync(), [0, 2, 6]);
 *   // A hook replaces ReLU (Guided Backprop swaps its gradient this way).
 *   assert.deepEqual(activate(x, "relu", { relu: tf.abs }).arraySync(), [1, 2, 7]);
 * });
 * ```
 */
export function activate(x: tf.Tensor, activation: GraphActivation, hooks: ActivationHooks = {}): tf.Tensor {
  switch (activation) {
    case "linear":
      return x;
    case "relu":
      return hooks.relu ? hooks.relu(x) : tf.relu(x);
    case "relu6":
      return hooks.relu6 ? hooks.relu6(x) : relu6(x);
    case "sigmoid":
      return tf.sigmoid(x);
    case "tanh":
      return tf.tanh(x);
    case "elu":
      return tf.elu(x);
    case "swish":
      return tf.mul(x, tf.sigmoid(x));
    case "softmax":
      return tf.softmax(x);
  }
}

/** Options of {@link linearForward}. */
export interface LinearForwardOptions {
  /** Replaces the kernel (e.g. its positive part, for LRP rules); default the node's kernel. */
  kernel?: tf.Tensor;
  /** Replaces the bias; `null` leaves it out; default the node's bias. */
  bias?: tf.Tensor | null;
}

/**
 * The linear part of a convolution or dense node (before its activation).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import { layersGraph } from "./graph_layers.ts";
 *
 * await tf.setBackend("cpu");
 * const net = tf.sequential();
 * net.add(tf.layers.flatten({ inputShape: [4, 4, 1] }));
 * net.add(tf.layers.dense({ units: 3, activation: "relu" }));
 * const dense = layersGraph(net).nodes.find(isLinear)!;
 * const [kernel] = net.getWeights();
 * tf.tidy(() => {
 *   const x = tf.randomUniform([2, 16]);
 *   // The linear part only (no ReLU), here without the bias too: x · kernel.
 *   const z = linearForward(dense, x, { bias: null });
 *   assert.ok(tf.sub(z, tf.matMul(x, kernel)).abs().max().dataSync()[0] < 1e-6);
 * });
 * net.dispose();
 * ```
 */
export function linearForward(node: LinearNode, x: tf.Tensor, options: LinearForwardOptions = {}): tf.Tensor {
  const bias = (options.bias === undefined ? node.bias : options.bias) ?? undefined;
  return fusedLinear(node, x, options.kernel ?? node.kernel, bias, "linear");
}

function fusedLinear(
  node: LinearNode,
  x: tf.Tensor,
  kernel: tf.Tensor,
  bias: tf.Tensor | undefined,
  activation: "linear" | "relu",
): tf.Tensor {
  if (node.op === "dense") return linearInputGradientOnly("dense", x, kernel, bias, activation, DENSE);
  return linearInputGradientOnly(node.op, x, kernel, bias, activation, {
    strides: node.strides,
    pad: node.padding,
    dilations: node.dilations,
  });
}

/** A dense product's geometry, for {@link linearInputGradientOnly}: none. */
const DENSE: ConvGeometry = { strides: [1, 1], pad: "valid", dilations: [1, 1] };

/**
 * Runs a pooling node.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 *
 * await tf.setBackend("cpu");
 * const x = tf.tensor4d([1, 5, 3, 2], [1, 2, 2, 1]);
 * const pooled = poolForward({ op: "maxPool", poolSize: [2, 2], strides: [2, 2], padding: "valid" }, x);
 * assert.deepEqual(pooled.arraySync(), [[[[5]]]]);
 * tf.dispose([x, pooled]);
 * ```
 */
export function poolForward(node: Pick<PoolNode, "op" | "poolSize" | "strides" | "padding">, x: tf.Tensor) {
  const op = node.op === "maxPool" ? tf.maxPool : tf.avgPool;
  return op(x as tf.Tensor4D, node.poolSize, node.strides, node.padding);
}

/**
 * Runs one node on its input values.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 *
 * await tf.setBackend("cpu");
 * const a = tf.tensor1d([1, 2]);
 * const b = tf.tensor1d([10, 20]);
 * const sum = runNode({ op: "add", name: "residual", inputs: ["a", "b"] }, [a, b]);
 * assert.deepEqual(sum.arraySync(), [11, 22]);
 * tf.dispose([a, b, sum]);
 * ```
 */
export function runNode(node: GraphNode, args: tf.Tensor[], hooks: ActivationHooks = {}): tf.Tensor {
  const [x] = args;
  switch (node.op) {
    case "input":
      return x;
    case "conv2d":
    case "depthwiseConv2d":
    case "dense": {
      // ReLU stays fused (as the tfjs layers run it) unless a hook replaces it; other activations run after
      // the linear part, since tfjs has gradients of fused ops only for linear and ReLU.
      const bias = node.bias ?? undefined;
      if (node.activation === "relu" && !hooks.relu) return fusedLinear(node, x, node.kernel, bias, "relu");
      return activate(fusedLinear(node, x, node.kernel, bias, "linear"), node.activation, hooks);
    }
    case "affine": {
      let h = x;
      if (node.scale) h = tf.mul(h, node.scale);
      if (node.offset) h = tf.add(h, node.offset);
      return h;
    }
    case "standardize":
      return tf.mul(tf.sub(x, node.mean), node.scale);
    case "contrast":
      return contrastNormalize(x, node.power, node.epsilon);
    case "activation":
      return activate(x, node.activation, hooks);
    case "add":
      return args.length === 2 ? tf.add(args[0], args[1]) : tf.addN(args);
    case "concat":
      return tf.concat(args, node.axis);
    case "maxPool":
    case "avgPool":
      return poolForward(node, x);
    case "globalAvgPool":
      return tf.mean(x, [1, 2], node.keepDims);
    case "globalMaxPool":
      return tf.max(x, [1, 2], node.keepDims);
    case "reshape":
      return tf.reshape(x, [x.shape[0], ...node.shape]);
    case "pad":
      return padSpatial(x as tf.Tensor4D, node.paddings[0], node.paddings[1]);
    case "identity":
      return x;
  }
}

/**
 * The graph with `x · scale + offset` put in front of its input (for a model that expects another pixel range):
 * a new input node `hans/pixels` feeds an affine node that takes the old input's place. Shares the nodes and
 * weights of `graph`; the two scalars it makes are its own.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import { layersGraph } from "./graph_layers.ts";
 *
 * await tf.setBackend("cpu");
 * const layers = [tf.layers.flatten({ inputShape: [4, 4, 1] }), tf.layers.dense({ units: 3 })];
 * const net = tf.sequential({ layers });
 * const graph = layersGraph(net);
 * const scaled = withInputTransform(graph, 2, -1); // for a model that expects pixels in [-1, 1]
 * const x = tf.randomUniform([2, 4, 4, 1]) as tf.Tensor4D;
 * tf.tidy(() => {
 *   const diff = tf.sub(graphLogits(scaled, x), graphLogits(graph, tf.sub(tf.mul(x, 2), 1))).abs().max();
 *   assert.ok(diff.dataSync()[0] < 1e-5);
 * });
 * disposeGraph(scaled);
 * x.dispose();
 * net.dispose();
 * ```
 */
export function withInputTransform(graph: ModelGraph, scale: number, offset: number): ModelGraph {
  const pixels = "hans/pixels";
  const s = tf.scalar(scale);
  const o = tf.scalar(offset);
  const nodes: GraphNode[] = [
    { op: "input", name: pixels, inputs: [] },
    ...graph.nodes.map((n): GraphNode =>
      n.name === graph.input ? { op: "affine", name: n.name, inputs: [pixels], scale: s, offset: o } : n
    ),
  ];
  const shapes = new Map(graph.shapes);
  const inputShape = graph.shapes.get(graph.input);
  if (inputShape) shapes.set(pixels, inputShape);
  return { ...graph, nodes, input: pixels, shapes, owned: [s, o] };
}
