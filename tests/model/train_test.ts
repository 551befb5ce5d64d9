import assert from "node:assert/strict";
import type { Dataset } from "../../src/data/dataset.ts";
import { tf } from "../../src/deps.ts";
import { cheats, relianceTests } from "../../src/measure/reliance.ts";
import { createCnn } from "../../src/model/cnn.ts";
import { saveModel } from "../../src/model/io.ts";
import { loadModel } from "../../src/explain/load.ts";
import { asClassifier, predictLogits } from "../../src/model/predict.ts";
import { trainModel } from "../../src/model/train.ts";
import { Rng } from "../../src/rng.ts";
import { parsePlan, stampDataset } from "../../src/shortcuts/plan.ts";
import { gpuTest, maxAbsDiff } from "../gpu.ts";

/** Noise images in three classes that carry no label information; only a planted artifact can tell them apart. */
function noise(n: number, seed: number): Dataset {
  const rng = new Rng(seed);
  return {
    name: "noise",
    images: Float32Array.from({ length: n * 144 }, () => 0.5 * rng.next()),
    labels: Int32Array.from({ length: n }, () => rng.int(3)),
    count: n,
    height: 12,
    width: 12,
    channels: 1,
    classNames: ["a", "b", "c"],
  };
}

const small = {
  height: 12,
  width: 12,
  channels: 1,
  classes: 3,
  filters: [4, 8] as [number, number],
  hidden: 16,
};

gpuTest("a tiny CNN learns a planted square, and the reliance tests catch it", async () => {
  const plan = parsePlan(["1=square"], [], { classCount: 3, tone: "light" });
  const train = stampDataset(noise(600, 1), plan, 2).data;
  const before = tf.memory().numTensors;
  const model = createCnn({ ...small, seed: 3 });
  const result = await trainModel(model, train, {
    epochs: 4,
    batchSize: 32,
    learningRate: 0.01,
    onProgress: () => {},
  });
  assert.ok(result.samplesPerSecond > 0);
  const r = await relianceTests(asClassifier(model), noise(300, 9), 1, plan.entries[0].shortcut, 4);
  assert.ok(r.withArtifact >= 0.95, `with artifact ${r.withArtifact}`);
  assert.ok(r.withoutArtifact <= 0.1, `without artifact ${r.withoutArtifact}`);
  assert.ok(r.flipRate >= 0.95, `flip rate ${r.flipRate}`);
  assert.equal(cheats(r), true);
  model.dispose();
  assert.equal(tf.memory().numTensors - before, 0, "training (19 steps × 4 epochs) leaves no tensor behind");
});

gpuTest(
  "training with the same seed reproduces; a saved model loads back with the same outputs",
  async () => {
    const data = noise(128, 5);
    const losses: number[] = [];
    const models: tf.LayersModel[] = [];
    for (let run = 0; run < 2; run++) {
      const model = createCnn({ ...small, seed: 7 });
      losses.push(
        (await trainModel(model, data, { epochs: 1, batchSize: 32, seed: 8, onProgress: () => {} }))
          .finalLoss,
      );
      models.push(model);
    }
    assert.ok(Math.abs(losses[0] - losses[1]) < 1e-5, `${losses}`);
    const a = await predictLogits(asClassifier(models[0]), data);
    const b = await predictLogits(asClassifier(models[1]), data);
    assert.ok(maxAbsDiff(a.logits, b.logits) < 1e-4);
    const dir = await Deno.makeTempDir();
    try {
      await saveModel(models[0], dir);
      const loaded = (await loadModel(dir)).model as tf.LayersModel;
      const c = await predictLogits(asClassifier(loaded), data);
      assert.ok(maxAbsDiff(a.logits, c.logits) < 1e-6);
      loaded.dispose();
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
    models.forEach((m) => m.dispose());
  },
);
