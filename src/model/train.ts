/**
 * Training with Adam on the active backend, seeded shuffles, progress on stderr, and few GPU read-backs.
 * @module
 */
import { type Dataset, imageSize } from "../data/dataset.ts";
import { tf } from "../deps.ts";
import { Rng } from "../rng.ts";

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
  /** Called with progress after every read-back; default prints a line on stderr. */
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
  const batchSize = options.batchSize ?? 64;
  const syncEvery = options.syncEvery ?? 20;
  const onProgress = options.onProgress ?? printProgress;
  const classes = (model.outputs[0].shape[1] ?? 0) as number;
  const optimizer = tf.train.adam(options.learningRate ?? 1e-3);
  const rng = new Rng(options.seed ?? 0);
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
    let windowHits = tf.scalar(0);
    let windowCount = 0;
    let windowSteps = 0;
    const windowStart = { t: performance.now(), seen };
    for (let step = 0; step < steps; step++) {
      const n = Math.min(batchSize, data.count - step * batchSize);
      for (let i = 0; i < n; i++) {
        const k = order[step * batchSize + i];
        batchImages.set(data.images.subarray(k * size, (k + 1) * size), i * size);
        batchLabels[i] = data.labels[k];
      }
      const [loss, hits] = tf.tidy(() => {
        const x = tf.tensor4d(batchImages.subarray(0, n * size), [n, data.height, data.width, data.channels]);
        const labels = tf.tensor1d(batchLabels.subarray(0, n), "int32");
        const y = tf.oneHot(labels, classes);
        let correct: tf.Tensor | undefined;
        const lossValue = optimizer.minimize(() => {
          const logits = model.apply(x, { training: true }) as tf.Tensor2D;
          correct = tf.keep(tf.equal(tf.argMax(logits, 1), labels).sum());
          return tf.losses.softmaxCrossEntropy(y, logits);
        }, true) as tf.Scalar;
        const hitsSoFar = tf.add(windowHits, correct!);
        correct!.dispose(); // kept past minimize's own scope, so no enclosing tidy would release it
        return [tf.add(windowLoss, tf.mul(lossValue, n)), hitsSoFar];
      });
      windowLoss.dispose();
      windowHits.dispose();
      windowLoss = loss as tf.Scalar;
      windowHits = hits as tf.Scalar;
      windowCount += n;
      windowSteps++;
      seen += n;
      if (windowSteps === syncEvery || step === steps - 1) {
        const [l, h] = await Promise.all([windowLoss.data(), windowHits.data()]);
        finalLoss = l[0] / windowCount;
        finalAccuracy = h[0] / windowCount;
        const seconds = (performance.now() - windowStart.t) / 1000;
        onProgress({
          epoch,
          epochs,
          step: step + 1,
          steps,
          loss: finalLoss,
          accuracy: finalAccuracy,
          samplesPerSecond: (seen - windowStart.seen) / Math.max(seconds, 1e-9),
        });
        windowLoss.dispose();
        windowHits.dispose();
        windowLoss = tf.scalar(0);
        windowHits = tf.scalar(0);
        windowCount = 0;
        windowSteps = 0;
        windowStart.t = performance.now();
        windowStart.seen = seen;
      }
    }
    windowLoss.dispose();
    windowHits.dispose();
  }
  optimizer.dispose();
  const seconds = (performance.now() - start) / 1000;
  return {
    epochs,
    size: data.count,
    seconds,
    samplesPerSecond: seen / seconds,
    finalLoss,
    finalAccuracy,
  };
}
