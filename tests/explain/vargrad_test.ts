import assert from "node:assert/strict";
import { tf } from "../../src/deps.ts";
import { fromLayersModel } from "../../src/explain/explainable_model.ts";
import { smoothGrad } from "../../src/explain/smoothgrad.ts";
import { smoothGradSquared } from "../../src/explain/smoothgrad_sq.ts";
import { varGrad } from "../../src/explain/vargrad.ts";
import { createCnn } from "../../src/model/cnn.ts";
import { Rng } from "../../src/rng.ts";
import { gpuTest, linearModel, maxAbsDiff, take } from "../gpu.ts";

/** Standard normal CDF (Abramowitz & Stegun 7.1.26, error below 1e-7). */
function phi(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * z);
  const erf = 1 -
    t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))) *
      Math.exp(-z * z);
  return x >= 0 ? (1 + erf) / 2 : (1 - erf) / 2;
}

gpuTest(
  "VarGrad of a linear model is 0; SmoothGrad² of a linear model is w² (max over channels)",
  async () => {
    const [H, W, C, K] = [5, 4, 2, 3];
    const rng = new Rng(2);
    const kernel = Float32Array.from({ length: H * W * C * K }, () => rng.normal());
    const model = fromLayersModel(linearModel([H, W, C], kernel, Float32Array.from([0.5, -1, 2])));
    const x = tf.tensor4d(Float32Array.from({ length: 3 * H * W * C }, () => rng.next()), [3, H, W, C]);
    const target = { p: [0, 1, 2], q: [2, 0, 1] };
    const vg = await take(await varGrad(model, x, target, { samples: 8, batchSize: 10 }));
    const sg2 = await take(await smoothGradSquared(model, x, target, { samples: 8, batchSize: 10 }));
    let largest = 0;
    for (let i = 0; i < 3; i++) {
      for (let p = 0; p < H * W; p++) {
        let expected = 0;
        for (let c = 0; c < C; c++) {
          const row = (p * C + c) * K;
          expected = Math.max(expected, (kernel[row + target.p[i]] - kernel[row + target.q[i]]) ** 2);
        }
        largest = Math.max(largest, expected);
        assert.ok(
          Math.abs(sg2[i * H * W + p] - expected) < 1e-4 * (1 + expected),
          `SG² image ${i} pixel ${p}`,
        );
      }
    }
    assert.ok(Math.max(...vg) < 1e-5 * largest, `VarGrad max ${Math.max(...vg)}`);
    x.dispose();
  },
);

gpuTest(
  "VarGrad and SmoothGrad² of f(x) = Σ v·relu(x) match the Gaussian formulas v²q(1−q) and v²q",
  async () => {
    // The gradient at pixel j is v_j · 1[x_j + noise > 0]: a Bernoulli(q_j) times v_j with q_j = Φ(x_j / σ).
    // Its variance over the noise is v_j² q_j (1 − q_j) and its mean square v_j² q_j.
    const [H, W] = [4, 4];
    const net = tf.sequential({
      layers: [
        tf.layers.conv2d({
          inputShape: [H, W, 1],
          filters: 1,
          kernelSize: 1,
          activation: "relu",
          useBias: false,
        }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 2, useBias: false }),
      ],
    });
    const v = Float32Array.from({ length: H * W }, (_, j) => (j % 2 ? -1 : 1) * (0.5 + j / 16));
    const dense = new Float32Array(H * W * 2);
    v.forEach((value, j) => (dense[j * 2] = value));
    net.layers[0].setWeights([tf.ones([1, 1, 1, 1])]);
    net.layers[2].setWeights([tf.tensor2d(dense, [H * W, 2])]);
    const xs = Float32Array.from({ length: H * W }, (_, j) => -0.2 + 0.4 * j / (H * W - 1));
    const x = tf.tensor4d(xs, [1, H, W, 1]);
    const options = { samples: 2048, noiseLevel: 0.15, seed: 3 };
    const vg = await take(await varGrad(fromLayersModel(net), x, [0], options));
    const sg2 = await take(await smoothGradSquared(fromLayersModel(net), x, [0], options));
    const q = Array.from(xs, (value) => phi(value / 0.15));
    const expectedVar = q.map((qj, j) => v[j] ** 2 * qj * (1 - qj));
    const expectedSq = q.map((qj, j) => v[j] ** 2 * qj);
    // Sampling error of a Bernoulli share from 2048 draws is at most 0.011; allow 0.04 v².
    for (let j = 0; j < H * W; j++) {
      assert.ok(
        Math.abs(vg[j] - expectedVar[j]) < 0.04 * v[j] ** 2,
        `VarGrad pixel ${j}: ${vg[j]} vs ${expectedVar[j]}`,
      );
      assert.ok(
        Math.abs(sg2[j] - expectedSq[j]) < 0.04 * v[j] ** 2,
        `SG² pixel ${j}: ${sg2[j]} vs ${expectedSq[j]}`,
      );
    }
    // Without noise there is no variance: the test would notice noise that is not applied.
    const none = await take(await varGrad(fromLayersModel(net), x, [0], { samples: 4, noiseLevel: 0 }));
    assert.ok(maxAbsDiff(none, new Float32Array(H * W)) < 1e-6);
    x.dispose();
    net.dispose();
  },
);

gpuTest("SmoothGrad's noise reproduces for every seed, 0 included, and changes with the seed", async () => {
  // tfjs draws from Math.random when handed a seed of 0, so the first batch of seed 0 once changed per run.
  const net = createCnn({
    height: 6,
    width: 5,
    channels: 1,
    classes: 3,
    seed: 1,
    filters: [3, 3],
    hidden: 4,
  });
  const model = fromLayersModel(net);
  const x = tf.randomUniform([3, 6, 5, 1], 0, 1, "float32", 4) as tf.Tensor4D;
  const run = async (seed: number) => await take(await smoothGrad(model, x, [0, 1, 2], { samples: 4, seed }));
  for (const seed of [0, 3]) assert.deepEqual(await run(seed), await run(seed), `seed ${seed}`);
  assert.ok(maxAbsDiff(await run(0), await run(3)) > 0, "another seed, other noise");
  x.dispose();
  net.dispose();
});
