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

/**
 * The verdict rule's thresholds (see the README), and the evidence it needs: at least `minImages` test images
 * of the class and as many of the other classes, so that one image moves a rate by at most 5 points.
 */
export const VERDICT = { flipGain: 0.5, accuracyDrop: 0.2, minImages: 20 } as const;

/**
 * Runs the reliance tests of `shortcut` for class `label` on the test set `test` (clean images). The artifacts
 * are stamped with `seed`, so the same seed gives the same numbers. `cleanPredicted`, the model's predictions
 * on the whole clean `test` when the caller already has them, saves running the clean images again.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import { squareShortcut } from "../shortcuts/square.ts";
 *
 * await tf.setBackend("cpu");
 * const test = {
 *   name: "toy",
 *   images: new Float32Array(4 * 16), // four black 4×4 images, two of each class
 *   labels: Int32Array.of(0, 0, 1, 1),
 *   count: 4,
 *   height: 4,
 *   width: 4,
 *   channels: 1,
 *   classNames: ["zero", "one"],
 * };
 * // A cheat: class 0 exactly when pixel (1, 1), where the square goes, is white.
 * const predict = (x: tf.Tensor4D) =>
 *   tf.tidy(() => {
 *     const white = x.slice([0, 1, 1, 0], [-1, 1, 1, 1]).reshape([-1, 1]);
 *     return tf.concat([white, tf.sub(1, white)], 1) as tf.Tensor2D;
 *   });
 * const r = await relianceTests({ predict }, test, 0, squareShortcut({ tone: "light" }), 1);
 * assert.deepEqual([r.withArtifact, r.withoutArtifact, r.flipRate, r.baseFlipRate], [1, 0, 1, 0]);
 * assert.equal(cheats(r, 1), true); // one image each is enough for this toy; a run needs 20
 * ```
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
 * Why the reliance tests cannot decide, or null when they can: fewer than `minImages` (default
 * {@link VERDICT}.minImages) test images of the class, or of the other classes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * const r = { withArtifact: 1, withoutArtifact: 0, flipRate: 0, baseFlipRate: 0, classImages: 3, otherImages: 90 };
 * assert.equal(tooLittleEvidence(r), "only 3 test images of the class; a verdict needs at least 20");
 * ```
 */
export function tooLittleEvidence(
  r: Pick<RelianceResult, "classImages" | "otherImages">,
  minImages: number = VERDICT.minImages,
): string | null {
  const few = (n: number, whose: string) =>
    `${n === 0 ? "no" : `only ${n}`} test image${
      n === 1 ? "" : "s"
    } of ${whose}; a verdict needs at least ${minImages}`;
  if (r.classImages < minImages) return few(r.classImages, "the class");
  if (r.otherImages < minImages) return few(r.otherImages, "the other classes");
  return null;
}

/**
 * The verdict: the model cheats with this artifact when pasting it onto other classes turns at least half
 * of them into this class beyond the base rate (`flipRate − baseFlipRate ≥ 0.5`), or when removing it costs
 * the class at least 20 points of accuracy (`withArtifact − withoutArtifact ≥ 0.2`). Null, no verdict, when
 * there are too few test images to tell ({@link tooLittleEvidence}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * const honest = { withArtifact: 0.98, withoutArtifact: 0.97, flipRate: 0.02, baseFlipRate: 0.01 };
 * assert.equal(cheats({ ...honest, classImages: 100, otherImages: 900 }), false);
 * // Removing the artifact costs 30 points of accuracy.
 * assert.equal(cheats({ ...honest, withoutArtifact: 0.68, classImages: 100, otherImages: 900 }), true);
 * // Three images of the class cannot tell.
 * assert.equal(cheats({ ...honest, withoutArtifact: 0.68, classImages: 3, otherImages: 900 }), null);
 * ```
 */
export function cheats(r: RelianceResult, minImages: number = VERDICT.minImages): boolean | null {
  if (tooLittleEvidence(r, minImages) !== null) return null;
  return r.flipRate - r.baseFlipRate >= VERDICT.flipGain ||
    r.withArtifact - r.withoutArtifact >= VERDICT.accuracyDrop;
}
