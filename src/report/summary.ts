/**
 * The sentences a report opens and argues with: what the numbers of a run show, each built from metrics.json
 * alone (its fields, or a subset with the same names and types), with no claim the numbers do not carry, and
 * every number formatted by `format.ts`, so a test can check each sentence against the file.
 * @module
 */
import type { CleverHansMetrics } from "../pipeline/clever_hans_metrics.ts";
import type { CounterfactualMetrics, CounterfactualSummary } from "../pipeline/counterfactual_metrics.ts";
import type { ContrastiveResult } from "../pipeline/contrastive.ts";
import { formatNumber, formatPercent as percent } from "./format.ts";

/** One planted artifact's entry in metrics.json. */
type Shortcut = CleverHansMetrics["shortcuts"][number];

/** The fields of a contrastive metrics.json the sentences read (a `ContrastiveResult` has them too). */
export type ContrastiveFacts = Pick<
  ContrastiveResult,
  "misclassified" | "examples" | "ranking" | "methods" | "randomBaseline" | "verdict" | "plan"
>;

/**
 * A concentration (relevance share on the artifact over its area share) as the reports write it, with `×`:
 * two significant digits.
 *
 * @example
 * ```ts
 * concentrationText(2.345); // "2.3×"
 * ```
 */
export function concentrationText(concentration: number): string {
  return `${formatNumber(concentration, 2)}×`;
}

/** The attribution method with the highest concentration on one artifact, when it is finite. */
export function mostConcentrated(
  relevance: Shortcut["relevance"],
  labels: Record<string, string>,
): { name: string; label: string; concentration: number; areaFraction: number } | undefined {
  return rankedByConcentration(relevance, labels)[0];
}

/**
 * The methods with a finite concentration on one artifact, most concentrated first (ties in the order of
 * `relevance`).
 *
 * @example
 * ```ts
 * const r = { a: { concentration: 1.2, areaFraction: 0.1 }, b: { concentration: 3, areaFraction: 0.1 } };
 * rankedByConcentration(r as never, { b: "B" }).map((m) => m.label); // ["B", "a"]
 * ```
 */
export function rankedByConcentration(
  relevance: Shortcut["relevance"],
  labels: Record<string, string>,
): { name: string; label: string; concentration: number; areaFraction: number }[] {
  return Object.entries(relevance)
    .filter(([, r]) => Number.isFinite(r.concentration))
    .map(([name, r]) => ({
      name,
      label: labels[name] ?? name,
      concentration: r.concentration,
      areaFraction: r.areaFraction,
    }))
    .sort((a, b) => b.concentration - a.concentration);
}

/** A class as the sentences name it: `Class 8`, or `Class 8 (bag)` when it has a name of its own. */
function className(s: { class: number; className?: string }): string {
  return `Class ${s.class}${s.className && s.className !== String(s.class) ? ` (${s.className})` : ""}`;
}

/** A verdict in a few words: "cheats", "no reliance" or "no verdict" (too few test images). */
export function verdictWords(cheats: boolean | null): string {
  return cheats === null ? "no verdict" : cheats ? "cheats" : "no reliance";
}

/**
 * One sentence per planted artifact: what pasting and removing it does, the verdict, and the method that puts
 * the most relevance on it (as a multiple of the artifact's share of the image), when the artifact is small
 * enough for that to mean something (concentration is reported only below half the image).
 *
 * @example
 * ```ts
 * import type { CleverHansMetrics } from "../pipeline/clever_hans_metrics.ts";
 *
 * const metrics = {
 *   shortcuts: [{
 *     class: 8, className: "8", artifact: "watermark", rate: 1, cheats: true, verdictNote: null,
 *     flipRate: 0.83, baseFlipRate: 0.01, accuracy: { withArtifact: 0.99, withoutArtifact: 0.4 },
 *     relevance: { integrated_gradients: { concentration: 3.1, areaFraction: 0.05 } },
 *   }],
 * } as unknown as CleverHansMetrics;
 * cleverHansAnswer(metrics, { integrated_gradients: "Integrated Gradients" });
 * // ["Class 8, watermark: pasting the watermark turns 83% of the other classes' test images into class 8 …"]
 * ```
 */
export function cleverHansAnswer(
  metrics: Pick<CleverHansMetrics, "shortcuts">,
  labels: Record<string, string>,
) {
  return metrics.shortcuts.map((s) => shortcutSentence(s, labels));
}

function shortcutSentence(s: Shortcut, labels: Record<string, string>): string {
  const name = className(s);
  if (s.cheats === null) {
    return `${name}, ${s.artifact}: no verdict, ${s.verdictNote ?? "too few test images"}; pass a larger ` +
      `--test-size.`;
  }
  const paste = `pasting the ${s.artifact} turns ${percent(s.flipRate)} of the other classes' test images ` +
    `into class ${s.class} (without it: ${percent(s.baseFlipRate)})`;
  const remove = `removing it from class ${s.class}'s own images takes their accuracy from ` +
    `${percent(s.accuracy.withArtifact)} to ${percent(s.accuracy.withoutArtifact)}`;
  const verdict = s.cheats ? "the model cheats with it" : "no reliance on it shows";
  const area = Object.values(s.relevance)[0]?.areaFraction;
  const best = area !== undefined && area < 0.5 ? mostConcentrated(s.relevance, labels) : undefined;
  const where = best
    ? ` ${best.label} puts ${concentrationText(best.concentration)} the artifact's share of the image ` +
      `(${percent(best.areaFraction)}) of its relevance on it.`
    : area !== undefined && area >= 0.5
    ? ` The artifact covers ${percent(area)} of the image, so where the relevance goes cannot tell.`
    : "";
  return `${name}, ${s.artifact}: ${paste}; ${remove}: ${verdict}.${where}`;
}

/**
 * The verdict section's first sentence: how many poisoned classes cheat and with what, or, for a model
 * trained on clean data, whether any probe was (unexpectedly) flagged; and which classes got no verdict.
 *
 * @example
 * ```ts
 * import type { CleverHansMetrics } from "../pipeline/clever_hans_metrics.ts";
 *
 * const shortcuts = [{ class: 0, className: "0", artifact: "square", rate: 1, cheats: true }];
 * cleverHansVerdict({ shortcuts } as unknown as CleverHansMetrics);
 * // "1 of 1 poisoned classes cheat: class 0 (0) uses the square."
 * ```
 */
export function cleverHansVerdict(metrics: Pick<CleverHansMetrics, "shortcuts">): string {
  const poisoned = metrics.shortcuts.filter((s) => s.rate > 0);
  const cheating = metrics.shortcuts.filter((s) => s.cheats === true);
  const undecided = metrics.shortcuts.filter((s) => s.cheats === null);
  const undecidedNote = undecided.length === 0
    ? ""
    : ` No verdict for ${
      undecided.map((s) => `class ${s.class} (${s.className}): ${s.verdictNote}`).join("; ")
    }.`;
  if (poisoned.length === 0) {
    return `The model was trained on clean data. The default artifacts were pasted at test time only, as ` +
      `probes: ${
        cheating.length === 0
          ? "no class is flagged as cheating."
          : `${cheating.length} flagged (unexpected).`
      }${undecidedNote}`;
  }
  return `${cheating.length} of ${metrics.shortcuts.length} poisoned classes cheat: ` +
    (cheating.map((s) => `class ${s.class} (${s.className}) uses the ${s.artifact}`).join("; ") || "none") +
    `.${undecidedNote}`;
}

/**
 * The control model's paragraph (with `--control`).
 *
 * @example
 * ```ts
 * controlSentence(0.9123); // "A second model … (clean test accuracy 0.912)."
 * ```
 */
export function controlSentence(cleanAccuracy: number): string {
  return `A second model trained on the same data with the same artifacts stamped at the same rates on every ` +
    `class, so they carry no label information (clean test accuracy ${formatNumber(cleanAccuracy)}).`;
}

/**
 * The sentence a contrastive report opens with: the best method against random maps, and the runner-up.
 *
 * @example
 * ```ts
 * contrastiveAnswer({
 *   misclassified: 40,
 *   examples: new Array(20).fill({ index: 0, true: 0, predicted: 1, confidence: 0.9 }),
 *   ranking: ["gradient"],
 *   methods: { gradient: { flipToTrueAt10: 0.7 } } as never,
 *   randomBaseline: { flipToTrueAt5: 0, flipToTrueAt10: 0.1, marginDrop: 0 },
 *   // 0.7 beats random maps' 0.1 by more than √(2/20) = 0.32.
 *   verdict: { best: "gradient", margin: Math.sqrt(2 / 20), mistakes: 20, random: 0.1, note: null },
 *   plan: null,
 * }, { gradient: "Gradient" });
 * // "Of 40 mistakes, the 20 most confident were studied. Blacking out … turns 70% of them …"
 * ```
 */
export function contrastiveAnswer(facts: ContrastiveFacts, labels: Record<string, string>): string {
  const [best, second] = facts.ranking;
  if (!best) return "No method ran.";
  const s = facts.methods[best];
  // Random maps on the same mistakes as the top method (its first n when the budget cut it short).
  const random = facts.verdict.random;
  const studied =
    `Of ${facts.misclassified} mistakes, the ${facts.examples.length} most confident were studied.`;
  // A method the time budget cut short was scored on its first mistakes only.
  const them = s.examples < facts.examples.length ? `the first ${s.examples} of them` : "them";
  const rate = `${percent(s.flipToTrueAt10)} of ${them}`;
  const margin = percent(facts.verdict.margin);
  if (facts.verdict.best === null) {
    return `${studied} No method explains them better than random maps: blacking out the top 10% pixels of ` +
      `the top-ranked method's contrastive map (${labels[best] ?? best}) turns ${rate} into the true ` +
      `class, random pixels ${percent(random)}, and a method is named best only when it beats random by ` +
      `${margin} (two standard errors for ${facts.verdict.mistakes} mistakes). Study more mistakes ` +
      `(--examples) or read the maps as unranked.`;
  }
  const also = second
    ? ` Next: ${labels[second] ?? second} (${percent(facts.methods[second].flipToTrueAt10)}).`
    : "";
  return `${studied} Blacking out the top 10% pixels of ${labels[best] ?? best}'s contrastive map (why the ` +
    `predicted rather than the true class) turns ${rate} into the true class, against ${percent(random)} ` +
    `for random pixels, more than the ${margin} margin for ` +
    `${facts.verdict.mistakes} mistakes: its maps point at what made the model wrong best.${also}`;
}

/**
 * The rule that names a best method, with this run's margin, and what it named.
 *
 * @example
 * ```ts
 * contrastiveRule({ best: "gradient", margin: 0.5, mistakes: 8, random: 0, note: null }, { gradient: "Gradient" });
 * // "… (here 0.5 for 8): Gradient does."
 * ```
 */
export function contrastiveRule(
  verdict: ContrastiveFacts["verdict"],
  labels: Record<string, string>,
): string {
  return "For each method, the top 5% or 10% pixels of its contrastive map (logit P − logit Q) are set to " +
    "black; a map that found what made the model wrong turns the prediction into the true class and makes " +
    "the margin fall. Random maps are the baseline. A method is named best only when its flip-to-true rate " +
    "at 10% beats random maps' by two standard errors of the difference, √(2/n) for n mistakes " +
    `(here ${formatNumber(verdict.margin)} for ${verdict.mistakes}): ` +
    (verdict.best === null
      ? `${verdict.note}, so no method is named.`
      : `${labels[verdict.best] ?? verdict.best} does.`);
}

/**
 * What Integrated Gradients' completeness check found, when it ran ("" otherwise).
 *
 * @example
 * ```ts
 * completenessSentence({}); // ""
 * ```
 */
export function completenessSentence(methods: ContrastiveFacts["methods"]): string {
  const c = methods.integrated_gradients?.completeness;
  if (!c) return "";
  const within = Math.round(c.withinTolerance * c.maps.length);
  const steps = Math.max(...c.maps.filter((m) => m.target !== "contrast").map((m) => m.steps));
  return `Integrated Gradients: ${within} of ${c.maps.length} maps sum to f(x) − f(baseline) within ` +
    `${percent(c.tolerance)} (median error ${percent(c.medianError)}, largest ${percent(c.maxError)}; up ` +
    `to ${steps} points per map). A map outside the tolerance did not get the points it needed within its ` +
    `settings or the time budget: read its values with care.`;
}

/**
 * The time plan in words, when a budget was set ("" otherwise).
 *
 * @example
 * ```ts
 * planSentence(null); // ""
 * ```
 */
export function planSentence(plan: ContrastiveFacts["plan"]): string {
  if (!plan) return "";
  return `Time budget ${formatNumber(plan.budgetSeconds / 60)} min: each method's time per mistake was ` +
    `estimated from timed passes (a forward pass ${
      formatNumber(plan.passSeconds.forward)
    } s and a backward ` +
    `pass ${formatNumber(plan.passSeconds.backward)} s per image), and the methods studied the most ` +
    `confident mistakes first, as many as their share paid for (the "mistakes" column).`;
}

/**
 * The sentence a counterfactual report opens with.
 *
 * @example
 * ```ts
 * import type { CounterfactualMetrics } from "../pipeline/counterfactual_metrics.ts";
 *
 * const metrics = {
 *   examples: [{ success: true }, { success: false }],
 *   medianL1: 3.21,
 *   medianL0: 40,
 *   transferRate: 1,
 *   withPrior: null,
 * } as unknown as CounterfactualMetrics;
 * counterfactualAnswer(metrics); // "1 of 2 mistakes were turned into their true class … (median L1 3.21 …"
 * ```
 */
export function counterfactualAnswer(metrics: CounterfactualMetrics): string {
  const n = metrics.examples.length;
  const ok = metrics.examples.filter((e) => e.success).length;
  const p = metrics.withPrior;
  const prior = !p
    ? ""
    : p.successRate > 0
    ? ` With the autoencoder prior (γ = ${p.gamma}): ${percent(p.successRate)} succeed, median L1 ` +
      `${formatNumber(p.medianL1)}, transfer rate ${percent(p.transferRate)}.`
    : ` With the autoencoder prior (γ = ${p.gamma}), none succeeds.`;
  if (ok === 0) {
    return `None of the ${n} mistakes was turned into its true class within the optimization's steps, so ` +
      `there is no change to measure; more steps (--steps) or rounds of the λ1 search (--rounds) may reach ` +
      `it.${prior}`;
  }
  return `${ok} of ${n} mistakes were turned into their true class by a small change (median L1 ` +
    `${formatNumber(metrics.medianL1)} over the image, ${metrics.medianL0} pixels changed by more than ` +
    `0.001); ${percent(metrics.transferRate)} of these counterfactuals also convince an independently ` +
    `trained model.${prior}`;
}

/**
 * The sentence comparing the transfer rates without and with the prior, and how the autoencoder was trained
 * (its seed is the run's seed + 2).
 *
 * @example
 * ```ts
 * import type { CounterfactualMetrics } from "../pipeline/counterfactual_metrics.ts";
 *
 * priorSentence({ withPrior: null } as unknown as CounterfactualMetrics);
 * // "The autoencoder prior was not run (--no-prior)."
 * ```
 */
export function priorSentence(metrics: CounterfactualMetrics): string {
  const p = metrics.withPrior;
  if (!p) return "The autoencoder prior was not run (--no-prior).";
  const count = (rows: { success: boolean; transfers: boolean }[], rate: number) => {
    const ok = rows.filter((e) => e.success);
    const moved = ok.filter((e) => e.transfers).length;
    return `${formatNumber(rate)} (${moved} of ${ok.length} successes)`;
  };
  const ae = p.autoencoder;
  return `With the autoencoder prior (γ = ${p.gamma}), the transfer rate is ` +
    `${count(p.examples, p.transferRate)}, against ${count(metrics.examples, metrics.transferRate)} ` +
    `without it. The autoencoder (src/model/autoencoder.ts) was trained here on ` +
    `${ae.trainSize.toLocaleString("en-US")} training images for ${ae.epochs} ` +
    `epoch${ae.epochs === 1 ? "" : "s"} (seed ${metrics.seed + 2}), to a mean squared error of ` +
    `${formatNumber(ae.finalLoss)} per value.`;
}

/**
 * The sentence on how well the change follows the contrastive saliency maps: per method (`labels`, in
 * order) the median ρ without (and with) the prior against another mistake's map.
 *
 * @example
 * ```ts
 * import type { CounterfactualMetrics } from "../pipeline/counterfactual_metrics.ts";
 *
 * const metrics = {
 *   medianSaliencyCorrelation: { gradient: 0.41 },
 *   medianSaliencyCorrelationBaseline: { gradient: 0.1 },
 *   withPrior: null,
 * } as unknown as CounterfactualMetrics;
 * saliencySentence(metrics, { gradient: "Gradient" });
 * // "Median Spearman ρ … — Gradient: 0.41, against 0.1 for another mistake's map. …"
 * ```
 */
export function saliencySentence(metrics: CounterfactualMetrics, labels: Record<string, string>): string {
  const withPrior = metrics.withPrior ?? undefined;
  const parts = Object.entries(labels).map(([name, label]) => {
    const own = (m: CounterfactualSummary) => formatNumber(m.medianSaliencyCorrelation[name]);
    const base = (m: CounterfactualSummary) => formatNumber(m.medianSaliencyCorrelationBaseline[name]);
    return `${label}: ${own(metrics)}` +
      (withPrior ? ` without and ${own(withPrior)} with the prior` : "") +
      `, against ${base(metrics)}` + (withPrior ? ` and ${base(withPrior)}` : "") +
      " for another mistake's map";
  });
  return "Median Spearman ρ over the successes between |x′ − x| (summed over channels) and the absolute " +
    "contrastive map of the same mistake (why the predicted class P rather than the true class T, computed on " +
    `the original image) — ${parts.join("; ")}. A ρ near its baseline means the change does not go where ` +
    "the map says this image's evidence for P over T lies. The optimizer's first steps follow the gradient " +
    "of nearly the same contrast (the cross-entropy to T of a confident mistake), so part of the Gradient ρ is " +
    "built in; Gradient × input is 0 on black pixels, where the change may still add ink.";
}
