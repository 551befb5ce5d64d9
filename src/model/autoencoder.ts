/**
 * A small convolutional autoencoder and its training, for the counterfactual task's prior: its reconstruction
 * error says how far an image lies from the data it was trained on (as in CEM and prototype-guided
 * counterfactuals).
 * @module
 */
import type { Dataset } from "../data/dataset.ts";
import { tf } from "../deps.ts";
import { Rng } from "../rng.ts";
import { runEpochs, trainingBatch, writeProgressLine } from "./train.ts";
import { planPass } from "./pass_plan.ts";

/** Options of {@link createAutoencoder}. */
export interface AutoencoderOptions {
  /** Image height in pixels. */
  height: number;
  /** Image width in pixels. */
  width: number;
  /** 1 (grayscale) or 3 (RGB); the reconstruction has as many. */
  channels: number;
  /** Seed of the weight initializers (default 0). */
  seed?: number;
  /** Filters of the two encoder convolutions (default [16, 8]); the decoder mirrors them. */
  filters?: [number, number];
}

/**
 * conv3x3(16, stride 2)-relu → conv3x3(8, stride 2)-relu → conv-transpose3x3(16, stride 2)-relu →
 * conv-transpose3x3(channels, stride 2)-sigmoid: images `[n,H,W,C]` in [0, 1] to reconstructions of the same
 * shape in (0, 1). The bottleneck is (H/4)·(W/4)·8 values (392 for 28×28×1, 512 for 32×32×3). Sides that are
 * not multiples of 4 are zero-padded at the bottom and right, and the padding is cropped off the output.
 */
export function createAutoencoder(options: AutoencoderOptions): tf.Sequential {
  const seed = options.seed ?? 0;
  const [f1, f2] = options.filters ?? [16, 8];
  const init = (k: number) => tf.initializers.glorotUniform({ seed: seed * 101 + k });
  const padH = (4 - options.height % 4) % 4;
  const padW = (4 - options.width % 4) % 4;
  const inputShape = [options.height, options.width, options.channels];
  const padded = padH > 0 || padW > 0;
  const conv = { kernelSize: 3, strides: 2, padding: "same" as const };
  const layers: tf.layers.Layer[] = [];
  if (padded) {
    layers.push(tf.layers.zeroPadding2d({ inputShape, padding: [[0, padH], [0, padW]], name: "pad" }));
  }
  layers.push(
    tf.layers.conv2d({
      ...(padded ? {} : { inputShape }),
      ...conv,
      filters: f1,
      activation: "relu",
      kernelInitializer: init(1),
      name: "encode1",
    }),
    tf.layers.conv2d({
      ...conv,
      filters: f2,
      activation: "relu",
      kernelInitializer: init(2),
      name: "encode2",
    }),
    tf.layers.conv2dTranspose({
      ...conv,
      filters: f1,
      activation: "relu",
      kernelInitializer: init(3),
      name: "decode1",
    }),
    tf.layers.conv2dTranspose({
      ...conv,
      filters: options.channels,
      activation: "sigmoid",
      kernelInitializer: init(4),
      name: "decode2",
    }),
  );
  if (padded) layers.push(tf.layers.cropping2D({ cropping: [[0, padH], [0, padW]], name: "crop" }));
  return tf.sequential({ name: "hans_autoencoder", layers });
}

/** Something that maps images `[n,H,W,C]` to their reconstructions (same shape): a function or a model. */
export type Reconstructor = ((x: tf.Tensor4D) => tf.Tensor4D) | tf.LayersModel;

/** Squared reconstruction error per image, ‖AE(x) − x‖₂² summed over pixels and channels: `[n]`. */
export function reconstructionError(reconstruct: Reconstructor, x: tf.Tensor4D): tf.Tensor1D {
  return tf.tidy(() => {
    const y = typeof reconstruct === "function"
      ? reconstruct(x)
      : reconstruct.apply(x, { training: false }) as tf.Tensor4D;
    return tf.sum(tf.square(tf.sub(y, x)), [1, 2, 3]) as tf.Tensor1D;
  });
}

/**
 * {@link reconstructionError} of a batch of any size, at most `batchSize` images at a time (fewer when the
 * device or the memory budget needs it), read back.
 */
export async function reconstructionErrors(
  reconstruct: Reconstructor,
  x: tf.Tensor4D,
  requested = 256,
): Promise<Float32Array> {
  const n = x.shape[0];
  const [, height, width, channels] = x.shape;
  const apply = typeof reconstruct === "function"
    ? reconstruct
    : (t: tf.Tensor4D) => reconstruct.apply(t, { training: false }) as tf.Tensor4D;
  const plan = await planPass(
    { logits: (t) => apply(t) as unknown as tf.Tensor2D },
    [height, width, channels],
    { kind: "forward", requested, label: "the autoencoder" },
  );
  const batchSize = plan.inputs;
  const out = new Float32Array(n);
  for (let start = 0; start < n; start += batchSize) {
    const end = Math.min(n, start + batchSize);
    const e = tf.tidy(() =>
      reconstructionError(reconstruct, x.slice([start, 0, 0, 0], [end - start, -1, -1, -1]))
    );
    out.set(await e.data() as Float32Array, start);
    e.dispose();
  }
  return out;
}

/** Options of {@link trainAutoencoder}; every field has a default. */
export interface AutoencoderTrainOptions {
  /** Passes over the data (default 1). */
  epochs?: number;
  /** Images per step (default 32). */
  batchSize?: number;
  /** Adam learning rate (default 0.01). */
  learningRate?: number;
  /** Seed of the initializers and the per-epoch shuffles (default 0). */
  seed?: number;
  /** Encoder filters (default [16, 8]). */
  filters?: [number, number];
  /** Read the loss back from the GPU once every this many steps (default 20). */
  syncEvery?: number;
  /** Called after every read-back; default nothing (the tasks pass {@link printAutoencoderProgress}). */
  onProgress?: (p: AutoencoderProgress) => void;
}

/** Progress of an autoencoder's training. */
export interface AutoencoderProgress {
  /** Current epoch, from 1. */
  epoch: number;
  /** Epochs in all. */
  epochs: number;
  /** Steps done in this epoch. */
  step: number;
  /** Steps per epoch. */
  steps: number;
  /** Mean squared error per value over the steps since the last read-back. */
  loss: number;
  /** Images per second since the last read-back. */
  samplesPerSecond: number;
}

/** A trained autoencoder and what its training did. */
export interface TrainedAutoencoder {
  /** The trained autoencoder ({@link createAutoencoder}); the caller disposes it. */
  model: tf.Sequential;
  /** Passes over the data. */
  epochs: number;
  /** Training images. */
  size: number;
  /** Wall time of the training. */
  seconds: number;
  /** Images per second over the whole training. */
  samplesPerSecond: number;
  /** Mean squared error per value over the last read-back window. */
  finalLoss: number;
}

/** Prints an autoencoder's progress on stderr (rewritten in place on a terminal). */
export function printAutoencoderProgress(p: AutoencoderProgress): void {
  writeProgressLine(
    `autoencoder epoch ${p.epoch}/${p.epochs} step ${p.step}/${p.steps} mse ${p.loss.toFixed(5)} ` +
      `${p.samplesPerSecond.toFixed(0)} samples/s`,
    p.step === p.steps && p.epoch === p.epochs,
  );
}

/**
 * Creates an autoencoder for `data`'s image shape ({@link createAutoencoder}) and trains it with Adam on the
 * mean squared error between images and reconstructions (labels unused). Seeded; tensors are released after
 * every step; the loss is read back once every `syncEvery` steps.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 *
 * await tf.setBackend("cpu");
 * const train = {
 *   name: "toy",
 *   images: new Float32Array(8 * 16).fill(0.5), // eight gray 4×4 images
 *   labels: new Int32Array(8),
 *   count: 8,
 *   height: 4,
 *   width: 4,
 *   channels: 1,
 *   classNames: ["gray"],
 * };
 * const { model, size } = await trainAutoencoder(train, { seed: 1, batchSize: 4, filters: [2, 2] });
 * assert.equal(size, 8);
 * const images = tf.tensor4d(train.images, [8, 4, 4, 1]);
 * const errors = await reconstructionErrors(model, images); // one ‖AE(x) − x‖² per image
 * assert.equal(errors.length, 8);
 * images.dispose();
 * model.dispose();
 * ```
 */
export async function trainAutoencoder(
  data: Dataset,
  options: AutoencoderTrainOptions = {},
): Promise<TrainedAutoencoder> {
  const epochs = options.epochs ?? 1;
  const onProgress = options.onProgress ?? (() => {});
  const rng = new Rng(options.seed ?? 0);
  const model = createAutoencoder({
    height: data.height,
    width: data.width,
    channels: data.channels,
    filters: options.filters,
    seed: rng.fork(),
  });
  const optimizer = tf.train.adam(options.learningRate ?? 0.01);
  const batchSize = await trainingBatch(model, data, options.batchSize ?? 32);
  const run = await runEpochs(
    data,
    { epochs, batchSize, syncEvery: options.syncEvery ?? 20, rng },
    (x) => ({
      loss: optimizer.minimize(
        () => tf.losses.meanSquaredError(x, model.apply(x, { training: true }) as tf.Tensor4D),
        true,
      ) as tf.Scalar,
    }),
    ({ epoch, epochs, step, steps, loss, samplesPerSecond }) =>
      onProgress({ epoch, epochs, step, steps, loss, samplesPerSecond }),
  );
  optimizer.dispose();
  return {
    model,
    epochs,
    size: data.count,
    seconds: run.seconds,
    samplesPerSecond: run.seen / run.seconds,
    finalLoss: run.finalLoss,
  };
}
