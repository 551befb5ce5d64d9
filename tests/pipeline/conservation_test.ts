import assert from "node:assert/strict";
import { tf } from "../../src/deps.ts";
import type { Dataset } from "../../src/data/dataset.ts";
import { fromLayersModel } from "../../src/explain/explainable_model.ts";
import { runContrastive, summarizeConservation } from "../../src/pipeline/contrastive.ts";
import { Rng } from "../../src/rng.ts";
import { gpuTest } from "../gpu.ts";

Deno.test("the conservation summary keeps each map's ratio, nulls a zero logit's, and counts those near 1", () => {
  const summary = summarizeConservation([
    { p: { conservation: [1, 0.5] }, q: { conservation: [1.05, Infinity] } },
    { p: { conservation: [-2] }, q: { conservation: [NaN] } },
  ]);
  assert.deepEqual(summary.maps, [
    { example: 0, target: "p", ratio: 1 },
    { example: 0, target: "q", ratio: 1.05 },
    { example: 1, target: "p", ratio: 0.5 },
    { example: 1, target: "q", ratio: null },
    { example: 2, target: "p", ratio: -2 },
    { example: 2, target: "q", ratio: null },
  ]);
  assert.equal(summary.withinTenPercent, 2 / 6);
  assert.deepEqual([summary.minRatio, summary.medianRatio, summary.maxRatio], [-2, 0.5, 1.05]);
});

gpuTest(
  "a contrastive run records LRP's conservation: 1 for every map of a ReLU net without biases",
  async () => {
    // conv → ReLU → flatten → dense, no biases: LRP-0 and α1β0 conserve the logit exactly (Σ R = logit).
    const net = tf.sequential({
      layers: [
        tf.layers.conv2d({
          inputShape: [6, 6, 1],
          filters: 3,
          kernelSize: 3,
          activation: "relu",
          useBias: false,
          kernelInitializer: tf.initializers.randomNormal({ seed: 2 }),
        }),
        tf.layers.flatten(),
        tf.layers.dense({
          units: 3,
          useBias: false,
          kernelInitializer: tf.initializers.randomNormal({ seed: 3 }),
        }),
      ],
    });
    const model = fromLayersModel(net);
    const rng = new Rng(5);
    const n = 24;
    const images = Float32Array.from({ length: n * 36 }, () => rng.next());
    const predicted = tf.tidy(() => model.logits(tf.tensor4d(images, [n, 6, 6, 1])).argMax(1));
    const logits = await predicted.data();
    predicted.dispose();
    // Every image labelled one class after its prediction: all are mistakes, with known P.
    const labels = Int32Array.from(logits, (p) => (p + 1) % 3);
    const test: Dataset = {
      name: "relu-net",
      images,
      labels,
      count: n,
      height: 6,
      width: 6,
      channels: 1,
      classNames: ["a", "b", "c"],
    };
    const result = await runContrastive({
      model,
      test,
      methods: ["lrp_alpha_beta", "gradient"],
      methodOptions: { lrp_alpha_beta: { inputRule: "alphaBeta" } },
      seed: 1,
    });
    const conservation = result.methods.lrp_alpha_beta.conservation!;
    assert.equal(conservation.maps.length, 2 * result.methods.lrp_alpha_beta.examples);
    for (const { ratio, target } of conservation.maps) {
      // A Q logit ≤ 0 leaves α1β0 nothing positive to pass back where it has no positive contribution.
      if (ratio !== null && target === "p") assert.ok(Math.abs(ratio - 1) < 1e-3, `ratio ${ratio}`);
    }
    assert.equal(result.methods.gradient.conservation, undefined);
    net.dispose();
  },
);
