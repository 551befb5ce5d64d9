/**
 * Layer-wise Relevance Propagation (Bach et al. 2015) on a model graph, built from small rules in the manner
 * of Zennit: a rule says how one linear node (convolution, depthwise convolution, dense) passes relevance from
 * its output to its input, a composite says which rule applies where. Every rule is implemented with the
 * gradient × input trick (Montavon et al. 2019, "Layer-wise relevance propagation: an overview", section 10.2):
 * for a layer z = ρ(W)·a, the relevance at its input is a ⊙ ∇_a(z · s) with s = R / z held constant.
 *
 * Before relevance flows, the graph is canonized (Zennit's word): an affine node (BatchNormalization, BiasAdd)
 * right after a linear node with no activation is folded into its kernel and bias, and element-wise transforms
 * between the pixels and the first linear node (input range, PixelStandardization) are folded into that node,
 * so the input rule works in pixel space with the pixels' own bounds. Then relevance walks the graph backwards:
 * `Add` splits it in proportion to its inputs' contributions (the z-rule), average and global average pooling
 * in proportion to their inputs, max pooling by `maxPooling`, concatenation by slicing; element-wise nodes
 * (activations, remaining affine nodes, ContrastNormalization, whose factor is read as a constant as LN layers
 * are in Ali et al. 2022) pass it on unchanged, and a node that feeds several others sums what they send back.
 * Relevance starts at the target score; when the logits come from a dense node, that node is read for the
 * target as one linear unit (for a contrast "logit p − logit q": weights w_p − w_q, bias b_p − b_q).
 * @module
 */
import { tf } from "../deps.ts";
import { HansError } from "../errors.ts";
import {
  evaluate,
  type GraphNode,
  isLinear,
  linearForward,
  type LinearNode,
  type ModelGraph,
  poolForward,
  type PoolNode,
  runNode,
} from "./graph.ts";

/** A weight transform ρ (identity, positive part, negative part), applied to kernel and bias alike. */
export type WeightTransform = (w: tf.Tensor) => tf.Tensor;

/** One linear layer as an LRP rule sees it: z = ρ(W)·a + ρ(b), with or without the bias. */
export interface LinearMap {
  /** z = ρ(W)·a, plus ρ(b) when `bias` is true. */
  forward(a: tf.Tensor, rho: WeightTransform, bias: boolean): tf.Tensor;
}

/** An LRP rule: the relevance at a linear layer's input `a` from the relevance at its output. */
export type LrpRule = (layer: LinearMap, a: tf.Tensor, relevance: tf.Tensor) => tf.Tensor;

/** Which rule applies where. */
export interface LrpComposite {
  /** The first linear layer, the one that sees the pixels. */
  input: LrpRule;
  /** Every other linear layer, the output layer included. */
  hidden: LrpRule;
  /**
   * Max pooling: `winner` gives a window's relevance to its largest input (the max's gradient), `proportional`
   * shares it in proportion to the inputs (the z-rule on the window's sum).
   */
  maxPooling: "winner" | "proportional";
}

const identity: WeightTransform = (w) => w;
const positive: WeightTransform = (w) => tf.relu(w);
const negative: WeightTransform = (w) => tf.minimum(w, 0);

/** ρ(W)ᵀ s: the gradient of Σ z·s with respect to the layer's input, with s held constant. */
function backward(layer: LinearMap, a: tf.Tensor, s: tf.Tensor, rho: WeightTransform): tf.Tensor {
  return tf.grad((input: tf.Tensor) => tf.sum(tf.mul(layer.forward(input, rho, false), s)))(a);
}

/** Root mean square of `z` per image (over all but the first axis), kept broadcastable. */
function rmsPerImage(z: tf.Tensor): tf.Tensor {
  const axes = Array.from({ length: z.rank - 1 }, (_, i) => i + 1);
  return tf.sqrt(tf.mean(tf.square(z), axes, true));
}

/** z moved away from 0 by `amount` in the direction of its sign (0 counts as negative). */
function stabilize(z: tf.Tensor, amount: tf.Tensor | number): tf.Tensor {
  const sign = tf.sub(tf.mul(tf.step(z), 2), 1);
  return tf.add(z, tf.mul(sign, amount));
}

/**
 * The ε-rule: R_in = a ⊙ Wᵀ (R / (z + ε·rms(z)·sign(z))), z = W·a + b. `epsilon` is relative to the root mean
 * square of the layer's pre-activations per image (as in Montavon's tutorial code), plus 1e-9 against 0/0;
 * 0 gives LRP-0. Relevance is conserved up to the bias's share and the ε absorbed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 *
 * await tf.setBackend("cpu");
 * tf.tidy(() => {
 *   const w = tf.tensor2d([[1, -2], [3, 1]]); // a dense layer without bias: 2 inputs, 2 outputs
 *   const layer: LinearMap = { forward: (a, rho) => tf.matMul(a, rho(w)) };
 *   const a = tf.tensor2d([[1, 1]]);
 *   const z = layer.forward(a, (v) => v, false); // [4, -1]
 *   // LRP-0 (ε = 0) with R = z: input i gets a_i · (sum of row i of W); the total, 3, is conserved.
 *   const [r] = epsilonRule(0)(layer, a, z).arraySync() as number[][];
 *   assert.deepEqual(r.map((v) => +v.toFixed(5)), [-1, 4]);
 * });
 * ```
 */
export function epsilonRule(epsilon: number): LrpRule {
  return (layer, a, relevance) => {
    const z = layer.forward(a, identity, true);
    const s = tf.div(relevance, stabilize(z, tf.add(tf.mul(rmsPerImage(z), epsilon), 1e-9)));
    return tf.mul(a, backward(layer, a, s, identity));
  };
}

/**
 * The αβ-rule with β = α − 1 (α = 1: α1β0, the z⁺-rule): positive contributions a_i w_ij > 0 share α·R,
 * negative ones −β·R; biases are left out. With β = 0 relevance is conserved wherever a unit has a positive
 * contribution (every active ReLU unit has one); with β > 0 a unit with no negative contribution passes on α·R,
 * not R, so the total drifts. Inputs of either sign are handled (a positive contribution is a⁺w⁺ or a⁻w⁻).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 *
 * await tf.setBackend("cpu");
 * tf.tidy(() => {
 *   const w = tf.tensor2d([[1, -2], [3, 1]]); // a dense layer without bias: 2 inputs, 2 outputs
 *   const layer: LinearMap = { forward: (a, rho) => tf.matMul(a, rho(w)) };
 *   const a = tf.tensor2d([[1, 1]]);
 *   // α1β0 shares each output's relevance among its positive contributions only: output 1 splits it
 *   // 1 : 3 between the inputs, output 2 gives all of it to input 2 (input 1's 1 · −2 is negative).
 *   const [r] = alphaBetaRule(1)(layer, a, tf.tensor2d([[1, 1]])).arraySync() as number[][];
 *   assert.deepEqual(r.map((v) => +v.toFixed(5)), [0.25, 1.75]);
 * });
 * ```
 */
export function alphaBetaRule(alpha: number): LrpRule {
  const beta = alpha - 1;
  return (layer, a, relevance) => {
    const ap = tf.relu(a);
    const an = tf.minimum(a, 0);
    const share = (s: tf.Tensor, rhoForPositiveA: WeightTransform, rhoForNegativeA: WeightTransform) =>
      tf.add(
        tf.mul(ap, backward(layer, a, s, rhoForPositiveA)),
        tf.mul(an, backward(layer, a, s, rhoForNegativeA)),
      );
    const zp = tf.add(tf.add(layer.forward(ap, positive, false), layer.forward(an, negative, false)), 1e-9);
    const rp = share(tf.div(relevance, zp), positive, negative);
    if (beta === 0) return alpha === 1 ? rp : tf.mul(rp, alpha);
    const zn = tf.sub(tf.add(layer.forward(ap, negative, false), layer.forward(an, positive, false)), 1e-9);
    const rn = share(tf.div(relevance, zn), negative, positive);
    return tf.sub(tf.mul(rp, alpha), tf.mul(rn, beta));
  };
}

/**
 * The z^B-rule for the input layer, whose inputs lie in [low, high] (Montavon et al. 2017):
 * R_in = (x ⊙ Wᵀs − low ⊙ W⁺ᵀs − high ⊙ W⁻ᵀs), s = R / (W·x − W⁺·low − W⁻·high). Conserves relevance
 * exactly (biases left out) and takes the pixel's distance to both bounds into account.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 *
 * await tf.setBackend("cpu");
 * tf.tidy(() => {
 *   const w = tf.tensor2d([[1, -2], [3, 1]]); // a dense layer without bias: 2 inputs, 2 outputs
 *   const layer: LinearMap = { forward: (a, rho) => tf.matMul(a, rho(w)) };
 *   const x = tf.tensor2d([[0.5, 1]]); // pixels in [0, 1]
 *   const r = zBRule(0, 1)(layer, x, tf.tensor2d([[1, 1]]));
 *   assert.ok(Math.abs(r.sum().dataSync()[0] - 2) < 1e-5); // relevance is conserved
 * });
 * ```
 */
export function zBRule(low: number, high: number): LrpRule {
  return (layer, x, relevance) => {
    const l = tf.fill(x.shape, low);
    const h = tf.fill(x.shape, high);
    const z = tf.sub(
      tf.sub(layer.forward(x, identity, false), layer.forward(l, positive, false)),
      layer.forward(h, negative, false),
    );
    const s = tf.div(relevance, tf.add(z, 1e-9));
    return tf.sub(
      tf.sub(tf.mul(x, backward(layer, x, s, identity)), tf.mul(l, backward(layer, x, s, positive))),
      tf.mul(h, backward(layer, x, s, negative)),
    );
  };
}

function nodeMap(node: LinearNode): LinearMap {
  return {
    forward: (a, rho, bias) =>
      linearForward(node, a, {
        kernel: rho(node.kernel),
        bias: bias && node.bias ? rho(node.bias) : null,
      }),
  };
}

/** An element-wise transform of the pixels, `x · scale + offset`, folded into the first linear node. */
interface InputFold {
  /** The node whose value the transform takes (the graph's input). */
  source: string;
  /** Positive multiplier (broadcast to the image), or null for 1. */
  scale: tf.Tensor | null;
  /** Offset as an image `[1,H,W,C]`. */
  offset: tf.Tensor;
  /** The reshapes (Flatten) and zero paddings on the way from the pixels to the linear node, in order. */
  reshape: (t: tf.Tensor) => tf.Tensor;
}

/**
 * The first linear node with the transform before it folded in, as a map of the raw pixels:
 * z = ρ(W)·(x ⊙ scale) + ρ(b + W·offset). The scale is positive, so ρ sees the same signs as W; the input rule
 * then works in pixel space with the pixels' own bounds (Zennit's canonizers fold normalization into the
 * adjacent layer the same way).
 */
function foldedMap(fold: InputFold, node: LinearNode): LinearMap {
  return {
    forward: (x, rho, bias) => {
      const scaled = fold.reshape(fold.scale ? tf.mul(x, fold.scale) : x);
      const z = linearForward(node, scaled, { kernel: rho(node.kernel), bias: null });
      if (!bias) return z;
      return tf.add(z, rho(linearForward(node, fold.reshape(fold.offset))));
    },
  };
}

/** The output layer read for the target: per image one unit with weights `v` `[n,d]` and bias `c` `[n,1]`. */
function headMap(v: tf.Tensor2D, c: tf.Tensor2D | null): LinearMap {
  return {
    forward: (a, rho, bias) => {
      const z = tf.sum(tf.mul(a, rho(v)), 1, true);
      return bias && c ? tf.add(z, rho(c)) : z;
    },
  };
}

/** A model graph prepared for LRP by {@link lrpPlan}. */
export interface LrpPlan {
  /** The canonized graph (affine nodes folded into the linear nodes before them). */
  graph: ModelGraph;
  /** Linear nodes that see the pixels (no linear node before them): they get the composite's input rule. */
  first: Set<string>;
  /** Transforms of the pixels folded into a first linear node, by that node's name. */
  folds: Map<string, InputFold>;
  /**
   * First linear nodes with a transform of the pixels before them that could not be folded in: their input is
   * not in pixel space, so the z^B rule's pixel bounds do not hold there (lrpEpsilon and lrpAlphaBeta refuse
   * it; the ε or αβ input rule works).
   */
  unfolded: string[];
}

const plans = new WeakMap<ModelGraph, LrpPlan>();

/**
 * Checks that LRP can run on `graph` and canonizes it (once per graph; the folded weights are released with the
 * graph by disposeGraph). Throws a HansError naming the node LRP cannot pass (a softmax inside the model, a
 * transform of the pixels with a scale that is not positive).
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
 * const graph = layersGraph(net);
 * const plan = await lrpPlan(graph, "LRP-ε");
 * assert.deepEqual([...plan.first], ["hidden"]); // the layer that sees the pixels gets the input rule
 * assert.equal(await lrpPlan(graph, "LRP-ε"), plan); // planned once per graph
 * net.dispose();
 * ```
 */
export async function lrpPlan(graph: ModelGraph, method: string): Promise<LrpPlan> {
  const cached = plans.get(graph);
  if (cached) return cached;
  for (const node of graph.nodes) {
    if ("activation" in node && node.activation === "softmax") {
      throw new HansError(`${method} cannot pass relevance through the softmax at node "${node.name}".`);
    }
  }
  // How many nodes read each value: folding an affine node into the linear node before it leaves every other
  // count as it is (the folded node reads what the linear node read), so it is counted once.
  const consumerCount = new Map<string, number>();
  for (const n of graph.nodes) {
    for (const i of new Set(n.inputs)) consumerCount.set(i, (consumerCount.get(i) ?? 0) + 1);
  }
  // Fold affine nodes into a linear node before them that has no activation and no other consumer; one pass in
  // order, so that a chain of affine nodes folds into the linear node one after another.
  const current = new Map(graph.nodes.map((n) => [n.name, n]));
  const removed = new Set<string>();
  for (const node of graph.nodes) {
    if (node.op !== "affine" || node.inputs.length !== 1) continue;
    const before = current.get(node.inputs[0]);
    if (!before || removed.has(before.name)) continue;
    if (!isLinear(before) || before.activation !== "linear" || before.name === graph.output) continue;
    if (consumerCount.get(before.name) !== 1 || !foldable(node, before, graph)) continue;
    const folded = foldAffine(before, node.scale, node.offset);
    graph.owned.push(folded.kernel, ...(folded.bias ? [folded.bias] : []));
    current.set(node.name, { ...folded, name: node.name, inputs: before.inputs });
    removed.add(before.name);
  }
  const nodes = graph.nodes.filter((n) => !removed.has(n.name)).map((n) => current.get(n.name)!);
  const canon: ModelGraph = { ...graph, nodes };
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const first = new Set<string>();
  const folds = new Map<string, InputFold>();
  const unfolded: string[] = [];
  // Whether a linear node lies above each node, in one pass over the nodes in order (each after its inputs).
  const above = new Map<string, boolean>();
  const linearAbove = (name: string) => isLinear(byName.get(name)!) || above.get(name) === true;
  for (const node of nodes) above.set(node.name, node.inputs.some(linearAbove));
  for (const node of nodes) {
    if (!isLinear(node) || above.get(node.name)) continue;
    first.add(node.name);
    const fold = await inputFold(canon, byName, consumerCount, node, method);
    if (fold) {
      graph.owned.push(...(fold.scale ? [fold.scale] : []), fold.offset);
      folds.set(node.name, fold);
    } else if (transformBefore(canon, byName, node)) {
      unfolded.push(node.name);
    }
  }
  const plan = { graph: canon, first, folds, unfolded };
  plans.set(graph, plan);
  return plan;
}

/** True when an affine node's scale and offset are per output channel (or scalars) of the linear node. */
function foldable(affine: GraphNode & { op: "affine" }, node: LinearNode, graph: ModelGraph): boolean {
  const channels = graph.shapes.get(node.name)?.at(-1);
  const ok = (t: tf.Tensor | null) => !t || t.size === 1 || (t.rank === 1 && t.size === channels);
  return channels !== undefined && ok(affine.scale) && ok(affine.offset);
}

/** The linear node followed by `x · scale + offset` as one linear node: W·scale, b·scale + offset. */
function foldAffine(node: LinearNode, scale: tf.Tensor | null, offset: tf.Tensor | null): LinearNode {
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
 * What lies between the pixels and a first linear node on a single path from the input: element-wise
 * transforms (affine, standardize) composed into one `x · scale + offset`, then zero padding and Flatten-like
 * reshapes, so that the input rule sees the pixels themselves; undefined when nothing but identities lies
 * there.
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
  const composed = tf.tidy(() => {
    let s: tf.Tensor | null = null;
    let o: tf.Tensor = tf.zeros(shape);
    for (const n of path) {
      if (n.op === "identity" || n.op === "reshape" || n.op === "pad") continue;
      const [ns, no] = n.op === "standardize"
        ? [n.scale, tf.neg(tf.mul(n.mean, n.scale))]
        : n.op === "affine"
        ? [n.scale, n.offset]
        : [null, null];
      if (ns) {
        s = s ? tf.mul(s, ns) : ns;
        o = tf.mul(o, ns);
      }
      if (no) o = tf.add(o, no);
    }
    return { scale: s ? tf.clone(s) : tf.ones([]), offset: o };
  });
  const scaled = path.some((n) => n.op === "standardize" || (n.op === "affine" && n.scale));
  const scale = scaled ? composed.scale : null;
  if (!scaled) composed.scale.dispose();
  const offset = composed.offset;
  if (scale && (await tf.min(scale).data())[0] <= 0) {
    scale.dispose();
    offset.dispose();
    throw new HansError(
      `${method} folds the transform of the pixels before "${node.name}" into it and needs its scale positive.`,
    );
  }
  const structural = path.filter((n) => n.op === "reshape" || n.op === "pad");
  const reshape = (t: tf.Tensor) => structural.reduce((h, n) => runNode(n, [h]), t);
  return { source: graph.input, scale, offset, reshape };
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

/** The input rule when `first` holds the node, else the hidden rule. */
function ruleFor(plan: LrpPlan, composite: LrpComposite, name: string): LrpRule {
  return plan.first.has(name) ? composite.input : composite.hidden;
}

/** a ⊙ ∇_a Σ(f(a)·s) with s = R / f(a): relevance shared in proportion to the inputs of a linear map f. */
function proportional(f: (a: tf.Tensor) => tf.Tensor, a: tf.Tensor, relevance: tf.Tensor): tf.Tensor {
  const s = tf.div(relevance, stabilize(f(a), 1e-9));
  return tf.mul(a, tf.grad((input: tf.Tensor) => tf.sum(tf.mul(f(input), s)))(a));
}

/**
 * Relevance `[n,H,W,C]` of every input value for the target scores (`weights` from targetWeights, `[n,classes]`)
 * of the images `x`, propagated through the planned graph with `composite`. Call inside tf.tidy.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import { layersGraph } from "./graph_layers.ts";
 * import { targetWeights } from "./target.ts";
 *
 * await tf.setBackend("cpu");
 * const layers = [
 *   tf.layers.flatten({ inputShape: [4, 4, 1] }),
 *   tf.layers.dense({ units: 8, activation: "relu", useBias: false }),
 *   tf.layers.dense({ units: 3, useBias: false }),
 * ];
 * const net = tf.sequential({ layers });
 * const plan = await lrpPlan(layersGraph(net), "LRP-0");
 * const composite = { input: epsilonRule(0), hidden: epsilonRule(0), maxPooling: "winner" } as const;
 * tf.tidy(() => {
 *   const x = tf.randomUniform([1, 4, 4, 1]) as tf.Tensor4D;
 *   const relevance = lrpRelevance(plan, x, targetWeights([1], 3), composite);
 *   assert.deepEqual(relevance.shape, [1, 4, 4, 1]);
 *   // LRP-0 on a model without biases conserves relevance: it sums to the target's logit.
 *   const logit = (net.predict(x) as tf.Tensor).dataSync()[1];
 *   assert.ok(Math.abs(relevance.sum().dataSync()[0] - logit) < 1e-4);
 * });
 * net.dispose();
 * ```
 */
export function lrpRelevance(
  plan: LrpPlan,
  x: tf.Tensor4D,
  weights: tf.Tensor2D,
  composite: LrpComposite,
): tf.Tensor4D {
  const graph = plan.graph;
  const values = evaluate(graph, x);
  const relevance = new Map<string, tf.Tensor>();
  const give = (name: string, r: tf.Tensor) => {
    const before = relevance.get(name);
    if (!before) return void relevance.set(name, r);
    relevance.set(name, tf.add(before, r));
    tf.dispose([before, r]);
  };
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const out = byName.get(graph.output)!;
  let start = graph.nodes.length - 1;
  while (graph.nodes[start].name !== out.name) start--;
  if (out.op === "dense" && out.activation === "linear" && !plan.folds.has(out.name)) {
    const a = values.get(out.inputs[0])!;
    const v = tf.matMul(weights, out.kernel, false, true) as tf.Tensor2D;
    const c = out.bias ? tf.matMul(weights, out.bias.reshape([-1, 1])) as tf.Tensor2D : null;
    const head = headMap(v, c);
    give(out.inputs[0], ruleFor(plan, composite, out.name)(head, a, head.forward(a, identity, true)));
    start--;
  } else {
    give(out.name, tf.mul(values.get(out.name)!, weights));
  }
  // Node by node, each step in its own scope: what it hands down is kept, its temporaries and its own
  // relevance are released, so the pass holds the activations and one frontier of relevance.
  for (let i = start; i >= 0; i--) {
    const node = graph.nodes[i];
    const r = relevance.get(node.name);
    if (!r || node.op === "input") continue;
    relevance.delete(node.name);
    const shares = tf.tidy(() => {
      const handed: { name: string; r: tf.Tensor }[] = [];
      const give = (name: string, share: tf.Tensor) => void handed.push({ name, r: share });
      const a = values.get(node.inputs[0])!;
      switch (node.op) {
        case "conv2d":
        case "depthwiseConv2d":
        case "dense": {
          const fold = plan.folds.get(node.name);
          const rule = ruleFor(plan, composite, node.name);
          if (fold) give(fold.source, rule(foldedMap(fold, node), values.get(fold.source)!, r));
          else give(node.inputs[0], rule(nodeMap(node), a, r));
          break;
        }
        case "maxPool":
          if (composite.maxPooling === "winner") {
            give(
              node.inputs[0],
              tf.grad((input: tf.Tensor) => tf.sum(tf.mul(poolForward(node, input), r)))(a),
            );
          } else {
            const pool: PoolNode = { ...node, op: "avgPool" };
            give(node.inputs[0], proportional((t) => poolForward(pool, t), a, r));
          }
          break;
        case "avgPool":
          give(node.inputs[0], proportional((t) => poolForward(node, t), a, r));
          break;
        case "globalAvgPool":
          give(node.inputs[0], proportional((t) => tf.mean(t, [1, 2], node.keepDims), a, r));
          break;
        case "globalMaxPool":
          give(
            node.inputs[0],
            tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.max(t, [1, 2], node.keepDims), r)))(a),
          );
          break;
        case "add": {
          const s = tf.div(r, stabilize(values.get(node.name)!, 1e-9));
          for (const input of node.inputs) give(input, tf.mul(values.get(input)!, s));
          break;
        }
        case "concat": {
          const parts = node.inputs.map((n) => values.get(n)!);
          const axis = node.axis < 0 ? r.rank + node.axis : node.axis;
          const pieces = tf.split(r, parts.map((p) => p.shape[axis]), axis);
          node.inputs.forEach((n, k) => give(n, pieces[k]));
          break;
        }
        case "reshape":
          give(node.inputs[0], tf.reshape(r, a.shape));
          break;
        case "pad": {
          const [[top], [left]] = node.paddings;
          give(node.inputs[0], tf.slice(r, [0, top, left, 0], a.shape));
          break;
        }
        case "activation":
        case "affine":
        case "standardize":
        case "contrast":
        case "identity":
          give(node.inputs[0], r);
          break;
      }
      return handed;
    });
    for (const share of shares) give(share.name, share.r);
    if (!shares.some((share) => share.r === r)) r.dispose();
  }
  const result = relevance.get(graph.input);
  return (result ?? tf.zerosLike(x)) as tf.Tensor4D;
}
