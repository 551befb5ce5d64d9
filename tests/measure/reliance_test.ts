import assert from "node:assert/strict";
import type { Dataset } from "../../src/data/dataset.ts";
import { tf } from "../../src/deps.ts";
import { cheats, relianceTests, tooLittleEvidence, VERDICT } from "../../src/measure/reliance.ts";
import { type Classifier, predictClasses } from "../../src/model/predict.ts";
import { squareShortcut } from "../../src/shortcuts/square.ts";
import { gpuTest } from "../gpu.ts";

/** 8x8 gray images: class c has mean brightness 0.1 + 0.2 c (classes 0..2). */
function data(): Dataset {
  const n = 30;
  const images = new Float32Array(n * 64);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = i % 3;
    images.fill(0.1 + 0.2 * labels[i], i * 64, (i + 1) * 64);
  }
  return {
    name: "toy",
    images,
    labels,
    count: n,
    height: 8,
    width: 8,
    channels: 1,
    classNames: ["a", "b", "c"],
  };
}

/** Predicts class 2 when pixel (2,2) is white (the square's place), else the class of its brightness. */
const cheater: Classifier = {
  predict: (x) =>
    tf.tidy(() => {
      const corner = x.slice([0, 2, 2, 0], [-1, 1, 1, 1]).reshape([-1, 1]);
      const mean = x.slice([0, 4, 4, 0], [-1, 4, 4, 1]).mean([1, 2, 3]).reshape([-1, 1]);
      const byBrightness = tf.neg(tf.abs(tf.sub(mean, tf.tensor2d([[0.1, 0.3, 0.5]]))));
      return tf.add(
        byBrightness,
        tf.mul(tf.equal(corner, 1).cast("float32"), tf.tensor2d([[0, 0, 10]])),
      ) as tf.Tensor2D;
    }),
};

/** Predicts by brightness of the lower-right quarter only: never looks at the square. */
const honest: Classifier = {
  predict: (x) =>
    tf.tidy(() => {
      const mean = x.slice([0, 4, 4, 0], [-1, 4, 4, 1]).mean([1, 2, 3]).reshape([-1, 1]);
      return tf.neg(tf.abs(tf.sub(mean, tf.tensor2d([[0.1, 0.3, 0.5]])))) as tf.Tensor2D;
    }),
};

gpuTest(
  "relianceTests: a cheater flips every other image and is flagged; an honest model is not",
  async () => {
    const square = squareShortcut({ tone: "light" });
    const r = await relianceTests(cheater, data(), 2, square, 1);
    assert.deepEqual(r, {
      withArtifact: 1,
      withoutArtifact: 1,
      flipRate: 1,
      baseFlipRate: 0,
      classImages: 10,
      otherImages: 20,
    });
    assert.equal(cheats(r), null, "10 images of the class are too few for a verdict");
    assert.equal(cheats(r, 10), true);
    // Clean predictions passed in (as the pipeline does) give the same numbers.
    const toy = data();
    const clean = await predictClasses(cheater, toy);
    assert.deepEqual(await relianceTests(cheater, toy, 2, square, 1, { cleanPredicted: clean }), r);
    const h = await relianceTests(honest, data(), 2, square, 1);
    assert.equal(h.flipRate, 0);
    assert.equal(h.withArtifact, 1);
    assert.equal(cheats(h, 10), false);
  },
);

Deno.test("cheats: the verdict's two thresholds", () => {
  const base = {
    withArtifact: 1,
    withoutArtifact: 1,
    flipRate: 0,
    baseFlipRate: 0,
    classImages: 20,
    otherImages: 20,
  };
  assert.equal(cheats(base), false);
  // Values exact in binary, so the thresholds are tested at their edge.
  assert.equal(cheats({ ...base, flipRate: 0.625, baseFlipRate: 0.125 }), true);
  assert.equal(cheats({ ...base, flipRate: 0.5625, baseFlipRate: 0.125 }), false);
  assert.equal(cheats({ ...base, withoutArtifact: 0.75 }), true);
  assert.equal(cheats({ ...base, withoutArtifact: 0.8125 }), false);
});

Deno.test("cheats: no verdict from fewer than 20 images of the class or of the others", () => {
  const clear = { withArtifact: 1, withoutArtifact: 0, flipRate: 1, baseFlipRate: 0 };
  assert.equal(VERDICT.minImages, 20);
  assert.equal(cheats({ ...clear, classImages: 20, otherImages: 20 }), true);
  assert.equal(cheats({ ...clear, classImages: 19, otherImages: 500 }), null);
  assert.equal(cheats({ ...clear, classImages: 500, otherImages: 19 }), null);
  // A class with no test images: its accuracies are NaN, and no verdict is drawn from them.
  const none = { withArtifact: NaN, withoutArtifact: NaN, flipRate: 0, baseFlipRate: 0, classImages: 0 };
  assert.equal(cheats({ ...none, otherImages: 9 }), null);
  assert.equal(
    tooLittleEvidence({ classImages: 0, otherImages: 9 }),
    "no test images of the class; a verdict needs at least 20",
  );
  assert.equal(
    tooLittleEvidence({ classImages: 40, otherImages: 1 }),
    "only 1 test image of the other classes; a verdict needs at least 20",
  );
  assert.equal(tooLittleEvidence({ classImages: 20, otherImages: 20 }), null);
});
