/**
 * SpRAy over a whole test set: stamp it as training was stamped, explain every class's images for their
 * class, and cluster each class's maps without being told which images carry an artifact.
 * @module
 */
import { type Dataset, imageSize, indicesOfClass, subset } from "../data/dataset.ts";
import { method as registered } from "../explain/registry.ts";
import type { ExplainableModel } from "../explain/explainable_model.ts";
import { artifactPurityRecall, flagClasses, sprayClass, type SprayResult } from "../measure/spray.ts";
import { VERDICT } from "../measure/reliance.ts";
import { batchTensor } from "../model/predict.ts";
import { stampDataset, type StampPlan } from "../shortcuts/plan.ts";

/** SpRAy's findings for one class. */
export interface SprayClassResult {
  class: number;
  className: string;
  /** Maps clustered. */
  count: number;
  /** Of them, stamped with the class's artifact (unknown to SpRAy; used only to score it). */
  stamped: number;
  clusters: number;
  eigengap: number;
  /**
   * Whether the class stands out; null when it has fewer than {@link SPRAY_MIN_MAPS} maps to cluster, or when
   * fewer than three classes have that many (a class is judged against the others' median).
   */
  flagged: boolean | null;
  /** Why `flagged` is null, else null. */
  flagNote: string | null;
  /** Purity and recall of the cluster holding most stamped images; null for a class without an artifact. */
  artifactPurity: number | null;
  artifactRecall: number | null;
  result: SprayResult;
  /** Up to four images per cluster, for the report. */
  samples: Float32Array[][];
  /** Whether each clustered image was stamped. */
  isStamped: boolean[];
}

/** Fewest maps of a class SpRAy flags or clears it from (as the reliance verdict's minimum). */
export const SPRAY_MIN_MAPS = VERDICT.minImages;

/** Options of {@link sprayAnalysis}. */
export interface SprayAnalysisOptions {
  /** Registry name of the method whose maps are clustered, as absolute values (default `gradient_input`). */
  method?: string;
  /** Most test images per class (default 200). */
  perClass?: number;
  seed: number;
  log?: (line: string) => void;
}

/**
 * Runs SpRAy on every class of `test` (clean images), stamped with `plan` at the plan's rates, so each
 * poisoned class holds both strategies in the proportion it was trained with.
 */
export async function sprayAnalysis(
  model: ExplainableModel,
  test: Dataset,
  plan: StampPlan,
  options: SprayAnalysisOptions,
): Promise<SprayClassResult[]> {
  const method = registered(options.method ?? "gradient_input");
  const stamped = stampDataset(test, plan, options.seed);
  const size = imageSize(test);
  const out: SprayClassResult[] = [];
  for (let k = 0; k < test.classNames.length; k++) {
    const idx = indicesOfClass(test, k).slice(0, options.perClass ?? 200);
    if (idx.length === 0) continue;
    options.log?.(`SpRAy: class ${k} (${test.classNames[k]}), ${idx.length} maps`);
    const data = subset(stamped.data, idx);
    const x = batchTensor(data, 0, data.count);
    const maps = await method.explain(model, x, new Array(data.count).fill(k));
    const values = (await maps.data() as Float32Array).map(Math.abs);
    maps.dispose();
    x.dispose();
    // |map| pooled to 4x4 and scaled by its maximum: measured on MNIST with a square or a timestamp on 30% of
    // class 3 (gradient × input, 2 seeds), the only pooling of 4, 7 or 14 per side, sum- or max-scaled, under
    // which both artifacts' stamped maps split off cleanly (see flagClasses); 7x7 lost the timestamp.
    const result = sprayClass(values, data.count, test.height, test.width, {
      seed: options.seed,
      size: 4,
      normalize: "max",
    });
    const isStamped = idx.map((i) => stamped.entryOf[i] >= 0 && plan.entries[stamped.entryOf[i]].label === k);
    const hasArtifact = plan.entries.some((e) => e.label === k && e.rate > 0);
    const pr = hasArtifact ? artifactPurityRecall(result.assignments, isStamped) : null;
    const samples = result.clusterSizes.map((_, c) =>
      [...result.assignments.keys()].filter((i) => result.assignments[i] === c).slice(0, 4)
        .map((i) => data.images.slice(i * size, (i + 1) * size))
    );
    out.push({
      class: k,
      className: test.classNames[k],
      count: data.count,
      stamped: isStamped.filter(Boolean).length,
      clusters: result.clusters,
      eigengap: result.eigengap,
      flagged: false, // set below, against the other classes
      flagNote: null,
      artifactPurity: pr ? pr.purity : null,
      artifactRecall: pr ? pr.recall : null,
      result,
      samples,
      isStamped,
    });
  }
  // Classes with too few maps neither count in the median the others are compared with nor get a flag.
  const judged = out.filter((c) => c.count >= SPRAY_MIN_MAPS);
  for (const c of out) {
    c.flagged = null;
    c.flagNote = c.count < SPRAY_MIN_MAPS
      ? `only ${c.count} map${c.count === 1 ? "" : "s"}; SpRAy needs at least ${SPRAY_MIN_MAPS}`
      : `${judged.length === 1 ? "no other class" : "only one other class"} of at least ${SPRAY_MIN_MAPS} ` +
        `maps to compare with; SpRAy needs three classes`;
  }
  if (judged.length >= 3) {
    const flags = flagClasses(judged.map((c) => c.result));
    judged.forEach((c, i) => {
      c.flagged = flags[i];
      c.flagNote = null;
    });
  }
  return out;
}
