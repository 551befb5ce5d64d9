/**
 * Layer-wise Relevance Propagation (Bach et al. 2015) for sequential ReLU nets, built from small rules in the
 * manner of Zennit: a rule says how one linear layer passes relevance from its output to its input, a
 * composite says which rule applies where. Every rule is implemented with the gradient × input trick
 * (Montavon et al. 2019, "Layer-wise relevance propagation: an overview", section 10.2): for a layer
 * z = ρ(W)·a, the relevance at its input is a ⊙ ∇_a(z · s) with s = R / z held constant, which is
 * a ⊙ ρ(W)ᵀ s for conv and dense layers alike. The model runs through the chain interpreter
 * ({@link readChain}); relevance starts at the target score, and for a contrast "logit p − logit q" the
 * output layer is read as one linear unit with weights w_p − w_q and bias b_p − b_q.
 * A ContrastNormalization step scales each position's features by a positive factor; the factor is read as a
 * constant of the input (as LN layers are in Ali et al. 2022, "XAI for Transformers"), so the step is
 * elementwise and passes relevance through unchanged, and the sum over all relevance stays what it was.
 * @module
 */
import { tf } from "../deps.ts";
import { HansError } from "../errors.ts";
import {
  type ChainStep,
  isLinear,
  linearForward,
  type LinearStep,
  poolForward,
  type PoolStep,
  runChain,
  type StandardizeStep,
} from "./chain.ts";

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

function stepMap(step: LinearStep): LinearMap {
  return {
    forward: (a, rho, bias) =>
      linearForward(step, a, {
        kernel: rho(step.kernel),
        bias: bias && step.bias ? rho(step.bias) : null,
      }),
  };
}

/**
 * The first linear layer with the standardization before it folded in, as a map of the raw pixels:
 * z = ρ(W)·(x ⊙ scale) + ρ(b − W·(mean ⊙ scale)). The scale is positive, so ρ sees the same signs as W; the
 * input rule then works in pixel space with the pixels' own bounds (Zennit's canonizers fold normalization
 * into the adjacent layer the same way).
 */
function standardizedMap(standardize: StandardizeStep, step: LinearStep): LinearMap {
  return {
    forward: (x, rho, bias) => {
      const z = linearForward(step, tf.mul(x, standardize.scale), { kernel: rho(step.kernel), bias: null });
      if (!bias) return z;
      const shifted = tf.expandDims(tf.neg(tf.mul(standardize.mean, standardize.scale)), 0);
      return tf.add(z, rho(linearForward(step, shifted)));
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

/** Index of the output layer: the last Dense layer, with no activation and nothing but identities after it. */
function headIndex(steps: ChainStep[], method: string): number {
  const head = steps.findLastIndex(isLinear);
  const step = steps[head];
  const after = steps.slice(head + 1);
  const plain = after.every((s) =>
    s.kind === "identity" || (s.kind === "activation" && s.activation === "linear")
  );
  if (!step || step.kind !== "dense" || step.activation !== "linear" || !plain) {
    throw new HansError(
      `${method} explains logits: the model's last layer with weights must be a Dense layer without an ` +
        `activation, with nothing after it but Dropout.`,
    );
  }
  return head;
}

/**
 * Relevance `[n,H,W,C]` of every input value for the target scores (`weights` from targetWeights, `[n,classes]`)
 * of the images `x`, propagated through `steps` with `composite`. Call inside tf.tidy.
 */
export function lrpRelevance(
  steps: ChainStep[],
  x: tf.Tensor4D,
  weights: tf.Tensor2D,
  composite: LrpComposite,
  method: string,
): tf.Tensor4D {
  const head = headIndex(steps, method);
  const first = steps.findIndex(isLinear);
  const standardize = steps[first - 1]?.kind === "standardize" ? steps[first - 1] as StandardizeStep : null;
  if (steps.some((s, i) => s.kind === "standardize" && i !== first - 1)) {
    throw new HansError(
      `${method}: a PixelStandardization layer works only right before the first Conv2D or Dense layer.`,
    );
  }
  const inputs: tf.Tensor[] = [];
  inputs[head] = head === 0 ? x : runChain(steps, x, { to: head - 1, onStep: (i, a) => (inputs[i] = a) });
  const out = steps[head] as LinearStep;
  const v = tf.matMul(weights, out.kernel, false, true) as tf.Tensor2D;
  const c = out.bias ? tf.matMul(weights, out.bias.reshape([-1, 1])) as tf.Tensor2D : null;
  const headLayer = headMap(v, c);
  let relevance = headLayer.forward(inputs[head], identity, true);
  relevance = (head === first ? composite.input : composite.hidden)(headLayer, inputs[head], relevance);
  for (let i = head - 1; i >= 0; i--) {
    const step = steps[i];
    const a = inputs[i];
    switch (step.kind) {
      case "conv2d":
      case "dense":
        if (i === first && standardize) {
          // The relevance goes straight to the pixels, past the standardization (case "standardize").
          relevance = composite.input(standardizedMap(standardize, step), inputs[i - 1], relevance);
        } else {
          relevance = (i === first ? composite.input : composite.hidden)(stepMap(step), a, relevance);
        }
        break;
      case "maxPool":
      case "avgPool":
        if (step.kind === "maxPool" && composite.maxPooling === "winner") {
          const r = relevance;
          relevance = tf.grad((input: tf.Tensor) => tf.sum(tf.mul(poolForward(step, input), r)))(a);
        } else {
          const pool: PoolStep = { ...step, kind: "avgPool" };
          const s = tf.div(relevance, stabilize(poolForward(pool, a), 1e-9));
          relevance = tf.mul(
            a,
            tf.grad((input: tf.Tensor) => tf.sum(tf.mul(poolForward(pool, input), s)))(a),
          );
        }
        break;
      case "flatten":
        relevance = tf.reshape(relevance, a.shape);
        break;
      case "activation":
      case "identity":
      case "standardize":
      case "contrast":
        break;
    }
  }
  return relevance as tf.Tensor4D;
}
