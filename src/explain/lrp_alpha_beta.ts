/**
 * LRP-αβ (Bach et al. 2015; Montavon et al. 2019): relevance propagated from the target score down to the
 * pixels with the αβ-rule (default α = 1, β = 0) on every hidden layer and the z^B-rule (or flat, or αβ) on
 * the first layer. A thin descriptor over lrp_method.ts.
 * @module
 */
import type { tf } from "../deps.ts";
import { HansError } from "../errors.ts";
import { checkOptions, type MethodDescriptor } from "./descriptor.ts";
import type { ExplainableModel } from "./explainable_model.ts";
import { alphaBetaComposite } from "./lrp_composites.ts";
import {
  firstLayerRule,
  LRP_BOUNDS_OPTION,
  LRP_COMMON_OPTIONS,
  LRP_METHODS,
  type LrpCommonOptions,
  lrpMaps,
  lrpMapsWithReport,
  type LrpRun,
} from "./lrp_method.ts";
import { alphaBetaRule } from "./lrp_rules.ts";
import { finiteNumber, oneOf } from "./option_checks.ts";
import type { Target } from "./target.ts";

/** Options of {@link lrpAlphaBeta}. */
export interface LrpAlphaBetaOptions extends LrpCommonOptions {
  /** α ≥ 1; β = α − 1 so that α − β = 1 (default 1: α1β0, only positive contributions count). */
  alpha?: number;
  /** Rule of the first layer: `zB` (the default, for pixels in `bounds`), `flat`, or `alphaBeta` (the hidden rule). */
  inputRule?: "zB" | "flat" | "alphaBeta";
  /** Lowest and highest input value for the z^B-rule (default [0, 1]). */
  bounds?: [number, number];
}

function run(options: LrpAlphaBetaOptions): LrpRun {
  const alpha = options.alpha ?? 1;
  if (!(alpha >= 1)) throw new HansError(`LRP-αβ needs alpha ≥ 1 (beta = alpha − 1); got ${alpha}.`);
  const { first, firstRuleIsZB } = firstLayerRule(options.inputRule, options.bounds, alphaBetaRule(alpha));
  return {
    name: "lrp_alpha_beta",
    composite: alphaBetaComposite(alpha, { first, maxPooling: options.maxPooling }),
    firstRuleIsZB,
  };
}

/**
 * LRP-αβ maps `[n,H,W]`: relevance summed over channels, signed. With α1β0 on the hidden layers and the z^B
 * input rule the map sums to the target score when the model has no biases. Same model needs as lrpEpsilon.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import { fromLayersModel } from "./explainable_model.ts";
 *
 * await tf.setBackend("cpu");
 * const seeded = (seed: number) => tf.initializers.glorotUniform({ seed });
 * const layers = [
 *   tf.layers.flatten({ inputShape: [4, 4, 1] }),
 *   tf.layers.dense({ units: 8, activation: "relu", useBias: false, kernelInitializer: seeded(1) }),
 *   tf.layers.dense({ units: 3, useBias: false, kernelInitializer: seeded(2) }),
 * ];
 * const model = fromLayersModel(tf.sequential({ layers }));
 * const x = tf.randomUniform([1, 4, 4, 1], 0, 1, "float32", 3) as tf.Tensor4D;
 * const maps = await lrpAlphaBeta(model, x, [0]);
 * // α1β0 above z^B, no biases: the map sums to the target's logit.
 * const logit = tf.tidy(() => model.logits(x).dataSync()[0]);
 * assert.ok(Math.abs(tf.tidy(() => maps.sum().dataSync()[0]) - logit) < 1e-4);
 * tf.dispose([x, maps]);
 * ```
 */
export function lrpAlphaBeta(
  model: ExplainableModel,
  images: tf.Tensor4D,
  target: Target,
  options: LrpAlphaBetaOptions = {},
): Promise<tf.Tensor3D> {
  options = checkOptions(lrpAlphaBetaMethod, options);
  return lrpMaps(model, images, target, run(options), options);
}

/**
 * LRP-αβ as a registered method (`explain("lrp_alpha_beta", …)`); its report's `conservation` is, per map,
 * Σ relevance / target score.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * assert.equal(lrpAlphaBetaMethod.defaults([8, 8, 1], {}).alpha, 1);
 * assert.throws(() => lrpAlphaBetaMethod.options.alpha.check(0.5, "lrp_alpha_beta option alpha"), /alpha must be/);
 * ```
 */
export const lrpAlphaBetaMethod: MethodDescriptor<"lrp_alpha_beta", LrpAlphaBetaOptions> = {
  name: "lrp_alpha_beta",
  label: LRP_METHODS.lrp_alpha_beta.label,
  signed: true,
  description: "z^B-rule on the first layer (pixels in [0, 1]), α1β0-rule above (positive contributions " +
    "only), winner-take-all max pooling; sum over channels",
  attribution: true,
  needs: "lrp",
  cost: "single",
  options: {
    alpha: finiteNumber("α ≥ 1, β = α − 1 (default 1: α1β0)", { min: 1 }),
    inputRule: oneOf(
      "rule of the first layer: zB (the default), flat or alphaBeta",
      [
        "zB",
        "flat",
        "alphaBeta",
      ] as const,
    ),
    bounds: LRP_BOUNDS_OPTION,
    ...LRP_COMMON_OPTIONS,
  },
  passes: () => ({ forward: 0, backward: 2 }),
  // Not linear in the target: the output layer's rule splits the target's weights (w_p − w_q for a contrast)
  // into positive and negative parts, so the map of "P rather than Q" is not the map of P minus that of Q.
  linearInTarget: () => false,
  defaults: () => ({ alpha: 1, inputRule: "zB", bounds: [0, 1], maxPooling: "winner", absolute: false }),
  explain: lrpAlphaBeta,
  explainReport: (model, images, target, options = {}) =>
    lrpMapsWithReport(model, images, target, run(options), options),
};
