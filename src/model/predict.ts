/**
 * Batched forward passes: logits and predicted classes for many images, with bounded memory.
 * @module
 */
import { type Dataset, imageSize } from "../data/dataset.ts";
import { tf } from "../deps.ts";

/** Anything that maps a batch of images `[N,H,W,C]` to logits `[N,classes]`. */
export interface Classifier {
  predict(x: tf.Tensor4D): tf.Tensor2D;
}

/** Wraps a tfjs LayersModel (or any model with `predict`) as a {@link Classifier}. */
export function asClassifier(model: { predict(x: tf.Tensor): tf.Tensor | tf.Tensor[] }): Classifier {
  return {
    predict(x) {
      const out = model.predict(x);
      return (Array.isArray(out) ? out[0] : out) as tf.Tensor2D;
    },
  };
}

/** Images `[start, end)` of `data` as a tensor `[n,H,W,C]`. */
export function batchTensor(data: Dataset, start: number, end: number): tf.Tensor4D {
  const size = imageSize(data);
  return tf.tensor4d(data.images.subarray(start * size, end * size), [
    end - start,
    data.height,
    data.width,
    data.channels,
  ]);
}

/** Logits of every image, `count * classes` values row-major; one GPU read-back per `batchSize` images. */
export async function predictLogits(
  model: Classifier,
  data: Dataset,
  options: { batchSize?: number } = {},
): Promise<{ logits: Float32Array; classes: number }> {
  const batchSize = options.batchSize ?? 512;
  const parts: Float32Array[] = [];
  let classes = 0;
  for (let start = 0; start < data.count; start += batchSize) {
    const end = Math.min(data.count, start + batchSize);
    const logits = tf.tidy(() => model.predict(batchTensor(data, start, end)));
    classes = logits.shape[1];
    parts.push(await logits.data() as Float32Array);
    logits.dispose();
  }
  const out = new Float32Array(data.count * classes);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return { logits: out, classes };
}

/** Predicted class (arg-max logit) of every image. */
export async function predictClasses(
  model: Classifier,
  data: Dataset,
  options: { batchSize?: number } = {},
): Promise<Int32Array> {
  const { logits, classes } = await predictLogits(model, data, options);
  const out = new Int32Array(data.count);
  for (let i = 0; i < data.count; i++) {
    let best = 0;
    for (let k = 1; k < classes; k++) if (logits[i * classes + k] > logits[i * classes + best]) best = k;
    out[i] = best;
  }
  return out;
}

/** Share of `predicted` equal to `labels` (NaN for no images). */
export function accuracy(predicted: ArrayLike<number>, labels: ArrayLike<number>): number {
  if (predicted.length === 0) return NaN;
  let hits = 0;
  for (let i = 0; i < predicted.length; i++) if (predicted[i] === labels[i]) hits++;
  return hits / predicted.length;
}
