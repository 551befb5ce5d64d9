import assert from "node:assert/strict";
import { tf } from "../../src/deps.ts";
import { modelRandomization, ranks, spearman } from "../../src/measure/sanity.ts";
import { createCnn } from "../../src/model/cnn.ts";
import { Rng } from "../../src/rng.ts";
import { gpuTest, take } from "../gpu.ts";

Deno.test("ranks share the mean rank on ties", () => {
  assert.deepEqual(Array.from(ranks([3, 1, 3, 2])), [3.5, 1, 3.5, 2]);
  assert.deepEqual(Array.from(ranks([5, 5, 5])), [2, 2, 2]);
});

Deno.test("spearman against hand-computed values, ties included", () => {
  assert.equal(spearman([1, 2, 3], [10, 20, 30]), 1);
  assert.equal(spearman([1, 2, 3], [3, 2, 1]), -1);
  assert.equal(spearman([1, 2, 3], [1, 8, 27]), 1); // monotone, not linear
  // Ranks (1,2,3,4,5) vs (1,2,3.5,5,3.5): Σ d_a d_b = 8, Σ d_a² = 10, Σ d_b² = 9.5.
  assert.ok(Math.abs(spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]) - 8 / Math.sqrt(95)) < 1e-12);
  // Ties on both sides: (1,2.5,2.5,4) vs (1,3,2,4): 4.5 / √(4.5·5).
  assert.ok(Math.abs(spearman([1, 2, 2, 3], [1, 3, 2, 4]) - 4.5 / Math.sqrt(22.5)) < 1e-12);
  assert.ok(Number.isNaN(spearman([1, 1, 1], [1, 2, 3])));
});

gpuTest(
  "randomization: the gradient decorrelates at once, Guided Backprop stays correlated (random CNN, noise images)",
  async () => {
    // A small random CNN of the default architecture on uniform-noise images (no black background whose
    // dead ReLUs would give both maps the same zeros). Measured on lavapipe, top layer first: the gradient
    // 0.08, 0.06, 0.10, 0.06; Guided Backprop 0.68, 0.59, 0.37, 0.32. Guided Backprop is "high" while only
    // the dense layers are random and falls to about 0.3 once the conv layers are random too.
    const [S, n] = [12, 8];
    const rng = new Rng(12);
    const x = tf.tensor4d(Float32Array.from({ length: n * S * S }, () => rng.next()), [n, S, S, 1]);
    const cnn = createCnn({
      height: S,
      width: S,
      channels: 1,
      classes: 3,
      seed: 2,
      filters: [8, 16],
      hidden: 32,
    });
    const before = await Promise.all(cnn.getWeights().map((w) => w.data()));
    const target = new Array(n).fill(0);
    const tensors = tf.memory().numTensors;
    const grad = await modelRandomization(cnn, x, { target, method: "gradient" });
    const guided = await modelRandomization(cnn, x, { target, method: "guided_backprop" });
    assert.equal(tf.memory().numTensors, tensors, "the randomized copy is disposed");
    assert.deepEqual(grad.steps.map((s) => s.layer), ["logits", "dense1", "conv2", "conv1"]);
    for (const [k, step] of grad.steps.entries()) {
      assert.ok(Math.abs(step.spearman) < 0.25, `gradient, ${step.layer}: ${step.spearman}`);
      assert.ok(
        guided.steps[k].spearman > step.spearman + 0.1,
        `${step.layer}: guided ${guided.steps[k].spearman} vs gradient ${step.spearman}`,
      );
    }
    assert.ok(guided.steps[0].spearman > 0.5, `guided, top layer random: ${guided.steps[0].spearman}`);
    assert.equal(grad.sanity, grad.steps[3].spearman);
    // The original model is untouched.
    const after = await Promise.all(cnn.getWeights().map((w) => w.data()));
    after.forEach((a, i) => assert.deepEqual(a, before[i]));
    const again = await take(tf.tidy(() => cnn.predict(x) as tf.Tensor));
    assert.ok(again.every(Number.isFinite));
    x.dispose();
    cnn.dispose();
  },
);

gpuTest("the cascading randomization reproduces for a given seed, 0 included", async () => {
  const net = createCnn({
    height: 6,
    width: 5,
    channels: 1,
    classes: 3,
    seed: 2,
    filters: [3, 3],
    hidden: 4,
  });
  const x = tf.randomUniform([2, 6, 5, 1], 0, 1, "float32", 3) as tf.Tensor4D;
  const run = () => modelRandomization(net, x, { target: [0, 1], method: "gradient", seed: 0 });
  assert.deepEqual((await run()).steps, (await run()).steps);
  x.dispose();
  net.dispose();
});
