/**
 * The model-parameter randomization test (Adebayo et al. 2018, "Sanity checks for saliency maps"): a map that
 * explains the model must change when the model's weights are destroyed. Layers are re-initialized in a
 * cascade from the top (the output layer first, then each layer below it as well), on a copy of the model,
 * and after each step the maps are compared with the original ones by Spearman rank correlation. A method
 * that passes shows correlations that fall toward 0; one that keeps a high correlation after every layer is
 * random explains the input, not the model.
 *
 * Maps are compared by the ranks of their absolute values by default, as in the paper's main figures (a
 * randomized model may flip signs, which the absolute value forgives).
 * @module
 */
import { tf } from "../deps.ts";
import { HansError } from "../errors.ts";
import { disposeGraph } from "../explain/graph.ts";
import { fromLayersModel, settled } from "../explain/explainable_model.ts";
import { method } from "../explain/registry.ts";
import type { Target } from "../explain/target.ts";

/**
 * Ranks of `values` from 1 (smallest) to n; tied values share the mean of their ranks.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(Array.from(ranks([10, 30, 20, 20])), [1, 4, 2.5, 2.5]); // ties share their mean rank
 * ```
 */
export function ranks(values: ArrayLike<number>): Float64Array {
  const n = values.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => values[a] - values[b]);
  const out = new Float64Array(n);
  for (let start = 0; start < n;) {
    let end = start + 1;
    while (end < n && values[order[end]] === values[order[start]]) end++;
    const mean = (start + end + 1) / 2; // ranks start+1..end
    for (let k = start; k < end; k++) out[order[k]] = mean;
    start = end;
  }
  return out;
}

/**
 * Spearman's rank correlation of two equally long arrays: the Pearson correlation of their ranks, ties
 * sharing the mean rank. NaN when either array is constant (no ranking to compare).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * assert.equal(spearman([1, 2, 3], [2, 4, 6]), 1);
 * assert.equal(spearman([1, 2, 3], [30, 20, 10]), -1);
 * assert.ok(Number.isNaN(spearman([1, 2, 3], [5, 5, 5]))); // a constant array has no ranking
 * ```
 */
export function spearman(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) {
    throw new HansError(`spearman needs arrays of one length; got ${a.length} and ${b.length}.`);
  }
  const ra = ranks(a);
  const rb = ranks(b);
  const n = a.length;
  const mean = (n + 1) / 2;
  let sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (ra[i] - mean) * (rb[i] - mean);
    saa += (ra[i] - mean) ** 2;
    sbb += (rb[i] - mean) ** 2;
  }
  return saa === 0 || sbb === 0 ? NaN : sab / Math.sqrt(saa * sbb);
}

/** Options of {@link modelRandomization}. */
export interface RandomizationOptions {
  /** The class (or contrast) per image the maps explain. */
  target: Target;
  /** Registry name of the saliency method (default `gradient`). */
  method?: string;
  /** Options for the method (e.g. `{ absolute: false }`). */
  methodOptions?: Record<string, unknown>;
  /** Compare the ranks of |map| (true, the default, as the paper's figures) or of the signed maps. */
  absolute?: boolean;
  /** Seed of the new weights (default 0). */
  seed?: number;
}

/** One step of the cascade. */
export interface RandomizationStep {
  /** The layer re-initialized at this step; every layer above it is random too. */
  layer: string;
  /** Per image, Spearman's correlation of the original and the randomized map (NaN for a constant map). */
  perImage: number[];
  /** Mean over images, leaving out NaNs (NaN if all are). */
  spearman: number;
}

/** What {@link modelRandomization} finds. */
export interface RandomizationResult {
  /** Registry name of the method tested. */
  method: string;
  /** One entry per layer with trainable weights, from the top down. */
  steps: RandomizationStep[];
  /** The correlation once every layer is random (the last step): near 0 passes, near 1 fails. */
  sanity: number;
}

function meanIgnoringNaN(values: number[]): number {
  const kept = values.filter((v) => !Number.isNaN(v));
  return kept.length ? kept.reduce((a, b) => a + b, 0) / kept.length : NaN;
}

/**
 * Runs the cascading randomization on a copy of `model` (the original is never touched). Each layer with
 * trainable weights gets a fresh initialization, seeded: kernels Glorot-uniform (tfjs's default), biases 0. The layers'
 * own initializers are not used, since a seeded initializer would give back the original untrained weights.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 *
 * await tf.setBackend("cpu");
 * const layers = [
 *   tf.layers.flatten({ inputShape: [4, 4, 1] }),
 *   tf.layers.dense({ units: 8, activation: "relu", name: "hidden" }),
 *   tf.layers.dense({ units: 3, name: "head" }),
 * ];
 * const net = tf.sequential({ layers });
 * const x = tf.randomUniform([2, 4, 4, 1]) as tf.Tensor4D;
 * const result = await modelRandomization(net, x, { target: [0, 1], method: "gradient" });
 * assert.deepEqual(result.steps.map((s) => s.layer), ["head", "hidden"]); // from the top down
 * assert.equal(result.sanity, result.steps[1].spearman);
 * tf.dispose(x);
 * net.dispose();
 * ```
 */
export async function modelRandomization(
  model: tf.LayersModel,
  images: tf.Tensor4D,
  options: RandomizationOptions,
): Promise<RandomizationResult> {
  const name = options.method ?? "gradient";
  const explain = method(name).explain;
  const absolute = options.absolute ?? true;
  const seed = options.seed ?? 0;
  const pixels = images.shape[1] * images.shape[2];
  const read = async (m: tf.LayersModel) => {
    const explainable = await settled(fromLayersModel(m));
    const maps = await explain(explainable, images, options.target, options.methodOptions);
    const values = await maps.data() as Float32Array;
    maps.dispose();
    // The graph's own tensors (folded BatchNorm, LRP's folds) belong to this step's weights only.
    if (explainable.graph) disposeGraph(explainable.graph);
    return absolute ? values.map(Math.abs) : values;
  };
  const original = await read(model);
  const copy = await tf.models.modelFromJSON({
    modelTopology: model.toJSON(null, false) as unknown as tf.io.ModelJSON["modelTopology"],
  });
  try {
    copy.setWeights(model.getWeights());
    // Learned weights only: a fixed preprocessing layer (PixelStandardization) is not part of what was trained.
    const layers = copy.layers.filter((l) => l.trainableWeights.length > 0);
    const steps: RandomizationStep[] = [];
    for (let li = layers.length - 1; li >= 0; li--) {
      const layer = layers[li];
      const fresh = layer.getWeights().map((w, wi) =>
        w.rank >= 2
          ? tf.initializers.glorotUniform({ seed: seed * 7919 + li * 31 + wi }).apply(w.shape)
          : tf.zeros(w.shape)
      );
      layer.setWeights(fresh);
      fresh.forEach((t) => t.dispose());
      const randomized = await read(copy);
      const perImage = Array.from(
        { length: images.shape[0] },
        (_, i) =>
          spearman(
            original.subarray(i * pixels, (i + 1) * pixels),
            randomized.subarray(i * pixels, (i + 1) * pixels),
          ),
      );
      steps.push({ layer: layer.name, perImage, spearman: meanIgnoringNaN(perImage) });
    }
    if (steps.length === 0) {
      throw new HansError("the randomization test needs a model with weights; this one has none.");
    }
    return { method: name, steps, sanity: steps[steps.length - 1].spearman };
  } finally {
    copy.dispose();
  }
}
