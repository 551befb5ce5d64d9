import assert from "node:assert/strict";
import type { Dataset } from "../../src/data/dataset.ts";
import { tf } from "../../src/deps.ts";
import { fromLayersModel } from "../../src/explain/explainable_model.ts";
import { removalTest, runContrastive, topOverlap } from "../../src/pipeline/contrastive.ts";
import { gpuTest, linearModel } from "../gpu.ts";

Deno.test("topOverlap counts shared top pixels", () => {
  assert.equal(topOverlap([9, 8, 0, 0, 0, 0, 0, 0, 0, 0], [9, 0, 8, 0, 0, 0, 0, 0, 0, 0], 0.2), 0.5);
  assert.equal(topOverlap([1, 2, 3, 4], [1, 2, 3, 4], 0.5), 1);
  assert.equal(topOverlap([4, 3, 2, 1], [1, 2, 3, 4], 0.5), 0);
});

/**
 * A 2-class linear model on 4x5 gray images where class 1 ("wrong") is pulled up by the top-left pixel only:
 * logit0 = 0.5 · sum(x), logit1 = 0.5 · sum(x) + 10 · x[0,0] − 1.
 */
function trap() {
  const kernel = new Float32Array(20 * 2);
  for (let p = 0; p < 20; p++) {
    kernel[p * 2] = 0.5;
    kernel[p * 2 + 1] = 0.5;
  }
  kernel[1] = 10.5;
  return fromLayersModel(linearModel([4, 5, 1], kernel, new Float32Array([0, -1])));
}

gpuTest(
  "removalTest: removing the pixel that causes the mistake fixes it; removing others does not",
  async () => {
    const model = trap();
    const img = new Float32Array(20).fill(0.5);
    const x = tf.tensor4d(img, [1, 4, 5, 1]);
    const good = new Float32Array(20);
    good[0] = 1; // the culprit
    const bad = new Float32Array(20).fill(1);
    bad[0] = -1; // the culprit ranked last
    const r1 = await removalTest(model, x, good, [1], [0], 0);
    assert.equal(r1.flipToTrueAt5, 1);
    assert.equal(r1.flipToTrueAt10, 1);
    // margin before: 10·0.5 − 1 = 4; after removing the culprit and one more pixel (10% of 20 = 2): −1
    assert.ok(Math.abs(r1.marginDrop - 5) < 1e-4, `${r1.marginDrop}`);
    const r2 = await removalTest(model, x, bad, [1], [0], 0);
    assert.equal(r2.flipToTrueAt10, 0);
    x.dispose();
  },
);

gpuTest(
  "runContrastive finds the mistakes, ranks methods, and a gradient method beats random maps",
  async () => {
    const model = trap();
    const n = 12;
    const images = new Float32Array(n * 20).fill(0.3);
    for (let i = 0; i < n; i++) images[i * 20] = i < 8 ? 0.9 : 0; // 8 images have the culprit lit
    const test: Dataset = {
      name: "trap",
      images,
      labels: new Int32Array(n), // all truly class 0
      count: n,
      height: 4,
      width: 5,
      channels: 1,
      classNames: ["zero", "one"],
    };
    const result = await runContrastive({
      model,
      test,
      methods: ["gradient", "gradient_input", "integrated_gradients"],
      seed: 1,
    });
    assert.equal(result.misclassified, 8);
    assert.equal(result.testAccuracy, 4 / 12);
    assert.deepEqual(result.confusions, [{ true: 0, predicted: 1, count: 8 }]);
    assert.deepEqual(result.confusionMatrix, [[4, 8], [0, 0]]);
    assert.equal(result.examples.length, 8);
    for (const name of ["gradient_input", "integrated_gradients"]) {
      assert.equal(result.methods[name].flipToTrueAt5, 1, name);
    }
    assert.ok(result.randomBaseline.flipToTrueAt10 < 0.5);
    assert.equal(result.ranking.length, 3);
    assert.equal(result.pairMaps.length, 1);
    assert.equal(result.pairMaps[0].count, 8);
  },
);

/** The trap model's test set: 8 of 12 images have the culprit pixel lit and are mistakes. */
function trapTest(): Dataset {
  const n = 12;
  const images = new Float32Array(n * 20).fill(0.3);
  for (let i = 0; i < n; i++) images[i * 20] = i < 8 ? 0.9 : 0;
  return {
    name: "trap",
    images,
    labels: new Int32Array(n),
    count: n,
    height: 4,
    width: 5,
    channels: 1,
    classNames: ["zero", "one"],
  };
}

gpuTest(
  "a time budget: every method on every mistake when it pays for them, and the plan says so",
  async () => {
    const lines: string[] = [];
    const result = await runContrastive({
      model: trap(),
      test: trapTest(),
      methods: ["gradient", "occlusion", "integrated_gradients"],
      seed: 1,
      budgetSeconds: 600,
      log: (line) => lines.push(line),
    });
    assert.ok(result.plan, "the plan is recorded");
    for (const name of ["gradient", "occlusion", "integrated_gradients"]) {
      assert.equal(result.methods[name].examples, 8, name);
      const m = result.plan.methods[name];
      assert.ok(m.estimatedSecondsPerImage > 0 && m.planned === 8 && m.studied === 8 && m.seconds > 0, name);
    }
    assert.ok(result.plan.passSeconds.backward > 0 && result.plan.passSeconds.forward > 0);
    assert.ok(lines.some((l) => /^plan: 8 mistakes/.test(l)), lines.join("\n"));
    // Integrated Gradients reports each map's completeness: P, Q and their difference for every mistake.
    const c = result.methods.integrated_gradients.completeness!;
    assert.equal(c.maps.length, 3 * 8);
    assert.ok(
      c.maps.every((m) => m.error <= c.tolerance || m.steps >= 256),
      JSON.stringify(c.maps.slice(0, 3)),
    );
  },
);

gpuTest(
  "a time budget too small for one image of a method leaves it out with the times, before any work",
  async () => {
    const result = await runContrastive({
      model: trap(),
      test: trapTest(),
      methods: ["gradient", "occlusion"],
      seed: 1,
      budgetSeconds: 1e-3,
    });
    assert.deepEqual(result.methodsLeftOut.map((m) => m.name), ["gradient", "occlusion"]);
    for (const m of result.methodsLeftOut) assert.match(m.reason, /one image takes about .* raise --budget/);
    assert.deepEqual(result.ranking, []);
  },
);
