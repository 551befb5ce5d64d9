/**
 * SpRAy over a test set draws no conclusion from too little evidence: a class of fewer than 20 maps, or too
 * few such classes to compare with (a class is judged against the others' median), is neither flagged nor
 * cleared, and says why.
 */
import assert from "node:assert/strict";
import type { Dataset } from "../../src/data/dataset.ts";
import { tf } from "../../src/deps.ts";
import { SPRAY_MIN_MAPS, sprayAnalysis } from "../../src/pipeline/spray_analysis.ts";
import { Rng } from "../../src/rng.ts";
import { gpuTest } from "../gpu.ts";

const H = 8, W = 8;

/** Noise images of `counts[k]` images of class k. */
function data(counts: number[]): Dataset {
  const rng = new Rng(5);
  const labels = counts.flatMap((n, k) => new Array(n).fill(k));
  return {
    name: "noise",
    images: Float32Array.from({ length: labels.length * H * W }, () => rng.next()),
    labels: Int32Array.from(labels),
    count: labels.length,
    height: H,
    width: W,
    channels: 1,
    classNames: counts.map((_, k) => `c${k}`),
  };
}

/** A linear model over the pixels, its weights seeded: enough for gradient × input maps. */
function linear(classes: number) {
  const w = tf.randomNormal([H * W, classes], 0, 1, "float32", 3);
  return {
    model: {
      classes,
      logits: (x: tf.Tensor4D) => tf.matMul(x.reshape([-1, H * W]), w) as tf.Tensor2D,
    },
    dispose: () => w.dispose(),
  };
}

gpuTest(
  "sprayAnalysis: no verdict for a class of few maps, nor when fewer than three classes can be compared",
  async () => {
    const three = linear(3);
    const four = linear(4);
    try {
      const plan = { entries: [] };
      const enough = SPRAY_MIN_MAPS;
      // Three classes of enough maps: each is flagged or cleared; a fourth of 5 maps is not.
      const judged = await sprayAnalysis(four.model, data([enough, enough, enough, 5]), plan, { seed: 1 });
      assert.deepEqual(judged.slice(0, 3).map((c) => typeof c.flagged), ["boolean", "boolean", "boolean"]);
      assert.deepEqual(judged.slice(0, 3).map((c) => c.flagNote), [null, null, null]);
      assert.equal(judged[3].flagged, null);
      assert.equal(judged[3].flagNote, "only 5 maps; SpRAy needs at least 20");
      // Two classes of enough maps cannot be judged against a median of others.
      const two = await sprayAnalysis(three.model, data([enough, enough, 3]), plan, { seed: 1 });
      assert.deepEqual(two.map((c) => c.flagged), [null, null, null]);
      assert.equal(
        two[0].flagNote,
        "only one other class of at least 20 maps to compare with; SpRAy needs three classes",
      );
      assert.equal(two[2].flagNote, "only 3 maps; SpRAy needs at least 20");
    } finally {
      three.dispose();
      four.dispose();
    }
  },
);
