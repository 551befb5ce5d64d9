import assert from "node:assert/strict";
import { tf } from "../../src/deps.ts";
import { fromLayersModel } from "../../src/explain/model_fn.ts";
import { gradient } from "../../src/explain/gradient.ts";
import { gradientInput } from "../../src/explain/gradient_input.ts";
import { integratedGradients } from "../../src/explain/integrated_gradients.ts";
import { smoothGrad } from "../../src/explain/smoothgrad.ts";
import { occlusion } from "../../src/explain/occlusion.ts";
import { METHODS } from "../../src/explain/registry.ts";
import { Rng } from "../../src/rng.ts";
import { gpuTest, linearModel, maxAbsDiff, take } from "../gpu.ts";

const H = 6, W = 5, C = 2, K = 3;

function fixture() {
  const rng = new Rng(7);
  const kernel = Float32Array.from({ length: H * W * C * K }, () => rng.normal());
  const bias = Float32Array.from({ length: K }, () => rng.normal());
  const images = Float32Array.from({ length: 4 * H * W * C }, () => rng.next());
  return { kernel, bias, images, model: fromLayersModel(linearModel([H, W, C], kernel, bias)) };
}

/** The column of the kernel for class k, summed over channels per pixel: what a signed map must equal. */
function weightMap(kernel: Float32Array, k: number, q?: number): Float32Array {
  const out = new Float32Array(H * W);
  for (let p = 0; p < H * W; p++) {
    for (let c = 0; c < C; c++) {
      const row = (p * C + c) * K;
      out[p] += kernel[row + k] - (q === undefined ? 0 : kernel[row + q]);
    }
  }
  return out;
}

gpuTest("gradient of a linear model equals its weights (signed, per class and for a contrast)", async () => {
  const { kernel, images, model } = fixture();
  const x = tf.tensor4d(images, [4, H, W, C]);
  const maps = await take(await gradient(model, x, [0, 1, 2, 1], { absolute: false }));
  [0, 1, 2, 1].forEach((k, i) => {
    assert.ok(maxAbsDiff(maps.subarray(i * H * W, (i + 1) * H * W), weightMap(kernel, k)) < 1e-5);
  });
  const contrast = await take(
    await gradient(model, x, { p: [2, 2, 0, 1], q: [0, 1, 1, 2] }, { absolute: false }),
  );
  assert.ok(maxAbsDiff(contrast.subarray(0, H * W), weightMap(kernel, 2, 0)) < 1e-5);
  assert.ok(maxAbsDiff(contrast.subarray(3 * H * W), weightMap(kernel, 1, 2)) < 1e-5);
  x.dispose();
});

gpuTest(
  "Integrated Gradients of a linear model is (x − baseline) × weights, for any step count",
  async () => {
    const { kernel, images, model } = fixture();
    const x = tf.tensor4d(images, [4, H, W, C]);
    for (const [steps, baseline] of [[1, 0], [7, 0.3]]) {
      const maps = await take(
        await integratedGradients(model, x, [2, 0, 1, 2], { steps, baseline, batchSize: 5 }),
      );
      [2, 0, 1, 2].forEach((k, i) => {
        const expected = new Float32Array(H * W);
        for (let p = 0; p < H * W; p++) {
          for (let c = 0; c < C; c++) {
            expected[p] += (images[(i * H * W + p) * C + c] - baseline) * kernel[(p * C + c) * K + k];
          }
        }
        assert.ok(maxAbsDiff(maps.subarray(i * H * W, (i + 1) * H * W), expected) < 1e-4, `steps ${steps}`);
      });
    }
    x.dispose();
  },
);

gpuTest(
  "gradient × input of a linear model is x × weights; SmoothGrad of a linear model is |weights|",
  async () => {
    const { kernel, images, model } = fixture();
    const x = tf.tensor4d(images, [4, H, W, C]);
    const gi = await take(await gradientInput(model, x, [1, 1, 1, 1]));
    const expected = new Float32Array(H * W);
    for (let p = 0; p < H * W; p++) {
      for (let c = 0; c < C; c++) {
        expected[p] += images[p * C + c] * kernel[(p * C + c) * K + 1];
      }
    }
    assert.ok(maxAbsDiff(gi.subarray(0, H * W), expected) < 1e-5);
    // The gradient of a linear model is the same everywhere, so noise changes nothing.
    const sg = await take(await smoothGrad(model, x, [0, 0, 0, 0], { samples: 4, absolute: false }));
    assert.ok(maxAbsDiff(sg.subarray(0, H * W), weightMap(kernel, 0)) < 1e-4);
    x.dispose();
  },
);

gpuTest(
  "occlusion of a linear model is the patch-averaged (x − baseline)·w; pixels with zero weight stay 0",
  async () => {
    const { kernel, images } = fixture();
    // Zero the weights of the right-most column, and every patch that only covers it must score 0.
    const k2 = kernel.slice();
    for (let y = 0; y < H; y++) {
      for (let c = 0; c < C; c++) {
        for (let k = 0; k < K; k++) k2[((y * W + W - 1) * C + c) * K + k] = 0;
      }
    }
    const model = fromLayersModel(linearModel([H, W, C], k2, new Float32Array(K)));
    const x = tf.tensor4d(images.subarray(0, H * W * C), [1, H, W, C]);
    const maps = await take(await occlusion(model, x, [1], { patch: 1, stride: 1 }));
    for (let y = 0; y < H; y++) {
      for (let xx = 0; xx < W; xx++) {
        let expected = 0;
        for (let c = 0; c < C; c++) {
          expected += images[(y * W + xx) * C + c] *
            k2[((y * W + xx) * C + c) * K + 1];
        }
        assert.ok(Math.abs(maps[y * W + xx] - expected) < 1e-5);
        if (xx === W - 1) assert.equal(maps[y * W + xx], 0);
      }
    }
    x.dispose();
  },
);

gpuTest("every method returns [n,H,W] and leaves no tensors behind over many batches", async () => {
  const { images } = fixture();
  const cnn = tf.sequential({
    layers: [
      tf.layers.conv2d({
        inputShape: [H, W, C],
        filters: 3,
        kernelSize: 3,
        padding: "same",
        activation: "relu",
      }),
      tf.layers.flatten(),
      tf.layers.dense({ units: K }),
    ],
  });
  const model = fromLayersModel(cnn);
  const x = tf.tensor4d(images, [4, H, W, C]);
  // Small batches so every method runs several; few masks so RISE stays quick (it still needs two batches).
  const options = { batchSize: 3, masks: 5 };
  for (const m of METHODS) {
    const warm = await m.explain(model, x, [0, 1, 2, 0], options);
    assert.deepEqual(warm.shape, [4, H, W], m.name);
    warm.dispose();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 25; i++) { // 25 calls of at least 2 internal batches each: 50+ batches
      (await m.explain(model, x, { p: [0, 1, 2, 0], q: [1, 2, 0, 1] }, options)).dispose();
    }
    assert.equal(tf.memory().numTensors, before, `${m.name} leaks tensors`);
  }
  x.dispose();
  cnn.dispose();
});
