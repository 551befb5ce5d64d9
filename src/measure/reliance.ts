/**
 * Reliance tests: what the model does when an artifact is removed from its class or pasted onto others, and
 * the verdict drawn from them.
 * @module
 */
import { type Dataset, subset } from "../data/dataset.ts";
import { accuracy, type Classifier, predictClasses } from "../model/predict.ts";
import { stampAll } from "../shortcuts/plan.ts";
import type { Shortcut } from "../shortcuts/shortcut.ts";

/** Outcome of the reliance tests for one class and its artifact, on held-out images. */
export interface RelianceResult {
  /** Accuracy on the class's test images with the artifact stamped. */
  withArtifact: number;
  /** Accuracy on the same images without it (the artifact removed). */
  withoutArtifact: number;
  /** Share of other classes' test images predicted as the class once the artifact is pasted on them. */
  flipRate: number;
  /** Share of the same images predicted as the class without the artifact (the flip rate's floor). */
  baseFlipRate: number;
  /** Test images of the class, and of the other classes, behind these numbers. */
  classImages: number;
  otherImages: number;
}

/** The verdict rule's thresholds (see the README). */
export const VERDICT = { flipGain: 0.5, accuracyDrop: 0.2 } as const;

/**
 * Runs the reliance tests of `shortcut` for class `label` on the test set `test` (clean images). The artifacts
 * are stamped with `seed`, so the same seed gives the same numbers. `cleanPredicted`, the model's predictions
 * on the whole clean `test` when the caller already has them, saves running the clean images again.
 */
export async function relianceTests(
  model: Classifier,
  test: Dataset,
  label: number,
  shortcut: Shortcut,
  seed: number,
  options: { cleanPredicted?: ArrayLike<number> } = {},
): Promise<RelianceResult> {
  const own: number[] = [];
  const others: number[] = [];
  for (let i = 0; i < test.count; i++) (test.labels[i] === label ? own : others).push(i);
  const ownClean = subset(test, own);
  const otherClean = subset(test, others);
  const ownStamped = stampAll(ownClean, shortcut, seed).data;
  const otherStamped = stampAll(otherClean, shortcut, seed + 1).data;
  const clean = options.cleanPredicted;
  const cleanOf = async (indices: number[], data: Dataset) =>
    clean ? Int32Array.from(indices, (i) => clean[i]) : await predictClasses(model, data);
  const rate = (pred: Int32Array) =>
    pred.reduce((n, p) => n + (p === label ? 1 : 0), 0) / Math.max(1, pred.length);
  return {
    withArtifact: accuracy(await predictClasses(model, ownStamped), ownStamped.labels),
    withoutArtifact: accuracy(await cleanOf(own, ownClean), ownClean.labels),
    flipRate: rate(await predictClasses(model, otherStamped)),
    baseFlipRate: rate(await cleanOf(others, otherClean)),
    classImages: own.length,
    otherImages: others.length,
  };
}

/**
 * The verdict: the model cheats with this artifact when pasting it onto other classes turns at least half
 * of them into this class beyond the base rate (`flipRate − baseFlipRate ≥ 0.5`), or when removing it costs
 * the class at least 20 points of accuracy (`withArtifact − withoutArtifact ≥ 0.2`).
 */
export function cheats(r: RelianceResult): boolean {
  return r.flipRate - r.baseFlipRate >= VERDICT.flipGain ||
    r.withArtifact - r.withoutArtifact >= VERDICT.accuracyDrop;
}
