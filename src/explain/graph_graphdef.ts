/**
 * Reads a TF.js GraphModel's GraphDef (the `modelTopology.node` list of its model.json, as tfjs-converter writes
 * it) into a {@link ModelGraph}, with the weights the loaded tf.GraphModel holds. Constant operands become node
 * parameters: BiasAdd and constant Add/Sub/Mul/RealDiv become affine nodes, FusedBatchNorm an affine node.
 *
 * Ops read: Placeholder, Const, Identity (and StopGradient, Snapshot), Conv2D, DepthwiseConv2dNative,
 * _FusedConv2D and FusedDepthwiseConv2dNative (fused BiasAdd with Relu, Relu6, Elu, Sigmoid or Tanh),
 * MatMul and _FusedMatMul, BiasAdd, Add/AddV2/AddN, Sub, Mul and RealDiv with a constant, FusedBatchNorm(V2, V3),
 * Relu, Relu6, Elu, Sigmoid, Tanh, Softmax, MaxPool, AvgPool, Mean and Max over the spatial axes, Reshape with
 * a constant shape, Squeeze, Pad with constant zero padding of the spatial axes, ConcatV2. Anything else raises
 * a HansError naming the node and its op.
 * @module
 */
import { tf } from "../deps.ts";
import { HansError } from "../errors.ts";
import {
  type ExplicitPadding,
  type GraphActivation,
  type GraphNode,
  type ModelGraph,
  runNode,
} from "./graph.ts";
import { topologicalOrder } from "./graph_query.ts";
import { stripSoftmax } from "./strip_softmax.ts";

/** One node of a GraphDef in JSON. */
export interface GraphDefNode {
  /** Node name. */
  name: string;
  /** TensorFlow op name. */
  op: string;
  /** Input names (`name`, `name:1`, or `^name` for a control input). */
  input?: string[];
  /** Attributes in the converter's JSON encoding. */
  attr?: Record<string, Record<string, unknown>>;
}

type Attr = Record<string, unknown>;

function ints(attr: Attr | undefined): number[] | undefined {
  const list = (attr?.list as { i?: (string | number)[] } | undefined)?.i;
  return list?.map(Number);
}

function text(attr: Attr | undefined): string | undefined {
  const s = attr?.s as string | undefined;
  return s === undefined ? undefined : atob(s);
}

function texts(attr: Attr | undefined): string[] {
  const list = (attr?.list as { s?: string[] } | undefined)?.s;
  return (list ?? []).map((s) => atob(s));
}

const TF_ACTIVATIONS: Record<string, GraphActivation> = {
  Relu: "relu",
  Relu6: "relu6",
  Elu: "elu",
  Sigmoid: "sigmoid",
  Tanh: "tanh",
  Softmax: "softmax",
};

/** What {@link graphDefGraph} reads a GraphDef with. */
export interface GraphDefSource {
  /** The GraphDef's nodes. */
  nodes: GraphDefNode[];
  /** Constants as tensors by node name (tf.GraphModel's `weights`). */
  weights: Record<string, tf.Tensor[]>;
  /** Values of the small constants (shapes, axes, paddings) by node name, read from the weights file. */
  values: (name: string) => number[] | undefined;
  /** Name of the input Placeholder. */
  input: string;
  /** Name of the output node. */
  output: string;
}

/**
 * The GraphDef as a {@link ModelGraph} from its input (a Placeholder) to its output. Shapes are left empty:
 * fill them with {@link probeShapes}. Throws a HansError naming the first node it cannot read.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 *
 * await tf.setBackend("cpu");
 * const kernel = tf.randomNormal([16, 3]);
 * const graph = graphDefGraph({
 *   nodes: [
 *     { name: "x", op: "Placeholder" },
 *     { name: "w", op: "Const" },
 *     { name: "logits", op: "MatMul", input: ["x", "w"] },
 *     { name: "probabilities", op: "Softmax", input: ["logits"] },
 *   ],
 *   weights: { w: [kernel] },
 *   values: () => undefined,
 *   input: "x",
 *   output: "probabilities",
 * });
 * assert.deepEqual(graph.nodes.map((n) => n.op), ["input", "dense"]);
 * assert.equal(graph.output, "logits"); // the softmax is left out
 * kernel.dispose();
 * ```
 */
export function graphDefGraph(source: GraphDefSource): ModelGraph {
  const { nodes, weights, values, input, output } = source;
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const owned: tf.Tensor[] = [];
  const read: GraphNode[] = [];
  const clean = (name: string) => name.replace(/^\^/, "").replace(/:0$/, "");
  const cycle = (name: string) => new HansError(`the model's graph has a cycle through node "${name}".`);
  // What each name stands for once the Identity nodes in front of it are skipped, found once per name: a long
  // chain of Identity nodes is walked once in all, not once per node that reads it.
  const through = new Map<string, GraphDefNode | undefined>();
  const skipIdentities = (name: string): GraphDefNode | undefined => {
    const path: string[] = [];
    const onPath = new Set<string>();
    let key = clean(name);
    let found: GraphDefNode | undefined;
    for (;;) {
      if (through.has(key)) {
        found = through.get(key);
        break;
      }
      const node = byName.get(key);
      if (!node || node.op !== "Identity" || !node.input?.length) {
        found = node;
        through.set(key, node);
        break;
      }
      if (onPath.has(key)) throw cycle(key);
      onPath.add(key);
      path.push(key);
      key = clean(node.input[0]);
    }
    for (const k of path) through.set(k, found);
    return found;
  };
  const constant = (name: string): tf.Tensor | undefined => {
    const node = skipIdentities(name);
    if (!node || node.op !== "Const") return undefined;
    const value = weights[node.name]?.[0];
    if (!value) throw new HansError(`the model's constant "${node.name}" has no value in its weights.`);
    return value;
  };
  const numbers = (name: string) => {
    const node = skipIdentities(name);
    return node ? values(node.name) : undefined;
  };
  // Depth first from the output, each node read after its live inputs; with a stack of its own, so that a
  // graph as deep as it is long (a chain of 100,000 nodes) does not overflow the call stack.
  type Frame = { node: GraphDefNode; inputs: string[]; live: string[]; next: number };
  const state = new Map<string, "open" | "read">();
  const open = (name: string): Frame | undefined => {
    const seen = state.get(name);
    if (seen === "read") return undefined;
    if (seen === "open") throw cycle(name);
    const node = byName.get(name);
    if (!node) throw new HansError(`the model's graph has no node "${name}".`);
    state.set(name, "open");
    const inputs = (node.input ?? []).filter((i) => !i.startsWith("^")).map(clean);
    for (const i of inputs) {
      if (/:\d+$/.test(i)) {
        throw new HansError(`node "${node.name}" reads output ${i}; hans reads ops with one output.`);
      }
    }
    return { node, inputs, live: inputs.filter((i) => constant(i) === undefined), next: 0 };
  };
  const stack: Frame[] = [];
  const first = open(clean(output));
  if (first) stack.push(first);
  while (stack.length > 0) {
    const frame = stack[stack.length - 1];
    if (frame.next < frame.live.length) {
      const next = open(frame.live[frame.next++]);
      if (next) stack.push(next);
      continue;
    }
    stack.pop();
    state.set(frame.node.name, "read");
    for (const n of readNode(frame.node, frame.inputs, frame.live, constant, numbers, input, owned)) {
      read.push(n);
    }
  }
  if (!read.some((n) => n.op === "input")) {
    throw new HansError(`the model's output "${output}" does not depend on its input "${input}".`);
  }
  const graph: ModelGraph = {
    nodes: topologicalOrder(read),
    input,
    output: clean(output),
    softmaxRemoved: false,
    shapes: new Map(),
    source: "graph-model",
    owned,
  };
  stripSoftmax(graph);
  return graph;
}

/**
 * Fills `graph.shapes` by running it once on a blank image `[1,H,W,C]` (shapes only; nothing is read back).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 *
 * await tf.setBackend("cpu");
 * const window = { list: { i: [1, 2, 2, 1] } };
 * const graph = graphDefGraph({
 *   nodes: [
 *     { name: "x", op: "Placeholder" },
 *     { name: "pool", op: "MaxPool", input: ["x"], attr: { ksize: window, strides: window } },
 *   ],
 *   weights: {},
 *   values: () => undefined,
 *   input: "x",
 *   output: "pool",
 * });
 * probeShapes(graph, [4, 4, 1]);
 * assert.deepEqual(graph.shapes.get("pool"), [1, 2, 2, 1]);
 * ```
 */
export function probeShapes(graph: ModelGraph, [height, width, channels]: [number, number, number]): void {
  tf.tidy(() => {
    const values = new Map<string, tf.Tensor>();
    const x = tf.zeros([1, height, width, channels]);
    values.set(graph.input, x);
    for (const node of graph.nodes) {
      if (node.op === "input") continue;
      values.set(node.name, runNode(node, node.inputs.map((i) => values.get(i)!)));
    }
    for (const [name, value] of values) graph.shapes.set(name, value.shape);
  });
}

function pad2(values: number[] | undefined, fallback: number): [number, number] {
  if (!values || values.length === 0) return [fallback, fallback];
  return values.length === 4 ? [values[1], values[2]] : [values[0], values[values.length > 1 ? 1 : 0]];
}

function readNode(
  node: GraphDefNode,
  inputs: string[],
  live: string[],
  constant: (name: string) => tf.Tensor | undefined,
  numbers: (name: string) => number[] | undefined,
  inputName: string,
  owned: tf.Tensor[],
): GraphNode[] {
  const name = node.name;
  const attr = node.attr ?? {};
  const unsupported = (why: string) =>
    new HansError(`hans cannot read the model's node "${name}" (${node.op}): ${why}.`);
  const format = text(attr.data_format);
  if (format !== undefined && format !== "NHWC") throw unsupported(`data format ${format}; only NHWC`);
  const one = () => {
    if (live.length !== 1) throw unsupported(`it takes ${live.length} tensor inputs; hans expects 1`);
    return live;
  };
  const need = (i: number) => {
    const c = constant(inputs[i]);
    if (!c) throw unsupported(`input ${i + 1} is not a constant`);
    return c;
  };
  const needValues = (i: number) => {
    const v = numbers(inputs[i]);
    if (!v) throw unsupported(`input ${i + 1} is not a small constant`);
    return v;
  };
  const convGeometry = () => {
    const paddingName = text(attr.padding) ?? "VALID";
    let padding: "same" | "valid" | ExplicitPadding;
    if (paddingName === "SAME") padding = "same";
    else if (paddingName === "VALID") padding = "valid";
    else if (paddingName === "EXPLICIT") {
      const p = ints(attr.explicit_paddings) ?? [];
      padding = [[p[2] ?? 0, p[3] ?? 0], [p[4] ?? 0, p[5] ?? 0]];
    } else throw unsupported(`padding ${paddingName}`);
    return { strides: pad2(ints(attr.strides), 1), padding, dilations: pad2(ints(attr.dilations), 1) };
  };
  const fused = (): { bias: tf.Tensor1D | null; activation: GraphActivation } => {
    const ops = texts(attr.fused_ops);
    if (ops.length === 0) return { bias: null, activation: "linear" };
    if (ops[0] !== "BiasAdd") throw unsupported(`fused ops ${ops.join(", ")}; hans reads BiasAdd first`);
    if (ops.length > 2) throw unsupported(`fused ops ${ops.join(", ")}`);
    const activation = ops.length === 2 ? TF_ACTIVATIONS[ops[1]] : "linear";
    if (!activation || activation === "softmax") throw unsupported(`fused activation ${ops[1]}`);
    return { bias: need(2) as tf.Tensor1D, activation };
  };
  switch (node.op) {
    case "Placeholder":
      if (name !== inputName) throw unsupported(`a second input besides "${inputName}"`);
      return [{ op: "input", name, inputs: [] }];
    case "Identity":
    case "StopGradient":
    case "Snapshot":
      return [{ op: "identity", name, inputs: one() }];
    case "Conv2D":
    case "DepthwiseConv2dNative":
    case "DepthwiseConv2d":
    case "_FusedConv2D":
    case "FusedDepthwiseConv2dNative": {
      const { bias, activation } = node.op.startsWith("_Fused") || node.op.startsWith("Fused")
        ? fused()
        : { bias: null, activation: "linear" as const };
      return [{
        op: node.op.includes("Depthwise") ? "depthwiseConv2d" : "conv2d",
        name,
        inputs: one(),
        kernel: need(1) as tf.Tensor4D,
        bias,
        ...convGeometry(),
        activation,
      }];
    }
    case "MatMul":
    case "_FusedMatMul": {
      if ((attr.transpose_a as { b?: boolean } | undefined)?.b) throw unsupported("transpose_a");
      let kernel = need(1) as tf.Tensor2D;
      if ((attr.transpose_b as { b?: boolean } | undefined)?.b) {
        kernel = tf.transpose(kernel);
        owned.push(kernel);
      }
      const { bias, activation } = node.op === "_FusedMatMul"
        ? fused()
        : { bias: null, activation: "linear" as const };
      return [{ op: "dense", name, inputs: one(), kernel, bias, activation }];
    }
    case "BiasAdd":
      return [{ op: "affine", name, inputs: one(), scale: null, offset: need(1) }];
    case "Add":
    case "AddV2":
    case "AddN":
    case "Sub":
    case "Mul":
    case "RealDiv": {
      if (live.length === inputs.length && live.length >= 2) {
        if (node.op === "Sub" || node.op === "Mul" || node.op === "RealDiv") {
          throw unsupported("two tensor operands; hans reads it with a constant operand only");
        }
        return [{ op: "add", name, inputs: live }];
      }
      if (inputs.length !== 2 || live.length !== 1) throw unsupported("no tensor operand");
      const c = constant(inputs[live[0] === inputs[0] ? 1 : 0])!;
      const first = live[0] === inputs[0];
      if (node.op === "Add" || node.op === "AddV2" || node.op === "AddN") {
        return [{ op: "affine", name, inputs: live, scale: null, offset: c }];
      }
      if (node.op === "Mul") return [{ op: "affine", name, inputs: live, scale: c, offset: null }];
      if (node.op === "Sub") {
        if (first) {
          const offset = tf.neg(c);
          owned.push(offset);
          return [{ op: "affine", name, inputs: live, scale: null, offset }];
        }
        const scale = tf.scalar(-1);
        owned.push(scale);
        return [{ op: "affine", name, inputs: live, scale, offset: c }];
      }
      if (!first) throw unsupported("a constant divided by a tensor");
      const scale = tf.reciprocal(c);
      owned.push(scale);
      return [{ op: "affine", name, inputs: live, scale, offset: null }];
    }
    case "FusedBatchNorm":
    case "FusedBatchNormV2":
    case "FusedBatchNormV3": {
      const epsilon = Number((attr.epsilon as { f?: number } | undefined)?.f ?? 1e-3);
      const [gamma, beta, mean, variance] = [need(1), need(2), need(3), need(4)];
      const [scale, offset] = tf.tidy(() => {
        const s = tf.mul(gamma, tf.rsqrt(tf.add(variance, epsilon)));
        return [s, tf.sub(beta, tf.mul(mean, s))];
      });
      owned.push(scale, offset);
      return [{ op: "affine", name, inputs: one(), scale, offset }];
    }
    case "Relu":
    case "Relu6":
    case "Elu":
    case "Sigmoid":
    case "Tanh":
    case "Softmax":
      return [{ op: "activation", name, inputs: one(), activation: TF_ACTIVATIONS[node.op] }];
    case "MaxPool":
    case "AvgPool": {
      const padding = text(attr.padding) ?? "VALID";
      if (padding !== "SAME" && padding !== "VALID") throw unsupported(`padding ${padding}`);
      return [{
        op: node.op === "MaxPool" ? "maxPool" : "avgPool",
        name,
        inputs: one(),
        poolSize: pad2(ints(attr.ksize), 1),
        strides: pad2(ints(attr.strides), 1),
        padding: padding === "SAME" ? "same" : "valid",
      }];
    }
    case "Mean":
    case "Max": {
      const axes = [...needValues(1)].sort();
      if (axes.length !== 2 || axes[0] !== 1 || axes[1] !== 2) {
        throw unsupported(`reduction over axes ${axes}`);
      }
      const keep = attr.keep_dims as { b?: boolean } | undefined;
      return [{
        op: node.op === "Mean" ? "globalAvgPool" : "globalMaxPool",
        name,
        inputs: one(),
        keepDims: keep?.b === true,
      }];
    }
    case "Reshape": {
      const shape = needValues(1);
      return [{ op: "reshape", name, inputs: one(), shape: shape.slice(1) }];
    }
    case "Squeeze": {
      const dims = ints(attr.squeeze_dims) ?? ints(attr.axis) ?? [];
      if (dims.sort().join() !== "1,2") throw unsupported(`squeeze of axes ${dims}; hans reads 1,2`);
      return [{ op: "reshape", name, inputs: one(), shape: [-1] }];
    }
    case "Pad":
    case "PadV2": {
      const p = needValues(1);
      if (p.length !== 8 || p[0] || p[1] || p[6] || p[7]) {
        throw unsupported("padding outside the spatial axes");
      }
      if (node.op === "PadV2" && needValues(2)[0] !== 0) throw unsupported("a non-zero pad value");
      return [{ op: "pad", name, inputs: one(), paddings: [[p[2], p[3]], [p[4], p[5]]] }];
    }
    case "ConcatV2": {
      if (live.length !== inputs.length - 1) throw unsupported("a constant among the concatenated tensors");
      const axis = needValues(inputs.length - 1)[0];
      return [{ op: "concat", name, inputs: live, axis }];
    }
    default:
      throw unsupported("an op hans does not read");
  }
}
