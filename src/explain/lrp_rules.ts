/**
 * LRP rules as small values (Zennit's rules, Montavon et al. 2019, "Layer-wise relevance propagation: an
 * overview"): each says how one linear layer (convolution, depthwise convolution, dense) passes relevance from
 * its output to its input. {@link propagate} applies one with the gradient × input trick (section 10.2): for a
 * layer z = ρ(W)·a, the relevance at its input is a ⊙ ∇_a(z · s) with s = R / z held constant.
 * @module
 */
import { tf } from "../deps.ts";

/** A weight transform ρ (identity, positive part, negative part, …), applied to kernel and bias alike. */
export type WeightTransform = (w: tf.Tensor) => tf.Tensor;

/** One linear layer as an LRP rule sees it. */
export interface LinearMap {
  /** z = ρ(W)·a, plus ρ(b) when `bias` is true. */
  forward(a: tf.Tensor, rho: WeightTransform, bias: boolean): tf.Tensor;
  /**
   * z_j = Σ_{i in j's receptive field} a_i: every weight 1, no bias, no scale of the inputs (the flat rule's
   * count of the inputs each output sees, where `a` is ones).
   */
  receptiveField(a: tf.Tensor): tf.Tensor;
}

/**
 * The ε-rule: R_in = a ⊙ Wᵀ (R / (z + ε·rms(z)·sign(z))), z = W·a + b. `epsilon` is relative to the root mean
 * square of the layer's pre-activations per image (as in Montavon's tutorial code), plus 1e-9 against 0/0; 0
 * gives LRP-0. Relevance is conserved up to the bias's share and what ε absorbs.
 */
export interface EpsilonRule {
  /** Rule kind. */
  kind: "epsilon";
  /** ε relative to the RMS of the pre-activations. */
  epsilon: number;
}

/**
 * The αβ-rule with β = α − 1 (α = 1: α1β0, the z⁺-rule): positive contributions a_i w_ij > 0 share α·R, negative
 * ones −β·R; biases are left out. With β = 0 relevance is conserved wherever a unit has a positive contribution;
 * inputs of either sign are handled (a positive contribution is a⁺w⁺ or a⁻w⁻).
 */
export interface AlphaBetaRule {
  /** Rule kind. */
  kind: "alphaBeta";
  /** α ≥ 1 (β = α − 1). */
  alpha: number;
}

/**
 * The z^B-rule for inputs in [low, high] (Montavon et al. 2017): R_in = x ⊙ Wᵀs − low ⊙ W⁺ᵀs − high ⊙ W⁻ᵀs,
 * s = R / (W·x − W⁺·low − W⁻·high). Conserves relevance exactly (biases left out).
 */
export interface ZBRule {
  /** Rule kind. */
  kind: "zB";
  /** Lowest input value. */
  low: number;
  /** Highest input value. */
  high: number;
}

/**
 * The flat rule (Zennit's `Flat`, Lapuschkin et al. 2019's "flat" rule): each output's relevance spread
 * uniformly over its receptive field, whatever the weights and the inputs. Conserves relevance exactly.
 */
export interface FlatRule {
  /** Rule kind. */
  kind: "flat";
}

/**
 * The γ-rule (Montavon et al. 2019): ε-rule with ρ(w) = w + γ·w⁺ (positive weights favoured), bias included,
 * for layers whose inputs are non-negative (after a ReLU). γ = 0 gives LRP-0, γ → ∞ tends to α1β0.
 */
export interface GammaRule {
  /** Rule kind. */
  kind: "gamma";
  /** γ ≥ 0. */
  gamma: number;
}

/** An LRP rule for a linear layer. */
export type LrpRule = EpsilonRule | AlphaBetaRule | ZBRule | FlatRule | GammaRule;

/** The ε-rule (see {@link EpsilonRule}). */
export function epsilonRule(epsilon: number): EpsilonRule {
  return { kind: "epsilon", epsilon };
}

/** The αβ-rule with β = α − 1 (see {@link AlphaBetaRule}). */
export function alphaBetaRule(alpha: number): AlphaBetaRule {
  return { kind: "alphaBeta", alpha };
}

/** The z^B-rule for inputs in [low, high] (see {@link ZBRule}). */
export function zBRule(low: number, high: number): ZBRule {
  return { kind: "zB", low, high };
}

/** The flat rule (see {@link FlatRule}). */
export function flatRule(): FlatRule {
  return { kind: "flat" };
}

/** The γ-rule (see {@link GammaRule}). */
export function gammaRule(gamma: number): GammaRule {
  return { kind: "gamma", gamma };
}

/**
 * A rule for people: `ε (1e-6)`, `α1β0`, `z^B [0, 1]`, `flat`, `γ (0.25)`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * assert.equal(ruleName(alphaBetaRule(2)), "α2β1");
 * assert.equal(ruleName(zBRule(0, 1)), "z^B [0, 1]");
 * ```
 */
export function ruleName(rule: LrpRule): string {
  switch (rule.kind) {
    case "epsilon":
      return `ε (${rule.epsilon})`;
    case "alphaBeta":
      return `α${rule.alpha}β${rule.alpha - 1}`;
    case "zB":
      return `z^B [${rule.low}, ${rule.high}]`;
    case "flat":
      return "flat";
    case "gamma":
      return `γ (${rule.gamma})`;
    default: {
      const unknown: never = rule;
      throw new Error(`unknown LRP rule ${JSON.stringify(unknown)}`);
    }
  }
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
export function stabilize(z: tf.Tensor, amount: tf.Tensor | number): tf.Tensor {
  const sign = tf.sub(tf.mul(tf.step(z), 2), 1);
  return tf.add(z, tf.mul(sign, amount));
}

function epsilon(rule: EpsilonRule, layer: LinearMap, a: tf.Tensor, relevance: tf.Tensor): tf.Tensor {
  const z = layer.forward(a, identity, true);
  const s = tf.div(relevance, stabilize(z, tf.add(tf.mul(rmsPerImage(z), rule.epsilon), 1e-9)));
  return tf.mul(a, backward(layer, a, s, identity));
}

function gamma(rule: GammaRule, layer: LinearMap, a: tf.Tensor, relevance: tf.Tensor): tf.Tensor {
  const rho: WeightTransform = (w) => tf.add(w, tf.mul(tf.relu(w), rule.gamma));
  const z = layer.forward(a, rho, true);
  const s = tf.div(relevance, stabilize(z, 1e-9));
  return tf.mul(a, backward(layer, a, s, rho));
}

function alphaBeta(rule: AlphaBetaRule, layer: LinearMap, a: tf.Tensor, relevance: tf.Tensor): tf.Tensor {
  const alpha = rule.alpha;
  const beta = alpha - 1;
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
}

function zB(rule: ZBRule, layer: LinearMap, x: tf.Tensor, relevance: tf.Tensor): tf.Tensor {
  const l = tf.fill(x.shape, rule.low);
  const h = tf.fill(x.shape, rule.high);
  const z = tf.sub(
    tf.sub(layer.forward(x, identity, false), layer.forward(l, positive, false)),
    layer.forward(h, negative, false),
  );
  const s = tf.div(relevance, stabilize(z, 1e-9));
  return tf.sub(
    tf.sub(tf.mul(x, backward(layer, x, s, identity)), tf.mul(l, backward(layer, x, s, positive))),
    tf.mul(h, backward(layer, x, s, negative)),
  );
}

function flat(layer: LinearMap, a: tf.Tensor, relevance: tf.Tensor): tf.Tensor {
  const ones = tf.onesLike(a);
  const s = tf.div(relevance, stabilize(layer.receptiveField(ones), 1e-9));
  return tf.grad((input: tf.Tensor) => tf.sum(tf.mul(layer.receptiveField(input), s)))(ones);
}

/**
 * The relevance at the input `a` of `layer` from the `relevance` at its output, by `rule`. Call inside tf.tidy.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 *
 * await tf.setBackend("cpu");
 * tf.tidy(() => {
 *   const w = tf.tensor2d([[1, -2], [3, 1]]); // a dense layer without bias: 2 inputs, 2 outputs
 *   const layer: LinearMap = {
 *     forward: (a, rho) => tf.matMul(a, rho(w)),
 *     receptiveField: (a) => tf.matMul(a, tf.onesLike(w)),
 *   };
 *   const a = tf.tensor2d([[1, 1]]);
 *   const r = tf.tensor2d([[1, 1]]);
 *   const round = (t: tf.Tensor) => (t.arraySync() as number[][])[0].map((v) => +v.toFixed(5));
 *   // LRP-0 with R = z = [4, −1]: input i gets a_i · Σ_j w_ij; the total, 3, is conserved.
 *   assert.deepEqual(round(propagate(epsilonRule(0), layer, a, layer.forward(a, (v) => v, false))), [-1, 4]);
 *   // α1β0: output 1 splits its relevance 1 : 3, output 2 gives all of it to input 2 (1 · −2 is negative).
 *   assert.deepEqual(round(propagate(alphaBetaRule(1), layer, a, r)), [0.25, 1.75]);
 *   // flat: each output spreads its relevance evenly over the 2 inputs it sees.
 *   assert.deepEqual(round(propagate(flatRule(), layer, a, r)), [1, 1]);
 *   // z^B conserves relevance.
 *   assert.ok(Math.abs(propagate(zBRule(0, 1), layer, tf.tensor2d([[0.5, 1]]), r).sum().dataSync()[0] - 2) < 1e-5);
 * });
 * ```
 */
export function propagate(rule: LrpRule, layer: LinearMap, a: tf.Tensor, relevance: tf.Tensor): tf.Tensor {
  switch (rule.kind) {
    case "epsilon":
      return epsilon(rule, layer, a, relevance);
    case "alphaBeta":
      return alphaBeta(rule, layer, a, relevance);
    case "zB":
      return zB(rule, layer, a, relevance);
    case "flat":
      return flat(layer, a, relevance);
    case "gamma":
      return gamma(rule, layer, a, relevance);
    default: {
      const unknown: never = rule;
      throw new Error(`unknown LRP rule ${JSON.stringify(unknown)}`);
    }
  }
}
