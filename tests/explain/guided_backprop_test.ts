import assert from "node:assert/strict";
import { tf } from "../../src/deps.ts";
import { gradCam } from "../../src/explain/grad_cam.ts";
import { gradient } from "../../src/explain/gradient.ts";
import { guidedBackprop, guidedRelu } from "../../src/explain/guided_backprop.ts";
import { guidedGradCam } from "../../src/explain/guided_grad_cam.ts";
import { fromLayersModel } from "../../src/explain/explainable_model.ts";
import { createCnn } from "../../src/model/cnn.ts";
import { Rng } from "../../src/rng.ts";
import { gpuTest, maxAbsDiff, take } from "../gpu.ts";

gpuTest("the guided ReLU passes a gradient only where input and gradient are both positive", async () => {
  const x = tf.tensor1d([-1, 2, 3, 0, 0.5]);
  const dy = tf.tensor1d([5, -2, 4, 1, 0]);
  const g = await take(tf.grad((t: tf.Tensor) => tf.sum(tf.mul(guidedRelu(t), dy)))(x));
  assert.deepEqual(Array.from(g, (v) => v + 0), [0, 0, 4, 0, 0]); // + 0 turns −0 into 0
  assert.deepEqual(Array.from(await take(guidedRelu(x))), [0, 2, 3, 0, 0.5]);
  x.dispose();
  dy.dispose();
});

gpuTest("Guided Backprop on a hand-built net: blocks the negative path the gradient keeps", async () => {
  // x = (0.5, 0.8); hidden A = relu(x1 + x2) = 1.3, B = relu(x1 − x2) = 0 (pre −0.3), C = relu(2 x1) = 1;
  // logit0 = −A + 3B + 2C. Gradient: −(1, 1) + 2·(2, 0) = (3, −1) (B is dead).
  // Guided: A gets the gradient −1 < 0 and is blocked; B is dead; only C: 2·(2, 0) = (4, 0).
  const net = tf.sequential({
    layers: [
      tf.layers.flatten({ inputShape: [1, 2, 1] }),
      tf.layers.dense({ units: 3, activation: "relu", useBias: false }),
      tf.layers.dense({ units: 2, useBias: false }),
    ],
  });
  net.layers[1].setWeights([tf.tensor2d([[1, 1, 2], [1, -1, 0]])]);
  net.layers[2].setWeights([tf.tensor2d([[-1, 0], [3, 0], [2, 0]])]);
  const model = fromLayersModel(net);
  const x = tf.tensor4d([0.5, 0.8], [1, 1, 2, 1]);
  const grad = await take(await gradient(model, x, [0], { absolute: false }));
  const guided = await take(await guidedBackprop(model, x, [0], { absolute: false }));
  assert.ok(maxAbsDiff(grad, [3, -1]) < 1e-6, `gradient ${grad}`);
  assert.ok(maxAbsDiff(guided, [4, 0]) < 1e-6, `guided ${guided}`);
  x.dispose();
  net.dispose();
});

gpuTest(
  "Guided Backprop equals the gradient on a net where every ReLU is open and every gradient positive",
  async () => {
    // Positive inputs, weights and biases: every pre-activation is positive; positive weights above make every
    // gradient that reaches a ReLU positive, so nothing is blocked and the guided gradient is the gradient.
    const cnn = createCnn({
      height: 8,
      width: 8,
      channels: 1,
      classes: 3,
      seed: 1,
      filters: [3, 4],
      hidden: 5,
    });
    const rng = new Rng(3);
    for (const layer of cnn.layers) {
      const w = layer.getWeights();
      if (w.length) {
        layer.setWeights(
          w.map((t) => tf.tensor(Array.from({ length: t.size }, () => 0.05 + rng.next()), t.shape)),
        );
      }
    }
    const model = fromLayersModel(cnn);
    const x = tf.tensor4d(Float32Array.from({ length: 2 * 64 }, () => 0.1 + rng.next()), [2, 8, 8, 1]);
    const grad = await take(await gradient(model, x, [1, 2], { absolute: false }));
    const guided = await take(await guidedBackprop(model, x, [1, 2], { absolute: false }));
    const scale = Math.max(...grad.map(Math.abs));
    assert.ok(maxAbsDiff(grad, guided) < 1e-5 * scale, `max diff ${maxAbsDiff(grad, guided)} of ${scale}`);
    // With a negative output weight on some hidden unit, the two must part: the test can fail.
    const w = cnn.layers[6].getWeights();
    const k = (await w[0].data()).slice();
    k[0] = -5;
    cnn.layers[6].setWeights([tf.tensor(k, w[0].shape), w[1]]);
    const grad2 = await take(await gradient(model, x, [0, 0], { absolute: false }));
    const guided2 = await take(await guidedBackprop(model, x, [0, 0], { absolute: false }));
    assert.ok(maxAbsDiff(grad2, guided2) > 1e-3);
    x.dispose();
    cnn.dispose();
  },
);

gpuTest("Guided Grad-CAM is the guided gradient times the Grad-CAM map", async () => {
  const cnn = createCnn({
    height: 8,
    width: 8,
    channels: 1,
    classes: 3,
    seed: 4,
    filters: [3, 4],
    hidden: 5,
  });
  const model = fromLayersModel(cnn);
  const rng = new Rng(2);
  const x = tf.tensor4d(Float32Array.from({ length: 3 * 64 }, () => rng.next()), [3, 8, 8, 1]);
  const target = { p: [0, 1, 2], q: [1, 2, 0] };
  const guided = await take(await guidedBackprop(model, x, target, { absolute: false }));
  const cam = await take(await gradCam(model, x, target));
  const ggc = await take(await guidedGradCam(model, x, target, { absolute: false, batchSize: 2 }));
  const expected = guided.map((g, i) => g * cam[i]);
  assert.ok(maxAbsDiff(ggc, expected) < 1e-5, `max diff ${maxAbsDiff(ggc, expected)}`);
  assert.ok(cam.some((v) => v > 0));
  x.dispose();
  cnn.dispose();
});
