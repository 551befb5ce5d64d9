/**
 * Occlusion (Zeiler & Fergus 2014): slide a patch of baseline value over the image and record how much the
 * target score drops; each pixel gets the mean drop of the patches that cover it. Batched on the GPU: the
 * occluded copies come from one broadcast op on a stack of patch masks, and the drops are folded into the map
 * by one matrix product, so nothing returns to the CPU until the maps are read.
 * @module
 */
import { type MaskBlock, maskedScoreSums } from "./masked_copies.ts";
import { tf } from "../deps.ts";
import { HansError } from "../errors.ts";
import type { ExplainableModel } from "./explainable_model.ts";
import {
  DEFAULT_FORWARD_INPUTS_PER_PASS,
  inputsPerPass,
  manyOnForwardEngine,
  onForwardEngine,
} from "./batching.ts";
import { checkOptions, type MethodDescriptor } from "./descriptor.ts";
import { batchSize, finiteNumber, flag, wholeNumber } from "./option_checks.ts";
import { type Target, targetScores, targetWeights } from "./target.ts";

/** Options of {@link occlusion}. */
export interface OcclusionOptions {
  /** Side of the square patch in pixels (default about 1/14 of the image's shorter side, at least 4). */
  patch?: number;
  /** Step between patch positions in pixels (default half the patch, rounded up; the patch with `overlap: false`). */
  stride?: number;
  /** Whether the default stride overlaps patches by half (true, the default) or tiles the image with them
   * (false: stride = patch, about a quarter of the positions). A given `stride` overrules it. */
  overlap?: boolean;
  /** Value the patch sets the pixels to (default 0). */
  baseline?: number;
  /** Most model inputs per forward pass (default 512; fewer when the device or the memory budget needs it). */
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
 * The options with their defaults filled in, checked against the image size `[n,H,W,C]`. The default patch
 * scales with the image: about 1/14 of its shorter side and at least 4 pixels (4 at 28×28, 16 at 224×224), and
 * the default stride is half the patch, so a map has about 27 × 27 patch positions at any size above 56
 * (`overlap: false`: the whole patch, about 14 × 14).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(occlusionSettings({}, [1, 28, 28, 1]), { patch: 4, stride: 2, baseline: 0 });
 * assert.deepEqual(occlusionSettings({}, [1, 224, 224, 3]), { patch: 16, stride: 8, baseline: 0 });
 * assert.deepEqual(occlusionSettings({ patch: 2 }, [1, 4, 4, 1]), { patch: 2, stride: 1, baseline: 0 });
 * // Tiling instead of overlapping (the quick preset): 14 × 14 positions at 224.
 * assert.deepEqual(occlusionSettings({ overlap: false }, [1, 224, 224, 3]), { patch: 16, stride: 16, baseline: 0 });
 * assert.throws(() => occlusionSettings({ patch: 8 }, [1, 4, 4, 1]), /do not fit 4x4 images/);
 * ```
 */
export function occlusionSettings(
  options: OcclusionOptions,
  shape: number[],
): { patch: number; stride: number; baseline: number } {
  const [, height, width] = shape;
  const patch = options.patch ??
    Math.min(Math.max(4, Math.round(Math.min(height, width) / 14)), height, width);
  const stride = options.stride ?? (options.overlap === false ? patch : Math.max(1, Math.ceil(patch / 2)));
  const baseline = options.baseline ?? 0;
  if (
    !(Number.isInteger(patch) && Number.isInteger(stride)) || patch < 1 || stride < 1 ||
    patch > Math.min(height, width)
  ) {
    throw new HansError(
      `occlusion patch ${patch} and stride ${stride} do not fit ${height}x${width} images.`,
    );
  }
  return { patch, stride, baseline };
}

/** Number of patch positions, and the masks of positions `k0..k1−1` as a block for {@link maskedScoreSums}. */
function occlusionBlocks(height: number, width: number, patch: number, stride: number, baseline: number) {
  const ys = patchPositions(height, patch, stride);
  const xs = patchPositions(width, patch, stride);
  const pixels = height * width;
  const count = ys.length * xs.length;
  const block = (k0: number, k1: number): MaskBlock => {
    const values = new Float32Array((k1 - k0) * pixels);
    for (let k = k0; k < k1; k++) {
      const y0 = ys[Math.floor(k / xs.length)];
      const x0 = xs[k % xs.length];
      for (let y = y0; y < Math.min(height, y0 + patch); y++) {
        values.fill(
          1,
          (k - k0) * pixels + y * width + x0,
          (k - k0) * pixels + y * width + Math.min(width, x0 + patch),
        );
      }
    }
    return tf.tidy(() => {
      const weight = tf.tensor2d(values, [k1 - k0, pixels]);
      return {
        keep: tf.sub(1, weight) as tf.Tensor2D,
        fill: tf.mul(weight, baseline) as tf.Tensor2D,
        weight,
      };
    });
  };
  // How many patches cover each pixel.
  const coverage = new Float32Array(pixels);
  for (const y0 of ys) {
    for (const x0 of xs) {
      for (let y = y0; y < Math.min(height, y0 + patch); y++) {
        for (let x = x0; x < Math.min(width, x0 + patch); x++) coverage[y * width + x]++;
      }
    }
  }
  return { count, block, coverage };
}

/**
 * Occlusion maps `[n,H,W]`: signed mean drop of the target score (positive = the region supports it).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import { gradientInput } from "./gradient_input.ts";
 * import { fromLayersModel } from "./explainable_model.ts";
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
export async function occlusion(
  model: ExplainableModel,
  images: tf.Tensor4D,
  target: Target,
  options: OcclusionOptions = {},
): Promise<tf.Tensor3D> {
  options = checkOptions(occlusionMethod, options);
  const [maps] = await occlusionMany(model, images, [target], options);
  return maps;
}

/**
 * Occlusion maps `[n,H,W]` for several targets from the same forward passes (the scores of every target are
 * read off the same logits): the maps for class P, class Q and "P rather than Q" cost one set of passes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import { fromLayersModel } from "./explainable_model.ts";
 *
 * await tf.setBackend("cpu");
 * const layers = [tf.layers.flatten({ inputShape: [4, 4, 1] }), tf.layers.dense({ units: 3 })];
 * const model = fromLayersModel(tf.sequential({ layers }));
 * const x = tf.randomUniform([1, 4, 4, 1]) as tf.Tensor4D;
 * const [p, q, contrast] = await occlusionMany(model, x, [[0], [2], { p: [0], q: [2] }], { patch: 2 });
 * // The drop of logit 0 − logit 2 is the drop of logit 0 minus the drop of logit 2.
 * const diff = tf.tidy(() => tf.sub(contrast, tf.sub(p, q)).abs().max());
 * assert.ok(diff.dataSync()[0] < 1e-5);
 * tf.dispose([x, p, q, contrast, diff]);
 * ```
 */
export async function occlusionMany(
  model: ExplainableModel,
  images: tf.Tensor4D,
  targets: Target[],
  options: OcclusionOptions = {},
): Promise<tf.Tensor3D[]> {
  options = checkOptions(occlusionMethod, options);
  const { patch, stride, baseline } = occlusionSettings(options, images.shape);
  const [n, height, width, channels] = images.shape;
  const perPass = await inputsPerPass(model, images, {
    kind: "forward",
    requested: options.batchSize ?? DEFAULT_FORWARD_INPUTS_PER_PASS,
    extraBytesPerInput: 4 * height * width * channels,
    label: "Occlusion",
  });
  const { count, block, coverage } = occlusionBlocks(height, width, patch, stride, baseline);
  const weights = targets.map((t) => targetWeights(t, model.classes));
  try {
    const totals = await maskedScoreSums(model, images, weights, {
      count,
      block,
      perPass,
      label: "Occlusion",
    });
    const full = unmaskedScores(model, images, weights, perPass);
    // Mean drop per pixel: (full score · coverage − Σ_k score_k · mask_k) / coverage = full − S / coverage.
    const maps = tf.tidy(() => {
      const cover = tf.tensor2d(coverage, [1, height * width]);
      return totals.map((t, i) =>
        tf.sub(full[i], tf.div(t.sums, cover)).reshape([n, height, width]) as tf.Tensor3D
      );
    });
    tf.dispose([...full, ...totals.flatMap((t) => [t.sums, t.scoreSums])]);
    return maps;
  } finally {
    tf.dispose(weights);
  }
}

/** Each target's score of the unmasked images, `[n, 1]` per target, `perPass` images a pass. */
function unmaskedScores(
  model: ExplainableModel,
  images: tf.Tensor4D,
  weights: tf.Tensor2D[],
  perPass: number,
): tf.Tensor2D[] {
  const n = images.shape[0];
  const parts: tf.Tensor2D[][] = weights.map(() => []);
  for (let start = 0; start < n; start += perPass) {
    const m = Math.min(n, start + perPass) - start;
    const scores = tf.tidy(() => {
      const logits = model.logits(images.slice([start, 0, 0, 0], [m, -1, -1, -1]));
      return weights.map((w) =>
        targetScores(logits, w.slice([start, 0], [m, -1])).reshape([m, 1]) as tf.Tensor2D
      );
    });
    scores.forEach((s, t) => parts[t].push(s));
  }
  return parts.map((p) => {
    if (p.length === 1) return p[0];
    const joined = tf.concat(p, 0) as tf.Tensor2D;
    tf.dispose(p);
    return joined;
  });
}

/** Occlusion as a registered method (`explain("occlusion", …)`), run on the fastest forward engine. */
export const occlusionMethod: MethodDescriptor<"occlusion", OcclusionOptions> = {
  name: "occlusion",
  label: "Occlusion",
  signed: true,
  description: "mean drop of the score under a black patch of about 1/14 of the image's side (at least 4 " +
    "pixels), stride half the patch",
  attribution: true,
  usesGradient: false,
  cost: "perturbation",
  options: {
    patch: wholeNumber("side of the square patch in pixels (default about 1/14 of the shorter side, ≥ 4)", 1),
    stride: wholeNumber("step between patch positions in pixels (default half the patch)", 1),
    overlap: flag("default stride half the patch (true, the default) or the whole patch (false)"),
    baseline: finiteNumber("value the patch sets the pixels to (default 0)"),
    batchSize: batchSize(DEFAULT_FORWARD_INPUTS_PER_PASS),
  },
  // Quick tiles the image with the default patch: 7×7 positions at 28×28, 14×14 at 224 (27×27 overlapping).
  presets: { quick: { overlap: false } },
  cheaper: (o) => (o.stride === undefined && o.overlap === undefined ? [{ ...o, overlap: false }] : []),
  passes: (o, [height, width]) => {
    const { patch, stride } = occlusionSettings(o, [1, height, width]);
    const positions = patchPositions(height, patch, stride).length *
      patchPositions(width, patch, stride).length;
    return { forward: positions + 1, backward: 0 };
  },
  defaults: (size, options) => occlusionSettings(options, [1, ...size]),
  explain: onForwardEngine(occlusion),
  explainMany: manyOnForwardEngine(occlusionMany),
};
