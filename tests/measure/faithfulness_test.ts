import assert from "node:assert/strict";
import { tf } from "../../src/deps.ts";
import { fromLayersModel } from "../../src/explain/explainable_model.ts";
import {
  deletion,
  gaussianBlur,
  insertion,
  relevanceOrder,
  trapezoidAuc,
} from "../../src/measure/faithfulness.ts";
import { Rng } from "../../src/rng.ts";
import { gpuTest, linearModel, maxAbsDiff, take } from "../gpu.ts";

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

Deno.test("trapezoidAuc and relevanceOrder by hand", () => {
  assert.equal(trapezoidAuc([0, 0.5, 1], [1, 0.5, 0]), 0.5);
  assert.equal(trapezoidAuc([0, 0.25, 1], [0, 1, 1]), 0.125 + 0.75);
  assert.equal(trapezoidAuc([0, 1], [0.2, 0.2]), 0.2);
  // Most relevant first, ties by index.
  assert.deepEqual(Array.from(relevanceOrder([0.1, 3, -2, 3, 0.1])), [1, 3, 0, 4, 2]);
});

gpuTest("a 2-step deletion and insertion curve equals the hand computation", async () => {
  // Two pixels x = (1, 1), class 0 has weights (2, 1), class 1 weights (0, 0): p0 = σ(z0), z0 = 2 x1 + x2.
  const model = fromLayersModel(linearModel([1, 2, 1], Float32Array.from([2, 0, 1, 0]), new Float32Array(2)));
  const x = tf.tensor4d([1, 1], [1, 1, 2, 1]);
  const options = { maps: [5, 3], target: [0], steps: 2 };
  const del = await deletion(model, x, options);
  assert.deepEqual(del.fractions, [0, 0.5, 1]);
  const delCurve = [sigmoid(3), sigmoid(1), sigmoid(0)]; // remove pixel 0 (weight 2) first, then pixel 1
  assert.ok(maxAbsDiff(del.curves[0], delCurve) < 1e-6);
  const delAuc = 0.5 * (delCurve[0] + delCurve[1]) / 2 + 0.5 * (delCurve[1] + delCurve[2]) / 2;
  assert.ok(Math.abs(del.auc[0] - delAuc) < 1e-6 && Math.abs(del.meanAuc - delAuc) < 1e-6);
  const ins = await insertion(model, x, options);
  const insCurve = [sigmoid(0), sigmoid(2), sigmoid(3)];
  assert.ok(maxAbsDiff(ins.curves[0], insCurve) < 1e-6);
  assert.ok(
    Math.abs(ins.auc[0] - (0.25 * (insCurve[0] + insCurve[1]) + 0.25 * (insCurve[1] + insCurve[2]))) < 1e-6,
  );
  // Logit scores and another baseline: removed pixels become 0.5, so z0 goes 3 → 2 → 1.5.
  const logit = await deletion(model, x, { ...options, score: "logit", baseline: 0.5 });
  assert.ok(maxAbsDiff(logit.curves[0], [3, 2, 1.5]) < 1e-6);
  x.dispose();
});

gpuTest(
  "the true relevance of a linear model deletes faster and inserts faster than its reverse",
  async () => {
    const [H, W, K, n] = [8, 8, 3, 4];
    const rng = new Rng(4);
    const kernel = Float32Array.from({ length: H * W * K }, () => rng.normal() * 0.5);
    const model = fromLayersModel(linearModel([H, W, 1], kernel, new Float32Array(K)));
    const xs = Float32Array.from({ length: n * H * W }, () => rng.next());
    const x = tf.tensor4d(xs, [n, H, W, 1]);
    const target = [0, 1, 2, 1];
    // With baseline 0, pixel j contributes x_j w_j to the target logit: that is the true relevance.
    const truth = new Float32Array(n * H * W);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < H * W; j++) truth[i * H * W + j] = xs[i * H * W + j] * kernel[j * K + target[i]];
    }
    const reversed = truth.map((v) => -v);
    const tensors = tf.memory().numTensors;
    const delTrue = await deletion(model, x, { maps: truth, target, batchSize: 20 });
    const delRev = await deletion(model, x, { maps: reversed, target });
    const insTrue = await insertion(model, x, { maps: truth, target });
    const insRev = await insertion(model, x, { maps: reversed, target, batchSize: 5 });
    assert.equal(delTrue.fractions.length, 17);
    for (let i = 0; i < n; i++) {
      assert.ok(
        delTrue.auc[i] < delRev.auc[i],
        `deletion, image ${i}: ${delTrue.auc[i]} vs ${delRev.auc[i]}`,
      );
      assert.ok(
        insTrue.auc[i] > insRev.auc[i],
        `insertion, image ${i}: ${insTrue.auc[i]} vs ${insRev.auc[i]}`,
      );
      // Both curves start at the image's probability and end at the blank image's (deletion), or the reverse.
      assert.ok(Math.abs(delTrue.curves[i][0] - delRev.curves[i][0]) < 1e-6);
      assert.ok(Math.abs(delTrue.curves[i][16] - 1 / K) < 1e-6);
      assert.ok(Math.abs(insTrue.curves[i][16] - delTrue.curves[i][0]) < 1e-6);
    }
    assert.ok(Math.abs(delTrue.meanAuc - delTrue.auc.reduce((a, b) => a + b) / n) < 1e-9);
    assert.equal(
      tf.memory().numTensors,
      tensors,
      `deletion and insertion leave no tensors behind: ${tf.memory().numTensors - tensors}`,
    );
    x.dispose();
  },
);

gpuTest(
  "insertion from a blurred copy starts at the blurred image's probability; the blur keeps constants",
  async () => {
    const rng = new Rng(6);
    const kernel = Float32Array.from({ length: 36 * 2 }, () => rng.normal());
    const model = fromLayersModel(linearModel([6, 6, 1], kernel, new Float32Array(2)));
    const x = tf.tensor4d(Float32Array.from({ length: 2 * 36 }, () => rng.next()), [2, 6, 6, 1]);
    const flat = tf.fill([1, 6, 6, 3], 0.7) as tf.Tensor4D;
    assert.ok(maxAbsDiff(await take(gaussianBlur(flat, 1.5)), new Float32Array(108).fill(0.7)) < 1e-6);
    const blurred = gaussianBlur(x, 1);
    const expected = await take(tf.tidy(() => tf.softmax(model.logits(blurred)).slice([0, 1], [2, 1])));
    const ins = await insertion(model, x, {
      maps: new Float32Array(72).map(() => rng.next()),
      target: [1, 1],
      start: "blur",
    });
    assert.ok(
      Math.abs(ins.curves[0][0] - expected[0]) < 1e-5 && Math.abs(ins.curves[1][0] - expected[1]) < 1e-5,
    );
    assert.ok(Math.abs(ins.curves[0][0] - ins.curves[0][16]) > 1e-3, "the blur must change the image");
    blurred.dispose();
    flat.dispose();
    x.dispose();
  },
);
