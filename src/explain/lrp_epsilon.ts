/**
 * LRP-ε (Bach et al. 2015; Montavon et al. 2019): relevance propagated from the target score down to the
 * pixels with the ε-rule on the hidden layers and the z^B-rule on the first layer. See {@link lrpRelevance}.
 * @module
 */
import type { tf } from "../deps.ts";
import { HansError } from "../errors.ts";
import { modelGraph } from "./explainable_model.ts";
import { epsilonRule, lrpPlan, lrpRelevance, type LrpRule, zBRule } from "./lrp.ts";
import type { ExplainableModel } from "./explainable_model.ts";
import { inputsPerPass, mapChunks, reduceChannels } from "./batching.ts";
import { sliceTarget, type Target, targetWeights } from "./target.ts";

/** Options of {@link lrpEpsilon}. */
export interface LrpEpsilonOptions {
  /**
   * ε relative to the root mean square of each layer's pre-activations, per image (default 1e-6: practically
   * LRP-0, which conserves relevance; about 0.25 absorbs weak, contradictory relevance, as in Montavon's
   * tutorial).
   */
  epsilon?: number;
  /** Rule of the first layer: `zB` (the default, for pixels in `bounds`) or `epsilon` (the hidden rule). */
  inputRule?: "zB" | "epsilon";
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
 * LRP-ε maps `[n,H,W]`: relevance summed over channels, signed (positive = speaks for the target). Without
 * biases and with a small ε the map sums to the target score. Needs the model as a graph (`model.graph`): a
 * LayersModel or GraphModel of the layers {@link layersGraph} and {@link graphDefGraph} read.
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
export async function lrpEpsilon(
  model: ExplainableModel,
  images: tf.Tensor4D,
  target: Target,
  options: LrpEpsilonOptions = {},
): Promise<tf.Tensor3D> {
  const plan = await lrpPlan(modelGraph(model, "LRP-ε"), "LRP-ε");
  if ((options.inputRule ?? "zB") === "zB" && plan.unfolded.length > 0) {
    throw new HansError(
      `LRP-ε: the pixels reach layer "${
        plan.unfolded[0]
      }" through a transform hans cannot fold into it, so ` +
        `the z^B input rule's pixel bounds do not hold there; pass inputRule "epsilon".`,
    );
  }
  const hidden = epsilonRule(options.epsilon ?? 1e-6);
  const [low, high] = options.bounds ?? [0, 1];
  const input: LrpRule = (options.inputRule ?? "zB") === "zB" ? zBRule(low, high) : hidden;
  const composite = { input, hidden, maxPooling: options.maxPooling ?? "winner" };
  const batch = await inputsPerPass(model, images, {
    kind: "backward",
    factor: 1.5,
    requested: options.batchSize ?? 128,
    label: "LRP-ε",
  });
  return mapChunks(images, batch, (x, start, end) => {
    const w = targetWeights(sliceTarget(target, start, end), model.classes);
    return reduceChannels(lrpRelevance(plan, x, w, composite), options.absolute ?? false);
  });
}
