/**
 * LRP composites (Zennit's word): tables that say which rule each kind of linear node gets, and how max
 * pooling passes relevance. The presets are ε, αβ (each with z^B, flat or its own rule on the first layer) and
 * ε-plus-flat, Zennit's `EpsilonPlusFlat` for real nets: flat on the layers that see the pixels, z⁺ (α1β0) on
 * the other convolutions, ε on the dense layers.
 * @module
 */
import type { LinearNode } from "./graph.ts";
import { alphaBetaRule, epsilonRule, flatRule, type LrpRule } from "./lrp_rules.ts";

/** Where a linear node sits, for a composite: the kinds of node its table maps to rules. */
export type LinearNodeKind = "first" | "conv" | "dense";

/** Which rule applies where. */
export interface LrpComposite {
  /** The linear layers that see the pixels (no linear layer before them). */
  first: LrpRule;
  /** Every other convolution (depthwise included). */
  conv: LrpRule;
  /** Every other dense layer, the output layer included. */
  dense: LrpRule;
  /**
   * Max pooling: `winner` gives a window's relevance to its largest input (the max's gradient), `proportional`
   * shares it in proportion to the inputs (the z-rule on the window's sum).
   */
  maxPooling: "winner" | "proportional";
}

/**
 * The kind of linear node `node` is for a composite: `first` when it sees the pixels (named in `first`), else
 * `conv` or `dense` by its op.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import type { DenseNode } from "./graph.ts";
 *
 * await tf.setBackend("cpu");
 * const node: DenseNode = {
 *   op: "dense",
 *   name: "head",
 *   inputs: ["x"],
 *   kernel: tf.zeros([2, 2]) as tf.Tensor2D,
 *   bias: null,
 *   activation: "linear",
 * };
 * assert.equal(nodeKind(node, new Set()), "dense");
 * assert.equal(nodeKind(node, new Set(["head"])), "first");
 * ```
 */
export function nodeKind(node: LinearNode, first: ReadonlySet<string>): LinearNodeKind {
  if (first.has(node.name)) return "first";
  return node.op === "dense" ? "dense" : "conv";
}

/**
 * The rule `composite` gives `node`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import type { ConvNode } from "./graph.ts";
 *
 * await tf.setBackend("cpu");
 * const conv: ConvNode = {
 *   op: "conv2d",
 *   name: "c2",
 *   inputs: ["c1"],
 *   kernel: tf.zeros([3, 3, 1, 1]) as tf.Tensor4D,
 *   bias: null,
 *   strides: [1, 1],
 *   padding: "same",
 *   dilations: [1, 1],
 *   activation: "relu",
 * };
 * assert.equal(ruleFor(epsilonPlusFlat(), conv, new Set()).kind, "alphaBeta");
 * assert.equal(ruleFor(epsilonPlusFlat(), conv, new Set(["c2"])).kind, "flat");
 * ```
 */
export function ruleFor(composite: LrpComposite, node: LinearNode, first: ReadonlySet<string>): LrpRule {
  return composite[nodeKind(node, first)];
}

/** Options of the ε and αβ composites. */
export interface CompositeOptions {
  /** The first layer's rule (default: the hidden rule). */
  first?: LrpRule;
  /** Max pooling (default `winner`). */
  maxPooling?: "winner" | "proportional";
}

/**
 * The ε-rule on every conv and dense layer, `options.first` (default ε too) on the layers that see the pixels.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { zBRule } from "./lrp_rules.ts";
 *
 * const composite = epsilonComposite(1e-6, { first: zBRule(0, 1) });
 * assert.deepEqual([composite.first.kind, composite.conv.kind, composite.dense.kind], ["zB", "epsilon", "epsilon"]);
 * ```
 */
export function epsilonComposite(epsilon: number, options: CompositeOptions = {}): LrpComposite {
  const hidden = epsilonRule(epsilon);
  return {
    first: options.first ?? hidden,
    conv: hidden,
    dense: hidden,
    maxPooling: options.maxPooling ?? "winner",
  };
}

/**
 * The αβ-rule (β = α − 1) on every conv and dense layer, `options.first` (default αβ too) on the layers that see
 * the pixels.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(alphaBetaComposite(1).dense, { kind: "alphaBeta", alpha: 1 });
 * ```
 */
export function alphaBetaComposite(alpha: number, options: CompositeOptions = {}): LrpComposite {
  const hidden = alphaBetaRule(alpha);
  return {
    first: options.first ?? hidden,
    conv: hidden,
    dense: hidden,
    maxPooling: options.maxPooling ?? "winner",
  };
}

/**
 * Zennit's `EpsilonPlusFlat`: flat on the layers that see the pixels, z⁺ (α1β0, biases left out) on the other
 * convolutions, ε on the dense layers (Zennit's ε is 1e-6 absolute; here `epsilon` is relative to the RMS of
 * each layer's pre-activations, default 1e-6), winner-take-all max pooling (Zennit passes max pooling's
 * gradient).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * const composite = epsilonPlusFlat();
 * assert.deepEqual([composite.first.kind, composite.conv.kind, composite.dense.kind], ["flat", "alphaBeta", "epsilon"]);
 * ```
 */
export function epsilonPlusFlat(
  epsilon = 1e-6,
  maxPooling: "winner" | "proportional" = "winner",
): LrpComposite {
  return { first: flatRule(), conv: alphaBetaRule(1), dense: epsilonRule(epsilon), maxPooling };
}
