import assert from "node:assert/strict";
import type { Dataset } from "../../src/data/dataset.ts";
import { tf } from "../../src/deps.ts";
import { HansError } from "../../src/errors.ts";
import { fromLayersModel } from "../../src/explain/explainable_model.ts";
import { checkFiniteGradients, predictWithConfidence } from "../../src/explain/model_checks.ts";
import { gpuTest, linearModel } from "../gpu.ts";

/** Two classes on 2x2 gray images: logit0 = sum(x), logit1 = 2 (so class 0 wins above a pixel sum of 2). */
function model(bias = 2) {
  const kernel = new Float32Array(4 * 2);
  for (let p = 0; p < 4; p++) kernel[p * 2] = 1;
  return fromLayersModel(linearModel([2, 2, 1], kernel, new Float32Array([0, bias])));
}

function data(images: number[]): Dataset {
  const count = images.length / 4;
  return {
    name: "checks",
    images: new Float32Array(images),
    labels: new Int32Array(count),
    count,
    height: 2,
    width: 2,
    channels: 1,
    classNames: ["a", "b"],
  };
}

gpuTest("predictWithConfidence: the argmax and its softmax probability per image", async () => {
  const m = model();
  const { predicted, probabilities } = await predictWithConfidence(m, data([1, 1, 1, 1, 0, 0, 0, 0.5]));
  assert.deepEqual(Array.from(predicted), [0, 1]);
  const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));
  assert.ok(Math.abs(probabilities[0] - sigmoid(4 - 2)) < 1e-5, `${probabilities[0]}`);
  assert.ok(Math.abs(probabilities[1] - sigmoid(2 - 0.5)) < 1e-5, `${probabilities[1]}`);
  const none = await predictWithConfidence(m, data([]));
  assert.deepEqual([none.predicted.length, none.probabilities.length], [0, 0]);
});

gpuTest("predictWithConfidence: outputs that are not finite are a HansError", async () => {
  await assert.rejects(
    predictWithConfidence(model(NaN), data([1, 1, 1, 1])),
    (e) => e instanceof HansError && /outputs are not finite .* on 1 of 1 images/.test(e.message),
  );
});

gpuTest("checkFiniteGradients passes finite gradients and counts the others", async () => {
  const x = tf.fill([3, 2, 2, 1], 0.5) as tf.Tensor4D;
  await checkFiniteGradients(model(), x);
  const sqrt = {
    classes: 1,
    logits: (t: tf.Tensor4D) => tf.sqrt(tf.sub(t, 0.5)).sum([1, 2, 3]).reshape([-1, 1]) as tf.Tensor2D,
  };
  await assert.rejects(
    checkFiniteGradients(sqrt, x),
    (e) =>
      e instanceof HansError && /gradients are not finite .* in 12 input values of 3 images/.test(e.message),
  );
  x.dispose();
});
