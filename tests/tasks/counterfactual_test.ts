import assert from "node:assert/strict";
import { counterfactualTask } from "../../tasks/counterfactual.ts";
import { pretrainTask } from "../../tasks/pretrain.ts";
import { decodePngPixels } from "../../src/deps.ts";
import { HansError } from "../../src/errors.ts";
import { gridLayout } from "../../src/report/grid.ts";
import { cifarBatch, withTempDir } from "../data/helpers.ts";
import { gpuTest } from "../gpu.ts";

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
      assert.equal(m.examples.length, 4);
      for (const e of m.examples) {
        assert.notEqual(e.true, e.predicted, "only mistakes are optimized");
        assertExample(e);
      }
      assertSummary(m);
      const ok0 = m.examples.filter((e: { success: boolean }) => e.success);
      assert.equal(m.successRate, ok0.length / 4);
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
      assert.match(html, /with the autoencoder prior \(γ = 0\.5\)/);
      assert.match(html, /the transfer rate is .* against .* without it/);
      assert.match(html, /Median Spearman ρ over the successes between \|x′ − x\|/);
      await Deno.stat(`${out}/counterfactuals.png`);
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
    assert.equal(m.examples.length, 2);
    for (const e of m.examples) assert.equal("reconstructionError" in e, false);
    assert.match(await Deno.readTextFile(`${out}/report.html`), /was not run \(--no-prior\)/);
    const png = decodePngPixels(await Deno.readFile(`${out}/counterfactuals.png`));
    const layout = gridLayout({
      columns: ["original", "saliency", "no prior", "change"],
      rows: m.examples.map((e: { true: number; predicted: number }) => ({
        label: `${e.true}>${e.predicted}`,
        cells: [],
      })),
      cellWidth: 28,
      cellHeight: 28,
      colorbars: [
        { label: "", min: 0, max: 1, map: "heat" },
        { label: "", min: -1, max: 1, map: "diverging" },
      ],
    });
    assert.deepEqual([png.width, png.height], [layout.width, layout.height]);
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
      // The figure: original | no prior | change | AE prior | change, 32×32 cells at scale 4, in colour.
      const png = decodePngPixels(await Deno.readFile(`${out}/counterfactuals.png`));
      const layout = gridLayout({
        columns: ["original", "saliency", "no prior", "change", "AE prior", "change"],
        rows: m.examples.map((e: { true: number; predicted: number }) => ({
          label: `${e.true}>${e.predicted}`,
          cells: [],
        })),
        cellWidth: 32,
        cellHeight: 32,
        colorbars: [
          { label: "", min: 0, max: 1, map: "heat" },
          { label: "", min: -1, max: 1, map: "diverging" },
        ],
      });
      assert.deepEqual([png.width, png.height], [layout.width, layout.height]);
      let colourful = 0;
      for (let y = 0; y < layout.cellHeight; y++) {
        for (let x = 0; x < layout.cellWidth; x++) {
          const at = ((8 + layout.titleRow + y) * png.width + 8 + layout.labelColumn + x) * 4;
          const [r, g, b] = png.pixels.subarray(at, at + 3);
          if (r !== g || g !== b) colourful++;
        }
      }
      assert.ok(
        colourful > 0.9 * layout.cellWidth * layout.cellHeight,
        `${colourful} colour pixels in the original`,
      );
    });
  },
);
