/**
 * Does a counterfactual change what the saliency map points at? Per mistake, the contrastive saliency map
 * "why the predicted class P rather than the true class T" (logit P − logit T, absolute) on the original image,
 * and Spearman's rank correlation between |x′ − x| (summed over channels) and that map. A baseline pairs each
 * change with the map of another mistake, to show what the same number is for maps that do not belong to it.
 * @module
 */
import { HansError } from "../errors.ts";
import type { ExplainableModel } from "../explain/explainable_model.ts";
import { method } from "../explain/registry.ts";
import type { tf } from "../deps.ts";
import { spearman } from "../measure/sanity.ts";

/**
 * The registry methods whose maps the counterfactual task compares with the change: each costs one batched
 * backward pass. `gradient` (max over channels of |∂(logit P − logit T)/∂x|) says where a small change moves
 * the contrast most, which is what the optimizer's first steps follow; `gradient_input` (max over channels of
 * |x · ∂(logit P − logit T)/∂x|) says where the image's own content carries the contrast, and is 0 on black
 * pixels.
 */
export const CHANGE_SALIENCY_METHODS = ["gradient", "gradient_input"] as const;

/** Options of {@link contrastiveSaliency}. */
export interface ContrastiveSaliencyOptions {
  /** The predicted class P per image. */
  predicted: ArrayLike<number>;
  /** The true class T per image. */
  truth: ArrayLike<number>;
  /** Registry name of the method (default `gradient`). */
  method?: string;
}

/**
 * Absolute contrastive saliency maps "P rather than T" of `images` (`[n,H,W,C]`): the method's map for the
 * contrast target `{ p: predicted, q: truth }` with `absolute: true` (for `gradient` and `gradient_input`, the
 * max over channels of the absolute value), made non-negative. Returns `n * H * W` values, image-major.
 */
export async function contrastiveSaliency(
  model: ExplainableModel,
  images: tf.Tensor4D,
  options: ContrastiveSaliencyOptions,
): Promise<Float32Array> {
  const { predicted, truth } = options;
  if (predicted.length !== images.shape[0] || truth.length !== images.shape[0]) {
    throw new HansError(
      `contrastiveSaliency needs one predicted and one true class per image; got ${
        images.shape[0]
      } images, ` +
        `${predicted.length} predicted and ${truth.length} true classes.`,
    );
  }
  const maps = await method(options.method ?? "gradient").explain(
    model,
    images,
    { p: predicted, q: truth },
    { absolute: true },
  );
  const values = await maps.data() as Float32Array;
  maps.dispose();
  return values.map(Math.abs);
}

/**
 * |x′ − x| per pixel, summed over channels, for a batch stored image-major with channels last (`n * H * W * C`
 * values in, `n * H * W` out).
 */
export function changeMagnitude(
  original: Float32Array,
  changed: Float32Array,
  options: { channels: number },
): Float32Array {
  const { channels } = options;
  if (original.length !== changed.length || original.length % channels !== 0) {
    throw new HansError(
      `changeMagnitude needs two batches of one size, a multiple of ${channels} channels; got ` +
        `${original.length} and ${changed.length} values.`,
    );
  }
  const out = new Float32Array(original.length / channels);
  for (let p = 0; p < out.length; p++) {
    for (let c = 0; c < channels; c++) {
      out[p] += Math.abs(changed[p * channels + c] - original[p * channels + c]);
    }
  }
  return out;
}

/** Options of {@link changeSaliencyCorrelations}. */
export interface ChangeCorrelationOptions {
  /** Pixels per map (H·W). */
  pixels: number;
  /**
   * Pair image i's change with the map of image (i + shift) mod n (default 0, its own map). A shift of 1 is
   * the baseline: the map of another mistake. A non-zero shift that lands on the image itself (a multiple of
   * n, e.g. any shift with one image) gives NaN.
   */
  shift?: number;
}

/**
 * Per image, Spearman's rank correlation (ties share their mean rank) between the change map and a saliency
 * map, both `n * pixels` values. NaN where either map is constant, e.g. a failed counterfactual that kept the
 * original (no change at all): there is no ranking to compare.
 */
export function changeSaliencyCorrelations(
  change: Float32Array,
  saliency: Float32Array,
  options: ChangeCorrelationOptions,
): number[] {
  const { pixels } = options;
  const shift = options.shift ?? 0;
  if (change.length !== saliency.length || change.length % pixels !== 0) {
    throw new HansError(
      `changeSaliencyCorrelations needs change and saliency maps of ${pixels} pixels each, as many of one as ` +
        `of the other; got ${change.length} and ${saliency.length} values.`,
    );
  }
  const n = change.length / pixels;
  return Array.from({ length: n }, (_, i) => {
    const j = (((i + shift) % n) + n) % n;
    if (shift !== 0 && j === i) return NaN;
    return spearman(
      change.subarray(i * pixels, (i + 1) * pixels),
      saliency.subarray(j * pixels, (j + 1) * pixels),
    );
  });
}
