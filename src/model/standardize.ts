/**
 * Per-pixel standardization as the first layer of a model: z = (x − mean) / max(std, floor), with the mean and
 * standard deviation of every pixel and channel taken over clean training images. That is what scikit-learn's
 * StandardScaler does to features, plus a floor, so a pixel that is almost always black is not scaled up
 * 1000×. The statistics are fixed weights of the layer, saved with the model, so the model takes raw pixels in
 * [0, 1] and every saliency method explains those.
 * @module
 */
import type { Dataset } from "../data/dataset.ts";
import { imageSize } from "../data/dataset.ts";
import { tf } from "../deps.ts";

/**
 * Per-value statistics of a data set, each `height*width*channels` long: `mean`, and `scale` = 1 / max(std,
 * floor), or 1 where the value never varies (as scikit-learn leaves constant features unscaled).
 */
export interface PixelStatistics {
  mean: Float32Array;
  scale: Float32Array;
  /** The floor under the standard deviation. */
  floor: number;
}

/** The default floor under a pixel's standard deviation: a pixel that hardly varies is scaled up 20× at most. */
export const DEFAULT_STD_FLOOR = 0.05;

/** {@link PixelStatistics} of every pixel and channel of `data` (population standard deviation). */
export function pixelStatistics(data: Dataset, floor = DEFAULT_STD_FLOOR): PixelStatistics {
  if (!(floor > 0)) throw new RangeError(`the standard deviation floor must be positive, got ${floor}`);
  if (data.count === 0) throw new RangeError("pixel statistics need at least one image");
  const size = imageSize(data);
  const sum = new Float64Array(size);
  const sumSq = new Float64Array(size);
  for (let i = 0; i < data.count; i++) {
    const base = i * size;
    for (let p = 0; p < size; p++) {
      const v = data.images[base + p];
      sum[p] += v;
      sumSq[p] += v * v;
    }
  }
  const mean = new Float32Array(size);
  const scale = new Float32Array(size);
  for (let p = 0; p < size; p++) {
    const m = sum[p] / data.count;
    const variance = Math.max(0, sumSq[p] / data.count - m * m);
    mean[p] = m;
    const sd = Math.sqrt(variance);
    scale[p] = sd === 0 ? 1 : 1 / Math.max(sd, floor);
  }
  return { mean, scale, floor };
}

/** Constructor arguments of {@link PixelStandardization}. */
export interface PixelStandardizationArgs {
  /** `[height, width, channels]` of one image. */
  inputShape?: number[];
  name?: string;
}

/**
 * The layer: `(x − mean) · scale`, elementwise, with `mean` and `scale` as non-trainable weights of the image's
 * shape. Registered for serialization, so a saved model loads again once this module is imported.
 */
export class PixelStandardization extends tf.layers.Layer {
  /** The name under which tfjs serializes the layer. */
  static className = "HansPixelStandardization";
  private mean?: tf.LayerVariable;
  private scale?: tf.LayerVariable;

  constructor(args: PixelStandardizationArgs = {}) {
    super(args);
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = (inputShape as tf.Shape).slice(1) as number[];
    this.mean = this.addWeight("mean", shape, "float32", tf.initializers.zeros(), undefined, false);
    this.scale = this.addWeight("scale", shape, "float32", tf.initializers.ones(), undefined, false);
    this.built = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      return tf.mul(tf.sub(x, this.mean!.read()), this.scale!.read());
    });
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    return inputShape;
  }
}
tf.serialization.registerClass(PixelStandardization);

/** Writes `stats` into a model's {@link PixelStandardization} layer (which must be built). */
export function setPixelStatistics(layer: PixelStandardization, stats: PixelStatistics): void {
  const shape = layer.getWeights()[0].shape;
  const values = [tf.tensor(stats.mean, shape), tf.tensor(stats.scale, shape)];
  layer.setWeights(values);
  tf.dispose(values);
}
