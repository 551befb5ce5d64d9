import assert from "node:assert/strict";
import { loadDataset } from "../../src/data/mod.ts";
import { HansError } from "../../src/errors.ts";
import { createCnn } from "../../src/model/cnn.ts";
import { saveModel } from "../../src/model/io.ts";
import { trainModel } from "../../src/model/train.ts";
import { contrastiveTask } from "../../tasks/contrastive.ts";
import { gpuTest } from "../gpu.ts";
import { FASHION_MNIST_CLASS_NAMES } from "../../src/data/fashion_mnist.ts";
import { METHODS } from "../../src/explain/registry.ts";
import { checkContrastiveReport } from "../report/answer_checks.ts";
import { filesUnder } from "./files.ts";

const labels = Object.fromEntries(METHODS.map((x) => [x.name, x.label]));

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
    assert.equal(m.dataset, "fashion-mnist");
    assert.equal(m.seed, 1);
    assert.equal(m.testSize, 150);
    assert.deepEqual(m.methodsAsked, ["gradient", "integrated_gradients", "grad_cam"]);
    assert.deepEqual(m.methodsLeftOut, []);
    assert.deepEqual(m.methodsFailed, []);
    assert.deepEqual(
      [m.settings.quick, m.settings.examples, m.settings.testSize, m.settings.methods],
      [true, 6, 150, "gradient,integrated_gradients,grad_cam"],
    );
    assert.ok(m.misclassified >= 6, "a one-epoch model makes mistakes");
    assert.equal(m.examples.length, 6);
    for (const e of m.examples) {
      assert.notEqual(e.true, e.predicted);
      assert.ok(e.confidence > 0 && e.confidence <= 1);
    }
    const confidences = m.examples.map((e: { confidence: number }) => e.confidence);
    assert.deepEqual(
      confidences,
      [...confidences].sort((a, b) => b - a),
      "the most confident mistakes first",
    );
    assert.equal(m.confusions.reduce((n: number, c: { count: number }) => n + c.count, 0), m.misclassified);
    assert.ok(Math.abs(m.testAccuracy - (1 - m.misclassified / 150)) < 1e-9);
    assert.deepEqual(Object.keys(m.methods).sort(), ["grad_cam", "gradient", "integrated_gradients"]);
    for (const s of Object.values(m.methods) as Record<string, number>[]) {
      // The time budget may trim a slow method to its first mistakes on a loaded machine.
      assert.ok(Number.isInteger(s.examples) && s.examples >= 1 && s.examples <= 6, `${s.examples}`);
      for (
        const k of ["meanCorrelation", "meanTopOverlap", "flipToTrueAt5", "flipToTrueAt10", "marginDrop"]
      ) {
        assert.equal(typeof s[k], "number", k);
      }
    }
    assert.deepEqual(Object.keys(m.randomBaseline).sort(), ["flipToTrueAt10", "flipToTrueAt5", "marginDrop"]);
    // The ranking: the gain of flip-to-true at 10% over random maps on the same mistakes first, then that of
    // the margin drop, ties in the order asked. Random maps on all mistakes are the baseline itself.
    const asked = ["gradient", "integrated_gradients", "grad_cam"];
    type Removal = { flipToTrueAt10: number; marginDrop: number };
    const score = (n: string) => m.methods[n] as Removal & { random: Removal };
    for (const n of asked) {
      if (m.methods[n].examples === m.examples.length) assert.deepEqual(score(n).random, m.randomBaseline, n);
    }
    const gain = (n: string, k: keyof Removal) => score(n)[k] - score(n).random[k];
    assert.deepEqual(
      m.ranking,
      [...asked].sort((a, b) =>
        (Math.abs(gain(b, "flipToTrueAt10") - gain(a, "flipToTrueAt10")) < 1e-9
          ? 0
          : gain(b, "flipToTrueAt10") - gain(a, "flipToTrueAt10")) ||
        gain(b, "marginDrop") - gain(a, "marginDrop")
      ),
    );
    // The verdict: the top method when it beats random maps by √(2/n) over the n mistakes it studied
    // (0.577 for all 6).
    const n = m.methods[m.ranking[0]].examples;
    assert.deepEqual([m.verdict.mistakes, m.verdict.margin], [n, Math.max(Math.sqrt(2 / n), 1 / n)]);
    // Random maps on the same n mistakes: over all of them, that is the random baseline itself.
    if (n === m.examples.length) assert.equal(m.verdict.random, m.randomBaseline.flipToTrueAt10);
    assert.equal(
      m.verdict.best,
      score(m.ranking[0]).flipToTrueAt10 - m.verdict.random >= m.verdict.margin - 1e-9 ? m.ranking[0] : null,
    );
    // The files a user gets: a figure per method, and the confusion pairs' figure when a pair repeats.
    const pairs = m.examples.map((e: { true: number; predicted: number }) => `${e.true}:${e.predicted}`);
    const repeats = pairs.some((p: string, i: number) => pairs.indexOf(p) !== i);
    assert.deepEqual(
      filesUnder(out),
      [
        ...(repeats ? ["confusion-pairs.svg"] : []),
        "contrastive-grad_cam.svg",
        "contrastive-gradient.svg",
        "contrastive-integrated_gradients.svg",
        "metrics.json",
        "report.html",
      ],
    );
    const html = await Deno.readTextFile(`${out}/report.html`);
    checkContrastiveReport(html, m, labels, [...FASHION_MNIST_CLASS_NAMES]);
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
