/**
 * MobileNetV2 (Sandler et al. 2018) as Keras applications builds it (`tf.keras.applications.MobileNetV2`), with
 * the same layer names and shapes, so hans can be measured and tested on the real architecture at real size
 * without downloading weights: the real-size bench and the tests build it here with seeded weights.
 * @module
 */
import { tf } from "../deps.ts";
import { seedWeights } from "./seed_weights.ts";

/** Options of {@link mobileNetV2}. */
export interface MobileNetV2Options {
  /** Width multiplier α (Keras's `alpha`): 0.35, 0.5, 0.75, 1.0, 1.3 or 1.4 (default 1.0). */
  alpha?: number;
  /** Input height and width (default 224). */
  size?: number;
  /** Output classes (default 1000). */
  classes?: number;
  /**
   * The head after `out_relu`: `global` (Keras's GlobalAveragePooling2D, the default) or `average-pooling`
   * (an AveragePooling2D over the whole last feature map, then Flatten, as some converted models have it).
   */
  head?: "global" | "average-pooling";
  /** Softmax on the `predictions` layer (default true); false leaves it linear (logits). */
  softmax?: boolean;
  /** Seed of the weights (default 1), see {@link seedWeights}. */
  seed?: number;
}

/** Keras's `_make_divisible`: `v` rounded to a multiple of `divisor`, never below 90% of `v`. */
function makeDivisible(v: number, divisor = 8): number {
  let rounded = Math.max(divisor, Math.floor((v + divisor / 2) / divisor) * divisor);
  if (rounded < 0.9 * v) rounded += divisor;
  return rounded;
}

/** The inverted residual blocks of MobileNetV2: output filters (before α), stride, expansion. */
const BLOCKS: readonly [number, number, number][] = [
  [16, 1, 1],
  [24, 2, 6],
  [24, 1, 6],
  [32, 2, 6],
  [32, 1, 6],
  [32, 1, 6],
  [64, 2, 6],
  [64, 1, 6],
  [64, 1, 6],
  [64, 1, 6],
  [96, 1, 6],
  [96, 1, 6],
  [96, 1, 6],
  [160, 2, 6],
  [160, 1, 6],
  [160, 1, 6],
  [320, 1, 6],
];

/**
 * A MobileNetV2 LayersModel with Keras applications' architecture and layer names: `Conv1` (3×3, stride 2) →
 * `bn_Conv1` → `Conv1_relu` (ReLU6) → 17 inverted residual blocks (`expanded_conv_*`, `block_1_*` …
 * `block_16_*`: 1×1 expansion, `ZeroPadding2D` before each stride-2 depthwise 3×3, 1×1 linear projection,
 * residual `Add` where the shapes allow) → `Conv_1` (1×1, 1280) → `Conv_1_bn` → `out_relu` → pooling →
 * `predictions` (Dense, softmax). Every BatchNormalization has ε = 1e-3. Weights are seeded, not trained.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 *
 * await tf.setBackend("cpu");
 * const model = mobileNetV2({ alpha: 0.35, size: 32, classes: 5 });
 * assert.deepEqual(model.getLayer("out_relu").outputShape, [null, 1, 1, 1280]);
 * assert.deepEqual(model.outputs[0].shape, [null, 5]);
 * model.dispose();
 * ```
 */
export function mobileNetV2(options: MobileNetV2Options = {}): tf.LayersModel {
  const alpha = options.alpha ?? 1;
  const size = options.size ?? 224;
  const apply = (layer: tf.layers.Layer, x: tf.SymbolicTensor | tf.SymbolicTensor[]) =>
    layer.apply(x) as tf.SymbolicTensor;
  const bn = (name: string) =>
    tf.layers.batchNormalization({ name, axis: -1, epsilon: 1e-3, momentum: 0.999 });
  const relu6 = (name: string) => tf.layers.reLU({ maxValue: 6, name });
  const conv1x1 = (name: string, filters: number) =>
    tf.layers.conv2d({ name, filters, kernelSize: 1, padding: "same", useBias: false });

  const input = tf.input({ shape: [size, size, 3], name: "input_1" });
  let x = apply(
    tf.layers.conv2d({
      name: "Conv1",
      filters: makeDivisible(32 * alpha),
      kernelSize: 3,
      strides: 2,
      padding: "same",
      useBias: false,
    }),
    input,
  );
  x = apply(bn("bn_Conv1"), x);
  x = apply(relu6("Conv1_relu"), x);
  BLOCKS.forEach(([filters, stride, expansion], id) => {
    const inChannels = x.shape[3] as number;
    const outChannels = makeDivisible(Math.trunc(filters * alpha));
    const prefix = id === 0 ? "expanded_conv_" : `block_${id}_`;
    const blockInput = x;
    let h = x;
    if (id > 0) {
      h = apply(conv1x1(`${prefix}expand`, expansion * inChannels), h);
      h = apply(bn(`${prefix}expand_BN`), h);
      h = apply(relu6(`${prefix}expand_relu`), h);
    }
    if (stride === 2) {
      // Keras's correct_pad for an even side: one row and column of zeros after, none before.
      const [height, width] = [h.shape[1] as number, h.shape[2] as number];
      const padding: [[number, number], [number, number]] = [[height % 2, 1], [width % 2, 1]];
      h = apply(tf.layers.zeroPadding2d({ name: `${prefix}pad`, padding }), h);
    }
    h = apply(
      tf.layers.depthwiseConv2d({
        name: `${prefix}depthwise`,
        kernelSize: 3,
        strides: stride,
        padding: stride === 1 ? "same" : "valid",
        useBias: false,
      }),
      h,
    );
    h = apply(bn(`${prefix}depthwise_BN`), h);
    h = apply(relu6(`${prefix}depthwise_relu`), h);
    h = apply(conv1x1(`${prefix}project`, outChannels), h);
    h = apply(bn(`${prefix}project_BN`), h);
    x = inChannels === outChannels && stride === 1
      ? apply(tf.layers.add({ name: `${prefix}add` }), [blockInput, h])
      : h;
  });
  x = apply(conv1x1("Conv_1", alpha > 1 ? makeDivisible(1280 * alpha) : 1280), x);
  x = apply(bn("Conv_1_bn"), x);
  x = apply(relu6("out_relu"), x);
  if (options.head === "average-pooling") {
    const side = [x.shape[1] as number, x.shape[2] as number] as [number, number];
    x = apply(tf.layers.averagePooling2d({ name: "average_pooling2d_1", poolSize: side }), x);
    x = apply(tf.layers.flatten({ name: "flatten" }), x);
  } else {
    x = apply(tf.layers.globalAveragePooling2d({ name: "global_average_pooling2d" }), x);
  }
  const output = apply(
    tf.layers.dense({
      name: "predictions",
      units: options.classes ?? 1000,
      activation: options.softmax === false ? "linear" : "softmax",
    }),
    x,
  );
  const model = tf.model({ inputs: input, outputs: output, name: `mobilenetv2_${alpha}_${size}` });
  seedWeights(model, options.seed ?? 1);
  return model;
}
