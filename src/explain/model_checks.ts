/**
 * What an experiment checks of a model before it explains it: its predictions with their confidence, all
 * finite ({@link predictWithConfidence}), and finite input gradients ({@link checkFiniteGradients}). Each
 * problem is a HansError that says to check the model.
 * @module
 */
import type { Dataset } from "../data/dataset.ts";
import { tf } from "../deps.ts";
import { HansError } from "../errors.ts";
import { onForwardEngine } from "../model/forward_engine.ts";
import { batchTensor, imagesPerForwardPass } from "../model/predict.ts";
import type { ExplainableModel } from "./explainable_model.ts";
import { inputsPerPass } from "./batching.ts";

/**
 * Predicted class and its softmax probability for every image, one read-back per batch of up to 512, on the
 * faster forward engine (see `onForwardEngine`). Throws a HansError when an output is not finite.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import type { Dataset } from "../data/dataset.ts";
 *
 * await tf.setBackend("cpu");
 * // Two classes: the mean pixel against 0.5.
 * const logits = (x: tf.Tensor4D) =>
 *   tf.tidy(() => tf.mean(x, [1, 2, 3]).reshape([-1, 1]).concat(tf.fill([x.shape[0], 1], 0.5), 1)) as tf.Tensor2D;
 * const data: Dataset = {
 *   name: "two",
 *   images: new Float32Array([1, 1, 1, 1, 0, 0, 0, 0]),
 *   labels: new Int32Array([0, 1]),
 *   count: 2,
 *   height: 2,
 *   width: 2,
 *   channels: 1,
 *   classNames: ["bright", "dark"],
 * };
 * const { predicted, probabilities } = await predictWithConfidence({ classes: 2, logits }, data);
 * assert.deepEqual(Array.from(predicted), [0, 1]);
 * assert.ok(Math.abs(probabilities[0] - 1 / (1 + Math.exp(-0.5))) < 1e-6);
 * ```
 */
export async function predictWithConfidence(
  model: ExplainableModel,
  data: Dataset,
): Promise<{ predicted: Int32Array; probabilities: Float32Array }> {
  if (data.count === 0) return { predicted: new Int32Array(0), probabilities: new Float32Array(0) };
  // On the faster forward engine (wasm where it measures faster); the probe is the first 32 images.
  const probe = batchTensor(data, 0, Math.min(data.count, 32));
  try {
    return await onForwardEngine(model, probe, () => confidenceHere(model, data));
  } finally {
    probe.dispose();
  }
}

/** {@link predictWithConfidence} on the active backend. */
async function confidenceHere(
  model: ExplainableModel,
  data: Dataset,
): Promise<{ predicted: Int32Array; probabilities: Float32Array }> {
  const predicted = new Int32Array(data.count);
  const probabilities = new Float32Array(data.count);
  const perPass = await imagesPerForwardPass(model, data, 512);
  for (let start = 0; start < data.count; start += perPass) {
    const end = Math.min(data.count, start + perPass);
    const [arg, prob] = tf.tidy(() => {
      const probs = tf.softmax(model.logits(batchTensor(data, start, end)));
      return [tf.argMax(probs, 1), tf.max(probs, 1)];
    });
    predicted.set(await arg.data() as Int32Array, start);
    probabilities.set(await prob.data() as Float32Array, start);
    arg.dispose();
    prob.dispose();
  }
  const bad = probabilities.reduce((n, p) => n + (p >= 0 && p <= 1 ? 0 : 1), 0);
  if (bad > 0) {
    throw new HansError(
      `the model's outputs are not finite (NaN or infinite) on ${bad} of ${data.count} images; its weights ` +
        `may hold NaN or overflow, so check the model.`,
    );
  }
  return { predicted, probabilities };
}

/**
 * Throws a HansError when the gradient of the summed logits with respect to the images `x` is not finite
 * somewhere (NaN weights, an overflowing layer): every gradient-based map would be meaningless.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 *
 * await tf.setBackend("cpu");
 * const x = tf.fill([2, 2, 2, 1], 0.5) as tf.Tensor4D;
 * const linear = (x: tf.Tensor4D) => tf.sum(x, [1, 2, 3]).reshape([-1, 1]) as tf.Tensor2D;
 * await checkFiniteGradients({ classes: 1, logits: linear }, x); // gradient 1 everywhere
 * const broken = (x: tf.Tensor4D) => tf.mul(linear(x), NaN) as tf.Tensor2D;
 * await assert.rejects(checkFiniteGradients({ classes: 1, logits: broken }, x), /not finite/);
 * x.dispose();
 * ```
 */
export async function checkFiniteGradients(model: ExplainableModel, x: tf.Tensor4D): Promise<void> {
  const perPass = await inputsPerPass(model, x, {
    kind: "backward",
    requested: 256,
    label: "the gradient check",
  });
  let count = 0;
  for (let start = 0; start < x.shape[0]; start += perPass) {
    const bad = tf.tidy(() => {
      const chunk = x.slice([start, 0, 0, 0], [Math.min(perPass, x.shape[0] - start), -1, -1, -1]);
      const g = tf.grad((input: tf.Tensor) => tf.sum(model.logits(input as tf.Tensor4D)))(chunk);
      return tf.sum(tf.cast(tf.logicalNot(tf.isFinite(g)), "int32"));
    });
    count += (await bad.data())[0];
    bad.dispose();
  }
  if (count > 0) {
    throw new HansError(
      `the model's gradients are not finite (NaN or infinite) in ${count} input values of ${
        x.shape[0]
      } images; ` +
        `its weights may hold NaN, so check the model.`,
    );
  }
}
