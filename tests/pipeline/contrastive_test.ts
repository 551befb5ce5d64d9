import assert from "node:assert/strict";
import type { Dataset } from "../../src/data/dataset.ts";
import { fromLayersModel } from "../../src/explain/explainable_model.ts";
import { runContrastive } from "../../src/pipeline/contrastive.ts";
import { gpuTest, linearModel } from "../gpu.ts";
import { trapModel } from "../fixtures/trap_model.ts";

gpuTest(
  "runContrastive finds the mistakes, ranks methods, and a gradient method beats random maps",
  async () => {
    const model = trapModel();
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
      model: trapModel(),
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
      model: trapModel(),
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

/**
 * A 2-class linear model on 4x5 gray images whose mistakes have two known causes: logit0 = 0.5 · sum(x),
 * logit1 = 0.5 · sum(x) + 10 · x[0] + 20 · x[5] + 20 · x[6] − 1, so the margin logit1 − logit0 is
 * 10 · x[0] + 20 · x[5] + 20 · x[6] − 1 and Gradient × input is each pixel's exact share of it.
 * Kind A (4 mistakes): x[0] = 0.9, x[5] = x[6] = 0 (margin 8). Kind B (4): x[0] = 0, x[5] = x[6] = 0.3
 * (margin 11). 4 more images (x[0] = x[5] = x[6] = 0) are classified right. Other pixels are 0.3 and weigh 0.
 * The removal test blacks out the top 1 (5%) and top 2 (10%) of 20 pixels, ties broken by lower index.
 */
function twoCauses(): { model: ReturnType<typeof fromLayersModel>; test: Dataset } {
  const kernel = new Float32Array(20 * 2).fill(0.5);
  for (const [pixel, w] of [[0, 10], [5, 20], [6, 20]]) kernel[pixel * 2 + 1] += w;
  const model = fromLayersModel(linearModel([4, 5, 1], kernel, new Float32Array([0, -1])));
  const n = 12;
  const images = new Float32Array(n * 20).fill(0.3);
  for (let i = 0; i < n; i++) {
    images[i * 20] = i < 4 ? 0.9 : 0;
    images[i * 20 + 5] = images[i * 20 + 6] = i >= 4 && i < 8 ? 0.3 : 0;
  }
  const test: Dataset = {
    name: "two causes",
    images,
    labels: new Int32Array(n),
    count: n,
    height: 4,
    width: 5,
    channels: 1,
    classNames: ["zero", "one"],
  };
  return { model, test };
}

gpuTest(
  "the ranking's order: the map that finds each mistake's cause first, one blind to the input next, one " +
    "explaining against a white image last",
  async () => {
    const { model, test } = twoCauses();
    const result = await runContrastive({
      model,
      test,
      // Listed in the reverse of the expected order, so the stable sort cannot give it by accident.
      methods: ["integrated_gradients", "gradient", "gradient_input"],
      // Against a white image every pixel of this model is at most 0 ((x − 1) · w, w ≥ 0): the top pixels
      // are the first zero-weight ones, whose removal changes nothing.
      methodOptions: { integrated_gradients: { baseline: 1 } },
      seed: 1,
    });
    assert.equal(result.misclassified, 8);
    assert.equal(result.examples.length, 8);
    const s = result.methods;
    // Gradient × input: kind A's top pixel is x[0] (9; margin −1 without it), kind B's top two are x[5] and
    // x[6] (6 each; margin −1 without both, 5 without one).
    assert.equal(s.gradient_input.flipToTrueAt5, 0.5);
    assert.equal(s.gradient_input.flipToTrueAt10, 1);
    assert.ok(Math.abs(s.gradient_input.marginDrop - (9 + 12) / 2) < 1e-3, `${s.gradient_input.marginDrop}`);
    // Gradient: |w| ranks x[5] and x[6] top whatever the image, which are already black in kind A.
    assert.equal(s.gradient.flipToTrueAt5, 0);
    assert.equal(s.gradient.flipToTrueAt10, 0.5);
    assert.ok(Math.abs(s.gradient.marginDrop - (0 + 12) / 2) < 1e-3, `${s.gradient.marginDrop}`);
    // Integrated Gradients from white: x[1] and x[2] (weight 0) are blacked out, nothing flips.
    assert.equal(s.integrated_gradients.flipToTrueAt10, 0);
    assert.ok(Math.abs(s.integrated_gradients.marginDrop) < 1e-3, `${s.integrated_gradients.marginDrop}`);
    assert.deepEqual(result.ranking, ["gradient_input", "gradient", "integrated_gradients"]);
    // 8 mistakes: the margin is √(2/8) = 0.5; random pixels rarely hit x[0] (kind A) or both x[5] and x[6].
    assert.equal(result.verdict.margin, 0.5);
    assert.equal(result.verdict.mistakes, 8);
    assert.ok(result.randomBaseline.flipToTrueAt10 <= 0.5, `${result.randomBaseline.flipToTrueAt10}`);
    assert.equal(result.verdict.best, "gradient_input");
    // The mean map per confusion pair is the best method's.
    assert.deepEqual(result.pairMaps.map((m) => [m.method, m.count]), [["gradient_input", 8]]);
  },
);
