/**
 * `deno task counterfactual`: for a classifier's mistakes, the smallest change that makes it predict the true
 * class (input optimization), what had to change, and whether the change transfers to another model.
 * @module
 */
import { initBackend } from "../src/backend.ts";
import { type Dataset, subset } from "../src/data/dataset.ts";
import { loadDataset } from "../src/data/mod.ts";
import { tf } from "../src/deps.ts";
import {
  changeNorms,
  type CounterfactualPrior,
  type Counterfactuals,
  DEFAULT_PRIOR_WEIGHT,
  findCounterfactuals,
} from "../src/counterfactual/optimize.ts";
import {
  CHANGE_SALIENCY_METHODS,
  changeMagnitude,
  changeSaliencyCorrelations,
  contrastiveSaliency,
} from "../src/counterfactual/saliency.ts";
import { method } from "../src/explain/registry.ts";
import { checkFiniteGradients, predictWithConfidence } from "../src/pipeline/contrastive.ts";
import { HansError, say } from "../src/errors.ts";
import { type ExplainableModel, fromLayersModel } from "../src/explain/model_fn.ts";
import {
  printAutoencoderProgress,
  reconstructionErrors,
  trainAutoencoder,
} from "../src/model/autoencoder.ts";
import { createCnn } from "../src/model/cnn.ts";
import { parseInputRange, withInputRange } from "../src/explain/input_range.ts";
import { checkInputFits, loadModel } from "../src/explain/load.ts";
import { batchTensor } from "../src/model/predict.ts";
import { printProgress, trainModel } from "../src/model/train.ts";
import { gridPng } from "../src/report/grid.ts";
import { type Cell, figure, paragraph, pngImage, renderReport, table } from "../src/report/html.ts";
import { formatNumber } from "../src/report/format.ts";
import { colorize } from "../src/report/colormap.ts";
import { imageToRgba } from "../src/report/png.ts";
import { defaultResultsPath, ResultsDir } from "../src/report/results_dir.ts";
import { numberFlag, parseFlags } from "./cli.ts";
import { shippedModel } from "../src/model/shipped.ts";

/** The help text of the task. */
export const COUNTERFACTUAL_HELP = `deno task counterfactual [flags]

For a classifier's most confident mistakes, finds the smallest change (L1 + L2 penalty, searched per image)
that makes it predict the true class, and shows what had to change. The transfer rate says how often an
independently trained model of the same architecture also puts the counterfactual in the true class
(high: a meaningful edit; low: adversarial noise), and how well |x′ − x| follows the contrastive saliency map
"predicted rather than true" (Spearman ρ; against another mistake's map as a baseline). By default the search runs twice, without and with an
autoencoder prior (γ·‖AE(x′) − x′‖₂² added to the loss, the autoencoder trained here), and reports both.

  --model PATH|URL      TF.js model (default the shipped Fashion-MNIST CNN)
  --dataset SPEC        labelled test data (default the shipped model's test split)
  --transfer-model P    the independent model (default: one trained here, same CNN, another seed,
                        1 epoch on 12,000 training images; needs the training split of --dataset)
  --input-range LO,HI   pixel range the model expects (default 0,1)
  --examples N          mistakes optimized (default 64; --quick 8)
  --steps N             Adam steps per round (default 150; --quick 40)
  --rounds N            rounds of the λ1 search (default 3; --quick 2)
  --test-size N         test images searched for mistakes (default 2000)
  --prior               also run with the autoencoder prior (the default)
  --no-prior            run without the prior only (no autoencoder is trained; withPrior is null)
  --prior-weight G      γ, the weight of the squared reconstruction error (default ${DEFAULT_PRIOR_WEIGHT})
  --seed N              seed (default: the shipped model's, else 1)
  --out DIR             results folder (must not exist)
  --quick               a small run for tests
  --help                this text
`;

/** One optimized mistake, as written to metrics.json. */
interface ExampleRow {
  index: number;
  true: number;
  predicted: number;
  success: boolean;
  steps: number;
  lambda1: number;
  l0: number;
  l1: number;
  l2: number;
  probTrue: number;
  transfers: boolean;
  /** ‖AE(x′) − x′‖₂² of the kept x′ (only when the prior ran). */
  reconstructionError?: number;
  /** Per saliency method, Spearman's ρ of |x′ − x| with this mistake's contrastive map (NaN for no change). */
  saliencyCorrelation: Record<string, number>;
  /** The same against the next mistake's map (the baseline). */
  saliencyCorrelationBaseline: Record<string, number>;
}

/** Contrastive maps "predicted rather than true" of the mistakes, per method of CHANGE_SALIENCY_METHODS. */
type SaliencyMaps = Record<string, Float32Array>;

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
    prior: { type: "boolean" },
    "no-prior": { type: "boolean" },
    "prior-weight": { type: "string" },
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
  if (flags.prior && flags["no-prior"]) throw new HansError("give either --prior or --no-prior, not both.");
  const usePrior = !flags["no-prior"];
  if (!usePrior && flags["prior-weight"] !== undefined) {
    throw new HansError("--prior-weight sets the prior's weight, but --no-prior turns the prior off.");
  }
  const gamma = numberFlag("prior-weight", flags["prior-weight"], DEFAULT_PRIOR_WEIGHT, { min: 0, max: 1e6 });
  const range = parseInputRange(flags["input-range"] ?? "0,1");
  const datasetText = flags.dataset ?? "fashion-mnist";
  const started = performance.now();
  const out = await ResultsDir.create(flags.out ?? defaultResultsPath("counterfactual"));
  try {
    const info = await initBackend();
    const { train, test } = await loadDataset(datasetText, { seed, testSize });
    const loaded = await loadModel(flags.model ?? shippedModel().source, { expect: test });
    checkInputFits(loaded, test);
    const model = withInputRange(loaded.explainable, range);
    // The transfer model is loaded (and checked) before any optimization, so a bad path fails at once.
    const givenTransfer = flags["transfer-model"]
      ? await loadModel(flags["transfer-model"], { expect: test })
      : undefined;
    const mistakes = await findMistakes(model, test, examples);
    if (mistakes.count === 0) {
      throw new HansError("the model makes no mistakes on these test images; pass more --test-size.");
    }
    const x = batchTensor(mistakes, 0, mistakes.count);
    await checkFiniteGradients(model, x);
    const target = Array.from(mistakes.labels);
    say(`contrastive saliency maps (predicted rather than true) of ${mistakes.count} mistakes`);
    const saliency: SaliencyMaps = {};
    for (const name of CHANGE_SALIENCY_METHODS) {
      saliency[name] = await contrastiveSaliency(model, x, {
        predicted: mistakes.predicted,
        truth: target,
        method: name,
      });
    }
    const search = (label: string, prior?: CounterfactualPrior) => {
      say(`optimizing ${mistakes.count} mistakes ${label}`);
      return findCounterfactuals(model, x, target, {
        steps,
        rounds,
        range: [0, 1],
        prior,
        onRound: (r, n) => say(`round ${r + 1}/${rounds}: ${n} of ${mistakes.count} reached their class`),
      });
    };
    const plain = await search("without the prior");
    const transferModel = givenTransfer
      ? withInputRange(givenTransfer.explainable, range)
      : await trainIndependent(train, seed, quick);
    const autoencoder = usePrior ? await trainPrior(train, seed, quick) : undefined;
    const withPrior = autoencoder
      ? await search(`with the autoencoder prior (γ = ${gamma})`, {
        reconstruct: autoencoder.model,
        weight: gamma,
      })
      : undefined;
    const score = (result: Counterfactuals) =>
      scoreCounterfactuals(mistakes, x, result, {
        model,
        transferModel,
        autoencoder: autoencoder?.model,
        saliency,
      });
    const rows = await score(plain);
    const priorRows = withPrior ? await score(withPrior) : undefined;
    const originalErrors = autoencoder ? await reconstructionErrors(autoencoder.model, x) : undefined;
    x.dispose();
    autoencoder?.model.dispose();
    const metrics = {
      task: "counterfactual",
      model: flags.model ?? "shipped fashion-mnist-cnn",
      dataset: datasetText,
      backend: info.backend,
      adapter: info.adapter,
      seed,
      examples: rows,
      ...summarize(rows),
      transferModel: flags["transfer-model"] ?? "trained here: same CNN, seed + 1, 1 epoch on 12,000 images",
      withPrior: priorRows && autoencoder && originalErrors
        ? {
          gamma,
          ...summarize(priorRows),
          medianReconstructionError: {
            original: median(Array.from(originalErrors)),
            withoutPrior: median(rows.filter((r) => r.success).map((r) => r.reconstructionError!)),
            withPrior: median(priorRows.filter((r) => r.success).map((r) => r.reconstructionError!)),
          },
          autoencoder: {
            trainSize: autoencoder.size,
            epochs: autoencoder.epochs,
            seconds: autoencoder.seconds,
            finalLoss: autoencoder.finalLoss,
          },
          examples: priorRows.map((r) => ({
            index: r.index,
            success: r.success,
            steps: r.steps,
            lambda1: r.lambda1,
            l0: r.l0,
            l1: r.l1,
            l2: r.l2,
            probTrue: r.probTrue,
            transfers: r.transfers,
            reconstructionError: r.reconstructionError,
            saliencyCorrelation: r.saliencyCorrelation,
            saliencyCorrelationBaseline: r.saliencyCorrelationBaseline,
          })),
        }
        : null,
      seconds: (performance.now() - started) / 1000,
    };
    const shown = rows.slice(0, 12).map((_, i) => i);
    const png = await differenceGrid(mistakes, shown, saliency[CHANGE_SALIENCY_METHODS[0]], [
      { title: "no prior", images: plain.images },
      ...(withPrior ? [{ title: "AE prior", images: withPrior.images }] : []),
    ]);
    await out.writeJson("metrics.json", metrics);
    await out.writeFile("counterfactuals.png", png);
    const p = metrics.withPrior;
    const summaryRows: Cell[][] = [
      ["mistakes optimized", rows.length, ...(p ? [rows.length] : [])],
      ["success rate", metrics.successRate, ...(p ? [p.successRate] : [])],
      ["median L1 of the change", metrics.medianL1, ...(p ? [p.medianL1] : [])],
      ["median L0 (pixels changed by more than 0.001)", metrics.medianL0, ...(p ? [p.medianL0] : [])],
      ["transfer rate to an independent model", metrics.transferRate, ...(p ? [p.transferRate] : [])],
      ...CHANGE_SALIENCY_METHODS.flatMap((name) => [
        [
          `median ρ of |x′ − x| with the ${method(name).label} map (P rather than T)`,
          metrics.medianSaliencyCorrelation[name],
          ...(p ? [p.medianSaliencyCorrelation[name]] : []),
        ],
        [
          `… with another mistake's ${method(name).label} map (baseline)`,
          metrics.medianSaliencyCorrelationBaseline[name],
          ...(p ? [p.medianSaliencyCorrelationBaseline[name]] : []),
        ],
      ]),
      ...(p
        ? [[
          "median ‖AE(x′) − x′‖² of the successes (originals: " +
          `${formatNumber(p.medianReconstructionError.original)})`,
          p.medianReconstructionError.withoutPrior,
          p.medianReconstructionError.withPrior,
        ]]
        : []),
    ];
    await out.writeFile(
      "report.html",
      renderReport({
        title: "hans: counterfactuals",
        subtitle: `${metrics.model} on ${datasetText}; ${info.backend} on ${info.adapter}`,
        sections: [
          {
            heading: "Summary",
            html: table(
              ["quantity", "without the prior", ...(p ? [`with the autoencoder prior (γ = ${gamma})`] : [])],
              summaryRows,
            ) +
              paragraph(`Transfer model: ${metrics.transferModel}.`) +
              paragraph(
                p ? priorSentence(rows, priorRows!, gamma, { ...autoencoder!, seed: seed + 2 }) : NO_PRIOR,
              ) +
              paragraph(saliencySentence(metrics, p ?? undefined)),
          },
          {
            heading: "What had to change",
            html: figure(
              pngImage(png, "counterfactuals"),
              "Per mistake (true>predicted): the original, its contrastive Gradient map (why the predicted " +
                "rather than the true class: max over channels of |∂(logit P − logit T)/∂x|, divided by its " +
                "maximum per image), the counterfactual without the prior and its signed change (mean over " +
                "channels; blue darker, red lighter)" +
                (p ? ", then the counterfactual with the autoencoder prior and its change." : "."),
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
                ...CHANGE_SALIENCY_METHODS.map((name) => `ρ ${method(name).short}`),
                ...(p
                  ? [
                    "success (prior)",
                    "L1 (prior)",
                    "p(true) (prior)",
                    "transfers (prior)",
                    ...CHANGE_SALIENCY_METHODS.map((name) => `ρ ${method(name).short} (prior)`),
                  ]
                  : []),
              ],
              rows.map((r, i) => [
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
                ...correlationCells(r),
                ...(priorRows
                  ? [
                    priorRows[i].success,
                    priorRows[i].l1,
                    priorRows[i].probTrue,
                    priorRows[i].transfers,
                    ...correlationCells(priorRows[i]),
                  ]
                  : []),
              ]),
            ),
          },
        ],
      }),
    );
    const path = await out.commit();
    const line = (m: ReturnType<typeof summarize>) =>
      `success ${m.successRate.toFixed(3)}, median L1 ${m.medianL1.toFixed(2)}, median L0 ${m.medianL0}, ` +
      `transfer ${m.transferRate.toFixed(3)}, median ρ(|x′ − x|, saliency) ` +
      CHANGE_SALIENCY_METHODS.map((name) =>
        `${name} ${m.medianSaliencyCorrelation[name].toFixed(3)} ` +
        `(baseline ${m.medianSaliencyCorrelationBaseline[name].toFixed(3)})`
      ).join(", ");
    say(`without the prior: ${line(metrics)}`);
    if (p) say(`with the prior (γ = ${gamma}): ${line(p)}`);
    say(`results in ${path}`);
    return path;
  } catch (e) {
    await out.abort();
    throw e;
  }
}

const NO_PRIOR = "The autoencoder prior was not run (--no-prior).";

/** The median (the upper one for an even count); NaN for no values. */
function median(values: number[]): number {
  return values.length ? [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] : NaN;
}

/**
 * Success rate, median L1 and L0 of the successes, the share of successes that transfer, and per saliency
 * method the median ρ of the successes with their own and with another mistake's map (NaNs left out).
 */
function summarize(rows: ExampleRow[]) {
  const ok = rows.filter((r) => r.success);
  const medianOf = (pick: (r: ExampleRow) => Record<string, number>) =>
    Object.fromEntries(
      CHANGE_SALIENCY_METHODS.map((name) => [
        name,
        median(ok.map((r) => pick(r)[name]).filter((v) => Number.isFinite(v))),
      ]),
    );
  return {
    successRate: ok.length / rows.length,
    medianL1: median(ok.map((r) => r.l1)),
    medianL0: median(ok.map((r) => r.l0)),
    transferRate: ok.length ? ok.filter((r) => r.transfers).length / ok.length : NaN,
    medianSaliencyCorrelation: medianOf((r) => r.saliencyCorrelation),
    medianSaliencyCorrelationBaseline: medianOf((r) => r.saliencyCorrelationBaseline),
  };
}

/** An example's ρ per saliency method for the report's table; no value (NaN) shows as a dash. */
function correlationCells(row: ExampleRow): Cell[] {
  return CHANGE_SALIENCY_METHODS.map((name) => {
    const r = row.saliencyCorrelation[name];
    return Number.isFinite(r) ? r : null;
  });
}

/** The report's sentence on how well the change follows the contrastive saliency maps. */
function saliencySentence(
  without: ReturnType<typeof summarize>,
  withPrior?: ReturnType<typeof summarize>,
): string {
  const parts = CHANGE_SALIENCY_METHODS.map((name) => {
    const own = (m: ReturnType<typeof summarize>) => formatNumber(m.medianSaliencyCorrelation[name]);
    const base = (m: ReturnType<typeof summarize>) => formatNumber(m.medianSaliencyCorrelationBaseline[name]);
    return `${method(name).label}: ${own(without)}` +
      (withPrior ? ` without and ${own(withPrior)} with the prior` : "") +
      `, against ${base(without)}` + (withPrior ? ` and ${base(withPrior)}` : "") +
      " for another mistake's map";
  });
  return "Median Spearman ρ over the successes between |x′ − x| (summed over channels) and the absolute " +
    "contrastive map of the same mistake (why the predicted class P rather than the true class T, computed on " +
    `the original image) — ${parts.join("; ")}. A ρ near its baseline means the change does not go where ` +
    "the map says this image's evidence for P over T lies. The optimizer's first steps follow the gradient " +
    "of nearly the same contrast (the cross-entropy to T of a confident mistake), so part of the Gradient ρ is " +
    "built in; Gradient × input is 0 on black pixels, where the change may still add ink.";
}

/** The report's sentence comparing the transfer rates without and with the prior. */
function priorSentence(
  rows: ExampleRow[],
  priorRows: ExampleRow[],
  gamma: number,
  autoencoder: { size: number; epochs: number; finalLoss: number; seed: number },
): string {
  const count = (r: ExampleRow[]) => {
    const ok = r.filter((e) => e.success);
    const moved = ok.filter((e) => e.transfers).length;
    return `${formatNumber(ok.length ? moved / ok.length : NaN)} (${moved} of ${ok.length} successes)`;
  };
  return `With the autoencoder prior (γ = ${gamma}), the transfer rate is ${count(priorRows)}, against ` +
    `${count(rows)} without it. The autoencoder (src/model/autoencoder.ts) was trained here on ` +
    `${autoencoder.size.toLocaleString("en-US")} training images for ${autoencoder.epochs} ` +
    `epoch${autoencoder.epochs === 1 ? "" : "s"} (seed ${autoencoder.seed}), to a ` +
    `mean squared error of ${formatNumber(autoencoder.finalLoss)} per value.`;
}

/** Norms, p(true), transfer and (with an autoencoder) reconstruction error of each kept x′. */
async function scoreCounterfactuals(
  mistakes: Dataset & { indices: number[]; predicted: number[] },
  x: tf.Tensor4D,
  result: Counterfactuals,
  models: {
    model: ExplainableModel;
    transferModel: ExplainableModel;
    autoencoder?: tf.LayersModel;
    saliency: SaliencyMaps;
  },
): Promise<ExampleRow[]> {
  const target = Array.from(mistakes.labels);
  const counterfactual = tf.tensor4d(result.images, x.shape);
  const probTrue = await probabilityOf(models.model, counterfactual, target);
  const transferred = await probabilityOf(models.transferModel, counterfactual, target, true);
  const errors = models.autoencoder
    ? await reconstructionErrors(models.autoencoder, counterfactual)
    : undefined;
  counterfactual.dispose();
  const size = mistakes.height * mistakes.width * mistakes.channels;
  const pixels = mistakes.height * mistakes.width;
  const change = changeMagnitude(mistakes.images, result.images, { channels: mistakes.channels });
  const own: Record<string, number[]> = {};
  const other: Record<string, number[]> = {};
  for (const name of CHANGE_SALIENCY_METHODS) {
    own[name] = changeSaliencyCorrelations(change, models.saliency[name], { pixels });
    other[name] = changeSaliencyCorrelations(change, models.saliency[name], { pixels, shift: 1 });
  }
  const perMethod = (values: Record<string, number[]>, i: number) =>
    Object.fromEntries(CHANGE_SALIENCY_METHODS.map((name) => [name, values[name][i]]));
  return target.map((t, i) => ({
    index: mistakes.indices[i],
    true: t,
    predicted: mistakes.predicted[i],
    success: result.success[i],
    steps: result.steps[i],
    lambda1: result.lambda1[i],
    ...changeNorms(
      mistakes.images.subarray(i * size, (i + 1) * size),
      result.images.subarray(i * size, (i + 1) * size),
      mistakes.channels,
    ),
    probTrue: probTrue[i],
    transfers: result.success[i] && transferred[i] === 1,
    ...(errors ? { reconstructionError: errors[i] } : {}),
    saliencyCorrelation: perMethod(own, i),
    saliencyCorrelationBaseline: perMethod(other, i),
  }));
}

/** The `limit` most confident mistakes of `model` on `test`, with their indices and predictions. */
async function findMistakes(
  model: ExplainableModel,
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
  model: ExplainableModel,
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

/** The training images the models trained here see: the first 12,000 (--quick: 600) of the split. */
function trainingImages(train: Dataset, quick: boolean): Dataset {
  const n = Math.min(train.count, quick ? 600 : 12000);
  return subset(train, Array.from({ length: n }, (_, i) => i));
}

/** The independent model for the transfer test: the default CNN, another seed, one epoch on 12,000 images. */
async function trainIndependent(train: Dataset, seed: number, quick: boolean) {
  const data = trainingImages(train, quick);
  say(`training the independent model for the transfer test (${data.count} images, 1 epoch)`);
  const model = createCnn({
    height: train.height,
    width: train.width,
    channels: train.channels,
    classes: train.classNames.length,
    seed: seed + 1,
  });
  await trainModel(model, data, { epochs: 1, seed: seed + 1, onProgress: printProgress });
  return fromLayersModel(model);
}

/** The autoencoder of the prior: src/model/autoencoder.ts's defaults on the same images, seed + 2. */
function trainPrior(train: Dataset, seed: number, quick: boolean) {
  const data = trainingImages(train, quick);
  say(`training the autoencoder of the prior (${data.count} images, 1 epoch)`);
  return trainAutoencoder(data, { seed: seed + 2, onProgress: printAutoencoderProgress });
}

/**
 * Per shown image, a row: the original, its contrastive saliency map (divided by its maximum), then a
 * counterfactual and its signed change per set.
 */
function differenceGrid(
  data: Dataset & { predicted: number[] },
  shown: number[],
  saliency: Float32Array,
  sets: { title: string; images: Float32Array }[],
): Promise<Uint8Array> {
  const size = data.height * data.width * data.channels;
  const pixels = data.height * data.width;
  const channels = data.channels as 1 | 3;
  return gridPng({
    columns: ["original", "saliency", ...sets.flatMap((set) => [set.title, "change"])],
    rows: shown.map((i) => {
      const a = data.images.subarray(i * size, (i + 1) * size);
      const map = saliency.slice(i * pixels, (i + 1) * pixels);
      let max = 0;
      for (const v of map) max = Math.max(max, v);
      const cells = [
        imageToRgba(a, data.height, data.width, channels),
        colorize(max > 0 ? map.map((v) => v / max) : map, { map: "heat", min: 0, max: 1 }),
      ];
      for (const set of sets) {
        const b = set.images.subarray(i * size, (i + 1) * size);
        const diff = new Float32Array(pixels);
        for (let p = 0; p < pixels; p++) {
          for (let c = 0; c < channels; c++) {
            diff[p] += (b[p * channels + c] - a[p * channels + c]) / channels;
          }
        }
        cells.push(
          imageToRgba(b, data.height, data.width, channels),
          colorize(diff, { map: "diverging", min: -1, max: 1 }),
        );
      }
      return { label: `${data.labels[i]}>${data.predicted[i]}`, cells };
    }),
    cellWidth: data.width,
    cellHeight: data.height,
    colorbars: [
      { label: "saliency: |d(logit P - logit T)/dx| / its max", min: 0, max: 1, map: "heat" },
      { label: "change of pixel value (mean over channels)", min: -1, max: 1, map: "diverging" },
    ],
  });
}
