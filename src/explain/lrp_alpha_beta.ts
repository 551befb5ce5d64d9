/**
 * LRP-αβ (Bach et al. 2015; Montavon et al. 2019): relevance propagated from the target score down to the
 * pixels with the αβ-rule (default α = 1, β = 0) on the hidden layers and the z^B-rule on the first layer.
 * See {@link lrpRelevance}.
 * @module
 */
import type { tf } from "../deps.ts";
import { HansError } from "../errors.ts";
import { modelGraph } from "./explainable_model.ts";
import { alphaBetaRule, lrpPlan, lrpRelevance, type LrpRule, zBRule } from "./lrp.ts";
import type { ExplainableModel } from "./explainable_model.ts";
import { inputsPerPass, mapChunks, reduceChannels } from "./batching.ts";
import { sliceTarget, type Target, targetWeights } from "./target.ts";

/** Options of {@link lrpAlphaBeta}. */
export interface LrpAlphaBetaOptions {
  /** α ≥ 1; β = α − 1 so that α − β = 1 (default 1: α1β0, only positive contributions count). */
  alpha?: number;
  /** Rule of the first layer: `zB` (the default, for pixels in `bounds`) or `alphaBeta` (the hidden rule). */
  inputRule?: "zB" | "alphaBeta";
  /** Lowest and highest input value for the z^B-rule (default [0, 1]). */
  bounds?: [number, number];
  /** Max pooling: `winner` takes all (the default) or `proportional` to the inputs. */
  maxPooling?: "winner" | "proportional";
  /** Max of |relevance| over channels (true) or the signed sum over channels (false, the default). */
  absolute?: boolean;
  /** Images per pass (default 128). */
  batchSize?: number;
}

/**
 * LRP-αβ maps `[n,H,W]`: relevance summed over channels, signed. With α1β0 on the hidden layers and the z^B
 * input rule the map sums to the target score when the model has no biases. Same model needs as
 * {@link lrpEpsilon}.
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
export async function lrpAlphaBeta(
  model: ExplainableModel,
  images: tf.Tensor4D,
  target: Target,
  options: LrpAlphaBetaOptions = {},
): Promise<tf.Tensor3D> {
  const alpha = options.alpha ?? 1;
  if (!(alpha >= 1)) throw new HansError(`LRP-αβ needs alpha ≥ 1 (beta = alpha − 1); got ${alpha}.`);
  const plan = await lrpPlan(modelGraph(model, "LRP-αβ"), "LRP-αβ");
  if ((options.inputRule ?? "zB") === "zB" && plan.unfolded.length > 0) {
    throw new HansError(
      `LRP-αβ: the pixels reach layer "${
        plan.unfolded[0]
      }" through a transform hans cannot fold into it, so ` +
        `the z^B input rule's pixel bounds do not hold there; pass inputRule "epsilon".`,
    );
  }
  const hidden = alphaBetaRule(alpha);
  const [low, high] = options.bounds ?? [0, 1];
  const input: LrpRule = (options.inputRule ?? "zB") === "zB" ? zBRule(low, high) : hidden;
  const composite = { input, hidden, maxPooling: options.maxPooling ?? "winner" };
  const batch = await inputsPerPass(model, images, {
    kind: "backward",
    factor: 1.5,
    requested: options.batchSize ?? 128,
    label: "LRP-α1β0",
  });
  return mapChunks(images, batch, (x, start, end) => {
    const w = targetWeights(sliceTarget(target, start, end), model.classes);
    return reduceChannels(lrpRelevance(plan, x, w, composite), options.absolute ?? false);
  });
}
