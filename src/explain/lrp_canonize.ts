/**
 * Canonizers for LRP (Zennit's word): functions that rewrite a model graph into one that computes the same
 * function but whose linear layers are the ones LRP's rules should see. Each returns new values and the tensors
 * it made; none writes into the graph it is given, which stays valid and owns what it owned.
 *
 * - {@link mergeBatchNorm}: an affine node (BatchNormalization at inference, BiasAdd) right after a linear node
 *   with no activation is merged into that node's kernel and bias (Zennit's `SequentialMergeBatchNorm`). An
 *   affine node after an activation (BatchNorm after ReLU) cannot be merged into the layer before it and stays:
 *   LRP passes relevance through it unchanged, and the next layer's rule sees the normalized values (with the
 *   BatchNorm's offset acting as a bias of every one of them).
 * - {@link foldInputTransforms}: element-wise transforms between the pixels and a first linear node (an input
 *   range, a per-pixel standardization) are folded into that node as a linear map of the raw pixels,
 *   z = W·(x ⊙ scale) + bias′, so that the input rule works in pixel space with the pixels' own bounds. A scale
 *   that varies per pixel cannot go into a convolution's shared kernel, so the fold is kept beside the graph
 *   ({@link InputFold}) instead of as a graph node.
 * @module
 */
import { tf } from "../deps.ts";
import { HansError } from "../errors.ts";
import {
  type AffineNode,
  type GraphNode,
  isLinear,
  linearForward,
  type LinearNode,
  type ModelGraph,
  runNode,
} from "./graph.ts";

/** How many nodes read each value (a node that reads a value twice counts once). */
function consumerCounts(graph: ModelGraph): Map<string, number> {
  const counts = new Map<string, number>();
  for (const n of graph.nodes) {
    for (const i of new Set(n.inputs)) counts.set(i, (counts.get(i) ?? 0) + 1);
  }
  return counts;
}

/** True when an affine node's scale and offset are per output channel (or scalars) of the linear node. */
function mergeable(affine: AffineNode, node: LinearNode, graph: ModelGraph): boolean {
  const channels = graph.shapes.get(node.name)?.at(-1);
  const ok = (t: tf.Tensor | null) => !t || t.size === 1 || (t.rank === 1 && t.size === channels);
  return channels !== undefined && ok(affine.scale) && ok(affine.offset);
}

/** The linear node followed by `x · scale + offset` as one linear node: W·scale, b·scale + offset. */
function mergeAffine(node: LinearNode, scale: tf.Tensor | null, offset: tf.Tensor | null): LinearNode {
  const channels = node.op === "depthwiseConv2d"
    ? node.kernel.shape[2] * node.kernel.shape[3]
    : node.kernel.shape[node.kernel.rank - 1];
  const [kernel, bias] = tf.tidy(() => {
    // Scale and offset as vectors over the output channels (a scalar is broadcast).
    const s = scale ? tf.add(tf.zeros([channels]), scale.reshape([-1])) : tf.ones([channels]);
    const o = offset ? tf.add(tf.zeros([channels]), offset.reshape([-1])) : tf.zeros([channels]);
    const k = tf.mul(
      node.kernel,
      node.op === "depthwiseConv2d" ? s.reshape([node.kernel.shape[2], node.kernel.shape[3]]) : s,
    );
    const b = node.bias ? tf.add(tf.mul(node.bias, s), o) : o;
    return [k, b];
  });
  return { ...node, kernel, bias } as LinearNode;
}

/**
 * A new graph with every affine node that follows a linear node with no activation (and no other reader)
 * merged into it; a chain of affine nodes merges one after another. The merged node takes the affine node's
 * name. The new graph's `owned` holds only the kernels and biases made here (release them with disposeGraph);
 * it shares every other node and weight with `graph`, so it is valid while `graph` is.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import { disposeGraph, graphLogits } from "./graph.ts";
 * import { layersGraph } from "./graph_layers.ts";
 *
 * await tf.setBackend("cpu");
 * const layers = [
 *   tf.layers.conv2d({ inputShape: [4, 4, 1], filters: 2, kernelSize: 3, name: "conv" }),
 *   tf.layers.batchNormalization({ name: "bn" }),
 *   tf.layers.flatten(),
 *   tf.layers.dense({ units: 3 }),
 * ];
 * const net = tf.sequential({ layers });
 * const graph = layersGraph(net);
 * const merged = mergeBatchNorm(graph);
 * assert.deepEqual(merged.nodes.map((n) => n.op).slice(0, 2), ["input", "conv2d"]); // conv and bn are one
 * assert.ok(graph.nodes.some((n) => n.name === "conv")); // the caller's graph is untouched
 * const x = tf.randomUniform([2, 4, 4, 1]) as tf.Tensor4D;
 * const diff = tf.tidy(() => tf.sub(graphLogits(merged, x), graphLogits(graph, x)).abs().max().dataSync()[0]);
 * assert.ok(diff < 1e-5);
 * disposeGraph(merged);
 * x.dispose();
 * net.dispose();
 * ```
 */
export function mergeBatchNorm(graph: ModelGraph): ModelGraph {
  // Merging an affine node into the linear node before it leaves every other count as it is (the merged node
  // reads what the linear node read), so the counts are taken once.
  const consumers = consumerCounts(graph);
  const current = new Map(graph.nodes.map((n) => [n.name, n]));
  const removed = new Set<string>();
  const owned: tf.Tensor[] = [];
  for (const node of graph.nodes) {
    if (node.op !== "affine" || node.inputs.length !== 1) continue;
    const before = current.get(node.inputs[0]);
    if (!before || removed.has(before.name)) continue;
    if (!isLinear(before) || before.activation !== "linear" || before.name === graph.output) continue;
    if (consumers.get(before.name) !== 1 || !mergeable(node, before, graph)) continue;
    const merged = mergeAffine(before, node.scale, node.offset);
    owned.push(merged.kernel, ...(merged.bias ? [merged.bias] : []));
    current.set(node.name, { ...merged, name: node.name, inputs: before.inputs });
    removed.add(before.name);
  }
  const nodes = graph.nodes.filter((n) => !removed.has(n.name)).map((n) => current.get(n.name)!);
  return { ...graph, nodes, shapes: new Map(graph.shapes), owned };
}

/**
 * The linear nodes that see the pixels: those with no linear node on any path between them and the input.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import { layersGraph } from "./graph_layers.ts";
 *
 * await tf.setBackend("cpu");
 * const layers = [
 *   tf.layers.flatten({ inputShape: [4, 4, 1] }),
 *   tf.layers.dense({ units: 8, activation: "relu", name: "hidden" }),
 *   tf.layers.dense({ units: 3, name: "head" }),
 * ];
 * const net = tf.sequential({ layers });
 * assert.deepEqual([...firstLinearNodes(layersGraph(net))], ["hidden"]);
 * net.dispose();
 * ```
 */
export function firstLinearNodes(graph: ModelGraph): Set<string> {
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const above = new Map<string, boolean>();
  const linearAbove = (name: string) => isLinear(byName.get(name)!) || above.get(name) === true;
  for (const node of graph.nodes) above.set(node.name, node.inputs.some(linearAbove));
  return new Set(graph.nodes.filter((n) => isLinear(n) && !above.get(n.name)).map((n) => n.name));
}

/**
 * A transform of the pixels folded into a first linear node `node`: z = W·reshape(x ⊙ scale) + bias, with W the
 * node's kernel (see {@link foldedForward}).
 */
export interface InputFold {
  /** The first linear node's name. */
  node: string;
  /** Positive multiplier of the pixels (broadcast to the image), or null for 1. */
  scale: tf.Tensor | null;
  /** The node's bias plus its kernel applied to the transform's offset, per output value (batch of 1). */
  bias: tf.Tensor;
  /** The reshapes (Flatten) and zero paddings on the way from the pixels to the node, in order. */
  structural: GraphNode[];
}

/** What {@link foldInputTransforms} found, with the tensors it made. */
export interface InputFolds {
  /** Folds by first linear node. */
  folds: Map<string, InputFold>;
  /**
   * First linear nodes with a transform of the pixels before them that could not be folded in (the transformed
   * pixels feed another node too): their input is not in pixel space, so z^B's pixel bounds do not hold there.
   */
  unfolded: string[];
  /** The tensors made here (scales and biases): release them with {@link disposeInputFolds}. */
  owned: tf.Tensor[];
}

/** Releases the tensors of {@link InputFolds}. */
export function disposeInputFolds(folds: InputFolds): void {
  tf.dispose(folds.owned);
  folds.owned = [];
}

/**
 * z of the folded first linear node `node` for raw pixels `x`, with ρ applied to its kernel and, when `bias`,
 * to the folded bias: ρ(W)·reshape(x ⊙ scale) + ρ(bias′). With ρ the identity and `bias` true, this equals the
 * node's pre-activation in the original graph. The scale is positive, so ρ sees the same signs as W.
 */
export function foldedForward(
  fold: InputFold,
  node: LinearNode,
  x: tf.Tensor,
  rho: (w: tf.Tensor) => tf.Tensor = (w) => w,
  bias = true,
): tf.Tensor {
  const scaled = structural(fold, fold.scale ? tf.mul(x, fold.scale) : x);
  const z = linearForward(node, scaled, { kernel: rho(node.kernel), bias: null });
  return bias ? tf.add(z, rho(fold.bias)) : z;
}

/** `t` through the fold's reshapes and paddings. */
export function structural(fold: InputFold, t: tf.Tensor): tf.Tensor {
  return fold.structural.reduce((h, n) => runNode(n, [h]), t);
}

/**
 * Folds the element-wise transforms (affine, standardize) between the pixels and each first linear node into
 * that node, where they lie on a single path that nothing else reads (zero padding and Flatten-like reshapes
 * after them are kept as they are). Throws a HansError when a folded scale is not positive (`method` names the
 * method in it). Makes tensors of its own (see {@link InputFolds.owned}); `graph` is left as it is.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import { evaluate, type LinearNode, linearForward, withInputTransform, disposeGraph } from "./graph.ts";
 * import { layersGraph } from "./graph_layers.ts";
 *
 * await tf.setBackend("cpu");
 * const layers = [tf.layers.conv2d({ inputShape: [4, 4, 1], filters: 2, kernelSize: 3, padding: "same", name: "conv" })];
 * const net = tf.sequential({ layers: [...layers, tf.layers.flatten(), tf.layers.dense({ units: 2 })] });
 * const graph = withInputTransform(layersGraph(net), 2, -1); // the model sees 2x − 1
 * const found = await foldInputTransforms(graph, "LRP");
 * const conv = graph.nodes.find((n) => n.name === "conv") as LinearNode;
 * const x = tf.randomUniform([1, 4, 4, 1]) as tf.Tensor4D;
 * tf.tidy(() => {
 *   // The folded map of the raw pixels gives the conv's pre-activation in the graph.
 *   const original = linearForward(conv, evaluate(graph, x, ["conv"]).get(conv.inputs[0])!);
 *   const folded = foldedForward(found.folds.get("conv")!, conv, x);
 *   assert.ok(tf.sub(folded, original).abs().max().dataSync()[0] < 1e-5);
 * });
 * disposeInputFolds(found);
 * disposeGraph(graph);
 * x.dispose();
 * net.dispose();
 * ```
 */
export async function foldInputTransforms(graph: ModelGraph, method: string): Promise<InputFolds> {
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const consumers = consumerCounts(graph);
  const result: InputFolds = { folds: new Map(), unfolded: [], owned: [] };
  try {
    for (const name of firstLinearNodes(graph)) {
      const node = byName.get(name) as LinearNode;
      const fold = await inputFold(graph, byName, consumers, node, method);
      if (fold) {
        result.owned.push(...(fold.scale ? [fold.scale] : []), fold.bias);
        result.folds.set(name, fold);
      } else if (transformBefore(graph, byName, node)) {
        result.unfolded.push(name);
      }
    }
  } catch (e) {
    disposeInputFolds(result);
    throw e;
  }
  return result;
}

/**
 * What lies between the pixels and a first linear node on a single path from the input: element-wise
 * transforms (affine, standardize) composed into one `x · scale + offset`, then zero padding and Flatten-like
 * reshapes; undefined when nothing but identities lies there or the path branches.
 */
async function inputFold(
  graph: ModelGraph,
  byName: Map<string, GraphNode>,
  consumers: Map<string, number>,
  node: LinearNode,
  method: string,
): Promise<InputFold | undefined> {
  const path: GraphNode[] = [];
  let name = node.inputs[0];
  while (name !== graph.input) {
    const n = byName.get(name)!;
    if (
      n.op !== "affine" && n.op !== "standardize" && n.op !== "identity" && n.op !== "reshape" &&
      n.op !== "pad"
    ) {
      return undefined;
    }
    if ((consumers.get(n.name) ?? 0) !== 1) return undefined;
    path.push(n);
    name = n.inputs[0];
  }
  path.reverse();
  // Also a padding alone: the input rule must see the pixels, not the padded zeros (which are no pixels and
  // would take relevance that the slicing back then drops).
  if (!path.some((n) => n.op !== "identity")) return undefined;
  // Reshapes and zero padding only after the last transform, so that every scale and offset is an image's
  // shape; both are linear, so pad(x · s + o) = pad(x · s) + pad(o) (the padding stays 0).
  const lastTransform = path.findLastIndex((n) => n.op === "affine" || n.op === "standardize");
  if (lastTransform > 0 && path.slice(0, lastTransform).some((n) => n.op === "reshape" || n.op === "pad")) {
    return undefined;
  }
  const shape = graph.shapes.get(graph.input)!;
  const structuralNodes = path.filter((n) => n.op === "reshape" || n.op === "pad");
  const scaled = path.some((n) => n.op === "standardize" || (n.op === "affine" && n.scale));
  const made = tf.tidy(() => {
    let s: tf.Tensor | null = null;
    let o: tf.Tensor = tf.zeros(shape);
    for (const n of path) {
      if (n.op !== "affine" && n.op !== "standardize") continue;
      const [ns, no] = n.op === "standardize"
        ? [n.scale, tf.neg(tf.mul(n.mean, n.scale))]
        : [n.scale, n.offset];
      if (ns) {
        s = s ? tf.mul(s, ns) : ns;
        o = tf.mul(o, ns);
      }
      if (no) o = tf.add(o, no);
    }
    const b = linearForward(node, structuralNodes.reduce((h, n) => runNode(n, [h]), o));
    return scaled && s ? [b, tf.clone(s)] : [b];
  });
  const [bias, scale = null] = made;
  const smallest = scale ? tf.min(scale) : null;
  const positive = !smallest || (await smallest.data())[0] > 0;
  smallest?.dispose();
  if (!positive) {
    tf.dispose(made);
    throw new HansError(
      `${method} folds the transform of the pixels before "${node.name}" into it and needs its scale positive.`,
    );
  }
  return { node: node.name, scale, bias, structural: structuralNodes };
}

/** True when an affine or standardize node lies between the pixels and `node` (on any path). */
function transformBefore(graph: ModelGraph, byName: Map<string, GraphNode>, node: GraphNode): boolean {
  const stack = [...node.inputs];
  const seen = new Set<string>();
  while (stack.length > 0) {
    const name = stack.pop()!;
    if (seen.has(name) || name === graph.input) continue;
    seen.add(name);
    const n = byName.get(name)!;
    if (n.op === "affine" || n.op === "standardize") return true;
    stack.push(...n.inputs);
  }
  return false;
}
