/**
 * Occlusion (Zeiler & Fergus 2014): slide a patch of baseline value over the image and record how much the
 * target score drops; each pixel gets the mean drop of the patches that cover it. Batched on the GPU: the
 * occluded copies come from one broadcast op on a stack of patch masks, and the drops are folded into the map
 * by one matrix product, so nothing returns to the CPU until the maps are read.
 * @module
 */
import { maskedCopies } from "./masked_copies.ts";
import { tf } from "../deps.ts";
import { HansError } from "../errors.ts";
import type { ExplainableModel } from "./model_fn.ts";
import { sliceTarget, type Target, targetScores, targetWeights } from "./target.ts";

/** Options of {@link occlusion}. */
export interface OcclusionOptions {
  /** Side of the square patch in pixels (default 4). */
  patch?: number;
  /** Step between patch positions in pixels (default 2). */
  stride?: number;
  /** Value the patch sets the pixels to (default 0). */
  baseline?: number;
  /** Model inputs per forward pass (default 512). */
  batchSize?: number;
}

/**
 * Patch positions (top-left corners) covering an image, the last row and column flush with the border.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(patchPositions(5, 2, 2), [0, 2, 3]); // the last patch is moved flush with the border
 * assert.deepEqual(patchPositions(4, 2, 2), [0, 2]);
 * ```
 */
export function patchPositions(size: number, patch: number, stride: number): number[] {
  const out: number[] = [];
  for (let p = 0; p + patch <= size; p += stride) out.push(p);
  if (out.length === 0 || out[out.length - 1] + patch < size) out.push(Math.max(0, size - patch));
  return out;
}

/**
 * The stack of patch masks `[K, H*W]` (1 inside the patch) for an image of `height x width`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * const masks = occlusionMasks(3, 3, 2, 1); // 2×2 patches on a 3×3 image: 4 positions
 * assert.equal(masks.length, 4 * 9);
 * assert.deepEqual(Array.from(masks.subarray(0, 9)), [1, 1, 0, 1, 1, 0, 0, 0, 0]);
 * ```
 */
export function occlusionMasks(height: number, width: number, patch: number, stride: number): Float32Array {
  const ys = patchPositions(height, patch, stride);
  const xs = patchPositions(width, patch, stride);
  const masks = new Float32Array(ys.length * xs.length * height * width);
  let k = 0;
  for (const y0 of ys) {
    for (const x0 of xs) {
      for (let y = y0; y < Math.min(height, y0 + patch); y++) {
        for (let x = x0; x < Math.min(width, x0 + patch); x++) masks[k * height * width + y * width + x] = 1;
      }
      k++;
    }
  }
  return masks;
}

/**
 * The options with their defaults filled in, checked against the image size `[n,H,W,C]`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(occlusionSettings({ patch: 2 }, [1, 4, 4, 1]), { patch: 2, stride: 2, baseline: 0 });
 * assert.throws(() => occlusionSettings({ patch: 8 }, [1, 4, 4, 1]), /do not fit 4x4 images/);
 * ```
 */
export function occlusionSettings(
  options: OcclusionOptions,
  shape: number[],
): { patch: number; stride: number; baseline: number } {
  const patch = options.patch ?? 4;
  const stride = options.stride ?? 2;
  const baseline = options.baseline ?? 0;
  const [, height, width] = shape;
  if (patch < 1 || stride < 1 || patch > Math.min(height, width)) {
    throw new HansError(
      `occlusion patch ${patch} and stride ${stride} do not fit ${height}x${width} images.`,
    );
  }
  return { patch, stride, baseline };
}

/**
 * Occlusion maps `[n,H,W]`: signed mean drop of the target score (positive = the region supports it).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import { gradientInput } from "./gradient_input.ts";
 * import { fromLayersModel } from "./model_fn.ts";
 *
 * await tf.setBackend("cpu");
 * const layers = [tf.layers.flatten({ inputShape: [4, 4, 1] }), tf.layers.dense({ units: 3 })];
 * const model = fromLayersModel(tf.sequential({ layers }));
 * const x = tf.randomUniform([2, 4, 4, 1]) as tf.Tensor4D;
 * const maps = await occlusion(model, x, [0, 2], { patch: 1, stride: 1 });
 * // Blacking out one pixel of a linear model costs its weight times its value: gradient × input.
 * const expected = await gradientInput(model, x, [0, 2]);
 * const diff = tf.tidy(() => tf.sub(maps, expected).abs().max());
 * assert.ok(diff.dataSync()[0] < 1e-5);
 * tf.dispose([x, maps, expected, diff]);
 * ```
 */
export function occlusion(
  model: ExplainableModel,
  images: tf.Tensor4D,
  target: Target,
  options: OcclusionOptions = {},
): Promise<tf.Tensor3D> {
  const { patch, stride, baseline } = occlusionSettings(options, images.shape);
  const [n, height, width] = images.shape;
  const maskData = occlusionMasks(height, width, patch, stride);
  const k = maskData.length / (height * width);
  const perPass = Math.max(1, Math.floor((options.batchSize ?? 512) / k));
  const masks = tf.tensor2d(maskData, [k, height * width]);
  const coverage = tf.sum(masks, 0);
  const keep = tf.tidy(() => tf.sub(1, masks)) as tf.Tensor2D;
  const fill = tf.tidy(() => tf.mul(masks, baseline)) as tf.Tensor2D;
  const parts: tf.Tensor3D[] = [];
  for (let start = 0; start < n; start += perPass) {
    const end = Math.min(n, start + perPass);
    parts.push(tf.tidy(() => {
      const m = end - start;
      const x = images.slice([start, 0, 0, 0], [m, -1, -1, -1]);
      const w = targetWeights(sliceTarget(target, start, end), model.classes);
      const full = targetScores(model.logits(x), w);
      const occluded = maskedCopies(x, keep, fill);
      const scores = targetScores(
        model.logits(occluded as tf.Tensor4D),
        tf.tile(w.expandDims(1), [1, k, 1])
          .reshape([m * k, model.classes]) as tf.Tensor2D,
      ).reshape([m, k]);
      const drops = tf.sub(full.expandDims(1), scores);
      return tf.div(tf.matMul(drops, masks), coverage).reshape([m, height, width]) as tf.Tensor3D;
    }));
  }
  masks.dispose();
  coverage.dispose();
  keep.dispose();
  fill.dispose();
  const out = parts.length === 1 ? parts[0] : tf.concat(parts, 0);
  if (parts.length > 1) parts.forEach((p) => p.dispose());
  return Promise.resolve(out);
}
