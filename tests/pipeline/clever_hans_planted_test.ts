/**
 * The clever-hans analysis against a known answer: a hand-built model that reads only the pixels of a custom
 * artifact (a 3×3 dot in the bottom-right corner, a `Shortcut` of the test's own). Pasting the dot must turn
 * every other image into its class, removing it must take the class away, and the gradient and Integrated
 * Gradients must put all their relevance on the dot, so concentration is exactly 1 / the dot's share of the
 * image. `--control` runs the same plumbing for the control model.
 */
import assert from "node:assert/strict";
import type { Dataset } from "../../src/data/dataset.ts";
import { tf } from "../../src/deps.ts";
import { runCleverHans } from "../../src/pipeline/clever_hans.ts";
import { cleverHansMetrics } from "../../src/pipeline/clever_hans_metrics.ts";
import { Rng } from "../../src/rng.ts";
import type { Shortcut } from "../../src/shortcuts/shortcut.ts";
import { gpuTest } from "../gpu.ts";

const H = 12, W = 12, CLASSES = 3;

/** A 3×3 dot of value 1 at rows and columns 8..10. */
const dot: Shortcut = {
  name: "dot",
  description: "a white 3×3 dot near the bottom-right corner",
  stamp(image, shape) {
    const mask = new Uint8Array(shape.height * shape.width);
    for (let y = 8; y < 11; y++) {
      for (let x = 8; x < 11; x++) {
        image[y * shape.width + x] = 1;
        mask[y * shape.width + x] = 1;
      }
    }
    return mask;
  },
};

function noise(count: number, seed: number): Dataset {
  const rng = new Rng(seed);
  return {
    name: "noise",
    images: Float32Array.from({ length: count * H * W }, () => 0.2 * rng.next()),
    labels: Int32Array.from({ length: count }, (_, i) => i % CLASSES),
    count,
    height: H,
    width: W,
    channels: 1,
    classNames: ["zero", "one", "two"],
  };
}

/** Class 0's logit is 10 × (sum of the dot's pixels − 4.5): about +45 with the dot, below −30 without. */
function planted(): tf.LayersModel {
  const net = tf.sequential({
    layers: [tf.layers.flatten({ inputShape: [H, W, 1] }), tf.layers.dense({ units: CLASSES })],
  });
  const kernel = new Float32Array(H * W * CLASSES);
  for (let y = 8; y < 11; y++) for (let x = 8; x < 11; x++) kernel[(y * W + x) * CLASSES + 0] = 10;
  net.layers[1].setWeights([tf.tensor2d(kernel, [H * W, CLASSES]), tf.tensor1d([-45, 0, -1])]);
  return net;
}

gpuTest(
  "a planted model that reads only a custom artifact: the verdict, the relevance and the control",
  async () => {
    const result = await runCleverHans({
      data: { train: noise(30, 1), test: noise(60, 2) },
      plan: { entries: [{ label: 0, shortcut: dot, rate: 1 }] },
      seed: 1,
      epochs: 1,
      mapsPerClass: 6,
      methods: ["gradient", "integrated_gradients"],
      spray: false,
      control: true,
      makeModel: () =>
        Promise.resolve({
          model: planted(),
          result: { epochs: 0, size: 0, seconds: 0, samplesPerSecond: 0, finalLoss: 0, finalAccuracy: 0 },
        }),
    });
    const metrics = cleverHansMetrics(result, {
      dataset: "noise",
      seed: 1,
      testSize: 60,
      seconds: 0,
      tfjs: tf.version.tfjs,
      sprayMethod: "none",
    });
    const s = metrics.shortcuts[0];
    assert.equal(s.artifact, "dot");
    // Every other image with the dot pasted becomes class 0; class 0 without it never is; with it, always.
    assert.equal(s.flipRate, 1);
    assert.equal(s.accuracy.withArtifact, 1);
    assert.equal(s.accuracy.withoutArtifact, 0);
    assert.equal(s.cheats, true);
    const area = 9 / (H * W);
    for (const name of ["gradient", "integrated_gradients"]) {
      const r = s.relevance[name];
      assert.ok(Math.abs(r.areaFraction - area) < 1e-9, `${name} area ${r.areaFraction}`);
      assert.ok(
        Math.abs(r.massInArtifact - 1) < 1e-5,
        `${name}: all relevance on the dot (${r.massInArtifact})`,
      );
      assert.ok(
        Math.abs(r.concentration - 1 / area) < 1e-3,
        `${name}: concentration ${r.concentration} = ${1 / area}`,
      );
      assert.equal(r.pointingGame, 1, `${name} points at the dot`);
      assert.equal(metrics.methodFindsArtifact[name]["0:dot"], true);
    }
    // The control model went through the same analysis (here the same planted reader, so it cheats too).
    assert.equal(metrics.control?.shortcuts.length, 1);
    assert.equal(metrics.control?.shortcuts[0].cheats, true);
    result.model.dispose();
  },
);
