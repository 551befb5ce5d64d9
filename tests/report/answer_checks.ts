/**
 * Checks that what a report says, in its sentences, captions and verdict cells, is what its metrics.json
 * holds: every number shown equals the raw value (as rounded for display), every verdict word matches the
 * verdict field. The task tests run these on the report and metrics.json of a real run; answer_checks_test.ts
 * runs the sentence checks on made-up metrics for the branches a run does not reach, and shows they fail on a
 * wrong number or verdict.
 * @module
 */
import assert from "node:assert/strict";
import type { CleverHansMetrics } from "../../src/pipeline/clever_hans_metrics.ts";
import type { CounterfactualMetrics } from "../../src/pipeline/counterfactual_metrics.ts";
import type { ContrastiveFacts } from "../../src/report/summary.ts";
import {
  answerHtml,
  assertCell,
  assertNumber,
  assertPercent,
  figcaptions,
  groups,
  htmlText,
  imageRows,
  paragraphs,
  sectionHtml,
  tableWith,
} from "./report_text.ts";

/** "a " or "an " before a class name. */
function article(noun: string): string {
  return /^[aeiou]/i.test(noun) ? "an " : "a ";
}

type Shortcut = CleverHansMetrics["shortcuts"][number];
type Num = number | null;

/** The method with the highest finite concentration (first of equals), as the test reads metrics.json. */
function topConcentrations(s: Shortcut): [string, number][] {
  return Object.entries(s.relevance)
    .map(([name, r]) => [name, r.concentration as Num] as [string, Num])
    .filter((e): e is [string, number] => typeof e[1] === "number" && Number.isFinite(e[1]))
    .sort((a, b) => b[1] - a[1]);
}

/** One clever-hans answer sentence says what metrics.json says of its artifact. */
export function checkShortcutSentence(text: string, s: Shortcut, labels: Record<string, string>): void {
  const what = `class ${s.class} ${s.artifact}`;
  const named = `Class ${s.class}${
    s.className !== String(s.class) ? ` (${s.className})` : ""
  }, ${s.artifact}: `;
  assert.ok(text.startsWith(named), `${what}: "${text}" starts with "${named}"`);
  if (s.cheats === null) {
    assert.ok(text.includes("no verdict"), `${what}: ${text}`);
    if (s.verdictNote) assert.ok(text.includes(s.verdictNote), `${what}: the note in "${text}"`);
    assert.doesNotMatch(text, /cheats with|no reliance|\d%/, what);
    return;
  }
  const [artifact, flip, into, base, own, withA, withoutA, verdict, rest] = groups(
    text.slice(named.length),
    /^pasting the (.+?) turns (\S+) of the other classes' test images into class (\d+) \(without it: (\S+)\); removing it from class (\d+)'s own images takes their accuracy from (\S+) to (\S+): (the model cheats with it|no reliance on it shows)\.(.*)$/,
    what,
  );
  assert.equal(artifact, s.artifact, what);
  assert.equal(Number(into), s.class, what);
  assert.equal(Number(own), s.class, what);
  assertPercent(flip, s.flipRate, `${what} flip rate`);
  assertPercent(base, s.baseFlipRate, `${what} base flip rate`);
  assertPercent(withA, s.accuracy.withArtifact, `${what} accuracy with`);
  assertPercent(withoutA, s.accuracy.withoutArtifact, `${what} accuracy without`);
  assert.equal(verdict, s.cheats ? "the model cheats with it" : "no reliance on it shows", what);
  const areas = Object.values(s.relevance).map((r) => r.areaFraction);
  const top = topConcentrations(s)[0];
  if (areas.length === 0) return assert.equal(rest, "", what);
  if (areas[0] >= 0.5) {
    const [area] = groups(
      rest,
      /^ The artifact covers (\S+) of the image, so where the relevance goes cannot tell\.$/,
      what,
    );
    return assertPercent(area, areas[0], `${what} area`);
  }
  if (!top) return assert.equal(rest, "", what);
  const [label, c, area] = groups(
    rest,
    /^ (.+) puts (\S+)× the artifact's share of the image \((\S+)\) of its relevance on it\.$/,
    what,
  );
  assert.equal(label, labels[top[0]], `${what}: the most concentrated method`);
  assertNumber(c, top[1], `${what} concentration`, 2);
  assertPercent(area, s.relevance[top[0]].areaFraction, `${what} area`);
}

/** The clever-hans verdict sentence names exactly the classes whose `cheats` is true, and the undecided. */
export function checkCleverHansVerdict(text: string, m: Pick<CleverHansMetrics, "shortcuts">): void {
  const cheating = m.shortcuts.filter((s) => s.cheats === true);
  if (m.shortcuts.every((s) => s.rate === 0)) {
    assert.ok(text.startsWith("The model was trained on clean data."), text);
    assert.ok(
      text.includes(cheating.length ? `${cheating.length} flagged (unexpected)` : "no class is flagged"),
      text,
    );
  } else {
    const [n, of, list] = groups(
      text,
      /^(\d+) of (\d+) poisoned classes cheat: (.*?)\.(?: No verdict for .*)?$/,
      "verdict",
    );
    assert.equal(Number(n), cheating.length);
    assert.equal(Number(of), m.shortcuts.length);
    const named = list === "none" ? [] : list.split("; ");
    assert.deepEqual(named, cheating.map((s) => `class ${s.class} (${s.className}) uses the ${s.artifact}`));
  }
  for (const s of m.shortcuts) {
    const undecided = `class ${s.class} (${s.className}): ${s.verdictNote}`;
    assert.equal(text.includes(`No verdict for`) && text.includes(undecided), s.cheats === null, text);
  }
}

/** clever-hans report.html against its metrics.json. */
export function checkCleverHansReport(
  html: string,
  m: CleverHansMetrics,
  labels: Record<string, string>,
): void {
  const answer = answerHtml(html);
  const sentences = paragraphs(answer).slice(0, m.shortcuts.length);
  m.shortcuts.forEach((s, i) => checkShortcutSentence(sentences[i], s, labels));
  // The answer's picture rows: the verdict in words, then the two most concentrated maps, in order.
  const rows = imageRows(answer);
  // A row for each artifact that has a saliency figure (the artifacts with stamped test images to show).
  const shown = figcaptions(sectionHtml(html, "Saliency maps")).map((c) => c.split(" with its ")[0]);
  assert.equal(rows.length, shown.length, `answer rows ${JSON.stringify(rows.map((r) => r[0]))}`);
  for (const s of m.shortcuts) {
    const label = `class ${s.class}${
      s.className !== String(s.class) ? ` (${s.className})` : ""
    }: ${s.artifact}`;
    const row = rows.find((r) => r[0].startsWith(`${label}, `));
    const figure = shown.includes(`Class ${s.class} (${s.className})`);
    assert.equal(row !== undefined, figure, `${label}: an answer row when it has a figure`);
    if (!row) continue;
    assert.equal(
      row[0],
      `${label}, ${s.cheats === null ? "no verdict" : s.cheats ? "cheats" : "no reliance"}`,
    );
    const maps = row.slice(4);
    const top = topConcentrations(s).slice(0, 2);
    assert.equal(maps.length, top.length, `${label}: ${JSON.stringify(row)}`);
    top.forEach(([name, c], k) => {
      const [l, shown] = groups(maps[k], /^(.+), (\S+)× on the artifact \(.+\)$/, label);
      assert.equal(l, labels[name], `${label}: map ${k + 1}`);
      assertNumber(shown, c, `${label} ${name} concentration`, 2);
    });
  }
  checkCleverHansVerdict(paragraphs(sectionHtml(html, "Verdict"))[0], m);
  const reliance = tableWith(sectionHtml(html, "Reliance tests"), "class", "artifact").rows;
  assert.equal(reliance.length, m.shortcuts.length);
  m.shortcuts.forEach((s, i) => {
    const [cls, artifact, rate, withA, withoutA, flip, base, cheats] = reliance[i];
    assert.deepEqual([cls, artifact], [`${s.class} (${s.className})`, s.artifact]);
    assertCell(rate, s.rate, "rate");
    assertCell(withA, s.accuracy.withArtifact, "with");
    assertCell(withoutA, s.accuracy.withoutArtifact, "without");
    assertCell(flip, s.flipRate, "flip");
    assertCell(base, s.baseFlipRate, "base flip");
    assert.equal(cheats, s.cheats === null ? "no verdict" : s.cheats ? "yes" : "no", `${s.class} cheats`);
  });
  if (m.spray) {
    const section = sectionHtml(html, "Finding the cheat without knowing it (SpRAy)");
    const spray = tableWith(section, "class", "maps").rows;
    assert.equal(spray.length, m.spray.classes.length);
    m.spray.classes.forEach((c, i) => {
      const [cls, maps, stamped, clusters, , , , flagged] = spray[i];
      assert.deepEqual([cls, maps, stamped, clusters], [
        `${c.class} (${c.className})`,
        String(c.count),
        String(c.stamped),
        String(c.clusters),
      ]);
      assert.equal(flagged, c.flagged === null ? `no verdict: ${c.flagNote}` : c.flagged ? "yes" : "no");
    });
    const headings = [...section.matchAll(/<h3>(.*?)<\/h3>/g)].map((h) => htmlText(h[1]));
    for (const c of m.spray.classes.filter((c) => c.flagged === true || c.stamped > 0)) {
      assert.ok(
        headings.includes(`Class ${c.class} (${c.className})${c.flagged ? ": flagged" : ""}`),
        `SpRAy heading of class ${c.class} in ${JSON.stringify(headings)}`,
      );
    }
  }
  const saliency = figcaptions(sectionHtml(html, "Saliency maps"));
  for (const s of m.shortcuts) {
    const caption = saliency.find((c) =>
      c.startsWith(`Class ${s.class} (${s.className}) with its ${s.artifact}:`)
    );
    assert.ok(caption, `a figure for class ${s.class} ${s.artifact}`);
    assert.ok(caption.includes(`each method's map for class ${s.class},`), caption);
  }
}

/** The contrastive answer sentence says what metrics.json says. */
export function checkContrastiveSentence(
  text: string,
  m: ContrastiveFacts,
  labels: Record<string, string>,
): void {
  const [best, second] = m.ranking;
  if (!best) return assert.equal(text, "No method ran.");
  const [mistakes, studied, rest] = groups(
    text,
    /^Of (\d+) mistakes, the (\d+) most confident were studied\. (.*)$/,
    "answer",
  );
  assert.equal(Number(mistakes), m.misclassified);
  assert.equal(Number(studied), m.examples.length);
  const v = m.verdict;
  const n = m.methods[best].examples;
  const them = n < m.examples.length ? `the first ${n} of them` : "them";
  // The verdict pairs the top method with random maps on the same mistakes.
  assert.equal(v.mistakes, n, "the verdict's mistakes are the top method's");
  assert.equal(v.random, m.methods[best].random.flipToTrueAt10, "random maps on the top method's mistakes");
  if (n === m.examples.length) {
    assert.equal(v.random, m.randomBaseline.flipToTrueAt10, "random on all studied");
  }
  // What both sentences say: the method, its rate on the mistakes it saw, random maps' there, the margin.
  const common = (label: string, flip: string, of: string, random: string, margin: string, count: string) => {
    assert.equal(label, labels[best]);
    assert.equal(of, them, "the mistakes the top-ranked method was scored on");
    assertPercent(flip, m.methods[best].flipToTrueAt10, "top-ranked flip rate");
    assertPercent(random, v.random, "random flip rate on the same mistakes");
    assertPercent(margin, v.margin, "margin");
    assert.equal(Number(count), v.mistakes);
  };
  if (v.best === null) {
    const [label, flip, of, random, margin, count] = groups(
      rest,
      /^No method explains them better than random maps: blacking out the top 10% pixels of the top-ranked method's contrastive map \((.+)\) turns (\S+) of (.+?) into the true class, random pixels (\S+), and a method is named best only when it beats random by (\S+) \(two standard errors for (\d+) mistakes\)\./,
      "answer, no best method",
    );
    common(label, flip, of, random, margin, count);
    return;
  }
  assert.equal(v.best, best, "the method named best is the top of the ranking");
  const [label, flip, of, random, margin, count, next] = groups(
    rest,
    /^Blacking out the top 10% pixels of (.+)'s contrastive map \(why the predicted rather than the true class\) turns (\S+) of (.+?) into the true class, against (\S+) for random pixels, more than the (\S+) margin for (\d+) mistakes: its maps point at what made the model wrong best\.(.*)$/,
    "answer, best method",
  );
  common(label, flip, of, random, margin, count);
  assert.ok(
    m.methods[best].flipToTrueAt10 - v.random >= v.margin - 1e-9,
    "it does beat it",
  );
  if (!second) return assert.equal(next, "");
  const [label2, flip2] = groups(next, /^ Next: (.+) \((\S+)\)\.$/, "runner-up");
  assert.equal(label2, labels[second]);
  assertPercent(flip2, m.methods[second].flipToTrueAt10, "runner-up flip rate");
}

/** contrastive report.html against its metrics.json; `classNames` in output order. */
export function checkContrastiveReport(
  html: string,
  m: ContrastiveFacts,
  labels: Record<string, string>,
  classNames: string[],
): void {
  const answer = answerHtml(html);
  checkContrastiveSentence(paragraphs(answer)[0], m, labels);
  const best = m.ranking[0];
  // Picture rows: an example of each pair, the best method's map of it, and the pair's mean over its count.
  const rows = imageRows(answer);
  const studied = m.examples.slice(0, best ? m.methods[best].examples : 0);
  assert.equal(rows.length > 0, best !== undefined, "picture rows when a method ran");
  for (const row of rows) {
    const [t, p] = row[0].split(" → ").map((n) => classNames.indexOf(n));
    const count = studied.filter((e) => e.true === t && e.predicted === p).length;
    assert.ok(count > 0, `row "${row[0]}" is a pair of the studied mistakes`);
    if (!row[1].startsWith("no example of this pair")) {
      assert.equal(
        row[1],
        `${article(classNames[t])}${classNames[t]} taken for ${article(classNames[p])}${classNames[p]}`,
      );
      const why = `${labels[best]}: why ${classNames[p]}, not ${classNames[t]} (`;
      assert.ok(row[2].startsWith(why), `"${row[2]}" starts with "${why}"`);
    }
    const mean = row.find((c) => c.startsWith("mean over the "));
    if (count >= 2) {
      assert.ok(mean, `${row[0]}: ${count} studied, so a mean map`);
      assert.equal(groups(mean, /^mean over the (\d+) of this pair \(.+\)$/, "mean")[0], String(count));
    } else assert.equal(mean, undefined);
  }
  const section = sectionHtml(html, "Which method explains the errors best");
  const texts = paragraphs(section);
  const [margin, n, named] = groups(texts[0], /\(here (\S+) for (\d+)\): (.*)$/, "rule");
  assertNumber(margin, m.verdict.margin, "margin");
  assert.equal(Number(n), m.verdict.mistakes);
  assert.equal(
    named,
    m.verdict.best === null ? `${m.verdict.note}, so no method is named.` : `${labels[m.verdict.best]} does.`,
  );
  // The ranking as the user reads it: in metrics.json's order, each row's numbers the method's.
  const table = tableWith(section, "rank", "method").rows;
  assert.equal(table.length, m.ranking.length + 1);
  m.ranking.forEach((name, i) => {
    const [rank, label, at5, at10, random10, drop, examples] = table[i];
    const s = m.methods[name];
    assert.deepEqual([rank, label], [String(i + 1), labels[name]]);
    assertCell(at5, s.flipToTrueAt5, `${name} @5%`);
    assertCell(at10, s.flipToTrueAt10, `${name} @10%`);
    assertCell(random10, s.random.flipToTrueAt10, `${name}: random maps @10% on its mistakes`);
    assertCell(drop, s.marginDrop, `${name} margin drop`);
    assertCell(examples, s.examples, `${name} mistakes`);
    if (s.examples === m.examples.length) {
      assert.deepEqual(s.random, m.randomBaseline, "all studied: the baseline");
    }
    // Best first: by the gain over random maps on the mistakes each method saw.
    const gain = (t: { flipToTrueAt10: number; random: { flipToTrueAt10: number } }) =>
      t.flipToTrueAt10 - t.random.flipToTrueAt10;
    if (i > 0) assert.ok(gain(m.methods[m.ranking[i - 1]]) >= gain(s) - 1e-9, "best first");
  });
  const random = table[m.ranking.length];
  assert.equal(random[1], "random maps");
  assertCell(random[3], m.randomBaseline.flipToTrueAt10, "random @10%");
  assert.equal(random[4], "–", "random maps have no random column of their own");
  const c = m.methods.integrated_gradients?.completeness;
  const complete = texts.find((t) => t.startsWith("Integrated Gradients: "));
  assert.equal(complete !== undefined, c !== undefined, "a completeness sentence when IG ran");
  if (c && complete) {
    const [within, of, tol, median, largest, steps] = groups(
      complete,
      /^Integrated Gradients: (\d+) of (\d+) maps sum to f\(x\) − f\(baseline\) within (\S+) \(median error (\S+), largest (\S+); up to (\d+) points per map\)\./,
      "completeness",
    );
    assert.equal(Number(of), c.maps.length);
    assert.equal(Number(within), c.maps.filter((x) => x.error <= c.tolerance).length);
    assertPercent(tol, c.tolerance, "tolerance");
    assertPercent(median, c.medianError, "median error");
    assertPercent(largest, c.maxError, "largest error");
    assert.equal(
      Number(steps),
      Math.max(...c.maps.filter((x) => x.target !== "contrast").map((x) => x.steps)),
    );
  }
  const plan = paragraphs(sectionHtml(html, "Model and methods")).find((t) => t.startsWith("Time budget"));
  assert.equal(plan !== undefined, m.plan !== null, "a plan sentence when a budget was set");
  if (m.plan && plan) {
    const [minutes, forward, backward] = groups(
      plan,
      /^Time budget (\S+) min: .*a forward pass (\S+) s and a backward pass (\S+) s per image/,
      "plan",
    );
    assertNumber(minutes, m.plan.budgetSeconds / 60, "budget");
    assertNumber(forward, m.plan.passSeconds.forward, "forward pass");
    assertNumber(backward, m.plan.passSeconds.backward, "backward pass");
  }
}

/** The counterfactual answer sentence says what metrics.json says. */
export function checkCounterfactualSentence(text: string, m: CounterfactualMetrics): void {
  const n = m.examples.length;
  const ok = m.examples.filter((e) => e.success).length;
  let prior: string;
  if (ok === 0) {
    [prior] = groups(
      text,
      new RegExp(`^None of the ${n} mistakes was turned into its true class .*? may reach it\\.(.*)$`),
      "none",
    );
  } else {
    const [k, of, l1, l0, transfer, rest] = groups(
      text,
      /^(\d+) of (\d+) mistakes were turned into their true class by a small change \(median L1 (\S+) over the image, (\d+) pixels changed by more than 0\.001\); (\S+) of these counterfactuals also convince an independently trained model\.(.*)$/,
      "answer",
    );
    assert.deepEqual([Number(k), Number(of)], [ok, n]);
    assertNumber(l1, m.medianL1, "median L1");
    assert.equal(Number(l0), m.medianL0);
    assertPercent(transfer, m.transferRate, "transfer rate");
    prior = rest;
  }
  const p = m.withPrior;
  if (!p) return assert.equal(prior, "");
  if (p.successRate === 0) {
    return assert.equal(prior, ` With the autoencoder prior (γ = ${p.gamma}), none succeeds.`);
  }
  const [gamma, rate, l1, transfer] = groups(
    prior,
    /^ With the autoencoder prior \(γ = (\S+)\): (\S+) succeed, median L1 (\S+), transfer rate (\S+)\.$/,
    "prior",
  );
  assert.equal(Number(gamma), p.gamma);
  assertPercent(rate, p.successRate, "success rate with the prior");
  assertNumber(l1, p.medianL1, "median L1 with the prior");
  assertPercent(transfer, p.transferRate, "transfer rate with the prior");
}

/** counterfactual report.html against its metrics.json. */
export function checkCounterfactualReport(
  html: string,
  m: CounterfactualMetrics,
  labels: Record<string, string>,
  classNames: string[],
): void {
  const answer = answerHtml(html);
  checkCounterfactualSentence(paragraphs(answer)[0], m);
  // Picture rows: the first six successes, in order, named by their classes.
  const rows = imageRows(answer);
  const shown = m.examples.filter((e) => e.success).slice(0, 6);
  assert.deepEqual(
    rows.map((r) => r[0]),
    shown.map((e) => `${classNames[e.true]}, taken for ${classNames[e.predicted]}`),
  );
  rows.forEach((r, i) => assert.equal(r[2], `counterfactual: ${classNames[shown[i].true]}`));
  const summary = paragraphs(sectionHtml(html, "Summary"));
  const p = m.withPrior;
  const prior = summary.find((t) =>
    t.startsWith("With the autoencoder prior") || t.startsWith("The autoencoder prior")
  );
  assert.ok(prior, JSON.stringify(summary));
  if (!p) assert.equal(prior, "The autoencoder prior was not run (--no-prior).");
  else {
    const [gamma, rate, moved, ok, rate0, moved0, ok0, size, epochs, seed, loss] = groups(
      prior,
      /^With the autoencoder prior \(γ = (\S+)\), the transfer rate is (\S+) \((\d+) of (\d+) successes\), against (\S+) \((\d+) of (\d+) successes\) without it\. The autoencoder \(src\/model\/autoencoder\.ts\) was trained here on ([\d,]+) training images for (\d+) epochs? \(seed (\d+)\), to a mean squared error of (\S+) per value\.$/,
      "prior sentence",
    );
    const count = (rows: { success: boolean; transfers: boolean }[]) => {
      const s = rows.filter((e) => e.success);
      return [s.filter((e) => e.transfers).length, s.length];
    };
    assert.equal(Number(gamma), p.gamma);
    assertNumber(rate, p.transferRate, "transfer rate with the prior");
    assert.deepEqual([Number(moved), Number(ok)], count(p.examples));
    assertNumber(rate0, m.transferRate, "transfer rate");
    assert.deepEqual([Number(moved0), Number(ok0)], count(m.examples));
    assert.equal(Number(size.replace(/,/g, "")), p.autoencoder.trainSize);
    assert.equal(Number(epochs), p.autoencoder.epochs);
    assert.equal(Number(seed), m.seed + 2);
    assertNumber(loss, p.autoencoder.finalLoss, "autoencoder loss");
  }
  const rho = summary.find((t) => t.startsWith("Median Spearman ρ"));
  assert.ok(rho);
  for (const [name, label] of Object.entries(labels)) {
    const [own, ownPrior, base, basePrior] = groups(
      rho,
      p
        ? new RegExp(
          `— (?:.*; )?${label}: (\\S+) without and (\\S+) with the prior, against (\\S+) and (\\S+) for another mistake's map`,
        )
        : new RegExp(`— (?:.*; )?${label}: (\\S+)(), against (\\S+)() for another mistake's map`),
      `ρ of ${name}`,
    );
    assertNumber(own, m.medianSaliencyCorrelation[name], `ρ ${name}`);
    assertNumber(base, m.medianSaliencyCorrelationBaseline[name], `ρ baseline ${name}`);
    if (p) {
      assertNumber(ownPrior, p.medianSaliencyCorrelation[name], `ρ ${name} with the prior`);
      assertNumber(basePrior, p.medianSaliencyCorrelationBaseline[name], `ρ baseline ${name} with the prior`);
    }
  }
}
