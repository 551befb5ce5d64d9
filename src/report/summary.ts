/**
 * The sentences a report opens with: what the numbers of a run show, generated from its metrics, with no
 * claim the numbers do not carry (every figure quoted is in metrics.json).
 * @module
 */
import type { CleverHansMetrics } from "../pipeline/clever_hans_metrics.ts";
import type { CounterfactualMetrics } from "../pipeline/counterfactual_metrics.ts";
import type { ContrastiveResult } from "../pipeline/contrastive.ts";

function percent(x: number): string {
  if (!Number.isFinite(x)) return "n/a";
  return `${(100 * x).toFixed(x < 0.1 && x > 0 ? 1 : 0)}%`;
}

/** The attribution method with the highest concentration on one artifact, when it is finite. */
export function mostConcentrated(
  relevance: CleverHansMetrics["shortcuts"][number]["relevance"],
  labels: Record<string, string>,
): { name: string; label: string; concentration: number } | undefined {
  let best: { name: string; label: string; concentration: number } | undefined;
  for (const [name, r] of Object.entries(relevance)) {
    if (!Number.isFinite(r.concentration)) continue;
    if (!best || r.concentration > best.concentration) {
      best = { name, label: labels[name] ?? name, concentration: r.concentration };
    }
  }
  return best;
}

/**
 * One sentence per planted artifact: what pasting and removing it does, the verdict, and the method that puts
 * the most relevance on it (as a multiple of the artifact's share of the image), when the artifact is small
 * enough for that to mean something (concentration is reported only below half the image).
 *
 * @example
 * ```ts
 * cleverHansAnswer(metrics, { integrated_gradients: "Integrated Gradients" });
 * // ["Class 8 (8) — watermark: pasting it turns 83% of the other classes' images into class 8 …"]
 * ```
 */
export function cleverHansAnswer(metrics: CleverHansMetrics, labels: Record<string, string>): string[] {
  return metrics.shortcuts.map((s) => {
    const name = `Class ${s.class}${
      s.className && s.className !== String(s.class) ? ` (${s.className})` : ""
    }`;
    const paste =
      `pasting the ${s.artifact} turns ${percent(s.flipRate)} of the other classes' test images ` +
      `into class ${s.class} (without it: ${percent(s.baseFlipRate)})`;
    const remove = `removing it from class ${s.class}'s own images takes their accuracy from ` +
      `${percent(s.accuracy.withArtifact)} to ${percent(s.accuracy.withoutArtifact)}`;
    if (s.cheats === null) {
      return `${name}, ${s.artifact}: no verdict, ${s.verdictNote ?? "too few test images"}; pass a larger ` +
        `--test-size.`;
    }
    const verdict = s.cheats ? "the model cheats with it" : "no reliance on it shows";
    const area = Object.values(s.relevance)[0]?.areaFraction;
    const best = area !== undefined && area < 0.5 ? mostConcentrated(s.relevance, labels) : undefined;
    const where = best
      ? ` ${best.label} puts ${best.concentration.toFixed(1)}× the artifact's share of the image ` +
        `(${percent(area!)}) of its relevance on it.`
      : area !== undefined && area >= 0.5
      ? ` The artifact covers ${percent(area)} of the image, so where the relevance goes cannot tell.`
      : "";
    return `${name}, ${s.artifact}: ${paste}; ${remove}: ${verdict}.${where}`;
  });
}

/** The sentence a contrastive report opens with: the best method against random maps, and the runner-up. */
export function contrastiveAnswer(result: ContrastiveResult, labels: Record<string, string>): string {
  const [best, second] = result.ranking;
  if (!best) return "No method ran.";
  const s = result.methods[best];
  const random = result.randomBaseline.flipToTrueAt10;
  if (result.verdict.best === null) {
    return `Of ${result.misclassified} mistakes, the ${result.examples.length} most confident were studied. ` +
      `No method explains them better than random maps: blacking out the top 10% pixels of the top-ranked ` +
      `method's contrastive map (${labels[best] ?? best}) turns ${
        percent(s.flipToTrueAt10)
      } of them into the true class, random pixels ${
        percent(random)
      }, and a method is named best only when ` +
      `it beats random by ${
        percent(result.verdict.margin)
      } (two standard errors for ${result.verdict.mistakes} ` +
      `mistakes). Study more mistakes (--examples) or read the maps as unranked.`;
  }
  const also = second
    ? ` Next: ${labels[second] ?? second} (${percent(result.methods[second].flipToTrueAt10)}).`
    : "";
  return `Of ${result.misclassified} mistakes, the ${result.examples.length} most confident were studied. ` +
    `Blacking out the top 10% pixels of ${labels[best] ?? best}'s contrastive map (why the predicted ` +
    `rather than the true class) turns ${percent(s.flipToTrueAt10)} of them into the true class, against ` +
    `${percent(random)} for random pixels, more than the ${
      percent(result.verdict.margin)
    } margin for ${result.verdict.mistakes} mistakes: its maps point at what made the model wrong best.${also}`;
}

/** The sentence a counterfactual report opens with. */
export function counterfactualAnswer(metrics: CounterfactualMetrics): string {
  const n = metrics.examples.length;
  const ok = metrics.examples.filter((e) => e.success).length;
  const prior = !metrics.withPrior
    ? ""
    : metrics.withPrior.successRate > 0
    ? ` With the autoencoder prior (γ = ${metrics.withPrior.gamma}): ${
      percent(metrics.withPrior.successRate)
    } ` +
      `succeed, median L1 ${metrics.withPrior.medianL1.toFixed(2)}, transfer rate ` +
      `${percent(metrics.withPrior.transferRate)}.`
    : ` With the autoencoder prior (γ = ${metrics.withPrior.gamma}), none succeeds.`;
  if (ok === 0) {
    return `None of the ${n} mistakes was turned into its true class within the optimization's steps, so ` +
      `there is no change to measure; more steps (--steps) or rounds of the λ1 search (--rounds) may reach it.${prior}`;
  }
  return `${ok} of ${n} mistakes were turned into their true class by a small change (median L1 ` +
    `${
      metrics.medianL1.toFixed(2)
    } over the image, ${metrics.medianL0} pixels changed by more than 0.001); ` +
    `${percent(metrics.transferRate)} of these counterfactuals also convince an independently trained ` +
    `model.${prior}`;
}
