import assert from "node:assert/strict";
import { tf } from "../../src/deps.ts";
import { fromLayersModel } from "../../src/explain/explainable_model.ts";
import { gradCam } from "../../src/explain/grad_cam.ts";
import { integratedGradients } from "../../src/explain/integrated_gradients.ts";
import { occlusion } from "../../src/explain/occlusion.ts";
import { occlusionReference } from "../../src/explain/occlusion_reference.ts";
import { createCnn } from "../../src/model/cnn.ts";
import { Rng } from "../../src/rng.ts";
import { gpuTest, maxAbsDiff, take } from "../gpu.ts";

function randomImages(n: number, h: number, w: number, c: number, seed: number): tf.Tensor4D {
  const rng = new Rng(seed);
  return tf.tensor4d(Float32Array.from({ length: n * h * w * c }, () => rng.next()), [n, h, w, c]);
}

gpuTest("Integrated Gradients on the default CNN is complete within 1% with 64 steps", async () => {
  const cnn = createCnn({ height: 28, width: 28, channels: 1, classes: 10, seed: 3 });
  const model = fromLayersModel(cnn);
  const x = randomImages(4, 28, 28, 1, 5);
  const target = [0, 3, 7, 9];
  const maps = await take(await integratedGradients(model, x, target, { steps: 64 }));
  const logits = await take(model.logits(x));
  const base = await take(model.logits(tf.zerosLike(x)));
  target.forEach((k, i) => {
    let sum = 0;
    for (let p = 0; p < 28 * 28; p++) sum += maps[i * 784 + p];
    const gap = logits[i * 10 + k] - base[i * 10 + k];
    assert.ok(
      Math.abs(sum - gap) <= 0.01 * Math.abs(gap) + 1e-4,
      `image ${i}: sum ${sum} vs f(x) − f(0) ${gap}`,
    );
  });
  x.dispose();
  cnn.dispose();
});

gpuTest("batched occlusion equals the per-patch reference, with a border patch and a contrast", async () => {
  const cnn = createCnn({
    height: 11,
    width: 9,
    channels: 3,
    classes: 4,
    seed: 2,
    filters: [4, 4],
    hidden: 8,
  });
  const model = fromLayersModel(cnn);
  const x = randomImages(3, 11, 9, 3, 8);
  for (
    const [options, target] of [
      [{ patch: 4, stride: 3, baseline: 0.5 }, [0, 1, 3]],
      [{ patch: 2, stride: 2 }, { p: [1, 2, 3], q: [0, 0, 1] }],
    ] as const
  ) {
    const fast = await take(await occlusion(model, x, target, { ...options, batchSize: 16 }));
    const slow = await take(await occlusionReference(model, x, target, options));
    assert.ok(maxAbsDiff(fast, slow) < 1e-5, `max diff ${maxAbsDiff(fast, slow)}`);
  }
  x.dispose();
  cnn.dispose();
});

gpuTest("Grad-CAM equals the hand-computed value on a tiny conv net", async () => {
  // conv 2 filters 3x3 'same' with relu on a 4x4x1 input, flatten, dense to 2 classes; resize is the identity.
  const net = tf.sequential({
    layers: [
      tf.layers.conv2d({
        inputShape: [4, 4, 1],
        filters: 2,
        kernelSize: 3,
        padding: "same",
        activation: "relu",
      }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 2 }),
    ],
  });
  const rng = new Rng(4);
  const convK = Float32Array.from({ length: 9 * 2 }, () => rng.normal());
  const convB = Float32Array.from([0.1, -0.05]);
  const denseK = Float32Array.from({ length: 32 * 2 }, () => rng.normal());
  net.layers[0].setWeights([tf.tensor4d(convK, [3, 3, 1, 2]), tf.tensor1d(convB)]);
  net.layers[2].setWeights([tf.tensor2d(denseK, [32, 2]), tf.tensor1d([0, 0])]);
  const img = Float32Array.from({ length: 16 }, () => rng.next());
  // Hand computation.
  const A = new Float32Array(32); // [y, x, f]
  for (let y = 0; y < 4; y++) {
    for (let x = 0; x < 4; x++) {
      for (let f = 0; f < 2; f++) {
        let s = convB[f];
        for (let dy = -1; dy <= 1; dy++) {
          for (let dx = -1; dx <= 1; dx++) {
            const yy = y + dy, xx = x + dx;
            if (yy < 0 || xx < 0 || yy > 3 || xx > 3) continue;
            s += img[yy * 4 + xx] * convK[((dy + 1) * 3 + (dx + 1)) * 2 + f];
          }
        }
        A[(y * 4 + x) * 2 + f] = Math.max(0, s);
      }
    }
  }
  const cls = 1;
  const alpha = [0, 1].map((f) => {
    let s = 0;
    for (let p = 0; p < 16; p++) s += denseK[(p * 2 + f) * 2 + cls];
    return s / 16;
  });
  const expected = Float32Array.from(
    { length: 16 },
    (_, p) => Math.max(0, alpha[0] * A[p * 2] + alpha[1] * A[p * 2 + 1]),
  );
  const x = tf.tensor4d(img, [1, 4, 4, 1]);
  const cam = await take(await gradCam(fromLayersModel(net), x, [cls]));
  assert.ok(maxAbsDiff(cam, expected) < 1e-5, `max diff ${maxAbsDiff(cam, expected)}`);
  x.dispose();
  net.dispose();
});
