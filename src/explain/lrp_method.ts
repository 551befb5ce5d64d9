/**
 * What the LRP methods share: planning the graph, running a composite chunk by chunk, the conservation report
 * (Σ relevance / target score per map), the refusal when the z^B rule cannot see pixels, and the options every
 * LRP method takes. lrp_epsilon.ts, lrp_alpha_beta.ts and lrp_epsilon_plus_flat.ts are thin descriptors over it.
 * @module
 */
import { tf } from "../deps.ts";
import { HansError } from "../errors.ts";
import { reduceChannels, targetChunks } from "./batching.ts";
import { type ExplainableModel, modelGraph } from "./explainable_model.ts";
import type { ModelGraph } from "./graph.ts";
import { disposeLrpPlan, type LrpPlan, lrpPlan, lrpRelevance } from "./lrp.ts";
import type { LrpComposite } from "./lrp_composites.ts";
import { flatRule, type LrpRule, zBRule } from "./lrp_rules.ts";
import { batchSize, flag, interval, oneOf } from "./option_checks.ts";
import type { Target } from "./target.ts";

/** The LRP methods by registry name: their label and the rule they take as `inputRule` besides z^B and flat. */
export const LRP_METHODS = {
  lrp_epsilon: { label: "LRP-ε", ownInputRule: "epsilon" },
  lrp_alpha_beta: { label: "LRP-α1β0", ownInputRule: "alphaBeta" },
  lrp_epsilon_plus_flat: { label: "LRP ε-plus-flat", ownInputRule: undefined },
} as const;

/** The registry name of an LRP method. */
export type LrpMethodName = keyof typeof LRP_METHODS;

/** Options every LRP method takes. */
export interface LrpCommonOptions {
  /** Max pooling: `winner` takes all (the default) or `proportional` to the inputs. */
  maxPooling?: "winner" | "proportional";
  /** Max of |relevance| over channels (true) or the signed sum over channels (false, the default). */
  absolute?: boolean;
  /** Most images per pass (default 256; fewer when the device or the memory budget needs it). */
  batchSize?: number;
}

/** The checks of {@link LrpCommonOptions}. */
export const LRP_COMMON_OPTIONS = {
  maxPooling: oneOf(
    "max pooling: winner takes all (the default) or proportional to the inputs",
    [
      "winner",
      "proportional",
    ] as const,
  ),
  absolute: flag("max of |relevance| over channels (true) or the signed sum (false, the default)"),
  batchSize: batchSize(),
};

/** The check of the z^B rule's `bounds` option. */
export const LRP_BOUNDS_OPTION = interval("lowest and highest input value for the z^B rule (default [0, 1])");

/**
 * Why LRP method `name` cannot run on `graph` with `options` (the z^B first-layer rule where a transform of the
 * pixels could not be folded, a softmax inside the model), or undefined when it can. The message names the
 * `inputRule` the method takes instead. Plans the graph and releases the plan.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import { layersGraph } from "./graph_layers.ts";
 *
 * await tf.setBackend("cpu");
 * // The scaled pixels feed two branches (a conv and a skip into Add), so the scaling cannot be folded into one.
 * const input = tf.input({ shape: [4, 4, 1] });
 * const scaled = tf.layers.rescaling({ scale: 2, offset: -1 }).apply(input) as tf.SymbolicTensor;
 * const conv = tf.layers.conv2d({ filters: 1, kernelSize: 3, padding: "same" }).apply(scaled) as tf.SymbolicTensor;
 * const sum = tf.layers.add({}).apply([scaled, conv]) as tf.SymbolicTensor;
 * const out = tf.layers.dense({ units: 2 }).apply(tf.layers.flatten({}).apply(sum)) as tf.SymbolicTensor;
 * const net = tf.model({ inputs: input, outputs: out });
 * const graph = layersGraph(net);
 * assert.match(await lrpUnavailable(graph, "lrp_alpha_beta", {}) ?? "", /pass inputRule "alphaBeta"/);
 * assert.equal(await lrpUnavailable(graph, "lrp_alpha_beta", { inputRule: "alphaBeta" }), undefined);
 * assert.equal(await lrpUnavailable(graph, "lrp_epsilon_plus_flat", {}), undefined); // flat needs no bounds
 * net.dispose();
 * ```
 */
export async function lrpUnavailable(
  graph: ModelGraph,
  name: LrpMethodName,
  options: { inputRule?: unknown },
): Promise<string | undefined> {
  const { label, ownInputRule } = LRP_METHODS[name];
  const zB = ownInputRule !== undefined && (options.inputRule ?? "zB") === "zB";
  let plan: LrpPlan;
  try {
    plan = await lrpPlan(graph, label);
  } catch (e) {
    if (e instanceof HansError) return e.message;
    throw e;
  }
  const why = zB && plan.unfolded.length > 0 ? zBRefusal(plan.unfolded[0], ownInputRule) : undefined;
  disposeLrpPlan(plan);
  return why;
}

function zBRefusal(layer: string, ownInputRule: string): string {
  return `the pixels reach layer "${layer}" through a transform hans cannot fold into it, so the z^B input ` +
    `rule's pixel bounds do not hold there (pass inputRule "${ownInputRule}" or "flat")`;
}

/** How one LRP method runs: its registry name and its composite. */
export interface LrpRun {
  /** Registry name. */
  name: LrpMethodName;
  /** The rules. */
  composite: LrpComposite;
  /** True when the first layer's rule is z^B (which needs the pixels themselves). */
  firstRuleIsZB: boolean;
}

/**
 * The first layer's rule from a method's `inputRule` option: `zB` (the default) for pixels in `bounds`
 * (default [0, 1]), `flat`, or any other name for `hidden`, the method's own rule.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { epsilonRule } from "./lrp_rules.ts";
 *
 * assert.equal(firstLayerRule(undefined, [0, 255], epsilonRule(0.1)).first.kind, "zB");
 * assert.equal(firstLayerRule("epsilon", undefined, epsilonRule(0.1)).firstRuleIsZB, false);
 * ```
 */
export function firstLayerRule(
  inputRule: string | undefined,
  bounds: [number, number] | undefined,
  hidden: LrpRule,
): Pick<LrpRun, "firstRuleIsZB"> & { first: LrpRule } {
  const [low, high] = bounds ?? [0, 1];
  const rule = inputRule ?? "zB";
  return {
    first: rule === "zB" ? zBRule(low, high) : rule === "flat" ? flatRule() : hidden,
    firstRuleIsZB: rule === "zB",
  };
}

/**
 * Maps `[n,H,W]` of `images` for `target` by the LRP method `run`, with the conservation report: per map,
 * Σ relevance (signed, over pixels and channels) / the target score it started from. 1 means relevance is
 * conserved; biases, ε and β > 0 move it away from 1. A zero score gives ±Infinity or NaN.
 */
export async function lrpMapsWithReport(
  model: ExplainableModel,
  images: tf.Tensor4D,
  target: Target,
  run: LrpRun,
  options: LrpCommonOptions,
): Promise<{ maps: tf.Tensor3D; report: { conservation: number[] } }> {
  const { label, ownInputRule } = LRP_METHODS[run.name];
  const plan = await lrpPlan(modelGraph(model, label), label);
  const ratios: tf.Tensor1D[] = [];
  try {
    if (run.firstRuleIsZB && plan.unfolded.length > 0 && ownInputRule !== undefined) {
      throw new HansError(`${label}: ${zBRefusal(plan.unfolded[0], ownInputRule)}.`);
    }
    const maps = await targetChunks(
      model,
      images,
      target,
      { kind: "backward", factor: 1.5, label, batchSize: options.batchSize },
      (x, weights) => {
        const { relevance, score } = lrpRelevance(plan, x, weights, run.composite);
        ratios.push(tf.keep(tf.div(tf.sum(relevance, [1, 2, 3]), score)));
        return reduceChannels(relevance, options.absolute ?? false);
      },
    );
    const conservation: number[] = [];
    for (const r of ratios) conservation.push(...await r.data());
    return { maps, report: { conservation } };
  } finally {
    tf.dispose(ratios);
    disposeLrpPlan(plan);
  }
}

/** The maps of {@link lrpMapsWithReport} without the report. */
export async function lrpMaps(
  model: ExplainableModel,
  images: tf.Tensor4D,
  target: Target,
  run: LrpRun,
  options: LrpCommonOptions,
): Promise<tf.Tensor3D> {
  return (await lrpMapsWithReport(model, images, target, run, options)).maps;
}
