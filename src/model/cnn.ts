/**
 * The default small convolutional network: two conv/pool blocks and two dense layers, logits out.
 * @module
 */
import { tf } from "../deps.ts";
import { checkMemory } from "../limits.ts";
import { ContrastNormalization } from "./contrast_norm.ts";
import { PixelStandardization, type PixelStatistics, setPixelStatistics } from "./standardize.ts";

/** Options of {@link createCnn}. */
export interface CnnOptions {
  height: number;
  width: number;
  channels: number;
  classes: number;
  /** Seed of the weight initializers (default 0), so training reproduces. */
  seed?: number;
  /** Filters of the two conv layers (default [16, 32]). */
  filters?: [number, number];
  /** Units of the hidden dense layer (default 64). */
  hidden?: number;
  /**
   * How the conv features reach the dense layers: `flatten` (default) keeps every position apart; `average`
   * averages each feature map over the whole image first (global average pooling, as ResNets do), so a
   * faint pattern spread over the image counts by its area (see the README's watermark measurements).
   */
  head?: "flatten" | "average";
  /**
   * Per-pixel statistics for a first {@link PixelStandardization} layer, so the network sees each pixel
   * relative to how it usually varies; absent, the network takes the pixels as they are.
   */
  standardize?: PixelStatistics;
  /**
   * Power of a {@link ContrastNormalization} after the first conv layer (before its ReLU), in (0, 1]; 0 or
   * absent leaves it out. It makes the network see a faint pattern about as clearly as a bold one.
   */
  contrastNorm?: number;
}

/**
 * [standardize →] conv3x3(16)[-contrast norm]-relu-maxpool2 → conv3x3(32)-relu-maxpool2 → [average over the
 * image →] flatten → dense(64)-relu → dense(classes).
 * The output is logits (no softmax), so saliency is taken on logits. No dropout, batch norm or other
 * regularization that would keep the model from learning a planted shortcut; the contrast normalization is
 * none: it has no weights and no batch statistics, and it makes faint shortcuts easier to learn, not harder.
 */
export function createCnn(options: CnnOptions): tf.Sequential {
  const seed = options.seed ?? 0;
  const [f1, f2] = options.filters ?? [16, 32];
  const init = (k: number) => tf.initializers.glorotUniform({ seed: seed * 101 + k });
  const inputShape = [options.height, options.width, options.channels];
  const size = inputShape[0] * inputShape[1] * inputShape[2];
  if (options.standardize && options.standardize.mean.length !== size) {
    const images = inputShape.join("x");
    throw new RangeError(
      `pixel statistics hold ${options.standardize.mean.length} values; images of ${images} need ${size}`,
    );
  }
  if (options.height < 4 || options.width < 4) {
    throw new RangeError(
      `the CNN halves its input twice (2x2 pooling), so it needs images of at least 4x4, got ` +
        `${options.height}x${options.width}`,
    );
  }
  const contrast = options.contrastNorm ?? 0;
  if (!(contrast >= 0 && contrast <= 1)) {
    throw new RangeError(`contrastNorm must be in [0, 1], got ${contrast}`);
  }
  // The flatten head's dense layer grows with the image (128 M weights at 1000×1000): checked before the
  // weights are made, with their gradients and Adam's two moments.
  const hidden = options.hidden ?? 64;
  const headInputs = options.head === "average"
    ? f2
    : Math.floor(options.height / 4) * Math.floor(options.width / 4) * f2;
  const params = 9 * options.channels * f1 + 9 * f1 * f2 + headInputs * hidden + hidden * options.classes;
  checkMemory(
    16 * params,
    `training a CNN on ${options.height}x${options.width} images (${
      (params / 1e6).toFixed(1)
    } M weights with the ${options.head ?? "flatten"} head, their gradients and Adam's moments)`,
    options.head === "average" ? "pass smaller images" : "pass --head average, which stays small at any size",
  );
  const standardize = options.standardize && new PixelStandardization({ inputShape, name: "standardize" });
  const model = tf.sequential({
    name: "hans_cnn",
    layers: [
      ...(standardize ? [standardize] : []),
      tf.layers.conv2d({
        ...(standardize ? {} : { inputShape }),
        filters: f1,
        kernelSize: 3,
        padding: "same",
        activation: contrast ? "linear" : "relu",
        // Before the contrast normalization, no bias: a blank region then stays exactly zero (and so does the
        // gradient there) instead of a bias vector the normalization would blow up to unit size.
        useBias: !contrast,
        kernelInitializer: init(1),
        name: "conv1",
      }),
      ...(contrast
        ? [
          new ContrastNormalization({ power: contrast, name: "conv1_contrast" }),
          tf.layers.activation({ activation: "relu", name: "conv1_relu" }),
        ]
        : []),
      tf.layers.maxPooling2d({ poolSize: 2, name: "pool1" }),
      tf.layers.conv2d({
        filters: f2,
        kernelSize: 3,
        padding: "same",
        activation: "relu",
        kernelInitializer: init(2),
        name: "conv2",
      }),
      tf.layers.maxPooling2d({ poolSize: 2, name: "pool2" }),
      // An AveragePooling2D over the whole feature map rather than GlobalAveragePooling2D: the layer-by-layer
      // interpreter of Guided Backprop and LRP knows it.
      ...(options.head === "average"
        ? [tf.layers.averagePooling2d({
          poolSize: [Math.max(1, Math.floor(options.height / 4)), Math.max(1, Math.floor(options.width / 4))],
          name: "average",
        })]
        : []),
      tf.layers.flatten({ name: "flatten" }),
      tf.layers.dense({
        units: options.hidden ?? 64,
        activation: "relu",
        kernelInitializer: init(3),
        name: "dense1",
      }),
      tf.layers.dense({ units: options.classes, kernelInitializer: init(4), name: "logits" }),
    ],
  });
  if (standardize) setPixelStatistics(standardize, options.standardize!);
  return model;
}
