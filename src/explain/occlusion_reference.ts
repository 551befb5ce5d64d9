/**
 * The plain reference for occlusion: one patch at a time, one forward pass per patch. Slow on purpose; the
 * tests check the batched {@link occlusion} against it and the bench measures the speed-up.
 * @module
 */
import { tf } from "../deps.ts";
import type { ExplainableModel } from "./explainable_model.ts";
import type { OcclusionOptions } from "./occlusion.ts";
import { occlusionSettings, patchPositions } from "./occlusion.ts";
import { sliceTarget, type Target, targetScores, targetWeights } from "./target.ts";

/**
 * Occlusion maps `[n,H,W]` computed patch by patch (same definition as {@link occlusion}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import { fromLayersModel } from "./explainable_model.ts";
 * import { occlusion } from "./occlusion.ts";
 *
 * await tf.setBackend("cpu");
 * const layers = [
 *   tf.layers.conv2d({ inputShape: [4, 4, 1], filters: 2, kernelSize: 3, activation: "relu" }),
 *   tf.layers.flatten(),
 *   tf.layers.dense({ units: 3 }),
 * ];
 * const model = fromLayersModel(tf.sequential({ layers }));
 * const x = tf.randomUniform([2, 4, 4, 1]) as tf.Tensor4D;
 * const slow = await occlusionReference(model, x, [0, 1], { patch: 2, stride: 1 });
 * const fast = await occlusion(model, x, [0, 1], { patch: 2, stride: 1 });
 * const diff = tf.tidy(() => tf.sub(slow, fast).abs().max());
 * assert.ok(diff.dataSync()[0] < 1e-5);
 * tf.dispose([x, slow, fast, diff]);
 * ```
 */
export async function occlusionReference(
  model: ExplainableModel,
  images: tf.Tensor4D,
  target: Target,
  options: OcclusionOptions = {},
): Promise<tf.Tensor3D> {
  const { patch, stride, baseline } = occlusionSettings(options, images.shape);
  const [n, height, width, channels] = images.shape;
  const out = new Float32Array(n * height * width);
  for (let i = 0; i < n; i++) {
    const x = images.slice([i, 0, 0, 0], [1, -1, -1, -1]);
    const w = targetWeights(sliceTarget(target, i, i + 1), model.classes);
    const full = (await tf.tidy(() => targetScores(model.logits(x), w)).data())[0];
    const sum = new Float32Array(height * width);
    const count = new Float32Array(height * width);
    for (const y0 of patchPositions(height, patch, stride)) {
      for (const x0 of patchPositions(width, patch, stride)) {
        const score = tf.tidy(() => {
          const ph = Math.min(patch, height - y0);
          const pw = Math.min(patch, width - x0);
          const mask = tf.pad(tf.ones([1, ph, pw, channels]), [[0, 0], [y0, height - y0 - ph], [
            x0,
            width - x0 - pw,
          ], [0, 0]]);
          const occluded = tf.add(tf.mul(x, tf.sub(1, mask)), tf.mul(mask, baseline)) as tf.Tensor4D;
          return targetScores(model.logits(occluded), w);
        });
        const drop = full - (await score.data())[0];
        score.dispose();
        for (let y = y0; y < Math.min(height, y0 + patch); y++) {
          for (let xx = x0; xx < Math.min(width, x0 + patch); xx++) {
            sum[y * width + xx] += drop;
            count[y * width + xx] += 1;
          }
        }
      }
    }
    for (let p = 0; p < height * width; p++) out[i * height * width + p] = sum[p] / count[p];
    x.dispose();
    w.dispose();
  }
  return tf.tensor3d(out, [n, height, width]);
}
