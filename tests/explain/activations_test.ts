import assert from "node:assert/strict";
import { tf } from "../../src/deps.ts";
import { HansError } from "../../src/errors.ts";
import { activations } from "../../src/explain/activations.ts";
import { fromLayersModel } from "../../src/explain/explainable_model.ts";
import { METHODS } from "../../src/explain/registry.ts";
import { createCnn } from "../../src/model/cnn.ts";
import { Rng } from "../../src/rng.ts";
import { gpuTest, maxAbsDiff, take } from "../gpu.ts";

gpuTest("activations: the channel mean of the layer, upsampled; the target does not matter", async () => {
  const cnn = createCnn({
    height: 8,
    width: 8,
    channels: 1,
    classes: 3,
    seed: 2,
    filters: [3, 4],
    hidden: 5,
  });
  const model = fromLayersModel(cnn);
  const rng = new Rng(1);
  const x = tf.tensor4d(Float32Array.from({ length: 2 * 64 }, () => rng.next()), [2, 8, 8, 1]);
  // conv1 keeps the input size ('same' padding), so the upsampling is the identity there.
  const conv1 = await take(await activations(model, x, [0, 1], { layer: "conv1" }));
  const direct = await take(tf.tidy(() => tf.mean(cnn.layers[0].apply(x) as tf.Tensor, 3)));
  assert.ok(maxAbsDiff(conv1, direct) < 1e-6);
  // The default is the last 4-D layer (pool2, 2x2), upsampled to 8x8 with half-pixel centres.
  const a = await take(await activations(model, x, [0, 1]));
  const b = await take(await activations(model, x, { p: [2, 2], q: [0, 1] }));
  assert.deepEqual(a, b);
  const pool2 = await take(tf.tidy(() => {
    let h: tf.Tensor = x;
    for (const layer of cnn.layers.slice(0, 4)) h = layer.apply(h) as tf.Tensor;
    return tf.image.resizeBilinear(tf.mean(h, 3, true) as tf.Tensor4D, [8, 8], false, true);
  }));
  assert.ok(maxAbsDiff(a, pool2) < 1e-6);
  await assert.rejects(activations(model, x, [0, 1], { layer: "dense1" }), HansError);
  x.dispose();
  cnn.dispose();
});

Deno.test("the registry: unique names and labels, activations is no attribution", () => {
  const names = METHODS.map((m) => m.name);
  assert.equal(new Set(names).size, names.length);
  assert.equal(new Set(METHODS.map((m) => m.label)).size, names.length);
  for (const m of METHODS) assert.ok(m.label.length > 0 && m.description.length > 0);
  assert.deepEqual(METHODS.filter((m) => !m.attribution).map((m) => m.name), ["activations"]);
  for (
    const name of [
      "vargrad",
      "smoothgrad_sq",
      "guided_backprop",
      "guided_grad_cam",
      "rise",
      "lrp_epsilon",
      "lrp_alpha_beta",
      "activations",
    ]
  ) assert.ok(names.includes(name), name);
});
