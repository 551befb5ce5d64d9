import assert from "node:assert/strict";
import { counterfactualTask } from "../../tasks/counterfactual.ts";
import { pretrainTask } from "../../tasks/pretrain.ts";
import { CIFAR10_CLASS_NAMES } from "../../src/data/cifar10.ts";
import { FASHION_MNIST_CLASS_NAMES } from "../../src/data/fashion_mnist.ts";
import { HansError } from "../../src/errors.ts";
import { mapColor } from "../../src/report/colormap.ts";
import { svgImages, svgTexts } from "../report/svg_figure.ts";
import { cifarBatch, withTempDir } from "../data/helpers.ts";
import { gpuTest } from "../gpu.ts";
import { checkCounterfactualReport } from "../report/answer_checks.ts";
import { filesUnder } from "./files.ts";

/** The saliency methods the change is compared with, as the report names them. */
const SALIENCY_LABELS = { gradient: "Gradient", gradient_input: "Gradient × input" };

/** The summary fields of both runs: rates, medians, and per saliency method the median ρ and its baseline. */
function assertSummary(m: Record<string, unknown>): void {
  for (const k of ["successRate", "medianL1", "medianL0", "transferRate"]) assert.ok(k in m, k);
  for (const k of ["medianSaliencyCorrelation", "medianSaliencyCorrelationBaseline"]) {
    const rho = m[k] as Record<string, number | null>;
    assert.deepEqual(Object.keys(rho), ["gradient", "gradient_input"], k);
    for (const r of Object.values(rho)) assert.ok(r === null || Math.abs(r) <= 1 + 1e-9, `${k} ${r}`);
  }
}

/** The fields every optimized example has, without and with the prior. */
function assertExample(e: Record<string, unknown>): void {
  for (const k of ["l0", "l1", "l2", "probTrue", "steps", "reconstructionError"]) {
    assert.equal(typeof e[k], "number", k);
  }
  assert.equal(typeof e.success, "boolean");
  assert.equal(typeof e.transfers, "boolean");
  for (const k of ["saliencyCorrelation", "saliencyCorrelationBaseline"]) {
    const rho = e[k] as Record<string, number | null>;
    assert.deepEqual(Object.keys(rho), ["gradient", "gradient_input"], k);
    for (const r of Object.values(rho)) {
      assert.ok(r === null || (r >= -1 - 1e-9 && r <= 1 + 1e-9), `${k} ${r}`);
    }
  }
  if (e.success) {
    // A success changed something, and the map of its own mistake is not constant.
    assert.equal(typeof (e.saliencyCorrelation as Record<string, number>).gradient, "number");
    assert.ok(
      (e.probTrue as number) > 0.15,
      `a successful counterfactual is in its true class: ${e.probTrue}`,
    );
  } else {
    assert.equal(e.l1, 0, "a failed example keeps the original");
    assert.deepEqual(e.saliencyCorrelation, { gradient: null, gradient_input: null }, "no change, no ρ");
    assert.equal(e.transfers, false, "only successes can transfer");
  }
}

gpuTest(
  "counterfactual --quick on the shipped model writes the documented metrics, with and without the prior",
  async () => {
    const dir = await Deno.makeTempDir();
    try {
      const out = `${dir}/run`;
      await counterfactualTask([
        "--quick",
        "--test-size=200",
        "--examples=4",
        "--steps=30",
        "--rounds=1",
        "--prior-weight=0.5",
        `--out=${out}`,
      ]);
      const m = JSON.parse(await Deno.readTextFile(`${out}/metrics.json`));
      assert.equal(m.task, "counterfactual");
      assert.equal(m.dataset, "fashion-mnist");
      assert.equal(m.examples.length, 4);
      assert.equal(new Set(m.examples.map((e: { index: number }) => e.index)).size, 4, "4 distinct mistakes");
      assert.deepEqual(filesUnder(out), ["counterfactuals.svg", "metrics.json", "report.html"]);
      assert.deepEqual(
        [
          m.settings.quick,
          m.settings.steps,
          m.settings.rounds,
          m.settings.examples,
          m.settings.testSize,
          m.settings.priorWeight,
        ],
        [true, 30, 1, 4, 200, 0.5],
        JSON.stringify(m.settings),
      );
      for (const e of m.examples) {
        assert.notEqual(e.true, e.predicted, "only mistakes are optimized");
        assertExample(e);
      }
      assertSummary(m);
      const ok0 = m.examples.filter((e: { success: boolean }) => e.success);
      assert.equal(m.successRate, ok0.length / 4);
      // The summary is the upper median of the successes and their share that transfers.
      const upperMedian = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
      assert.equal(m.medianL1, upperMedian(ok0.map((e: { l1: number }) => e.l1)));
      assert.equal(m.medianL0, upperMedian(ok0.map((e: { l0: number }) => e.l0)));
      assert.equal(
        m.transferRate,
        ok0.filter((e: { transfers: boolean }) => e.transfers).length / ok0.length,
      );
      // The shipped model's confident mistakes flip within 30 steps; a broken optimizer would give none.
      assert.ok(ok0.length >= 2, `successes: ${ok0.length} of 4`);
      const rhos = ok0.map((e: { saliencyCorrelation: { gradient: number } }) =>
        e.saliencyCorrelation.gradient
      )
        .sort((a: number, b: number) => a - b);
      assert.equal(
        m.medianSaliencyCorrelation.gradient,
        rhos[Math.floor(rhos.length / 2)],
        "median of successes",
      );
      const p = m.withPrior;
      assert.equal(p.gamma, 0.5);
      assertSummary(p);
      for (const k of ["successRate", "medianL1", "medianL0", "transferRate"]) {
        assert.equal(typeof p[k], typeof m[k], k);
      }
      assert.deepEqual(
        p.examples.map((e: { index: number }) => e.index),
        m.examples.map((e: { index: number }) => e.index),
      );
      for (const e of p.examples) assertExample(e);
      const ok = p.examples.filter((e: { success: boolean }) => e.success);
      assert.equal(p.successRate, ok.length / 4);
      assert.ok(ok.length >= 2, `successes with the prior: ${ok.length} of 4`);
      assert.equal(p.transferRate, ok.filter((e: { transfers: boolean }) => e.transfers).length / ok.length);
      for (const k of ["original", "withoutPrior", "withPrior"]) {
        assert.ok(k in p.medianReconstructionError, k);
      }
      assert.equal(p.autoencoder.trainSize, 600);
      assert.ok(p.autoencoder.finalLoss > 0 && Number.isFinite(p.autoencoder.finalLoss));
      const html = await Deno.readTextFile(`${out}/report.html`);
      checkCounterfactualReport(html, m, SALIENCY_LABELS, [...FASHION_MNIST_CLASS_NAMES]);
      assert.match(html, /with the autoencoder prior \(γ = 0\.5\)/);
      assert.match(html, /the transfer rate is .* against .* without it/);
      assert.match(html, /Median Spearman ρ over the successes between \|x′ − x\|/);
      await Deno.stat(`${out}/counterfactuals.svg`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

gpuTest("counterfactual --no-prior trains no autoencoder and writes withPrior: null", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const out = `${dir}/run`;
    await counterfactualTask([
      "--quick",
      "--no-prior",
      "--test-size=100",
      "--examples=2",
      "--steps=10",
      "--rounds=1",
      `--transfer-model=${new URL("../../fixtures/fashion-mnist-cnn", import.meta.url).pathname}`,
      `--out=${out}`,
    ]);
    const m = JSON.parse(await Deno.readTextFile(`${out}/metrics.json`));
    assert.equal(m.withPrior, null);
    assert.deepEqual(filesUnder(out), ["counterfactuals.svg", "metrics.json", "report.html"]);
    checkCounterfactualReport(
      await Deno.readTextFile(`${out}/report.html`),
      m,
      SALIENCY_LABELS,
      [...FASHION_MNIST_CLASS_NAMES],
    );
    assert.equal(m.examples.length, 2);
    for (const e of m.examples) assert.equal("reconstructionError" in e, false);
    assert.match(await Deno.readTextFile(`${out}/report.html`), /was not run \(--no-prior\)/);
    // The figure: per mistake original | saliency | counterfactual | change, labelled in words.
    const svg = await Deno.readTextFile(`${out}/counterfactuals.svg`);
    const words = svgTexts(svg).map((t) => t.content);
    for (const w of ["original", "saliency", "without prior", "change x′ − x"]) {
      assert.ok(words.includes(w), w);
    }
    for (const e of m.examples as { true: number; predicted: number }[]) {
      const label = `${FASHION_MNIST_CLASS_NAMES[e.true]} → ${FASHION_MNIST_CLASS_NAMES[e.predicted]}`;
      assert.ok(words.includes(label), `row label "${label}" in ${JSON.stringify(words)}`);
    }
    const cells = svgImages(svg);
    assert.equal(cells.length, 4 * m.examples.length + 2, "4 cells a row and 2 colour bars");
    // Each change is coloured on its own scale, which reaches the change's largest |value|: some pixel has
    // an end colour of the diverging map, and the scale (±max) is written under the cell.
    const ends = [mapColor("diverging", 0), mapColor("diverging", 1)].map((c) => c.join());
    for (let r = 0; r < m.examples.length; r++) {
      const change = cells[4 * r + 3];
      assert.deepEqual([change.png.width, change.png.height], [112, 112], "28×28 at 4×");
      let extreme = 0;
      for (let i = 0; i < change.png.pixels.length; i += 4) {
        if (ends.includes([...change.png.pixels.subarray(i, i + 3)].join())) extreme++;
      }
      assert.ok(extreme > 0, `row ${r}: the change's scale reaches its maximum`);
    }
    assert.equal(words.filter((w) => /^±\d/.test(w)).length, m.examples.length, "one ± scale per change");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("counterfactual rejects --prior with --no-prior, and --prior-weight with --no-prior", async () => {
  await assert.rejects(counterfactualTask(["--prior", "--no-prior"]), HansError);
  await assert.rejects(
    counterfactualTask(["--no-prior", "--prior-weight=1"]),
    /--no-prior turns the prior off/,
  );
  await assert.rejects(counterfactualTask(["--prior-weight=-1"]), /--prior-weight -1/);
});

gpuTest(
  "pretrain, then counterfactual, on a CIFAR-10 batch file: 32×32×3 end to end, RGB figures",
  async () => {
    await withTempDir(async (dir) => {
      // 60 records, labels 0..9 six times; the single file is split 50:10 by class (seeded).
      await Deno.writeFile(`${dir}/batch.bin`, cifarBatch(Array.from({ length: 60 }, (_, i) => i % 10)));
      const dataset = `--dataset=cifar10:${dir}/batch.bin`;
      await pretrainTask([dataset, "--epochs=1", `--out=${dir}/model`]);
      const record = JSON.parse(await Deno.readTextFile(`${dir}/model/pretrain.json`));
      assert.deepEqual(record.input, { height: 32, width: 32, channels: 3, range: [0, 1] });
      assert.equal(record.trainSize, 50);
      const out = `${dir}/run`;
      await counterfactualTask([
        "--quick",
        dataset,
        `--model=${dir}/model`,
        "--test-size=10",
        "--examples=3",
        "--steps=40",
        "--rounds=3",
        `--out=${out}`,
      ]);
      const m = JSON.parse(await Deno.readTextFile(`${out}/metrics.json`));
      assert.equal(m.dataset, `cifar10:${dir}/batch.bin`);
      assert.ok(m.examples.length >= 1 && m.examples.length <= 3, `${m.examples.length} mistakes`);
      for (const e of m.examples) assertExample(e);
      // An untrained model's gradients are small, so λ1 must fall over the rounds (÷4 after a failure).
      assert.ok(m.successRate > 0, "some 32×32×3 counterfactual reaches its class");
      assert.equal(m.withPrior.examples.length, m.examples.length);
      for (const e of m.withPrior.examples) assertExample(e);
      assert.equal(m.withPrior.autoencoder.trainSize, 50);
      // The figure: original | saliency | no prior | change | AE prior | change, 32×32 cells at 4×, in colour.
      const svg = await Deno.readTextFile(`${out}/counterfactuals.svg`);
      const words = svgTexts(svg).map((t) => t.content);
      for (const w of ["without prior", "with AE prior"]) assert.ok(words.includes(w), w);
      const first = m.examples[0] as { true: number; predicted: number };
      assert.ok(
        words.includes(`${CIFAR10_CLASS_NAMES[first.true]} → ${CIFAR10_CLASS_NAMES[first.predicted]}`),
      );
      const cells = svgImages(svg);
      assert.equal(cells.length, 6 * m.examples.length + 2, "6 cells a row and 2 colour bars");
      const original = cells[0].png;
      assert.deepEqual([original.width, original.height], [128, 128], "32×32 at 4×");
      let colourful = 0;
      for (let i = 0; i < original.pixels.length; i += 4) {
        const [r, g, b] = original.pixels.subarray(i, i + 3);
        if (r !== g || g !== b) colourful++;
      }
      assert.ok(colourful > 0.9 * 128 * 128, `${colourful} colour pixels in the original`);
    });
  },
);
