/**
 * Seeded weights for a LayersModel of any architecture, so models built in code (the real-size bench's
 * MobileNetV2, test fixtures) are the same on every run without downloading anything.
 * @module
 */
import { tf } from "../deps.ts";
import { Rng } from "../rng.ts";

/** Uniform number in [lo, hi). */
function uniform(rng: Rng, lo: number, hi: number): number {
  return lo + (hi - lo) * rng.next();
}

/**
 * The last part of a weight's name: `kernel`, `bias`, `gamma`, `moving_mean`, …
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * assert.equal(weightRole("block_1_expand_BN/moving_mean_3"), "moving_mean");
 * ```
 */
export function weightRole(name: string): string {
  return name.slice(name.lastIndexOf("/") + 1).replace(/_\d+$/, "");
}

/**
 * Sets every weight of `model` from one seeded generator, layer by layer in the model's order: conv kernels
 * ~ N(0, 2/fan_in) (fan_in kh·kw·in, or kh·kw for a depthwise kernel), Dense kernels ~ N(0, 1/fan_in), biases
 * ~ N(0, 0.1²), BatchNormalization gamma ~ U(0.5, 1.5), beta ~ U(−0.2, 0.2), moving mean ~ U(−0.3, 0.3),
 * moving variance ~ U(0.5, 2). The same model and seed give the same weights.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 *
 * await tf.setBackend("cpu");
 * const build = () => tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 2 })] });
 * const [a, b] = [build(), build()];
 * seedWeights(a, 7);
 * seedWeights(b, 7);
 * assert.deepEqual(a.getWeights()[0].arraySync(), b.getWeights()[0].arraySync());
 * a.dispose();
 * b.dispose();
 * ```
 */
export function seedWeights(model: tf.LayersModel, seed: number): void {
  const rng = new Rng(seed);
  for (const layer of model.layers) {
    if (layer.weights.length === 0) continue;
    const className = layer.getClassName();
    const values = layer.weights.map((w) => {
      const shape = w.shape as number[];
      const size = shape.reduce((a, b) => a * b, 1);
      const role = weightRole(w.originalName);
      let draw: () => number;
      if (role === "kernel" || role === "depthwise_kernel") {
        const fanIn = className === "DepthwiseConv2D"
          ? shape[0] * shape[1]
          : shape.slice(0, -1).reduce((a, b) => a * b, 1);
        const std = Math.sqrt((className === "Dense" ? 1 : 2) / fanIn);
        draw = () => std * rng.normal();
      } else if (role === "bias") draw = () => 0.1 * rng.normal();
      else if (role === "gamma") draw = () => uniform(rng, 0.5, 1.5);
      else if (role === "beta") draw = () => uniform(rng, -0.2, 0.2);
      else if (role === "moving_mean") draw = () => uniform(rng, -0.3, 0.3);
      else if (role === "moving_variance") draw = () => uniform(rng, 0.5, 2);
      else throw new Error(`no initializer for weight ${w.originalName} of ${layer.name}`);
      return tf.tensor(Float32Array.from({ length: size }, draw), shape);
    });
    layer.setWeights(values);
    tf.dispose(values);
  }
}
