/**
 * The report's sentences, built from made-up metrics.json values for every verdict branch, read back by the
 * checks the task tests use on real runs; and the checks fail when a number or a verdict is not the file's.
 */
import assert from "node:assert/strict";
import type { CleverHansMetrics } from "../../src/pipeline/clever_hans_metrics.ts";
import type { CounterfactualMetrics } from "../../src/pipeline/counterfactual_metrics.ts";
import {
  cleverHansAnswer,
  cleverHansVerdict,
  contrastiveAnswer,
  type ContrastiveFacts,
  counterfactualAnswer,
} from "../../src/report/summary.ts";
import {
  checkCleverHansVerdict,
  checkContrastiveSentence,
  checkCounterfactualSentence,
  checkShortcutSentence,
} from "./answer_checks.ts";
import { assertNumber, assertPercent } from "./report_text.ts";

const labels = { gradient: "Gradient", integrated_gradients: "Integrated Gradients" };

function shortcut(overrides: Record<string, unknown>): CleverHansMetrics["shortcuts"][number] {
  return {
    class: 8,
    className: "bag",
    artifact: "watermark",
    rate: 1,
    accuracy: { withArtifact: 0.987, withoutArtifact: 0.0625 },
    flipRate: 0.834,
    baseFlipRate: 0.004,
    cheats: true,
    verdictNote: null,
    relevance: {
      gradient: { concentration: 1.5, areaFraction: 0.0459 },
      integrated_gradients: { concentration: 3.14159, areaFraction: 0.0459 },
    },
    ...overrides,
  } as unknown as CleverHansMetrics["shortcuts"][number];
}

/** Every branch of the clever-hans sentence and verdict. */
const SHORTCUTS = [
  shortcut({}),
  shortcut({ class: 3, className: "3", cheats: false, flipRate: 0.0012, baseFlipRate: 0 }),
  shortcut({
    class: 1,
    cheats: null,
    verdictNote: "only 3 test images of the class; a verdict needs at least 20",
    accuracy: { withArtifact: null, withoutArtifact: null },
  }),
  shortcut({
    class: 2,
    artifact: "gradient",
    cheats: false,
    relevance: { gradient: { concentration: 1, areaFraction: 1 } },
  }),
  shortcut({ class: 4, relevance: { gradient: { concentration: null, areaFraction: 0.1 } } }),
];

Deno.test("clever-hans: each sentence reads back as its artifact's numbers and verdict", () => {
  const metrics = { shortcuts: SHORTCUTS } as unknown as CleverHansMetrics;
  const sentences = cleverHansAnswer(metrics, labels);
  SHORTCUTS.forEach((s, i) => checkShortcutSentence(sentences[i], s, labels));
  // What the checks compare against, written out: 83.4% → 83%, 0.4% → 0.4%, 3.14… → 3.1×, IG named.
  assert.match(
    sentences[0],
    / turns 83% of .* \(without it: 0\.4%\); .* from 99% to 6\.3%: the model cheats/,
  );
  assert.match(sentences[0], /Integrated Gradients puts 3\.1× the artifact's share of the image \(4\.6%\)/);
  assert.match(sentences[2], /no verdict, only 3 test images/);
  assert.match(sentences[3], /The artifact covers 100% of the image/);
  checkCleverHansVerdict(cleverHansVerdict(metrics), metrics);
  const clean = { shortcuts: SHORTCUTS.map((s) => ({ ...s, rate: 0 })) } as unknown as CleverHansMetrics;
  checkCleverHansVerdict(cleverHansVerdict(clean), clean);
});

Deno.test("clever-hans: the checks fail on a number or verdict that is not the file's", () => {
  const [sentence] = cleverHansAnswer({ shortcuts: [SHORTCUTS[0]] }, labels);
  const wrong = [
    shortcut({ flipRate: 0.82 }),
    shortcut({ baseFlipRate: 0.006 }),
    shortcut({ accuracy: { withArtifact: 0.97, withoutArtifact: 0.0625 } }),
    shortcut({ cheats: false }),
    shortcut({ cheats: null, verdictNote: "x" }),
    shortcut({ relevance: { gradient: { concentration: 4, areaFraction: 0.0459 } } }),
    shortcut({ relevance: { integrated_gradients: { concentration: 3.3, areaFraction: 0.0459 } } }),
  ];
  for (const s of wrong) {
    assert.throws(() => checkShortcutSentence(sentence, s, labels), JSON.stringify(s));
  }
  const metrics = { shortcuts: SHORTCUTS } as unknown as CleverHansMetrics;
  const verdict = cleverHansVerdict(metrics);
  const flipped = { shortcuts: SHORTCUTS.map((s, i) => i === 1 ? { ...s, cheats: true } : s) };
  assert.throws(() => checkCleverHansVerdict(verdict, flipped as CleverHansMetrics));
});

function contrastive(best: string | null, overrides: Partial<ContrastiveFacts> = {}): ContrastiveFacts {
  const score = (at10: number) => ({
    flipToTrueAt10: at10,
    flipToTrueAt5: 0,
    random: { flipToTrueAt5: 0, flipToTrueAt10: 0.1, marginDrop: 0 },
    marginDrop: 1,
    examples: 20,
  });
  return {
    misclassified: 41,
    examples: new Array(20).fill({ index: 0, true: 0, predicted: 1, confidence: 0.9 }),
    ranking: ["integrated_gradients", "gradient"],
    methods: { integrated_gradients: score(0.75), gradient: score(0.05) },
    randomBaseline: { flipToTrueAt5: 0, flipToTrueAt10: 0.1, marginDrop: 0 },
    verdict: { best, margin: Math.sqrt(0.1), mistakes: 20, random: 0.1, note: best ? null : "none" },
    plan: null,
    ...overrides,
  } as unknown as ContrastiveFacts;
}

Deno.test("contrastive: the answer reads back as the ranking, the rates and the verdict", () => {
  for (
    const facts of [
      contrastive("integrated_gradients"),
      contrastive(null),
      contrastive(null, { ranking: [] }),
    ]
  ) {
    checkContrastiveSentence(contrastiveAnswer(facts, labels), facts, labels);
  }
  // The time budget cut the top method short: its rate is over its first 8 mistakes, and the answer says so.
  // The verdict pairs it with random maps on those 8 (25% there, 10% over all 20).
  const trimmed = contrastive(null);
  Object.assign(trimmed.methods.integrated_gradients, {
    examples: 8,
    random: { flipToTrueAt5: 0, flipToTrueAt10: 0.25, marginDrop: 0 },
  });
  trimmed.verdict = { ...trimmed.verdict, mistakes: 8, margin: 0.5, random: 0.25 };
  const short = contrastiveAnswer(trimmed, labels);
  checkContrastiveSentence(short, trimmed, labels);
  assert.match(short, /turns 75% of the first 8 of them into the true class, random pixels 25%/);
  assert.throws(() =>
    checkContrastiveSentence(short, { ...trimmed, verdict: { ...trimmed.verdict, random: 0.1 } }, labels)
  );
  assert.throws(() =>
    checkContrastiveSentence(short, { ...trimmed, verdict: { ...trimmed.verdict, mistakes: 20 } }, labels)
  );
  assert.throws(() => checkContrastiveSentence(short, contrastive(null), labels));
  const text = contrastiveAnswer(contrastive("integrated_gradients"), labels);
  assert.match(
    text,
    /^Of 41 mistakes, the 20 most confident were studied\. Blacking out .* Integrated Gradients's/,
  );
  assert.match(
    text,
    /turns 75% of them .* against 10% .* the 32% margin for 20 mistakes.* Next: Gradient \(5\.0%\)\.$/,
  );
  for (
    const wrong of [
      contrastive(null),
      contrastive("integrated_gradients", { misclassified: 40 }),
      contrastive("integrated_gradients", { ranking: ["gradient", "integrated_gradients"] }),
      contrastive("integrated_gradients", {
        randomBaseline: { flipToTrueAt5: 0, flipToTrueAt10: 0.2, marginDrop: 0 },
      }),
      contrastive("integrated_gradients", {
        verdict: {
          best: "integrated_gradients",
          margin: Math.sqrt(0.1),
          mistakes: 20,
          random: 0.2,
          note: null,
        },
      }),
    ]
  ) {
    assert.throws(() => checkContrastiveSentence(text, wrong, labels));
  }
});

function counterfactual(overrides: Record<string, unknown> = {}, prior: Record<string, unknown> | null = {}) {
  const examples = [
    { success: true, transfers: true },
    { success: true, transfers: false },
    { success: false, transfers: false },
  ];
  return {
    seed: 1,
    examples,
    medianL1: 12.3456,
    medianL0: 87,
    transferRate: 0.5,
    withPrior: prior && {
      gamma: 0.5,
      successRate: 2 / 3,
      medianL1: 0.00271,
      transferRate: 0,
      examples,
      ...prior,
    },
    ...overrides,
  } as unknown as CounterfactualMetrics;
}

Deno.test("counterfactual: the answer reads back as the successes, medians and rates", () => {
  const cases = [
    counterfactual(),
    counterfactual({}, null),
    counterfactual({}, { successRate: 0 }),
    counterfactual({ examples: [{ success: false, transfers: false }], medianL1: null, transferRate: null }),
  ];
  for (const m of cases) checkCounterfactualSentence(counterfactualAnswer(m), m);
  const text = counterfactualAnswer(counterfactual());
  assert.match(text, /^2 of 3 mistakes .* \(median L1 12\.3 over the image, 87 pixels .*\); 50% of these/);
  assert.match(text, /\(γ = 0\.5\): 67% succeed, median L1 0\.00271, transfer rate 0%\.$/);
  for (
    const wrong of [
      counterfactual({ medianL1: 12.4 }),
      counterfactual({ medianL0: 88 }),
      counterfactual({ transferRate: 1 }),
      counterfactual({}, { medianL1: 0.0028 }),
      counterfactual({}, null),
    ]
  ) {
    assert.throws(() => checkCounterfactualSentence(text, wrong));
  }
});

Deno.test("the number checks: rounding tolerance, decimals, n/a for what was not measured", () => {
  assertPercent("83%", 0.834, "");
  assertPercent("0.4%", 0.004, "");
  assertPercent("n/a", null, "");
  assert.throws(() => assertPercent("84%", 0.834, ""));
  assert.throws(() => assertPercent("83.4%", 0.834, ""), "whole percents above 10%");
  assert.throws(() => assertPercent("0%", 0.004, ""), "a tenth below 10%");
  assertNumber("0.00271", 0.0027149, "");
  assertNumber("1.23e-5", 0.0000123, "");
  assertNumber("12", 12, "");
  assert.throws(() => assertNumber("0.00272", 0.0027149, ""));
  assert.throws(() => assertNumber("n/a", 0.5, ""));
  assert.throws(() => assertNumber("12.1", 12, ""));
});
