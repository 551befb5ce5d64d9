import assert from "node:assert/strict";
import { loadDataset } from "../../src/data/mod.ts";
import { HansError } from "../../src/errors.ts";
import { createCnn } from "../../src/model/cnn.ts";
import { saveModel } from "../../src/model/io.ts";
import { trainModel } from "../../src/model/train.ts";
import { contrastiveTask } from "../../tasks/contrastive.ts";
import { gpuTest } from "../gpu.ts";

gpuTest("contrastive on a small Fashion-MNIST model writes the documented metrics and figures", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { train } = await loadDataset("fashion-mnist", { seed: 1, trainSize: 600, testSize: 10 });
    const model = createCnn({
      height: 28,
      width: 28,
      channels: 1,
      classes: 10,
      seed: 1,
      filters: [4, 8],
      hidden: 16,
    });
    await trainModel(model, train, { epochs: 1, onProgress: () => {} });
    await Deno.mkdir(`${dir}/model`);
    await saveModel(model, `${dir}/model`);
    model.dispose();
    const out = `${dir}/run`;
    await contrastiveTask([
      "--model",
      `${dir}/model`,
      "--test-size=150",
      "--examples=6",
      "--methods=gradient,integrated_gradients,grad_cam",
      "--quick",
      `--out=${out}`,
    ]);
    const m = JSON.parse(await Deno.readTextFile(`${out}/metrics.json`));
    assert.equal(m.task, "contrastive");
    assert.equal(m.testSize, 150);
    assert.ok(m.misclassified >= 6, "a one-epoch model makes mistakes");
    assert.equal(m.examples.length, 6);
    for (const e of m.examples) {
      assert.notEqual(e.true, e.predicted);
      assert.ok(e.confidence > 0 && e.confidence <= 1);
    }
    assert.equal(m.confusions.reduce((n: number, c: { count: number }) => n + c.count, 0), m.misclassified);
    assert.ok(Math.abs(m.testAccuracy - (1 - m.misclassified / 150)) < 1e-9);
    assert.deepEqual(Object.keys(m.methods).sort(), ["grad_cam", "gradient", "integrated_gradients"]);
    for (const s of Object.values(m.methods) as Record<string, number>[]) {
      for (
        const k of ["meanCorrelation", "meanTopOverlap", "flipToTrueAt5", "flipToTrueAt10", "marginDrop"]
      ) {
        assert.equal(typeof s[k], "number", k);
      }
    }
    assert.deepEqual(Object.keys(m.randomBaseline).sort(), ["flipToTrueAt10", "flipToTrueAt5", "marginDrop"]);
    assert.equal(m.ranking.length, 3);
    for (const f of ["contrastive-gradient.svg", "contrastive-grad_cam.svg", "report.html"]) {
      await Deno.stat(`${out}/${f}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

gpuTest(
  "contrastive: a missing model or one whose input does not fit the images is a HansError",
  async () => {
    const dir = await Deno.makeTempDir();
    try {
      await assert.rejects(contrastiveTask(["--model", `${dir}/nope`, "--out", `${dir}/a`]), HansError);
      const small = createCnn({ height: 8, width: 8, channels: 1, classes: 10, filters: [2, 2], hidden: 4 });
      await Deno.mkdir(`${dir}/small`);
      await saveModel(small, `${dir}/small`);
      await assert.rejects(
        contrastiveTask(["--model", `${dir}/small`, "--test-size=20", "--out", `${dir}/b`]),
        (e: Error) => e instanceof HansError && /8x8x1/.test(e.message),
      );
      assert.deepEqual(
        [...Deno.readDirSync(dir)].map((e) => e.name).sort(),
        ["small"],
        "no results folder is left",
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
