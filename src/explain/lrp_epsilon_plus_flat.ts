/**
 * LRP with Zennit's `EpsilonPlusFlat` composite, a preset for real nets: the flat rule on the layers that see
 * the pixels, z⁺ (α1β0) on the other convolutions, ε on the dense layers. z⁺ keeps relevance positive and
 * conserved through the convolutions whatever their biases (or a BatchNorm after a ReLU), where LRP-ε with a
 * small ε divides by pre-activations that biases push near 0. A thin descriptor over lrp_method.ts.
 * @module
 */
import type { tf } from "../deps.ts";
import { checkOptions, type MethodDescriptor } from "./descriptor.ts";
import type { ExplainableModel } from "./explainable_model.ts";
import { epsilonPlusFlat } from "./lrp_composites.ts";
import {
  LRP_COMMON_OPTIONS,
  LRP_METHODS,
  type LrpCommonOptions,
  lrpMaps,
  lrpMapsWithReport,
  type LrpRun,
} from "./lrp_method.ts";
import { finiteNumber } from "./option_checks.ts";
import type { Target } from "./target.ts";

/** Options of {@link lrpEpsilonPlusFlat}. */
export interface LrpEpsilonPlusFlatOptions extends LrpCommonOptions {
  /** ε of the dense layers, relative to the RMS of their pre-activations per image (default 1e-6). */
  epsilon?: number;
}

function run(options: LrpEpsilonPlusFlatOptions): LrpRun {
  return {
    name: "lrp_epsilon_plus_flat",
    composite: epsilonPlusFlat(options.epsilon ?? 1e-6, options.maxPooling ?? "winner"),
    firstRuleIsZB: false,
  };
}

/**
 * LRP ε-plus-flat maps `[n,H,W]`: relevance summed over channels, signed. Same model needs as lrpEpsilon; no
 * pixel bounds (the flat rule ignores the pixels' values, so the maps show where the first layer looked, at
 * the resolution of its receptive fields).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import { fromLayersModel } from "./explainable_model.ts";
 *
 * await tf.setBackend("cpu");
 * const layers = [
 *   tf.layers.conv2d({ inputShape: [6, 6, 1], filters: 2, kernelSize: 3, activation: "relu" }),
 *   tf.layers.flatten(),
 *   tf.layers.dense({ units: 3 }),
 * ];
 * const model = fromLayersModel(tf.sequential({ layers }));
 * const x = tf.randomUniform([1, 6, 6, 1]) as tf.Tensor4D;
 * const maps = await lrpEpsilonPlusFlat(model, x, [1]);
 * assert.deepEqual(maps.shape, [1, 6, 6]);
 * tf.dispose([x, maps]);
 * ```
 */
export function lrpEpsilonPlusFlat(
  model: ExplainableModel,
  images: tf.Tensor4D,
  target: Target,
  options: LrpEpsilonPlusFlatOptions = {},
): Promise<tf.Tensor3D> {
  options = checkOptions(lrpEpsilonPlusFlatMethod, options);
  return lrpMaps(model, images, target, run(options), options);
}

/**
 * LRP ε-plus-flat as a registered method (`explain("lrp_epsilon_plus_flat", …)`); its report's `conservation`
 * is, per map, Σ relevance / target score.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(lrpEpsilonPlusFlatMethod.defaults([8, 8, 1], {}), { epsilon: 1e-6, maxPooling: "winner", absolute: false });
 * ```
 */
export const lrpEpsilonPlusFlatMethod: MethodDescriptor<"lrp_epsilon_plus_flat", LrpEpsilonPlusFlatOptions> =
  {
    name: "lrp_epsilon_plus_flat",
    label: LRP_METHODS.lrp_epsilon_plus_flat.label,
    signed: true,
    description:
      "Zennit's EpsilonPlusFlat: flat rule on the first layer, z⁺ (α1β0) on the other convolutions, " +
      "ε-rule on the dense layers (ε = 1e-6 × RMS of the pre-activations), winner-take-all max pooling; sum over " +
      "channels",
    attribution: true,
    needs: "lrp",
    cost: "single",
    options: {
      epsilon: finiteNumber(
        "ε of the dense layers, relative to the RMS of their pre-activations (default 1e-6)",
        {
          min: 0,
        },
      ),
      ...LRP_COMMON_OPTIONS,
    },
    passes: () => ({ forward: 0, backward: 2 }),
    linearInTarget: (o) => !(o.absolute ?? false),
    defaults: () => ({ epsilon: 1e-6, maxPooling: "winner", absolute: false }),
    explain: lrpEpsilonPlusFlat,
    explainReport: (model, images, target, options = {}) =>
      lrpMapsWithReport(model, images, target, run(options), options),
  };
