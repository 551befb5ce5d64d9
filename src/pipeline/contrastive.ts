/**
 * Contrastive explanations of a classifier's mistakes: collect the misclassified test images, explain the
 * predicted class P, the true class Q and the contrast "P rather than Q" with every attribution method, and
 * measure which method's contrastive map points at what made the model wrong (removing its top pixels turns
 * the prediction into the true class), against random maps.
 * @module
 */
import type { ForwardEngineChoice } from "../model/forward_engine.ts";
import { type Dataset, imageSize, subset } from "../data/dataset.ts";
import { loadLabelledFolder } from "../data/folder.ts";
import { loadDataset, parseDatasetSpec } from "../data/mod.ts";
import { checkInputFits, type LoadedModel, loadModel } from "../explain/load.ts";
import { checkModelSource } from "../explain/model_source.ts";
import { tf } from "../deps.ts";
import { type ExplainableModel, settleModel } from "../explain/explainable_model.ts";
import { checkFiniteGradients, predictWithConfidence } from "../explain/model_checks.ts";
import {
  availableMethods,
  checkMethodOptions,
  explainTargets,
  gradientProblem,
  type MethodInfo,
  type MethodLeftOut,
  type MethodName,
  type MethodReport,
  METHODS,
} from "../explain/registry.ts";
import { DEFAULT_TOLERANCE } from "../explain/integrated_gradients.ts";
import { duration, measurePassSeconds, methodSeconds, type PassSeconds, planImages } from "./work_plan.ts";
import { spearman } from "../measure/sanity.ts";
import { type RemovalResult, removalTest, topOverlap } from "../measure/removal.ts";
import { batchTensor } from "../model/predict.ts";
import { type Progress, reportProgress, withProgress } from "../progress.ts";
import { Rng } from "../rng.ts";
import { HansError } from "../errors.ts";

/** Settings of {@link runContrastive}. */
export interface ContrastiveSettings {
  model: ExplainableModel;
  /** Labelled test images, in the model's input size and range. */
  test: Dataset;
  /** Most misclassified images studied (default 64), the most confident mistakes first. */
  maxExamples?: number;
  /**
   * Methods (registry names). Default: every attribution method that can run on the model; the others are
   * listed in the result's `methodsLeftOut`. A method named here that cannot run is a HansError before any work.
   */
  methods?: string[];
  methodOptions?: Record<string, Record<string, unknown>>;
  /** Value removed pixels are set to (default 0). */
  baseline?: number;
  seed: number;
  /**
   * Seconds the run may take, counted from `startedAt` (default: no limit, every method studies every
   * mistake). Each method's cost per image is estimated from timed passes before the long work; methods study
   * as many mistakes as the budget pays for (the cheap ones all), and one that cannot afford one mistake is
   * left out, with the reason. A method that runs slower than planned stops early.
   */
  budgetSeconds?: number;
  /** When the run started (`performance.now()`), so that the budget counts loading too; default now. */
  startedAt?: number;
  log?: (line: string) => void;
  /**
   * Called after each step of the run's loops and of the methods' loops inside it (see `src/progress.ts`);
   * default none.
   */
  onProgress?: Progress;
}

/** One studied mistake. */
export interface Mistake {
  index: number;
  true: number;
  predicted: number;
  /** Softmax probability of the predicted class. */
  confidence: number;
}

/** How well one method's maps explain the mistakes. */
export interface MethodScore {
  /** Mean Spearman correlation between the map for P and the map for Q (constant maps left out; NaN, written
   * as null, when every map was constant). */
  meanCorrelation: number;
  /** Mean share of the top 10% pixels of the P map that are also in the top 10% of the Q map. */
  meanTopOverlap: number;
  /** Share of mistakes whose prediction becomes the true class when the top 5% / 10% pixels of the
   * contrastive map are set to the baseline. */
  flipToTrueAt5: number;
  flipToTrueAt10: number;
  /** Mean fall of the margin logit P − logit Q when the top 10% pixels are removed. */
  marginDrop: number;
  mapsPerSecond: number;
  /** Mistakes this method studied: the first of `examples` (all unless the time budget trimmed it). */
  examples: number;
  /**
   * Random maps' removal test on the same mistakes (the first `examples`; the same maps as the run's
   * `randomBaseline`, so equal to it when the method studied every mistake): what this method's rates and
   * margin drop are ranked and judged against.
   */
  random: RemovalResult;
  /** Integrated Gradients: how well each map sums to f(x) − f(baseline). */
  completeness?: CompletenessSummary;
  /** LRP: how much of the target's score each map's relevance holds (1 when relevance is conserved). */
  conservation?: ConservationSummary;
}

/**
 * LRP's conservation over the maps of a run: per map of P and of Q, Σ relevance / the target's logit (null
 * where the logit is 0). 1 means the relevance sums to the score; biases, the ε stabilizer and unfolded
 * BatchNorm offsets absorb or add relevance, and a ratio far from 1 (or negative) says the map's magnitudes
 * do not mean what LRP's do.
 */
export interface ConservationSummary {
  /** Per map, in the order P, Q for each studied mistake. */
  maps: { example: number; target: "p" | "q"; ratio: number | null }[];
  /** Share of the maps whose ratio lies within 10% of 1. */
  withinTenPercent: number;
  /** Median, smallest and largest finite ratio (NaN, written as null, when none is finite). */
  medianRatio: number;
  minRatio: number;
  maxRatio: number;
}

/**
 * Integrated Gradients' completeness over the maps of a run: each map's relative error |Σ map − gap| / |gap|
 * (gap = f(x) − f(baseline) for its target) and the points it took, for the maps of P, of Q and of the contrast
 * (P minus Q: its error is that of the difference).
 */
export interface CompletenessSummary {
  /** The tolerance each map was refined to. */
  tolerance: number;
  /** Per map, in the order P, Q, contrast for each studied mistake. */
  maps: { example: number; target: "p" | "q" | "contrast"; steps: number; error: number }[];
  /** Share of the maps within the tolerance. */
  withinTolerance: number;
  /** Median and largest error. */
  medianError: number;
  maxError: number;
}

/** Whether a method may be called the best: the top-ranked one, when it beats random maps by the margin. */
export interface BestMethodVerdict {
  /** The method named best, or null when none beats random maps by `margin`. */
  best: string | null;
  /** How much higher than random maps' its flip-to-true rate at 10% must be: √(2/n) for n studied mistakes. */
  margin: number;
  /** Mistakes the rates were measured on: the top method's, the first `mistakes` studied. */
  mistakes: number;
  /** Random maps' flip-to-true rate at 10% on those same mistakes (the same random maps as `randomBaseline`). */
  random: number;
  /** Why no method is named (null when one is). */
  note: string | null;
}

/**
 * The best method, if any: the top of `ranking` when its flip-to-true rate at 10% beats random maps' by at
 * least two standard errors of a difference of two rates over `n` mistakes, 2·√(0.5/n) = √(2/n) (0.14 for
 * 100 mistakes, 0.5 for 8), and by at least one mistake. With fewer mistakes, or no method that clears
 * the margin, no method is named. `random` is random maps' rate on the same `n` mistakes as the top
 * method's, so the two rates are paired.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * const methods = { ig: { flipToTrueAt10: 0.6 }, gradient: { flipToTrueAt10: 0.1 } };
 * assert.equal(bestMethodVerdict(["ig", "gradient"], methods, 0.05, 100).best, "ig");
 * assert.equal(bestMethodVerdict(["ig", "gradient"], methods, 0.5, 100).best, null); // 0.1 above random
 * ```
 */
export function bestMethodVerdict(
  ranking: string[],
  methods: Record<string, { flipToTrueAt10: number }>,
  random: number,
  n: number,
): BestMethodVerdict {
  const margin = n > 0 ? Math.max(Math.sqrt(2 / n), 1 / n) : Infinity;
  const top = ranking[0];
  if (top === undefined || n === 0) {
    return {
      best: null,
      margin,
      mistakes: n,
      random,
      note: n === 0 ? "no mistakes were studied" : "no method ran",
    };
  }
  const gain = methods[top].flipToTrueAt10 - random;
  if (gain >= margin - 1e-9) return { best: top, margin, mistakes: n, random, note: null };
  return {
    best: null,
    margin,
    mistakes: n,
    random,
    note: `no method beats random maps by the margin (${
      margin.toFixed(2)
    } for ${n} mistakes): the top-ranked, ${top}, turns ${
      methods[top].flipToTrueAt10.toFixed(2)
    } of them into the true class, random maps ${random.toFixed(2)}`,
  };
}

/**
 * Method names, best first: by how far each one's flip-to-true rate at 10% beats random maps' on the same
 * mistakes (`flipToTrueAt10 − random.flipToTrueAt10`; equal within 1e-9 is a tie), then by how far its margin
 * drop beats theirs (`marginDrop − random.marginDrop`); ties keep `names`' order. When every method studied
 * every mistake this is the order of `flipToTrueAt10`, then `marginDrop`; when the time budget cut some short,
 * each is measured against random maps on the mistakes it saw, not against another method's mistakes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * const random = (at10: number) => ({ flipToTrueAt5: 0, flipToTrueAt10: at10, marginDrop: 0 });
 * const scores = {
 *   occlusion: { flipToTrueAt10: 0.67, marginDrop: 3, random: random(0.67) }, // its first 3, easy, mistakes
 *   gradient: { flipToTrueAt10: 0.5, marginDrop: 1, random: random(0.06) }, // all 16
 * };
 * assert.deepEqual(rankMethods(["occlusion", "gradient"], scores), ["gradient", "occlusion"]);
 * ```
 */
export function rankMethods(
  names: string[],
  scores: Record<string, { flipToTrueAt10: number; marginDrop: number; random: RemovalResult }>,
): string[] {
  const flips = (n: string) => scores[n].flipToTrueAt10 - scores[n].random.flipToTrueAt10;
  const drop = (n: string) => scores[n].marginDrop - scores[n].random.marginDrop;
  // Gains equal up to rounding (rates over different counts) are ties.
  const byFlips = (a: string, b: string) => Math.abs(flips(b) - flips(a)) < 1e-9 ? 0 : flips(b) - flips(a);
  return names.filter((n) => n in scores).sort((a, b) => byFlips(a, b) || drop(b) - drop(a));
}

/** Everything the analysis found. */
export interface ContrastiveResult {
  testAccuracy: number;
  misclassified: number;
  confusionMatrix: number[][];
  confusions: { true: number; predicted: number; count: number }[];
  examples: Mistake[];
  methods: Record<string, MethodScore>;
  randomBaseline: { flipToTrueAt5: number; flipToTrueAt10: number; marginDrop: number };
  /** Method names, best first (by flipToTrueAt10, then marginDrop). */
  ranking: string[];
  /** Whether the top-ranked method explains the errors better than random maps (see {@link bestMethodVerdict}). */
  verdict: BestMethodVerdict;
  methodInfo: MethodInfo[];
  /** Default methods that cannot run on the model or do not fit the time budget, with the reason. */
  methodsLeftOut: MethodLeftOut[];
  /** The methods the user named (`--methods`), or null when every method that can run was tried. */
  methodsAsked: string[] | null;
  /** Each method's options as it ran: those given, or cheaper ones the time budget chose. */
  methodOptions: Record<string, Record<string, unknown>>;
  /** The time plan, when a budget was set: seconds per image estimated and spent per method. */
  plan: WorkPlanRecord | null;
  /** Methods that ran but whose maps were not finite: reported, never scored or ranked. */
  methodsFailed: MethodLeftOut[];
  /** Images of the studied mistakes, and each method's maps (P, Q, contrast) for them, for the figures. */
  images: Float32Array[];
  maps: Record<string, { p: Float32Array[]; q: Float32Array[]; contrast: Float32Array[] }>;
  /** Per confusion pair with two or more examples: the mean normalized contrastive map of the best method. */
  pairMaps: { true: number; predicted: number; count: number; method: string; map: Float32Array }[];
}

/** What the time plan was and how it went, for metrics.json. */
export interface WorkPlanRecord {
  /** The budget in seconds. */
  budgetSeconds: number;
  /** Seconds per image of a forward pass (active backend and forward engine) and a backward pass. */
  passSeconds: PassSeconds;
  /** Per method: seconds per mistake estimated before it ran, images planned, studied, and seconds spent. */
  methods: Record<
    string,
    { estimatedSecondsPerImage: number; planned: number; studied: number; seconds: number }
  >;
}

/** Runs the analysis. */
export async function runContrastive(settings: ContrastiveSettings): Promise<ContrastiveResult> {
  return await withProgress(settings.onProgress, () => contrastive(settings));
}

/** {@link runContrastive} under its progress callback. */
async function contrastive(settings: ContrastiveSettings): Promise<ContrastiveResult> {
  const started = performance.now();
  const { model, test } = settings;
  const log = settings.log ?? (() => {});
  // Every method's options are checked, those of methods not run too: a misspelt method name is an error.
  for (const [name, options] of Object.entries(settings.methodOptions ?? {})) {
    checkMethodOptions(name, options);
  }
  // A graph fromLayersModel checks only now (WebGPU) may be dropped, and the logits with it: first.
  await settleModel(model);
  const first = batchTensor(test, 0, 1);
  const noGradient = gradientProblem(model, first);
  first.dispose();
  const { methods, leftOut } = await availableMethods(
    settings.methods ?? METHODS.filter((m) => m.attribution).map((m) => m.name),
    model,
    (name) => settings.methodOptions?.[name],
    settings.methods !== undefined,
    noGradient,
  );
  for (const m of leftOut) log(`left out ${m.name}: ${m.reason}`);
  const classes = test.classNames.length;
  log(`predicting ${test.count} test images`);
  const { predicted, probabilities } = await predictWithConfidence(model, test);
  const matrix = Array.from({ length: classes }, () => new Array(classes).fill(0));
  const mistakes: Mistake[] = [];
  for (let i = 0; i < test.count; i++) {
    matrix[test.labels[i]][predicted[i]]++;
    if (predicted[i] !== test.labels[i]) {
      mistakes.push({
        index: i,
        true: test.labels[i],
        predicted: predicted[i],
        confidence: probabilities[i],
      });
    }
  }
  const confusions = matrix.flatMap((row, t) =>
    row.map((count, p) => ({ true: t, predicted: p, count })).filter((c) =>
      c.true !== c.predicted && c.count > 0
    )
  ).sort((a, b) => b.count - a.count);
  if (mistakes.length === 0) {
    throw new HansError(
      `the model classifies all ${test.count} test images correctly, so there is no mistake to explain; ` +
        `pass more test images (--test-size) or harder ones.`,
    );
  }
  const studied = [...mistakes].sort((a, b) => b.confidence - a.confidence || a.index - b.index)
    .slice(0, settings.maxExamples ?? 64);
  const data = subset(test, studied.map((m) => m.index));
  const p = studied.map((m) => m.predicted);
  const q = studied.map((m) => m.true);
  const x = batchTensor(data, 0, data.count);
  if (!noGradient && methods.some((m) => m.usesGradient !== false)) await checkFiniteGradients(model, x);
  const failed: MethodLeftOut[] = [];
  const pixels = data.height * data.width;
  const scores: Record<string, MethodScore> = {};
  const maps: ContrastiveResult["maps"] = {};
  const contrastMaps: Record<string, Float32Array> = {};
  // Each method's options as run: the given ones, or cheaper ones the time budget chose.
  const effective: Record<string, Record<string, unknown>> = Object.fromEntries(
    methods.map((m) => [m.name, { ...settings.methodOptions?.[m.name] }]),
  );
  const optionsOf = (m: MethodInfo) => effective[m.name];
  const shape: [number, number, number] = [data.height, data.width, data.channels];
  const startedAt = settings.startedAt ?? started;
  const budget = settings.budgetSeconds;
  let plan: WorkPlanRecord | null = null;
  let allocation: Record<string, number> = Object.fromEntries(methods.map((m) => [m.name, data.count]));
  let running = methods;
  if (budget !== undefined && methods.length > 0) {
    const passSeconds = await measurePassSeconds(model, x);
    const estimate = (m: MethodInfo) => methodSeconds(m, optionsOf(m), shape, passSeconds, 3, 3);
    plan = { budgetSeconds: budget, passSeconds, methods: {} };
    for (const m of methods) {
      plan.methods[m.name] = { estimatedSecondsPerImage: estimate(m), planned: 0, studied: 0, seconds: 0 };
    }
    const left = budget - (performance.now() - startedAt) / 1000 - RESERVE_SECONDS;
    // Each method's settings, as asked first and then cheaper ones (Integrated Gradients: fewer points).
    const settingsOf = new Map(
      methods.map((m) => [m.name, [effective[m.name], ...(m.cheaper?.(effective[m.name]) ?? [])]]),
    );
    const first = planImages(
      methods.map((m) => ({
        name: m.name,
        secondsPerImage: settingsOf.get(m.name)!.map((o) => methodSeconds(m, o, shape, passSeconds, 3, 3)),
      })),
      data.count,
      left,
    );
    for (const m of methods) {
      const index = first.setting[m.name] ?? 0;
      if (index > 0) {
        effective[m.name] = settingsOf.get(m.name)![index];
        log(`${m.label} runs with ${JSON.stringify(effective[m.name])} to fit the time budget`);
      }
      plan.methods[m.name].estimatedSecondsPerImage = estimate(m);
    }
    allocation = first.images;
    for (const m of first.leftOut) log(`left out ${m.name}: ${m.reason}`);
    leftOut.push(...first.leftOut);
    running = methods.filter((m) => m.name in allocation);
    log(`plan: ${data.count} mistakes, ${duration(left)} of the time budget left`);
    for (const m of running) {
      log(`  ${m.label} on ${allocation[m.name]} ≈ ${duration(allocation[m.name] * estimate(m))}`);
    }
  }
  for (let k = 0; k < running.length; k++) {
    const m = running[k];
    if (plan && k > 0) {
      // What ran so far says how far off the estimates of each kind of work are (backward passes, forward
      // passes, forward passes on the forward engine): re-plan the rest with the time that is left.
      const scale = (r: MethodInfo) => {
        const done = running.slice(0, k).filter((d) =>
          workKind(d) === workKind(r) && plan!.methods[d.name].studied
        );
        const spent = done.reduce((t, d) => t + plan!.methods[d.name].seconds, 0);
        const expected = done.reduce(
          (t, d) => t + plan!.methods[d.name].studied * plan!.methods[d.name].estimatedSecondsPerImage,
          0,
        );
        return expected > 0 ? Math.min(4, Math.max(0.25, spent / expected)) : 1;
      };
      const left = plan.budgetSeconds - (performance.now() - startedAt) / 1000 - RESERVE_SECONDS;
      const rest = running.slice(k);
      const next = planImages(
        rest.map((r) => ({
          name: r.name,
          secondsPerImage: [scale(r) * plan!.methods[r.name].estimatedSecondsPerImage],
        })),
        data.count,
        left,
        1,
      );
      for (const r of rest) allocation[r.name] = next.images[r.name] ?? 0;
      if (!(m.name in next.images)) {
        const why = next.leftOut.find((l) => l.name === m.name)!;
        log(`left out ${m.name}: ${why.reason}`);
        leftOut.push(why);
        continue;
      }
    }
    const n = allocation[m.name];
    if (plan) {
      plan.methods[m.name].planned = n;
      log(`${m.label}: ${n} mistakes, about ${duration(n * plan.methods[m.name].estimatedSecondsPerImage)}`);
    }
    const options = optionsOf(m);
    const start = performance.now();
    const studied = { p: [] as Float32Array[], q: [] as Float32Array[], c: [] as Float32Array[] };
    const reports: { p?: MethodReport; q?: MethodReport }[] = [];
    const chunk = Math.max(1, Math.ceil(n / 4));
    let done = 0;
    while (done < n) {
      const size = Math.min(chunk, n - done);
      const xs = x.slice([done, 0, 0, 0], [size, -1, -1, -1]);
      const [ps, qs] = [p.slice(done, done + size), q.slice(done, done + size)];
      try {
        const out = await explainTargets(
          m.name as MethodName,
          model,
          xs,
          [ps, qs, { p: ps, q: qs }],
          options,
        );
        const [vp, vq, vc] = await readAll(out.maps);
        studied.p.push(vp);
        studied.q.push(vq);
        studied.c.push(vc);
        reports.push({ p: out.reports[0], q: out.reports[1] });
      } finally {
        xs.dispose();
      }
      done += size;
      const elapsed = (performance.now() - start) / 1000;
      const perImage = elapsed / done;
      if (done < n) {
        const allowance = plan ? 1.3 * n * plan.methods[m.name].estimatedSecondsPerImage : Infinity;
        const next = perImage * Math.min(chunk, n - done);
        const deadline = budget === undefined
          ? Infinity
          : budget - RESERVE_SECONDS - (performance.now() - startedAt) / 1000;
        if (elapsed + next > Math.max(allowance, elapsed, ALLOWANCE_FLOOR_SECONDS) || next > deadline) {
          log(`${m.label}: stopping at ${done} of ${n} mistakes, it runs slower than planned`);
          break;
        }
        log(
          `${m.label}: ${done}/${n} mistakes, ${duration(elapsed)}, about ${
            duration(perImage * (n - done))
          } left`,
        );
      }
    }
    const seconds = (performance.now() - start) / 1000;
    if (plan) Object.assign(plan.methods[m.name], { studied: done, seconds });
    log(`${m.label}: ${done} mistakes in ${duration(seconds)}`);
    await reportProgress(k + 1, running.length, "contrastive: methods");
    const [mp, mq, mc] = [studied.p, studied.q, studied.c].map(joinArrays);
    if (![mp, mq, mc].every((v) => v.every(Number.isFinite))) {
      // Never scored: a map with NaN would rank as anything.
      failed.push({ name: m.name, reason: "its maps contain NaN or infinite values" });
      log(`${m.name} failed: its maps contain NaN or infinite values`);
      continue;
    }
    let correlation = 0;
    let correlated = 0;
    let overlap = 0;
    for (let i = 0; i < done; i++) {
      const a = mp.subarray(i * pixels, (i + 1) * pixels);
      const b = mq.subarray(i * pixels, (i + 1) * pixels);
      const r = spearman(a, b);
      // A constant map (e.g. an all-zero Grad-CAM) has no ranks to correlate; it is left out of the mean.
      if (Number.isFinite(r)) {
        correlation += r;
        correlated++;
      }
      overlap += topOverlap(a, b, 0.1);
    }
    const xs = x.slice([0, 0, 0, 0], [done, -1, -1, -1]);
    const removal = await removalTest(
      model,
      xs,
      mc,
      p.slice(0, done),
      q.slice(0, done),
      settings.baseline ?? 0,
    );
    xs.dispose();
    const completeness = reports.some((r) => r.p?.completenessError)
      ? summarizeCompleteness(reports, mc, pixels, options)
      : undefined;
    const conservation = reports.some((r) => r.p?.conservation) ? summarizeConservation(reports) : undefined;
    scores[m.name] = {
      meanCorrelation: correlated > 0 ? correlation / correlated : NaN,
      meanTopOverlap: overlap / done,
      ...removal,
      random: { flipToTrueAt5: NaN, flipToTrueAt10: NaN, marginDrop: NaN }, // below, on the same mistakes
      mapsPerSecond: (3 * done) / seconds,
      examples: done,
      ...(completeness ? { completeness } : {}),
      ...(conservation ? { conservation } : {}),
    };
    const split = (v: Float32Array) =>
      Array.from({ length: Math.min(8, done) }, (_, i) => v.slice(i * pixels, (i + 1) * pixels));
    maps[m.name] = { p: split(mp), q: split(mq), contrast: split(mc) };
    contrastMaps[m.name] = mc;
  }
  const rng = new Rng(settings.seed);
  const random = Float32Array.from({ length: data.count * pixels }, () => rng.next());
  const randomBaseline = await removalTest(model, x, random, p, q, settings.baseline ?? 0);
  // Each method is ranked and judged against random maps on the mistakes it saw: a method the budget cut
  // short was scored on the first n studied, so random maps (the same maps) are scored again on those n.
  const randomOn = new Map<number, RemovalResult>([[data.count, randomBaseline]]);
  for (const s of Object.values(scores)) {
    if (!randomOn.has(s.examples)) {
      const n = s.examples;
      const xs = x.slice([0, 0, 0, 0], [n, -1, -1, -1]);
      const r = await removalTest(
        model,
        xs,
        random.subarray(0, n * pixels),
        p.slice(0, n),
        q.slice(0, n),
        settings.baseline ?? 0,
      );
      xs.dispose();
      randomOn.set(n, r);
    }
    s.random = { ...randomOn.get(s.examples)! };
  }
  x.dispose();
  const ranking = rankMethods(methods.map((m) => m.name), scores);
  const top = ranking.length > 0 ? scores[ranking[0]] : undefined;
  const verdict = bestMethodVerdict(
    ranking,
    scores,
    top?.random.flipToTrueAt10 ?? randomBaseline.flipToTrueAt10,
    top?.examples ?? 0,
  );
  const best = ranking[0];
  const pairMaps = best === undefined
    ? []
    : meanPairMaps(studied.slice(0, scores[best].examples), contrastMaps[best], pixels, best);
  const size = imageSize(data);
  return {
    testAccuracy: (test.count - mistakes.length) / test.count,
    misclassified: mistakes.length,
    confusionMatrix: matrix,
    confusions,
    examples: studied,
    methods: scores,
    randomBaseline: {
      flipToTrueAt5: randomBaseline.flipToTrueAt5,
      flipToTrueAt10: randomBaseline.flipToTrueAt10,
      marginDrop: randomBaseline.marginDrop,
    },
    ranking,
    verdict,
    methodInfo: methods.filter((m) => m.name in scores),
    methodsLeftOut: leftOut,
    methodsAsked: settings.methods ?? null,
    methodOptions: effective,
    plan,
    methodsFailed: failed,
    images: Array.from(
      { length: Math.min(8, data.count) },
      (_, i) => data.images.slice(i * size, (i + 1) * size),
    ),
    maps,
    pairMaps,
  };
}

/** What dominates a method's time: backward passes, forward passes, or forward passes on the forward engine. */
function workKind(m: MethodInfo): string {
  if (m.usesGradient === false) return "engine";
  return m.passes({}, [8, 8, 1]).backward > 0 ? "backward" : "forward";
}

/** Seconds kept back from the budget for the random baseline and the report. */
const RESERVE_SECONDS = 10;

/**
 * A method may always take this long before it is stopped for running slower than planned: below it, the
 * estimate's noise (a busy machine, a first pass compiling kernels) decides, and a method estimated at 0.01 s
 * per mistake was stopped at 2 of 6 with almost all of the budget left. The budget's own deadline still holds.
 */
const ALLOWANCE_FLOOR_SECONDS = 5;

/** The arrays one after the other. */
function joinArrays(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/**
 * The completeness of a run's Integrated Gradients maps from the method's reports on P and Q (chunk by chunk)
 * and the contrast maps (P − Q, whose gap is gap(P) − gap(Q)).
 */
function summarizeCompleteness(
  reports: { p?: MethodReport; q?: MethodReport }[],
  contrast: Float32Array,
  pixels: number,
  options: Record<string, unknown>,
): CompletenessSummary {
  const rows: CompletenessSummary["maps"] = [];
  let example = 0;
  for (const { p, q } of reports) {
    for (let i = 0; i < (p?.gap.length ?? 0); i++, example++) {
      rows.push({ example, target: "p", steps: p!.steps[i], error: p!.completenessError[i] });
      rows.push({ example, target: "q", steps: q!.steps[i], error: q!.completenessError[i] });
      const gap = p!.gap[i] - q!.gap[i];
      let total = 0;
      for (let j = example * pixels; j < (example + 1) * pixels; j++) total += contrast[j];
      rows.push({
        example,
        target: "contrast",
        steps: p!.steps[i] + q!.steps[i],
        error: Math.abs(total - gap) / Math.max(Math.abs(gap), 1e-6),
      });
    }
  }
  const tolerance = (options.tolerance as number | undefined) ?? DEFAULT_TOLERANCE;
  const errors = rows.map((r) => r.error).sort((a, b) => a - b);
  return {
    tolerance,
    maps: rows,
    withinTolerance: errors.filter((e) => e <= tolerance).length / Math.max(1, errors.length),
    medianError: errors.length ? errors[Math.floor((errors.length - 1) / 2)] : NaN,
    maxError: errors.length ? errors[errors.length - 1] : NaN,
  };
}

/** LRP's conservation ratios of a run from the method's reports on P and Q (chunk by chunk). */
export function summarizeConservation(
  reports: { p?: MethodReport; q?: MethodReport }[],
): ConservationSummary {
  const rows: ConservationSummary["maps"] = [];
  let example = 0;
  for (const { p, q } of reports) {
    for (let i = 0; i < (p?.conservation?.length ?? 0); i++, example++) {
      for (const [target, report] of [["p", p], ["q", q]] as const) {
        const ratio = report?.conservation?.[i];
        rows.push({ example, target, ratio: ratio !== undefined && Number.isFinite(ratio) ? ratio : null });
      }
    }
  }
  const finite = rows.flatMap((r) => r.ratio === null ? [] : [r.ratio]).sort((a, b) => a - b);
  return {
    maps: rows,
    withinTenPercent: finite.filter((r) => Math.abs(r - 1) <= 0.1).length / Math.max(1, rows.length),
    medianRatio: finite.length ? finite[Math.floor((finite.length - 1) / 2)] : NaN,
    minRatio: finite.length ? finite[0] : NaN,
    maxRatio: finite.length ? finite[finite.length - 1] : NaN,
  };
}

async function readAll(tensors: tf.Tensor3D[]): Promise<Float32Array[]> {
  try {
    const values: Float32Array[] = [];
    for (const t of tensors) values.push(await t.data() as Float32Array);
    return values;
  } finally {
    tf.dispose(tensors);
  }
}

function meanPairMaps(
  studied: Mistake[],
  contrast: Float32Array,
  pixels: number,
  method: string,
): ContrastiveResult["pairMaps"] {
  const groups = new Map<string, number[]>();
  studied.forEach((m, i) => {
    const key = `${m.true}:${m.predicted}`;
    groups.set(key, [...(groups.get(key) ?? []), i]);
  });
  const out: ContrastiveResult["pairMaps"] = [];
  for (const [key, members] of groups) {
    if (members.length < 2) continue;
    const [t, pr] = key.split(":").map(Number);
    const mean = new Float32Array(pixels);
    for (const i of members) {
      const map = contrast.subarray(i * pixels, (i + 1) * pixels);
      let max = 0;
      for (const v of map) max = Math.max(max, Math.abs(v));
      if (max > 0) { for (let j = 0; j < pixels; j++) mean[j] += map[j] / max / members.length; }
    }
    out.push({ true: t, predicted: pr, count: members.length, method, map: mean });
  }
  return out.sort((a, b) => b.count - a.count);
}

/** What metrics.json says about the run besides the result. */
export interface ContrastiveRunInfo {
  model: string;
  dataset: string;
  backend: string;
  adapter: string;
  kernels: string;
  /** The engine that ran forward-only work (occlusion, RISE), or null if none ran. */
  forwardEngine: ForwardEngineChoice | null;
  /** The engine that ran the gradient methods, measured (wasm where it ran an input gradient faster), or null. */
  gradientEngine: ForwardEngineChoice | null;
  seed: number;
  /** What the maps explain (ExplainableModel.outputs). */
  outputs: string;
  /** Where the model's graph was read from, or null when it has none. */
  graph: string | null;
  /** The layer Grad-CAM and activations read, or null. */
  layer: string | null;
  /** Its output's [height, width, channels], or null. */
  layerShape: number[] | null;
  /** How the images were fitted to the model. */
  imageNotes: string[];
  testSize: number;
  seconds: number;
  /** Every setting that shaped the result: flags, method options, input range, budget. */
  settings: Record<string, unknown>;
}

/** The metrics.json document of a contrastive run. */
export function contrastiveMetrics(result: ContrastiveResult, info: ContrastiveRunInfo) {
  return {
    task: "contrastive",
    model: info.model,
    dataset: info.dataset,
    backend: info.backend,
    adapter: info.adapter,
    kernels: info.kernels,
    forwardEngine: info.forwardEngine,
    gradientEngine: info.gradientEngine,
    seed: info.seed,
    outputs: info.outputs,
    graph: info.graph,
    layer: info.layer,
    layerShape: info.layerShape,
    imageNotes: info.imageNotes,
    settings: info.settings,
    methodsAsked: result.methodsAsked,
    methodsLeftOut: result.methodsLeftOut,
    methodsFailed: result.methodsFailed,
    testAccuracy: result.testAccuracy,
    testSize: info.testSize,
    misclassified: result.misclassified,
    confusions: result.confusions,
    examples: result.examples,
    methods: result.methods,
    randomBaseline: result.randomBaseline,
    ranking: result.ranking,
    verdict: result.verdict,
    plan: result.plan,
    seconds: info.seconds,
  };
}

/** Where the contrastive experiment's model and test images come from (see {@link loadModelAndTestImages}). */
export interface ContrastiveSources {
  /** The model: a folder, model.json or URL. */
  model: string;
  /** A data set spec (ignored when `images` is given). */
  dataset: string;
  /** A folder of class sub-folders, fitted to the model, with `labels` (the class names in output order). */
  images?: string;
  labels?: string;
  seed: number;
  testSize?: number;
  /** Where notes on the images go as they are loaded (a sample kept to fit the memory budget). */
  log?: (line: string) => void;
}

/**
 * Loads the model and its labelled test images, checked against each other before anything large runs: a data
 * set is loaded first, so a model declaring another input size is refused before its first forward pass; an
 * image folder is fitted to the model's input instead. The class count must equal the model's outputs.
 */
export async function loadModelAndTestImages(
  sources: ContrastiveSources,
): Promise<{ loaded: LoadedModel; test: Dataset; notes: string[] }> {
  const { seed, testSize } = sources;
  // A data set of fixed size is loaded first, so a model of another input size is refused before it runs;
  // image folders (`--images`, `folder:`) are fitted to the model instead.
  const fitted = sources.images !== undefined || parseDatasetSpec(sources.dataset).kind === "folder";
  await checkModelSource(sources.model);
  const given = fitted ? undefined : (await loadDataset(sources.dataset, { seed, testSize })).test;
  const loaded = await loadModel(sources.model, { expect: given });
  const [height, width, channels] = loaded.inputShape;
  const fit = { height, width, channels: channels as 1 | 3 };
  const { test, notes } = given
    ? { test: given, notes: [] }
    : sources.images !== undefined
    ? await loadLabelledFolder(sources.images, sources.labels!, {
      seed,
      testSize,
      fit,
      classes: loaded.classes,
    })
    : { test: (await loadDataset(sources.dataset, { seed, testSize, fit })).test, notes: [] };
  for (const note of notes) sources.log?.(note);
  checkInputFits(loaded, test);
  if (test.classNames.length !== loaded.classes) {
    throw new HansError(
      `the model has ${loaded.classes} outputs but the data has ${test.classNames.length} classes; pass ` +
        `--labels with one name per output.`,
    );
  }
  return { loaded, test, notes };
}
