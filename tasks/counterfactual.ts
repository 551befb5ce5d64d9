/**
 * `deno task counterfactual`: for a classifier's mistakes, the smallest change that makes it predict the true
 * class (input optimization), what had to change, and whether the change transfers to another model.
 * @module
 */
import { initBackend } from "../src/backend.ts";
import { type Dataset, subset } from "../src/data/dataset.ts";
import { loadDataset } from "../src/data/mod.ts";
import { tf } from "../src/deps.ts";
import { changeNorms, findCounterfactuals } from "../src/counterfactual/optimize.ts";
import { predictWithConfidence } from "../src/pipeline/contrastive.ts";
import { HansError } from "../src/errors.ts";
import { fromLayersModel } from "../src/explain/model_fn.ts";
import { createCnn } from "../src/model/cnn.ts";
import { parseInputRange, withInputRange } from "../src/model/input_range.ts";
import { checkInputFits, loadModel } from "../src/model/load.ts";
import { batchTensor } from "../src/model/predict.ts";
import { trainModel } from "../src/model/train.ts";
import { gridPng } from "../src/report/grid.ts";
import { figure, paragraph, pngImage, renderReport, table } from "../src/report/html.ts";
import { colorize } from "../src/report/colormap.ts";
import { imageToRgba } from "../src/report/png.ts";
import { defaultResultsPath, ResultsDir } from "../src/report/results_dir.ts";
import { numberFlag, parseFlags } from "./cli.ts";
import { shippedModel } from "./contrastive.ts";

/** The help text of the task. */
export const COUNTERFACTUAL_HELP = `deno task counterfactual [flags]

For a classifier's most confident mistakes, finds the smallest change (L1 + L2 penalty, searched per image)
that makes it predict the true class, and shows what had to change. The transfer rate says how often an
independently trained model of the same architecture also puts the counterfactual in the true class
(high: a meaningful edit; low: adversarial noise).

  --model PATH|URL      TF.js model (default the shipped Fashion-MNIST CNN)
  --dataset SPEC        labelled test data (default the shipped model's test split)
  --transfer-model P    the independent model (default: one trained here, same CNN, another seed,
                        1 epoch on 12,000 training images; needs the training split of --dataset)
  --input-range LO,HI   pixel range the model expects (default 0,1)
  --examples N          mistakes optimized (default 64; --quick 8)
  --steps N             Adam steps per round (default 150; --quick 40)
  --rounds N            rounds of the λ1 search (default 3; --quick 2)
  --test-size N         test images searched for mistakes (default 2000)
  --seed N              seed (default: the shipped model's, else 1)
  --out DIR             results folder (must not exist)
  --quick               a small run for tests
  --help                this text
`;

/** Runs the task; returns the results folder. */
export async function counterfactualTask(args: string[]): Promise<string | undefined> {
  const flags = parseFlags(args, {
    model: { type: "string" },
    dataset: { type: "string" },
    "transfer-model": { type: "string" },
    "input-range": { type: "string" },
    examples: { type: "string" },
    steps: { type: "string" },
    rounds: { type: "string" },
    "test-size": { type: "string" },
    seed: { type: "string" },
    out: { type: "string" },
    quick: { type: "boolean" },
    help: { type: "boolean" },
  }, "counterfactual");
  if (flags.help) {
    console.log(COUNTERFACTUAL_HELP);
    return undefined;
  }
  const quick = flags.quick ?? false;
  const seed = numberFlag("seed", flags.seed, 1, { min: 0, max: 2 ** 31, integer: true });
  const examples = numberFlag("examples", flags.examples, quick ? 8 : 64, {
    min: 1,
    max: 10000,
    integer: true,
  });
  const steps = numberFlag("steps", flags.steps, quick ? 40 : 150, { min: 1, max: 100000, integer: true });
  const rounds = numberFlag("rounds", flags.rounds, quick ? 2 : 3, { min: 1, max: 20, integer: true });
  const testSize = numberFlag("test-size", flags["test-size"], quick ? 300 : 2000, {
    min: 10,
    integer: true,
  });
  const range = parseInputRange(flags["input-range"] ?? "0,1");
  const datasetText = flags.dataset ?? "fashion-mnist";
  const started = performance.now();
  const out = await ResultsDir.create(flags.out ?? defaultResultsPath("counterfactual"));
  try {
    const info = await initBackend();
    const loaded = await loadModel(flags.model ?? shippedModel().source);
    const { train, test } = await loadDataset(datasetText, { seed, testSize });
    checkInputFits(loaded, test);
    const model = withInputRange(loaded.explainable, range);
    const mistakes = await findMistakes(model, test, examples);
    if (mistakes.count === 0) {
      throw new HansError("the model makes no mistakes on these test images; pass more --test-size.");
    }
    console.error(`optimizing ${mistakes.count} mistakes`);
    const x = batchTensor(mistakes, 0, mistakes.count);
    const target = Array.from(mistakes.labels);
    const result = await findCounterfactuals(model, x, target, {
      steps,
      rounds,
      range: [0, 1],
      onRound: (r, n) =>
        console.error(`round ${r + 1}/${rounds}: ${n} of ${mistakes.count} reached their class`),
    });
    const counterfactual = tf.tensor4d(result.images, x.shape);
    const probTrue = await probabilityOf(model, counterfactual, target);
    const transferModel = flags["transfer-model"]
      ? withInputRange((await loadModel(flags["transfer-model"])).explainable, range)
      : await trainIndependent(train, seed, quick);
    const transferred = await probabilityOf(transferModel, counterfactual, target, true);
    counterfactual.dispose();
    x.dispose();
    const size = mistakes.height * mistakes.width * mistakes.channels;
    const rows = target.map((t, i) => {
      const norms = changeNorms(
        mistakes.images.subarray(i * size, (i + 1) * size),
        result.images.subarray(i * size, (i + 1) * size),
        mistakes.channels,
      );
      return {
        index: mistakes.indices[i],
        true: t,
        predicted: mistakes.predicted[i],
        success: result.success[i],
        steps: result.steps[i],
        lambda1: result.lambda1[i],
        ...norms,
        probTrue: probTrue[i],
        transfers: result.success[i] && transferred[i] === 1,
      };
    });
    const ok = rows.filter((r) => r.success);
    const median = (v: number[]) => v.length ? [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)] : NaN;
    const metrics = {
      task: "counterfactual",
      model: flags.model ?? "shipped fashion-mnist-cnn",
      dataset: datasetText,
      backend: info.backend,
      adapter: info.adapter,
      seed,
      examples: rows,
      successRate: ok.length / rows.length,
      medianL1: median(ok.map((r) => r.l1)),
      medianL0: median(ok.map((r) => r.l0)),
      transferRate: ok.length ? ok.filter((r) => r.transfers).length / ok.length : NaN,
      transferModel: flags["transfer-model"] ?? "trained here: same CNN, seed + 1, 1 epoch on 12,000 images",
      withPrior: null,
      seconds: (performance.now() - started) / 1000,
    };
    const png = await differenceGrid(mistakes, result.images, rows.slice(0, 12));
    await out.writeJson("metrics.json", metrics);
    await out.writeFile("counterfactuals.png", png);
    await out.writeFile(
      "report.html",
      renderReport({
        title: "hans: counterfactuals",
        subtitle: `${metrics.model} on ${datasetText}; ${info.backend} on ${info.adapter}`,
        sections: [
          {
            heading: "Summary",
            html: table(["quantity", "value"], [
              ["mistakes optimized", rows.length],
              ["success rate", metrics.successRate],
              ["median L1 of the change", metrics.medianL1],
              ["median L0 (pixels changed by more than 0.001)", metrics.medianL0],
              ["transfer rate to an independent model", metrics.transferRate],
            ]) +
              paragraph(`Transfer model: ${metrics.transferModel}. The autoencoder prior is not built yet.`),
          },
          {
            heading: "What had to change",
            html: figure(
              pngImage(png, "counterfactuals"),
              "Per mistake (true>predicted): the original, the counterfactual, and the signed change (blue darker, red lighter).",
            ),
          },
          {
            heading: "Per example",
            html: table(
              [
                "index",
                "true",
                "predicted",
                "success",
                "steps",
                "λ1",
                "L0",
                "L1",
                "L2",
                "p(true)",
                "transfers",
              ],
              rows.map((
                r,
              ) => [
                r.index,
                r.true,
                r.predicted,
                r.success,
                r.steps,
                r.lambda1,
                r.l0,
                r.l1,
                r.l2,
                r.probTrue,
                r.transfers,
              ]),
            ),
          },
        ],
      }),
    );
    const path = await out.commit();
    console.error(
      `success ${metrics.successRate.toFixed(3)}, median L1 ${
        metrics.medianL1.toFixed(2)
      }, median L0 ${metrics.medianL0}, ` +
        `transfer ${metrics.transferRate.toFixed(3)}; results in ${path}`,
    );
    return path;
  } catch (e) {
    await out.abort();
    throw e;
  }
}

/** The `limit` most confident mistakes of `model` on `test`, with their indices and predictions. */
async function findMistakes(
  model: ReturnType<typeof withInputRange>,
  test: Dataset,
  limit: number,
): Promise<Dataset & { indices: number[]; predicted: number[] }> {
  const { predicted, probabilities } = await predictWithConfidence(model, test);
  const found = [...predicted.keys()].filter((i) => predicted[i] !== test.labels[i])
    .map((index) => ({ index, predicted: predicted[index], confidence: probabilities[index] }));
  const chosen = found.sort((a, b) => b.confidence - a.confidence || a.index - b.index).slice(0, limit);
  return {
    ...subset(test, chosen.map((c) => c.index)),
    indices: chosen.map((c) => c.index),
    predicted: chosen.map((c) => c.predicted),
  };
}

/** Softmax probability of the target class per image, or (with `argmax`) 1 where it is the arg-max. */
async function probabilityOf(
  model: ReturnType<typeof withInputRange>,
  x: tf.Tensor4D,
  target: number[],
  argmax = false,
): Promise<number[]> {
  const probs = tf.tidy(() => tf.softmax(model.logits(x)));
  const values = await probs.data() as Float32Array;
  const classes = probs.shape[1] as number;
  probs.dispose();
  return target.map((t, i) => {
    if (!argmax) return values[i * classes + t];
    let best = 0;
    for (let k = 1; k < classes; k++) if (values[i * classes + k] > values[i * classes + best]) best = k;
    return best === t ? 1 : 0;
  });
}

/** The independent model for the transfer test: the default CNN, another seed, one epoch on 12,000 images. */
async function trainIndependent(train: Dataset, seed: number, quick: boolean) {
  const n = Math.min(train.count, quick ? 600 : 12000);
  console.error(`training the independent model for the transfer test (${n} images, 1 epoch)`);
  const model = createCnn({
    height: train.height,
    width: train.width,
    channels: train.channels,
    classes: train.classNames.length,
    seed: seed + 1,
  });
  await trainModel(model, subset(train, Array.from({ length: n }, (_, i) => i)), {
    epochs: 1,
    seed: seed + 1,
  });
  return fromLayersModel(model);
}

/** Rows of original | counterfactual | signed change. */
function differenceGrid(
  data: Dataset,
  changed: Float32Array,
  rows: { true: number; predicted: number }[],
): Promise<Uint8Array> {
  const size = data.height * data.width * data.channels;
  const pixels = data.height * data.width;
  return gridPng({
    columns: ["original", "changed", "change"],
    rows: rows.map((r, i) => {
      const a = data.images.subarray(i * size, (i + 1) * size);
      const b = changed.subarray(i * size, (i + 1) * size);
      const diff = new Float32Array(pixels);
      for (let p = 0; p < pixels; p++) {
        for (let c = 0; c < data.channels; c++) {
          diff[p] += (b[p * data.channels + c] - a[p * data.channels + c]) / data.channels;
        }
      }
      return {
        label: `${r.true}>${r.predicted}`,
        cells: [
          imageToRgba(a, data.height, data.width, data.channels as 1 | 3),
          imageToRgba(b, data.height, data.width, data.channels as 1 | 3),
          colorize(diff, { map: "diverging", min: -1, max: 1 }),
        ],
      };
    }),
    cellWidth: data.width,
    cellHeight: data.height,
    colorbars: [{ label: "change of pixel value", min: -1, max: 1, map: "diverging" }],
  });
}
