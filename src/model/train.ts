/**
 * Training with Adam on the active backend, seeded shuffles, progress on stderr, and few GPU read-backs.
 * @module
 */
import { reportProgress } from "../progress.ts";
import { type Dataset, imageSize } from "../data/dataset.ts";
import { tf } from "../deps.ts";
import { Rng } from "../rng.ts";
import { FusedAdam } from "../kernels/adam.ts";
import { fusedForward } from "./cnn_fused.ts";
import { planPass } from "./pass_plan.ts";

/** Options of {@link trainModel}. */
export interface TrainOptions {
  /** Passes over the data (default 2). */
  epochs?: number;
  /** Images per step (default 64). */
  batchSize?: number;
  /** Adam learning rate (default 0.001). */
  learningRate?: number;
  /** Seed of the per-epoch shuffles (default 0). */
  seed?: number;
  /** Read the loss back from the GPU once every this many steps (default 20). */
  syncEvery?: number;
  /** Called with progress after every read-back; default nothing (the tasks pass {@link printProgress}). */
  onProgress?: (p: TrainProgress) => void;
}

/** Progress of a training run. */
export interface TrainProgress {
  epoch: number;
  epochs: number;
  step: number;
  steps: number;
  /** Mean loss and accuracy over the steps since the last read-back. */
  loss: number;
  accuracy: number;
  samplesPerSecond: number;
}

/** What a training run did. */
export interface TrainResult {
  epochs: number;
  size: number;
  seconds: number;
  samplesPerSecond: number;
  /** Mean loss of each epoch's last read-back window. */
  finalLoss: number;
  finalAccuracy: number;
}

/**
 * A training run's progress as a `src/progress.ts` report (steps of all epochs done, label `training`): what the
 * runs pass to training when they are given `onProgress` and no `onTrainProgress`.
 */
export function trainingProgress(p: TrainProgress): void {
  void reportProgress((p.epoch - 1) * p.steps + p.step, p.epochs * p.steps, "training");
}

/** Prints a progress line on stderr (rewritten in place on a terminal). */
export function printProgress(p: TrainProgress): void {
  const line = `train epoch ${p.epoch}/${p.epochs} step ${p.step}/${p.steps} loss ${p.loss.toFixed(4)} ` +
    `acc ${p.accuracy.toFixed(3)} ${p.samplesPerSecond.toFixed(0)} samples/s`;
  writeProgressLine(line, p.step === p.steps && p.epoch === p.epochs);
}

/** Writes `line` on stderr, rewritten in place on a terminal; `last` ends the line there. */
export function writeProgressLine(line: string, last: boolean): void {
  const tty = Deno.stderr.isTerminal();
  Deno.stderr.writeSync(new TextEncoder().encode(tty ? `\r${line}\x1b[K` : `${line}\n`));
  if (tty && last) Deno.stderr.writeSync(new TextEncoder().encode("\n"));
}

/** One optimization step on a batch of `n` images: the batch's mean loss and, when tracked, its hit count. */
export type BatchStep = (
  x: tf.Tensor4D,
  labels: tf.Tensor1D,
  n: number,
) => { loss: tf.Scalar; hits?: tf.Scalar };

/** What {@link runEpochs} measured. */
export interface EpochsResult {
  seconds: number;
  seen: number;
  /** Mean loss and hit rate of the last read-back window (NaN when `step` tracks no hits). */
  finalLoss: number;
  finalAccuracy: number;
}

/**
 * The training loop both trainers share: seeded shuffles from `rng` per epoch, batches of `batchSize`, `step`
 * inside tf.tidy, the loss (and hits) summed on the GPU and read back once every `syncEvery` steps and at the
 * end of each epoch, when `onWindow` gets the window's means.
 */
export async function runEpochs(
  data: Dataset,
  settings: { epochs: number; batchSize: number; syncEvery: number; rng: Rng },
  step: BatchStep,
  onWindow: (p: TrainProgress) => void,
): Promise<EpochsResult> {
  const { epochs, batchSize, syncEvery, rng } = settings;
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new RangeError(`batch size ${batchSize}`);
  const size = imageSize(data);
  const steps = Math.ceil(data.count / batchSize);
  const start = performance.now();
  let seen = 0;
  let finalLoss = NaN;
  let finalAccuracy = NaN;
  const batchImages = new Float32Array(batchSize * size);
  const batchLabels = new Int32Array(batchSize);
  for (let epoch = 1; epoch <= epochs; epoch++) {
    const order = rng.shuffle([...Array(data.count).keys()]);
    let windowLoss = tf.scalar(0);
    let windowHits: tf.Scalar | undefined;
    let windowCount = 0;
    let windowSteps = 0;
    const windowStart = { t: performance.now(), seen };
    for (let s = 0; s < steps; s++) {
      const n = Math.min(batchSize, data.count - s * batchSize);
      for (let i = 0; i < n; i++) {
        const k = order[s * batchSize + i];
        batchImages.set(data.images.subarray(k * size, (k + 1) * size), i * size);
        batchLabels[i] = data.labels[k];
      }
      const [loss, hits] = tf.tidy(() => {
        const x = tf.tensor4d(batchImages.subarray(0, n * size), [n, data.height, data.width, data.channels]);
        const labels = tf.tensor1d(batchLabels.subarray(0, n), "int32");
        const out = step(x, labels, n);
        const lossSum = tf.add(windowLoss, tf.mul(out.loss, n)) as tf.Scalar;
        return [lossSum, out.hits ? tf.add(windowHits ?? tf.scalar(0), out.hits) as tf.Scalar : undefined];
      });
      windowLoss.dispose();
      windowHits?.dispose();
      windowLoss = loss!;
      windowHits = hits;
      windowCount += n;
      windowSteps++;
      seen += n;
      if (windowSteps === syncEvery || s === steps - 1) {
        const [l, h] = await Promise.all([windowLoss.data(), windowHits?.data()]);
        finalLoss = l[0] / windowCount;
        finalAccuracy = h ? h[0] / windowCount : NaN;
        const seconds = (performance.now() - windowStart.t) / 1000;
        onWindow({
          epoch,
          epochs,
          step: s + 1,
          steps,
          loss: finalLoss,
          accuracy: finalAccuracy,
          samplesPerSecond: (seen - windowStart.seen) / Math.max(seconds, 1e-9),
        });
        windowLoss.dispose();
        windowHits?.dispose();
        windowLoss = tf.scalar(0);
        windowHits = undefined;
        windowCount = 0;
        windowSteps = 0;
        windowStart.t = performance.now();
        windowStart.seen = seen;
      }
    }
    windowLoss.dispose();
    windowHits?.dispose();
  }
  return { seconds: (performance.now() - start) / 1000, seen, finalLoss, finalAccuracy };
}

/**
 * The batch size for training `model` on `data`: `requested` when a training step of that many fits the device
 * and the memory budget (a backward pass, counted twice for the gradients and the optimizer's state), else the
 * most that do (`pass_plan.ts`). At 28×28 any sensible batch fits; at 224×224 a batch of 64 would bind more
 * than a software adapter's 128 MB.
 */
export async function trainingBatch(
  model: tf.LayersModel,
  data: Dataset,
  requested: number,
): Promise<number> {
  const plan = await planPass(
    { logits: (x) => model.apply(x, { training: false }) as tf.Tensor2D },
    [data.height, data.width, data.channels],
    { kind: "backward", factor: 2, requested, label: "a training step" },
  );
  return plan.inputs;
}

/**
 * Trains `model` (logits out) with softmax cross-entropy and Adam. Shuffles are seeded; tensors are released
 * after every step; the loss is read back once every `syncEvery` steps.
 */
export async function trainModel(
  model: tf.LayersModel,
  data: Dataset,
  options: TrainOptions = {},
): Promise<TrainResult> {
  const epochs = options.epochs ?? 2;
  const classes = (model.outputs[0].shape[1] ?? 0) as number;
  // On hans's WebGPU kernels, conv + ReLU + pool and dense + ReLU run fused, and Adam takes two dispatches
  // per variable (same math, fewer passes).
  const fused = fusedForward(model);
  const learningRate = options.learningRate ?? 1e-3;
  const batchSize = await trainingBatch(model, data, options.batchSize ?? 64);
  const optimizer = fused ? new FusedAdam(learningRate) : tf.train.adam(learningRate);
  const run = await runEpochs(
    data,
    {
      epochs,
      batchSize,
      syncEvery: options.syncEvery ?? 20,
      rng: new Rng(options.seed ?? 0),
    },
    (x, labels) => {
      const y = tf.oneHot(labels, classes);
      let correct: tf.Tensor | undefined;
      const loss = optimizer.minimize(() => {
        const logits = fused
          ? fused(x as tf.Tensor4D, { input: false, weights: true })
          : model.apply(x, { training: true }) as tf.Tensor2D;
        correct = tf.keep(tf.equal(tf.argMax(logits, 1), labels).sum());
        return tf.losses.softmaxCrossEntropy(y, logits);
      }, true) as tf.Scalar;
      // Kept past minimize's own scope, so the enclosing tidy releases it only once it is used here.
      const hits = tf.add(correct!, 0) as tf.Scalar;
      correct!.dispose();
      return { loss, hits };
    },
    options.onProgress ?? (() => {}),
  );
  optimizer.dispose();
  return {
    epochs,
    size: data.count,
    seconds: run.seconds,
    samplesPerSecond: run.seen / run.seconds,
    finalLoss: run.finalLoss,
    finalAccuracy: run.finalAccuracy,
  };
}
