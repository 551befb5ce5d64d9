/**
 * Batched forward passes: logits and predicted classes for many images, with bounded memory.
 * @module
 */
import { type Dataset, imageSize } from "../data/dataset.ts";
import { tf } from "../deps.ts";
import { type ForwardModel, onForwardEngine } from "./forward_engine.ts";
import { planPass } from "./pass_plan.ts";

/** Anything that maps a batch of images `[N,H,W,C]` to logits `[N,classes]`. */
export interface Classifier {
  predict(x: tf.Tensor4D): tf.Tensor2D;
  /**
   * Every tensor `predict` reads: with it, predictions run on the faster forward engine (`forward_engine.ts`).
   */
  tensors?: () => tf.Tensor[];
}

/** Wraps a tfjs LayersModel or GraphModel (or any model with `predict`) as a {@link Classifier}. */
export function asClassifier(
  model: {
    predict(x: tf.Tensor): tf.Tensor | tf.Tensor[];
    weights?: tf.LayerVariable[] | tf.NamedTensorMap | Record<string, tf.Tensor[]>;
  },
): Classifier {
  const weights = model.weights;
  return {
    predict(x) {
      const out = model.predict(x);
      return (Array.isArray(out) ? out[0] : out) as tf.Tensor2D;
    },
    tensors: weights === undefined
      ? undefined
      : () =>
        Array.isArray(weights)
          ? weights.map((w) => w.read())
          : Object.values(weights).flatMap((t) => Array.isArray(t) ? t : [t]),
  };
}

/** The forward model of each classifier, one per object, so its engine is chosen once. */
const forwardModels = new WeakMap<Classifier, ForwardModel>();

function forwardModel(model: Classifier): ForwardModel {
  let f = forwardModels.get(model);
  if (!f) {
    f = { logits: (x) => model.predict(x), tensors: model.tensors };
    forwardModels.set(model, f);
  }
  return f;
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

/**
 * Logits of every image, `count * classes` values row-major; one GPU read-back per pass of at most `batchSize`
 * images (default 512; fewer when the device or the memory budget needs it, see `pass_plan.ts`). On the faster
 * forward engine where the classifier lists its tensors (`forward_engine.ts`).
 */
export async function predictLogits(
  model: Classifier,
  data: Dataset,
  options: { batchSize?: number } = {},
): Promise<{ logits: Float32Array; classes: number }> {
  const batchSize = options.batchSize ?? 512;
  if (data.count === 0) return { logits: new Float32Array(0), classes: 0 };
  const probe = batchTensor(data, 0, Math.min(data.count, 32));
  try {
    return await onForwardEngine(forwardModel(model), probe, () => logitsHere(model, data, batchSize));
  } finally {
    probe.dispose();
  }
}

async function logitsHere(
  model: Classifier,
  data: Dataset,
  batchSize: number,
): Promise<{ logits: Float32Array; classes: number }> {
  const parts: Float32Array[] = [];
  let classes = 0;
  const perPass = await imagesPerForwardPass(forwardModel(model), data, batchSize);
  for (let start = 0; start < data.count; start += perPass) {
    const end = Math.min(data.count, start + perPass);
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

/**
 * Images of `data` one forward pass of `model` may take: at most `requested`, within the device's buffer limits
 * and the memory budget (`pass_plan.ts`).
 */
export async function imagesPerForwardPass(
  model: ForwardModel,
  data: Dataset,
  requested: number,
): Promise<number> {
  const plan = await planPass(model, [data.height, data.width, data.channels], {
    kind: "forward",
    requested,
    extraBytesPerInput: 4 * imageSize(data),
    label: "a forward pass",
  });
  return plan.inputs;
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
