/**
 * Pixel scaling between hans's images (always [0, 1]) and what a model expects ([-1, 1], [0, 255], …).
 * @module
 */
import { tf } from "../deps.ts";
import { HansError } from "../errors.ts";
import { graphLogits, withInputTransform } from "./graph.ts";
import { type ExplainableModel, followCheck } from "./explainable_model.ts";

/**
 * Parses `--input-range lo,hi` (e.g. `0,1`, `-1,1`, `0,255`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(parseInputRange("-1, 1"), [-1, 1]);
 * assert.throws(() => parseInputRange("255,0"), /lo < hi/);
 * ```
 */
export function parseInputRange(text: string): [number, number] {
  const parts = text.split(",").map((s) => Number(s.trim()));
  if (parts.length !== 2 || !parts.every(Number.isFinite) || parts[0] >= parts[1]) {
    throw new HansError(
      `--input-range ${text}: expected two numbers lo,hi with lo < hi, e.g. 0,1 or -1,1 or 0,255.`,
    );
  }
  return [parts[0], parts[1]];
}

/**
 * A model that takes [0, 1] images and feeds `lo + x * (hi − lo)` to `model`, so every explanation, baseline
 * and counterfactual stays in [0, 1] pixel space. With [0, 1] it returns `model` itself. The model's graph,
 * when it has one, gets the scaling as its first node (LRP folds it into the first layer, so its input rule
 * still sees pixels in [0, 1]).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import { disposeGraph } from "./graph.ts";
 * import { fromLayersModel } from "./explainable_model.ts";
 *
 * await tf.setBackend("cpu");
 * const layers = [tf.layers.flatten({ inputShape: [4, 4, 1] }), tf.layers.dense({ units: 3 })];
 * const net = tf.sequential({ layers });
 * const model = fromLayersModel(net);
 * const scaled = withInputRange(model, [0, 255]); // for a model trained on pixels in [0, 255]
 * tf.tidy(() => {
 *   const x = tf.randomUniform([2, 4, 4, 1]) as tf.Tensor4D;
 *   const diff = tf.sub(scaled.logits(x), model.logits(tf.mul(x, 255) as tf.Tensor4D)).abs().max();
 *   assert.ok(diff.dataSync()[0] < 1e-3);
 * });
 * assert.equal(withInputRange(model, [0, 1]), model);
 * disposeGraph(scaled.graph!);
 * net.dispose();
 * ```
 */
export function withInputRange(model: ExplainableModel, range: [number, number]): ExplainableModel {
  const [lo, hi] = range;
  if (lo === 0 && hi === 1) return model;
  const logits = (x: tf.Tensor4D) =>
    tf.tidy(() => model.logits(tf.add(tf.mul(x, hi - lo), lo) as tf.Tensor4D));
  if (!model.graph) return { ...model, logits };
  const graph = withInputTransform(model.graph, hi - lo, lo);
  const scaled: ExplainableModel = {
    ...model,
    graph,
    logits: model.outputs === "pre-softmax" ? (x) => tf.tidy(() => graphLogits(graph, x)) : logits,
  };
  // A graph fromLayersModel checks later (WebGPU): when it fails, this one goes too (see settleModel).
  followCheck(model, scaled, () => withInputRange(model, range));
  return scaled;
}
