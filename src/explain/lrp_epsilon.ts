/**
 * LRP-ε (Bach et al. 2015; Montavon et al. 2019): relevance propagated from the target score down to the
 * pixels with the ε-rule on every hidden layer and the z^B-rule (or flat, or ε) on the first layer. A thin
 * descriptor over lrp_method.ts.
 * @module
 */
import type { tf } from "../deps.ts";
import { checkOptions, type MethodDescriptor } from "./descriptor.ts";
import type { ExplainableModel } from "./explainable_model.ts";
import { epsilonComposite } from "./lrp_composites.ts";
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
import { epsilonRule } from "./lrp_rules.ts";
import { finiteNumber, oneOf } from "./option_checks.ts";
import type { Target } from "./target.ts";

/** Options of {@link lrpEpsilon}. */
export interface LrpEpsilonOptions extends LrpCommonOptions {
  /**
   * ε relative to the root mean square of each layer's pre-activations, per image (default 1e-6: practically
   * LRP-0, which conserves relevance; about 0.25 absorbs weak, contradictory relevance, as in Montavon's
   * tutorial).
   */
  epsilon?: number;
  /** Rule of the first layer: `zB` (the default, for pixels in `bounds`), `flat`, or `epsilon` (the hidden rule). */
  inputRule?: "zB" | "flat" | "epsilon";
  /** Lowest and highest input value for the z^B-rule (default [0, 1]). */
  bounds?: [number, number];
}

function run(options: LrpEpsilonOptions): LrpRun {
  const epsilon = options.epsilon ?? 1e-6;
  const { first, firstRuleIsZB } = firstLayerRule(options.inputRule, options.bounds, epsilonRule(epsilon));
  return {
    name: "lrp_epsilon",
    composite: epsilonComposite(epsilon, { first, maxPooling: options.maxPooling }),
    firstRuleIsZB,
  };
}

/**
 * LRP-ε maps `[n,H,W]`: relevance summed over channels, signed (positive = speaks for the target). Without
 * biases and with a small ε the map sums to the target score. Needs the model as a graph (`model.graph`): a
 * LayersModel or GraphModel of the layers layersGraph and graphDefGraph read.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import { fromLayersModel } from "./explainable_model.ts";
 *
 * await tf.setBackend("cpu");
 * const layers = [
 *   tf.layers.flatten({ inputShape: [4, 4, 1] }),
 *   tf.layers.dense({ units: 8, activation: "relu", useBias: false }),
 *   tf.layers.dense({ units: 3, useBias: false }),
 * ];
 * const model = fromLayersModel(tf.sequential({ layers }));
 * const x = tf.randomUniform([1, 4, 4, 1]) as tf.Tensor4D;
 * const maps = await lrpEpsilon(model, x, [2]);
 * // No biases, small ε: the map sums to the target's logit.
 * const logit = tf.tidy(() => model.logits(x).dataSync()[2]);
 * assert.ok(Math.abs(tf.tidy(() => maps.sum().dataSync()[0]) - logit) < 1e-4);
 * tf.dispose([x, maps]);
 * ```
 */
export function lrpEpsilon(
  model: ExplainableModel,
  images: tf.Tensor4D,
  target: Target,
  options: LrpEpsilonOptions = {},
): Promise<tf.Tensor3D> {
  options = checkOptions(lrpEpsilonMethod, options);
  return lrpMaps(model, images, target, run(options), options);
}

/**
 * LRP-ε as a registered method (`explain("lrp_epsilon", …)`); its report's `conservation` is, per map,
 * Σ relevance / target score (1 when relevance is conserved).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import { fromLayersModel } from "./explainable_model.ts";
 *
 * await tf.setBackend("cpu");
 * const layers = [
 *   tf.layers.flatten({ inputShape: [4, 4, 1] }),
 *   tf.layers.dense({ units: 8, activation: "relu", useBias: false }),
 *   tf.layers.dense({ units: 3, useBias: false }),
 * ];
 * const model = fromLayersModel(tf.sequential({ layers }));
 * const x = tf.randomUniform([2, 4, 4, 1]) as tf.Tensor4D;
 * const { maps, report } = await lrpEpsilonMethod.explainReport!(model, x, [0, 1], {});
 * assert.ok(report.conservation.every((c) => Math.abs(c - 1) < 1e-3)); // no biases: conserved
 * tf.dispose([x, maps]);
 * ```
 */
export const lrpEpsilonMethod: MethodDescriptor<"lrp_epsilon", LrpEpsilonOptions> = {
  name: "lrp_epsilon",
  label: LRP_METHODS.lrp_epsilon.label,
  signed: true,
  description: "z^B-rule on the first layer (pixels in [0, 1]), ε-rule above (ε = 1e-6 × RMS of the " +
    "pre-activations), winner-take-all max pooling; sum over channels",
  attribution: true,
  needs: "lrp",
  cost: "single",
  options: {
    epsilon: finiteNumber("ε relative to the RMS of each layer's pre-activations (default 1e-6)", { min: 0 }),
    inputRule: oneOf(
      "rule of the first layer: zB (the default), flat or epsilon",
      [
        "zB",
        "flat",
        "epsilon",
      ] as const,
    ),
    bounds: LRP_BOUNDS_OPTION,
    ...LRP_COMMON_OPTIONS,
  },
  passes: () => ({ forward: 0, backward: 1.5 }),
  linearInTarget: (o) => !(o.absolute ?? false),
  defaults: () => ({ epsilon: 1e-6, inputRule: "zB", bounds: [0, 1], maxPooling: "winner", absolute: false }),
  explain: lrpEpsilon,
  explainReport: (model, images, target, options = {}) =>
    lrpMapsWithReport(model, images, target, run(options), options),
};
