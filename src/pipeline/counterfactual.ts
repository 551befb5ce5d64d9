/**
 * The counterfactual experiment: for a classifier's most confident mistakes, the smallest change that makes it
 * predict the true class (input optimization, without and with an autoencoder prior), scored by its norms,
 * whether an independent model agrees (the transfer rate), and how well the change follows the contrastive
 * saliency maps. Computes only: no files; the caller starts the backend. See {@link runCounterfactual}.
 * @module
 */
import { type Dataset, subset } from "../data/dataset.ts";
import { tf } from "../deps.ts";
import { HansError } from "../errors.ts";
import { type Progress, reportProgress, withProgress } from "../progress.ts";
import {
  changeNorms,
  type CounterfactualPrior,
  type Counterfactuals,
  findCounterfactuals,
} from "../counterfactual/optimize.ts";
import {
  CHANGE_SALIENCY_METHODS,
  changeMagnitude,
  changeSaliencyCorrelations,
  contrastiveSaliency,
} from "../counterfactual/saliency.ts";
import { type ExplainableModel, fromLayersModel, settled } from "../explain/explainable_model.ts";
import { inputsPerPass } from "../explain/batching.ts";
import { reconstructionErrors, trainAutoencoder, type TrainedAutoencoder } from "../model/autoencoder.ts";
import { createCnn } from "../model/cnn.ts";
import { batchTensor } from "../model/predict.ts";
import { trainingProgress, trainModel, type TrainProgress } from "../model/train.ts";
import type { AutoencoderProgress } from "../model/autoencoder.ts";
import { checkFiniteGradients, predictWithConfidence } from "../explain/model_checks.ts";
import { duration } from "./work_plan.ts";

/** Settings of {@link runCounterfactual}. */
export interface CounterfactualSettings {
  /** The classifier whose mistakes are explained (pixels in [0, 1]). */
  model: ExplainableModel;
  /** Its training split (for the independent model and the prior's autoencoder) and labelled test images. */
  data: { train: Dataset; test: Dataset };
  /** The independent model for the transfer rate; default one trained here (same CNN, seed + 1). */
  transferModel?: ExplainableModel;
  /** Mistakes optimized, the most confident first. */
  examples: number;
  /** Adam steps per round. */
  steps: number;
  /** Rounds of the λ1 search. */
  rounds: number;
  /** Also run with the autoencoder prior of this weight γ; undefined runs without the prior only. */
  priorWeight?: number;
  /** Train the models made here on 600 instead of 12,000 images. */
  quick: boolean;
  /** Seed of the models trained here (seed + 1: the independent model, seed + 2: the autoencoder). */
  seed: number;
  /** Progress lines. */
  log?: (line: string) => void;
  /** Training progress of the models trained here. */
  onTrainProgress?: (p: TrainProgress) => void;
  /** Training progress of the autoencoder. */
  onAutoencoderProgress?: (p: AutoencoderProgress) => void;
  /**
   * Called after each step of the run's loops and of the methods' loops inside it (see `src/progress.ts`);
   * default none.
   */
  onProgress?: Progress;
}

/** The mistakes that were optimized: their images, labels, test indices and predictions. */
export type Mistakes = Dataset & { indices: number[]; predicted: number[] };

/** Everything the experiment found. */
export interface CounterfactualResult {
  mistakes: Mistakes;
  /** Per method of CHANGE_SALIENCY_METHODS, the absolute contrastive maps "predicted rather than true". */
  saliency: SaliencyMaps;
  /** Without the prior: the optimizer's output and each example scored. */
  plain: { result: Counterfactuals; rows: ExampleRow[] };
  /** With the prior, when it ran. */
  withPrior?: { result: Counterfactuals; rows: ExampleRow[]; gamma: number };
  /** The prior's autoencoder (its model released), and the reconstruction errors of the originals. */
  autoencoder?: Omit<TrainedAutoencoder, "model"> & { originalErrors: Float32Array };
}

/** One optimized mistake, as written to metrics.json. */
export interface ExampleRow {
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
export type SaliencyMaps = Record<string, Float32Array>;

/** Runs the experiment. */
export async function runCounterfactual(settings: CounterfactualSettings): Promise<CounterfactualResult> {
  return await withProgress(settings.onProgress, () => counterfactual(settings));
}

/**
 * A search's progress as a log line at most every `seconds`: steps done, time spent and about how long is left
 * (an estimate from the steps so far; rounds that end early make the search shorter). The last step prints
 * nothing: the round's own line follows it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * const lines: string[] = [];
 * const onStep = stepLog((line) => lines.push(line), "optimizing 3 mistakes", 0);
 * onStep(10, 40);
 * onStep(40, 40);
 * assert.equal(lines.length, 1);
 * assert.match(lines[0], /^optimizing 3 mistakes: 10\/40 steps, .+ s, about .+ left$/);
 * ```
 */
export function stepLog(
  log: (line: string) => void,
  label: string,
  seconds = 30,
): (done: number, total: number) => void {
  const started = performance.now();
  let last = started;
  return (done, total) => {
    const now = performance.now();
    if (done >= total || now - last < seconds * 1000) return;
    last = now;
    const spent = (now - started) / 1000;
    log(
      `${label}: ${done}/${total} steps, ${duration(spent)}, about ${
        duration(spent / done * (total - done))
      } left`,
    );
  };
}

/** {@link runCounterfactual} under its progress callback. */
async function counterfactual(settings: CounterfactualSettings): Promise<CounterfactualResult> {
  const log = settings.log ?? (() => {});
  const { model } = settings;
  const { train, test } = settings.data;
  const mistakes = await findMistakes(model, test, settings.examples);
  if (mistakes.count === 0) {
    throw new HansError("the model makes no mistakes on these test images; pass more --test-size.");
  }
  const x = batchTensor(mistakes, 0, mistakes.count);
  try {
    await checkFiniteGradients(model, x);
    const target = Array.from(mistakes.labels);
    log(`contrastive saliency maps (predicted rather than true) of ${mistakes.count} mistakes`);
    const saliency: SaliencyMaps = {};
    for (const name of CHANGE_SALIENCY_METHODS) {
      saliency[name] = await contrastiveSaliency(model, x, {
        predicted: mistakes.predicted,
        truth: target,
        method: name,
      });
    }
    const search = (label: string, prior?: CounterfactualPrior) => {
      log(`optimizing ${mistakes.count} mistakes ${label}`);
      return findCounterfactuals(model, x, target, {
        steps: settings.steps,
        rounds: settings.rounds,
        range: [0, 1],
        prior,
        onRound: (r, n) =>
          log(`round ${r + 1}/${settings.rounds}: ${n} of ${mistakes.count} reached their class`),
        onStep: stepLog(log, `optimizing ${label}`),
      });
    };
    // The phases: saliency maps, the search, the transfer model, and with the prior its training and search.
    const gamma = settings.priorWeight;
    const phases = gamma !== undefined ? 5 : 3;
    const phase = (done: number) => reportProgress(done, phases, "counterfactual: phases");
    await phase(1);
    const plain = await search("without the prior");
    await phase(2);
    const transferModel = settings.transferModel ?? await trainIndependent(train, settings, log);
    await phase(3);
    const autoencoder = gamma !== undefined ? await trainPrior(train, settings, log) : undefined;
    if (autoencoder) await phase(4);
    const withPrior = autoencoder && gamma !== undefined
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
    if (withPrior) await phase(5);
    const rows = await score(plain);
    const priorRows = withPrior ? await score(withPrior) : undefined;
    const originalErrors = autoencoder ? await reconstructionErrors(autoencoder.model, x) : undefined;
    autoencoder?.model.dispose();
    return {
      mistakes,
      saliency,
      plain: { result: plain, rows },
      withPrior: withPrior && priorRows ? { result: withPrior, rows: priorRows, gamma: gamma! } : undefined,
      autoencoder: autoencoder && originalErrors
        ? {
          size: autoencoder.size,
          epochs: autoencoder.epochs,
          seconds: autoencoder.seconds,
          samplesPerSecond: autoencoder.samplesPerSecond,
          finalLoss: autoencoder.finalLoss,
          originalErrors,
        }
        : undefined,
    };
  } finally {
    x.dispose();
  }
}

/** Norms, p(true), transfer and (with an autoencoder) reconstruction error of each kept x′. */
async function scoreCounterfactuals(
  mistakes: Mistakes,
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
export async function findMistakes(
  model: ExplainableModel,
  test: Dataset,
  limit: number,
): Promise<Mistakes> {
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
  // In passes the device and the memory budget allow (a whole batch of 224×224 images would not fit).
  const perPass = await inputsPerPass(model, x, {
    kind: "forward",
    requested: 512,
    label: "the transfer test",
  });
  const parts: Float32Array[] = [];
  let classes = 0;
  for (let start = 0; start < x.shape[0]; start += perPass) {
    const probs = tf.tidy(() =>
      tf.softmax(model.logits(x.slice([start, 0, 0, 0], [Math.min(perPass, x.shape[0] - start), -1, -1, -1])))
    );
    parts.push(await probs.data() as Float32Array);
    classes = probs.shape[1] as number;
    probs.dispose();
  }
  const values = Float32Array.from(parts.flatMap((p) => Array.from(p)));
  return target.map((t, i) => {
    if (!argmax) return values[i * classes + t];
    let best = 0;
    for (let k = 1; k < classes; k++) if (values[i * classes + k] > values[i * classes + best]) best = k;
    return best === t ? 1 : 0;
  });
}

/** The training images the models trained here see: the first 12,000 (--quick: 600) of the split. */
function trainingImages(train: Dataset, quick: boolean): Dataset {
  return subset(train, Array.from({ length: trainingCount(train.count, quick) }, (_, i) => i));
}

/**
 * Training images the models trained here (the independent model, the autoencoder) use: 12,000 (`quick`: 600)
 * or all the split has.
 */
export function trainingCount(available: number, quick: boolean): number {
  return Math.min(available, quick ? 600 : 12000);
}

/** The independent model for the transfer test: the default CNN, another seed, one epoch on 12,000 images. */
async function trainIndependent(
  train: Dataset,
  settings: CounterfactualSettings,
  log: (line: string) => void,
): Promise<ExplainableModel> {
  const seed = settings.seed;
  const data = trainingImages(train, settings.quick);
  log(`training the independent model for the transfer test (${data.count} images, 1 epoch)`);
  const model = createCnn({
    height: train.height,
    width: train.width,
    channels: train.channels,
    classes: train.classNames.length,
    seed: seed + 1,
  });
  await trainModel(model, data, {
    epochs: 1,
    seed: seed + 1,
    onProgress: settings.onTrainProgress ?? trainingProgress,
  });
  return await settled(fromLayersModel(model));
}

/** The autoencoder of the prior: src/model/autoencoder.ts's defaults on the same images, seed + 2. */
function trainPrior(
  train: Dataset,
  settings: CounterfactualSettings,
  log: (line: string) => void,
): Promise<TrainedAutoencoder> {
  const data = trainingImages(train, settings.quick);
  log(`training the autoencoder of the prior (${data.count} images, 1 epoch)`);
  return trainAutoencoder(data, { seed: settings.seed + 2, onProgress: settings.onAutoencoderProgress });
}
