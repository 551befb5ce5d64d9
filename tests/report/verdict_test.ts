import assert from "node:assert/strict";
import { type CleverHansMetrics, cleverHansSummary } from "../../src/pipeline/clever_hans_metrics.ts";
import { bestMethodVerdict, type ContrastiveResult, rankMethods } from "../../src/pipeline/contrastive.ts";
import { cleverHansAnswer, contrastiveAnswer } from "../../src/report/summary.ts";

/** A class with no test images, as `--test-size 10` leaves some: NaN accuracies, no verdict. */
const empty = {
  class: 1,
  className: "1",
  artifact: "timestamp",
  rate: 0.5,
  accuracy: { withArtifact: NaN, withoutArtifact: NaN },
  flipRate: 0,
  baseFlipRate: 0,
  cheats: null,
  verdictNote: "no test images of the class; a verdict needs at least 20",
  relevance: {},
};

Deno.test("clever-hans: a class without enough test images prints no NaN and no verdict", () => {
  const metrics = { shortcuts: [empty] } as unknown as CleverHansMetrics;
  const [line] = cleverHansSummary(metrics);
  assert.equal(
    line,
    "class 1 timestamp: with n/a without n/a flip 0.000 no verdict (no test images of the class; a verdict " +
      "needs at least 20)",
  );
  const [sentence] = cleverHansAnswer(metrics, {});
  assert.doesNotMatch(sentence, /NaN|cheats|no reliance/);
  assert.match(
    sentence,
    /no verdict, no test images of the class; a verdict needs at least 20; pass a larger/,
  );
});

Deno.test("SpRAy: a class with too few maps is neither flagged nor cleared", () => {
  const metrics = {
    shortcuts: [],
    spray: {
      method: "gradient_input",
      classes: [{
        class: 3,
        count: 3,
        clusters: 1,
        eigengap: 0,
        flagged: null,
        flagNote: "only 3 maps; SpRAy needs at least 20",
        artifactPurity: 1,
        artifactRecall: 1,
      }],
    },
  } as unknown as CleverHansMetrics;
  assert.deepEqual(cleverHansSummary(metrics), [
    "SpRAy class 3: 1 clusters, eigengap 0.000, no verdict (only 3 maps; SpRAy needs at least 20), artifact " +
    "purity 1.000 recall 1.000",
  ]);
});

Deno.test("bestMethodVerdict: a best method only when it beats random maps by √(2/n)", () => {
  const ranking = ["ig", "gradient"];
  const rates = (ig: number) => ({ ig: { flipToTrueAt10: ig }, gradient: { flipToTrueAt10: 0 } });
  // 100 mistakes: the margin is √0.02 = 0.1414.
  assert.equal(bestMethodVerdict(ranking, rates(0.2), 0.05, 100).best, "ig");
  const near = bestMethodVerdict(ranking, rates(0.18), 0.05, 100);
  assert.equal(near.best, null);
  assert.ok(Math.abs(near.margin - Math.sqrt(0.02)) < 1e-12);
  assert.match(near.note!, /no method beats random maps by the margin \(0\.14 for 100 mistakes\)/);
  // Every method and random at 0: nothing is named.
  assert.equal(bestMethodVerdict(ranking, rates(0), 0, 100).best, null);
  // 8 mistakes: the margin is 0.5 (4 of them more than random maps turn).
  assert.equal(bestMethodVerdict(ranking, rates(0.5), 0, 8).best, "ig");
  assert.equal(bestMethodVerdict(ranking, rates(0.375), 0, 8).best, null);
  // One mistake is never evidence, whatever it did.
  assert.equal(bestMethodVerdict(ranking, rates(1), 0, 1).best, null);
  assert.equal(bestMethodVerdict([], {}, 0, 0).best, null);
});

Deno.test("rankMethods: each method against random maps on the mistakes it saw, flips then margin drop", () => {
  const s = (at10: number, random: number, drop = 1, randomDrop = 0) => ({
    flipToTrueAt10: at10,
    marginDrop: drop,
    random: { flipToTrueAt5: 0, flipToTrueAt10: random, marginDrop: randomDrop },
  });
  // Every method on every mistake (one random rate): the order of the flip rates.
  assert.deepEqual(
    rankMethods(["a", "b", "c"], { a: s(0.2, 0.1), b: s(0.6, 0.1), c: s(0.4, 0.1) }),
    ["b", "c", "a"],
  );
  // The budget cut "a" to its first 3 mistakes, on which random maps flip 2 of 3 too: its 0.67 is no better
  // than chance there, so "b" (0.5 on all 16, random 0.06) ranks first although its raw rate is lower.
  assert.deepEqual(rankMethods(["a", "b"], { a: s(0.67, 0.67), b: s(0.5, 0.0625) }), ["b", "a"]);
  // Equal flip gains (0.4 both, up to rounding): the larger margin drop first. Unscored names are dropped.
  assert.deepEqual(rankMethods(["a", "b", "x"], { a: s(0.5, 0.1, 1), b: s(0.6, 0.2, 2) }), ["b", "a"]);
  // No flips anywhere (seeded weights at 224): margin drops over random maps' on the same mistakes decide.
  // "a" saw 7 mistakes where random maps' drop is 0.3, "b" all 16 where it is −0.3.
  assert.deepEqual(rankMethods(["a", "b"], { a: s(0, 0, 0.25, 0.3), b: s(0, 0, 0.03, -0.3) }), ["b", "a"]);
  // Equal on both: the order given.
  assert.deepEqual(rankMethods(["b", "a"], { a: s(0.5, 0.1), b: s(0.5, 0.1) }), ["b", "a"]);
});

Deno.test("contrastive: the answer names no best method when none beats random maps", () => {
  const result = {
    misclassified: 40,
    examples: new Array(20).fill({}),
    ranking: ["gradient", "ig"],
    methods: { gradient: { flipToTrueAt10: 0 }, ig: { flipToTrueAt10: 0 } },
    randomBaseline: { flipToTrueAt5: 0, flipToTrueAt10: 0, marginDrop: 0 },
    verdict: bestMethodVerdict(["gradient", "ig"], { gradient: { flipToTrueAt10: 0 } }, 0, 20),
  } as unknown as ContrastiveResult;
  const text = contrastiveAnswer(result, { gradient: "Gradient" });
  assert.match(text, /No method explains them better than random maps/);
  assert.doesNotMatch(text, /point at what made the model wrong best/);
});
