/**
 * Layer-wise Relevance Propagation (Bach et al. 2015) on a model graph, the way Zennit builds it: rules as small
 * values (lrp_rules.ts), composites that map node kinds to rules (lrp_composites.ts), canonizers that rewrite the
 * graph first (lrp_canonize.ts), and here the plan (canonized graph, first layers, folds) and the walk.
 *
 * Relevance walks the canonized graph backwards: each linear node passes it by its composite's rule; `Add`
 * splits it in proportion to its inputs' contributions (the z-rule), average and global average pooling in
 * proportion to their inputs, max pooling by the composite's `maxPooling`, concatenation by slicing;
 * element-wise nodes (activations, affine nodes left after canonizing, such as BatchNorm after a ReLU,
 * ContrastNormalization, whose factor is read as a constant as LN layers are in Ali et al. 2022) pass it on
 * unchanged, and a node that feeds several others sums what they send back. Relevance starts at the target
 * score; when the logits come from a dense node, that node is read for the target as one linear unit (for a
 * contrast "logit p − logit q": weights w_p − w_q, bias b_p − b_q).
 * @module
 */
import { tf } from "../deps.ts";
import { HansError } from "../errors.ts";
import {
  disposeGraph,
  evaluate,
  linearForward,
  type LinearNode,
  type ModelGraph,
  poolForward,
  type PoolNode,
} from "./graph.ts";
import {
  disposeInputFolds,
  firstLinearNodes,
  foldedForward,
  foldInputTransforms,
  type InputFold,
  mergeBatchNorm,
  structural,
} from "./lrp_canonize.ts";
import { type LrpComposite, ruleFor } from "./lrp_composites.ts";
import { type LinearMap, propagate, stabilize } from "./lrp_rules.ts";

export {
  alphaBetaRule,
  epsilonRule,
  flatRule,
  gammaRule,
  type LinearMap,
  type LrpRule,
  propagate,
  ruleName,
  type WeightTransform,
  zBRule,
} from "./lrp_rules.ts";
export {
  alphaBetaComposite,
  epsilonComposite,
  epsilonPlusFlat,
  type LrpComposite,
} from "./lrp_composites.ts";

/** A model graph prepared for LRP by {@link lrpPlan}; release it with {@link disposeLrpPlan}. */
export interface LrpPlan {
  /** The canonized graph (BatchNorm merged, see mergeBatchNorm); its `owned` tensors are the plan's. */
  graph: ModelGraph;
  /** Linear nodes that see the pixels (no linear node before them): they get the composite's `first` rule. */
  first: Set<string>;
  /** Transforms of the pixels folded into a first linear node, by that node's name (see foldInputTransforms). */
  folds: Map<string, InputFold>;
  /**
   * First linear nodes with a transform of the pixels before them that could not be folded in: their input is
   * not in pixel space, so the z^B rule's pixel bounds do not hold there.
   */
  unfolded: string[];
  /** Tensors the input folds made. */
  owned: tf.Tensor[];
}

/**
 * Checks that LRP can run on `graph` and canonizes it: BatchNorm merged into the linear node before it, the
 * transforms of the pixels folded into the first linear nodes. Returns a new plan each call, with tensors of its
 * own ({@link disposeLrpPlan} releases them); `graph` is left as it is. Throws a HansError naming the node LRP
 * cannot pass (a softmax inside the model, a transform of the pixels with a scale that is not positive);
 * `method` names the method in it.
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
 * const plan = await lrpPlan(layersGraph(net), "LRP-ε");
 * assert.deepEqual([...plan.first], ["hidden"]); // the layer that sees the pixels gets the first-layer rule
 * disposeLrpPlan(plan);
 * net.dispose();
 * ```
 */
export async function lrpPlan(graph: ModelGraph, method: string): Promise<LrpPlan> {
  for (const node of graph.nodes) {
    if ("activation" in node && node.activation === "softmax") {
      throw new HansError(`${method} cannot pass relevance through the softmax at node "${node.name}".`);
    }
  }
  const canon = mergeBatchNorm(graph);
  try {
    const inputs = await foldInputTransforms(canon, method);
    return { graph: canon, first: firstLinearNodes(canon), ...inputs };
  } catch (e) {
    disposeGraph(canon);
    throw e;
  }
}

/** Releases the tensors a plan made (not the model's weights). */
export function disposeLrpPlan(plan: LrpPlan): void {
  disposeGraph(plan.graph);
  disposeInputFolds(plan);
}

function nodeMap(node: LinearNode): LinearMap {
  return {
    forward: (a, rho, bias) =>
      linearForward(node, a, { kernel: rho(node.kernel), bias: bias && node.bias ? rho(node.bias) : null }),
    receptiveField: (a) => linearForward(node, a, { kernel: tf.onesLike(node.kernel), bias: null }),
  };
}

/** The first linear node with the transform of the pixels folded in, as a map of the raw pixels. */
function foldedMap(fold: InputFold, node: LinearNode): LinearMap {
  return {
    forward: (x, rho, bias) => foldedForward(fold, node, x, rho, bias),
    receptiveField: (x) =>
      linearForward(node, structural(fold, x), { kernel: tf.onesLike(node.kernel), bias: null }),
  };
}

/** The output layer read for the target: per image one unit with weights `v` `[n,d]` and bias `c` `[n,1]`. */
function headMap(v: tf.Tensor2D, c: tf.Tensor2D | null): LinearMap {
  return {
    forward: (a, rho, bias) => {
      const z = tf.sum(tf.mul(a, rho(v)), 1, true);
      return bias && c ? tf.add(z, rho(c)) : z;
    },
    receptiveField: (a) => tf.sum(a, 1, true),
  };
}

/** a ⊙ ∇_a Σ(f(a)·s) with s = R / f(a): relevance shared in proportion to the inputs of a linear map f. */
function proportional(f: (a: tf.Tensor) => tf.Tensor, a: tf.Tensor, relevance: tf.Tensor): tf.Tensor {
  const s = tf.div(relevance, stabilize(f(a), 1e-9));
  return tf.mul(a, tf.grad((input: tf.Tensor) => tf.sum(tf.mul(f(input), s)))(a));
}

/** What {@link lrpRelevance} returns. */
export interface LrpResult {
  /** Relevance `[n,H,W,C]` of every input value. */
  relevance: tf.Tensor4D;
  /** The target score `[n]` relevance started from (the weighted logits). */
  score: tf.Tensor1D;
}

/**
 * Relevance `[n,H,W,C]` of every input value for the target scores (`weights` from targetWeights, `[n,classes]`)
 * of the images `x`, propagated through the planned graph with `composite`, and the target scores `[n]` it
 * started from. Call inside tf.tidy.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import { layersGraph } from "./graph_layers.ts";
 * import { epsilonComposite } from "./lrp_composites.ts";
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
 * tf.tidy(() => {
 *   const x = tf.randomUniform([1, 4, 4, 1]) as tf.Tensor4D;
 *   const { relevance, score } = lrpRelevance(plan, x, targetWeights([1], 3), epsilonComposite(0));
 *   assert.deepEqual(relevance.shape, [1, 4, 4, 1]);
 *   // LRP-0 on a model without biases conserves relevance: it sums to the target's logit.
 *   const logit = (net.predict(x) as tf.Tensor).dataSync()[1];
 *   assert.ok(Math.abs(score.dataSync()[0] - logit) < 1e-5);
 *   assert.ok(Math.abs(relevance.sum().dataSync()[0] - logit) < 1e-4);
 * });
 * disposeLrpPlan(plan);
 * net.dispose();
 * ```
 */
export function lrpRelevance(
  plan: LrpPlan,
  x: tf.Tensor4D,
  weights: tf.Tensor2D,
  composite: LrpComposite,
): LrpResult {
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
  const score = tf.sum(tf.mul(values.get(out.name)!, weights), 1) as tf.Tensor1D;
  let start = graph.nodes.length - 1;
  while (graph.nodes[start].name !== out.name) start--;
  if (out.op === "dense" && out.activation === "linear" && !plan.folds.has(out.name)) {
    const a = values.get(out.inputs[0])!;
    const v = tf.matMul(weights, out.kernel, false, true) as tf.Tensor2D;
    const c = out.bias ? tf.matMul(weights, out.bias.reshape([-1, 1])) as tf.Tensor2D : null;
    const head = headMap(v, c);
    give(out.inputs[0], propagate(ruleFor(composite, out, plan.first), head, a, score.reshape([-1, 1])));
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
          const rule = ruleFor(composite, node, plan.first);
          if (fold) give(graph.input, propagate(rule, foldedMap(fold, node), values.get(graph.input)!, r));
          else give(node.inputs[0], propagate(rule, nodeMap(node), a, r));
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
        default: {
          // A node kind added to the graph without a case here would drop its relevance: the compiler refuses.
          const unknown: never = node;
          throw new Error(`LRP has no rule for node kind "${(unknown as { op: string }).op}".`);
        }
      }
      return handed;
    });
    for (const share of shares) give(share.name, share.r);
    if (!shares.some((share) => share.r === r)) r.dispose();
  }
  const result = relevance.get(graph.input);
  return { relevance: (result ?? tf.zerosLike(x)) as tf.Tensor4D, score };
}
