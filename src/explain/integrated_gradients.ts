/**
 * Integrated Gradients (Sundararajan et al. 2017): (x − baseline) times the gradient integrated along the
 * straight path from the baseline to x. The attributions of an image sum to f(x) − f(baseline), up to the
 * error of the quadrature rule (Gauss–Legendre by default, or the midpoint rule), which shrinks as `steps`
 * grows. By default each map is checked: the points grow per image until its attributions sum to the score gap
 * within 5% (ReLU6 nets such as MobileNetV2 need about 128 points where a small CNN needs 32).
 * @module
 */
import { tf } from "../deps.ts";
import { HansError } from "../errors.ts";
import { reportProgress } from "../progress.ts";
import type { ExplainableModel } from "./explainable_model.ts";
import {
  DEFAULT_INPUTS_PER_PASS,
  inputsPerPass,
  reduceChannels,
  reportedChunks,
  sampledGradients,
} from "./batching.ts";
import { checkOptions, type MethodDescriptor } from "./descriptor.ts";
import { batchSize, finiteNumber, flag, oneOf, wholeNumber } from "./option_checks.ts";
import { sliceTarget, type Target, targetWeights } from "./target.ts";

/**
 * The quadrature rule on the path, named as Captum names them: `gausslegendre` (Gauss–Legendre nodes and
 * weights on [0, 1]) or `riemann_middle` (the midpoint rule, equal weights at (k + ½)/steps).
 */
export type IntegrationMethod = "gausslegendre" | "riemann_middle";

/** The quadrature rules, the default first. */
export const INTEGRATION_METHODS: readonly IntegrationMethod[] = ["gausslegendre", "riemann_middle"];

/** The default largest number of points per image. */
export const DEFAULT_MAX_STEPS = 256;

/** The default relative completeness error each map is refined to. */
export const DEFAULT_TOLERANCE = 0.05;

/** Options of {@link integratedGradients}. */
export interface IntegratedGradientsOptions {
  /**
   * Points on the path tried first (default 32); an image whose map misses the `tolerance` is computed again
   * with more points (2–4 times as many, as its error suggests), up to `maxSteps`.
   */
  steps?: number;
  /** Quadrature rule (default `gausslegendre`, as in Captum). */
  method?: IntegrationMethod;
  /**
   * Relative completeness error to reach per image: |Σ attributions − (f(x) − f(baseline))| / |f(x) −
   * f(baseline)| (default 0.05).
   */
  tolerance?: number;
  /**
   * Most points per image (a whole number ≥ `steps`; default 256, or `steps` if larger). `maxSteps` equal to
   * `steps` gives every image exactly `steps` points and computes no error (as Captum does).
   */
  maxSteps?: number;
  /** Baseline pixel value (default 0, black). */
  baseline?: number;
  /** Max of absolute values over channels (true) or the signed sum (false, the default). */
  absolute?: boolean;
  /** Most model inputs per backward pass (default 256; fewer when the device or the memory budget needs it). */
  batchSize?: number;
}

/** The maps of {@link integratedGradientsWithReport} and, per map, how accurate they are. */
export interface IntegratedGradientsReport {
  /** The maps `[n,H,W]`, as {@link integratedGradients} gives them. */
  maps: tf.Tensor3D;
  /** Points on the path of each map kept (an image may have been tried with more, see `completenessError`). */
  steps: number[];
  /**
   * Each map's relative completeness error |Σ attributions − gap| / |gap|, with gap = f(x) − f(baseline) for
   * its target and the attributions summed over pixels and channels before `absolute` (a gap under 1e-6 in
   * size counts as 1e-6).
   */
  completenessError: number[];
  /** Each image's f(x) − f(baseline) for its target. */
  gap: number[];
}

/**
 * Gauss–Legendre nodes (ascending) and weights of the `n`-point rule on [0, 1], in double precision: the
 * roots of the Legendre polynomial P_n found by Newton's method, and w = 1 / ((1 − x²) P_n′(x)²) on [0, 1].
 * The rule integrates polynomials of degree up to 2n − 1 exactly.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * const { nodes, weights } = gaussLegendre(2);
 * // The 2-point rule: (1 ∓ 1/√3) / 2, each with weight ½.
 * assert.ok(Math.abs(nodes[0] - (1 - 1 / Math.sqrt(3)) / 2) < 1e-15);
 * assert.ok(Math.abs(weights[0] - 0.5) < 1e-15 && Math.abs(weights[1] - 0.5) < 1e-15);
 * // Exact for t³: ∫₀¹ t³ dt = ¼.
 * assert.ok(Math.abs(weights[0] * nodes[0] ** 3 + weights[1] * nodes[1] ** 3 - 0.25) < 1e-15);
 * ```
 */
export function gaussLegendre(n: number): { nodes: Float64Array; weights: Float64Array } {
  if (!Number.isInteger(n) || n < 1) {
    throw new HansError(`Gauss–Legendre: ${n} points is not a whole number ≥ 1.`);
  }
  const nodes = new Float64Array(n);
  const weights = new Float64Array(n);
  // P_n(x) and P_n′(x) by the three-term recurrence (k + 1) P_{k+1} = (2k + 1) x P_k − k P_{k−1}.
  const legendre = (x: number): [number, number] => {
    let p0 = 1, p1 = x;
    for (let k = 1; k < n; k++) [p0, p1] = [p1, ((2 * k + 1) * x * p1 - k * p0) / (k + 1)];
    return [p1, (n * (x * p1 - p0)) / (x * x - 1)];
  };
  for (let i = 0; i < Math.ceil(n / 2); i++) {
    // The i-th largest root of P_n lies near cos(π (i + ¾) / (n + ½)); Newton converges quadratically from there.
    let x = Math.cos((Math.PI * (i + 0.75)) / (n + 0.5));
    for (let iter = 0; iter < 100; iter++) {
      const [p, dp] = legendre(x);
      const dx = p / dp;
      x -= dx;
      if (Math.abs(dx) <= 1e-15) break;
    }
    const dp = legendre(x)[1];
    const w = 1 / ((1 - x * x) * dp * dp); // 2 / ((1 − x²) P_n′²) on [−1, 1], halved for [0, 1]
    nodes[i] = (1 - x) / 2;
    nodes[n - 1 - i] = (1 + x) / 2;
    weights[i] = w;
    weights[n - 1 - i] = w;
  }
  return { nodes, weights };
}

/** Nodes on [0, 1] and weights (summing to 1) of an integration method with `steps` points. */
export function quadrature(
  method: IntegrationMethod,
  steps: number,
): { nodes: Float64Array; weights: Float64Array } {
  if (method === "gausslegendre") return gaussLegendre(steps);
  return {
    nodes: Float64Array.from({ length: steps }, (_, k) => (k + 0.5) / steps),
    weights: new Float64Array(steps).fill(1 / steps),
  };
}

/**
 * Integrated Gradients maps `[n,H,W]`; signed sum over channels by default, so they sum to the score gap.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import { fromLayersModel } from "./explainable_model.ts";
 *
 * await tf.setBackend("cpu");
 * const layers = [tf.layers.flatten({ inputShape: [4, 4, 1] }), tf.layers.dense({ units: 3 })];
 * const model = fromLayersModel(tf.sequential({ layers }));
 * const x = tf.randomUniform([1, 4, 4, 1]) as tf.Tensor4D;
 * const maps = await integratedGradients(model, x, [1], { steps: 4 });
 * // Completeness: the map sums to f(x) − f(baseline), here logit 1 at x minus logit 1 at a black image.
 * const [fx, f0] = tf.tidy(() => [x, tf.zerosLike(x)].map((t) => model.logits(t).dataSync()[1]));
 * const total = tf.tidy(() => maps.sum().dataSync()[0]);
 * assert.ok(Math.abs(total - (fx - f0)) < 1e-4);
 * tf.dispose([x, maps]);
 * ```
 */
export async function integratedGradients(
  model: ExplainableModel,
  images: tf.Tensor4D,
  target: Target,
  options: IntegratedGradientsOptions = {},
): Promise<tf.Tensor3D> {
  options = checkOptions(integratedGradientsMethod, options);
  const steps = options.steps ?? 32;
  if ((options.maxSteps ?? Math.max(DEFAULT_MAX_STEPS, steps)) > steps) {
    return (await integrate(model, images, target, options)).maps;
  }
  const rule = quadrature(options.method ?? "gausslegendre", steps);
  const batchSize = await inputsPerPass(model, images, {
    kind: "backward",
    requested: options.batchSize ?? DEFAULT_INPUTS_PER_PASS,
    label: "Integrated Gradients",
  });
  const chunkImages = Math.max(1, Math.floor(batchSize / steps));
  return await reportedChunks(images, chunkImages, "Integrated Gradients", (x, start, end) => {
    const w = targetWeights(sliceTarget(target, start, end), model.classes);
    const a = pathAttributions(model, x, w, options.baseline ?? 0, options.method, rule, batchSize);
    return reduceChannels(a, options.absolute ?? false);
  });
}

/**
 * Integrated Gradients maps with, per map, the steps it used and its relative completeness error (see
 * {@link IntegratedGradientsReport}). Costs one forward pass per image more than {@link integratedGradients}
 * (for f(x) and f(baseline)). An image whose error is within the `tolerance` after `steps` points stops
 * there; the others are computed again with more points (new nodes: Gauss–Legendre nodes do not nest): the
 * error times the points over the tolerance (the quadrature error of a ReLU net's piecewise-constant gradient
 * falls about as 1/points), rounded up to a power of 2 and kept within 2–4 times the points before, up to
 * `maxSteps`. An image that never gets within the tolerance keeps the map of smallest error among those tried
 * (the error does not always fall with more points), and its report says how far off that map is and how many
 * points it used.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import { fromLayersModel } from "./explainable_model.ts";
 *
 * await tf.setBackend("cpu");
 * const layers = [tf.layers.flatten({ inputShape: [4, 4, 1] }), tf.layers.dense({ units: 3, activation: "tanh" })];
 * const model = fromLayersModel(tf.sequential({ layers }));
 * const x = tf.randomUniform([2, 4, 4, 1]) as tf.Tensor4D;
 * const report = await integratedGradientsWithReport(model, x, [0, 2], { tolerance: 1e-3, steps: 8 });
 * assert.deepEqual(report.maps.shape, [2, 4, 4]);
 * assert.ok(report.completenessError.every((e) => e <= 1e-3));
 * assert.ok(report.steps.every((s) => s >= 8 && s <= 256)); // starts at 8 points, at most 256
 * tf.dispose([x, report.maps]);
 * ```
 */
export function integratedGradientsWithReport(
  model: ExplainableModel,
  images: tf.Tensor4D,
  target: Target,
  options: IntegratedGradientsOptions = {},
): Promise<IntegratedGradientsReport> {
  return integrate(model, images, target, checkOptions(integratedGradientsMethod, options));
}

/** Attributions `[m,H,W,C]` of a chunk: (x − baseline) ⊙ Σ_k w_k ∇f(baseline + t_k (x − baseline)). */
function pathAttributions(
  model: ExplainableModel,
  x: tf.Tensor4D,
  w: tf.Tensor2D,
  baseline: number,
  method: IntegrationMethod | undefined,
  rule: { nodes: Float64Array; weights: Float64Array },
  batchSize: number,
): tf.Tensor4D {
  return tf.tidy(() => {
    const steps = rule.nodes.length;
    const delta = tf.sub(x, baseline);
    const alphas = tf.tensor1d(Float32Array.from(rule.nodes));
    // The midpoint rule's weights are all 1/steps: sum the gradients and divide once.
    const uniform = method === "riemann_middle";
    const { sum } = sampledGradients(
      model,
      x,
      w,
      steps,
      (k0, k1) => {
        const a = alphas.slice(k0, k1 - k0).reshape([k1 - k0, 1, 1, 1, 1]);
        const path = tf.add(tf.mul(a, delta.expandDims(0)), baseline);
        return path.reshape([(k1 - k0) * x.shape[0], ...x.shape.slice(1)]) as tf.Tensor4D;
      },
      batchSize,
      false,
      uniform ? undefined : rule.weights,
    );
    return tf.mul(delta, uniform ? tf.div(sum, steps) : sum) as tf.Tensor4D;
  });
}

/**
 * The points to try after `steps` missed the tolerance with relative error `error`: `steps · error / tolerance` (the error of a piecewise-constant integrand falls about as
 * 1/points), rounded up to a power of 2, within 2–4 times `steps`, at most `maxSteps`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * assert.equal(nextSteps(32, 0.28, 0.05, 256), 128); // 179 wanted: at most 4 times as many
 * assert.equal(nextSteps(32, 0.06, 0.05, 256), 64); // at least twice as many
 * assert.equal(nextSteps(128, 0.5, 0.05, 256), 256); // never above maxSteps
 * ```
 */
export function nextSteps(steps: number, error: number, tolerance: number, maxSteps: number): number {
  const wanted = 2 ** Math.ceil(Math.log2(Math.max(1, (steps * error) / tolerance)));
  return Math.min(maxSteps, Math.max(2 * steps, Math.min(4 * steps, wanted)));
}

/**
 * Backward passes one image's map may take at most with `steps` points first and at most `maxSteps`: the sum of
 * the point counts tried when every try misses the tolerance by far ({@link nextSteps} at 4 times the points).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * assert.equal(worstCasePasses(32, 256), 32 + 128 + 256);
 * assert.equal(worstCasePasses(32, 32), 32); // no refinement
 * ```
 */
export function worstCasePasses(steps: number, maxSteps: number): number {
  let total = steps;
  for (let s = steps; s < maxSteps;) {
    s = nextSteps(s, Infinity, 1, maxSteps);
    total += s;
  }
  return total;
}

/** Smallest |f(x) − f(baseline)| the relative completeness error divides by. */
const GAP_FLOOR = 1e-6;

async function integrate(
  model: ExplainableModel,
  images: tf.Tensor4D,
  target: Target,
  options: IntegratedGradientsOptions,
): Promise<IntegratedGradientsReport> {
  const method = options.method ?? "gausslegendre";
  const baseline = options.baseline ?? 0;
  const batchSize = await inputsPerPass(model, images, {
    kind: "backward",
    requested: options.batchSize ?? DEFAULT_INPUTS_PER_PASS,
    label: "Integrated Gradients",
  });
  const tolerance = options.tolerance ?? DEFAULT_TOLERANCE;
  const first = options.steps ?? 32;
  const maxSteps = options.maxSteps ?? Math.max(DEFAULT_MAX_STEPS, first);
  const n = images.shape[0];
  const chunkImages = Math.max(1, Math.floor(batchSize / first));
  const steps = new Array<number>(n).fill(0);
  const completenessError = new Array<number>(n).fill(0);
  const gap = new Array<number>(n).fill(0);
  const rules = new Map<number, { nodes: Float64Array; weights: Float64Array }>();
  const rule = (s: number) => {
    if (!rules.has(s)) rules.set(s, quadrature(method, s));
    return rules.get(s)!;
  };
  const chunks: tf.Tensor3D[] = [];
  let mapsDone = 0;
  try {
    for (let start = 0; start < n; start += chunkImages) {
      const end = Math.min(n, start + chunkImages);
      const m = end - start;
      const x = images.slice([start, 0, 0, 0], [m, -1, -1, -1]);
      const w = targetWeights(sliceTarget(target, start, end), model.classes);
      const parts: { maps: tf.Tensor3D; index: number[] }[] = [];
      const best = new Map<number, { map: tf.Tensor3D; error: number; steps: number }>();
      try {
        // f(x) − f(baseline) per image: one forward pass over the chunk and a single baseline image.
        const gapChunk = tf.tidy(() => {
          const base = tf.fill([1, x.shape[1], x.shape[2], x.shape[3]], baseline) as tf.Tensor4D;
          const logits = model.logits(tf.concat([x, base]) as tf.Tensor4D);
          const diff = tf.sub(logits.slice([0, 0], [m, -1]), logits.slice([m, 0], [1, -1]));
          return tf.sum(tf.mul(diff, w), 1);
        });
        const gaps = await gapChunk.data();
        gapChunk.dispose();
        // Each image's points depend on its own errors only, so the maps do not depend on the batching.
        let open = Array.from({ length: m }, (_, i) => i);
        const nextOf = new Array<number>(m).fill(first);
        while (open.length > 0) {
          const s = Math.min(...open.map((i) => nextOf[i]));
          const group = open.filter((i) => nextOf[i] === s);
          const all = group.length === m;
          const idx = all ? undefined : tf.tensor1d(group, "int32");
          const xa = idx ? tf.gather(x, idx) as tf.Tensor4D : x;
          const wa = idx ? tf.gather(w, idx) as tf.Tensor2D : w;
          const a = pathAttributions(model, xa, wa, baseline, method, rule(s), batchSize);
          if (idx) tf.dispose([idx, xa, wa]);
          const totalsTensor = tf.sum(a, [1, 2, 3]);
          const totals = await totalsTensor.data();
          totalsTensor.dispose();
          // Each image keeps its best map so far: more points usually lower the error, but not always.
          const reduced = reduceChannels(a, options.absolute ?? false);
          a.dispose();
          const done: number[] = [];
          group.forEach((i, j) => {
            const g = gaps[i];
            const error = Math.abs(totals[j] - g) / Math.max(Math.abs(g), GAP_FLOOR);
            const kept = best.get(i);
            if (!kept || error < kept.error) {
              kept?.map.dispose();
              best.set(i, { map: reduced.slice([j, 0, 0], [1, -1, -1]), error, steps: s });
            }
            if (error <= tolerance || s >= maxSteps) done.push(j);
            else nextOf[i] = nextSteps(s, error, tolerance, maxSteps);
          });
          reduced.dispose();
          for (const j of done) {
            const i = group[j];
            const kept = best.get(i)!;
            best.delete(i);
            steps[start + i] = kept.steps;
            completenessError[start + i] = kept.error;
            gap[start + i] = gaps[i];
            parts.push({ maps: kept.map, index: [i] });
          }
          const finished = new Set(done.map((j) => group[j]));
          open = open.filter((i) => !finished.has(i));
          mapsDone += done.length;
          await reportProgress(mapsDone, n, "Integrated Gradients");
        }
        // Back in the images' order.
        chunks.push(tf.tidy(() => {
          const order = parts.flatMap((p) => p.index);
          const joined = parts.length === 1 ? parts[0].maps : tf.concat(parts.map((p) => p.maps));
          if (order.every((i, k) => i === k)) return joined.clone();
          const where = new Int32Array(m);
          order.forEach((i, k) => (where[i] = k));
          return tf.gather(joined, tf.tensor1d(where, "int32")) as tf.Tensor3D;
        }));
      } finally {
        parts.forEach((p) => p.maps.dispose());
        best.forEach((b) => b.map.dispose());
        tf.dispose([x, w]);
      }
    }
  } catch (e) {
    chunks.forEach((c) => c.dispose());
    throw e;
  }
  if (chunks.length === 1) return { maps: chunks[0], steps, completenessError, gap };
  const maps = tf.concat(chunks, 0);
  chunks.forEach((c) => c.dispose());
  return { maps, steps, completenessError, gap };
}

/** Integrated Gradients as a registered method (`explain("integrated_gradients", …)`). */
export const integratedGradientsMethod: MethodDescriptor<"integrated_gradients", IntegratedGradientsOptions> =
  {
    name: "integrated_gradients",
    label: "Integrated Gradients",
    signed: true,
    description:
      "32 Gauss–Legendre points on the path from a black baseline, more (up to 256) until the map " +
      "sums to f(x) − f(baseline) within 5%",
    attribution: true,
    cost: "path",
    options: {
      steps: wholeNumber("points on the path tried first (default 32)", 1),
      method: oneOf("quadrature rule (default gausslegendre)", INTEGRATION_METHODS),
      tolerance: finiteNumber("relative completeness error to reach per image (default 0.05)", { above: 0 }),
      maxSteps: wholeNumber("most points per image (default 256, or steps if larger)", 1),
      baseline: finiteNumber("baseline pixel value (default 0, black)"),
      absolute: flag("max of |value| over channels (true) or the signed sum (false, the default)"),
      batchSize: batchSize(),
    },
    // Quick starts at 8 points and stops refining at 64: at 224×224 the refinement to 256 took most of a
    // quick run (docs/real-size.md).
    presets: { quick: { steps: 8, maxSteps: 64 } },
    checkTogether: ({ steps, maxSteps }) => {
      if (maxSteps !== undefined && maxSteps < (steps ?? 1)) {
        throw new HansError(
          `integrated_gradients option maxSteps must be a whole number ≥ steps (${
            steps ?? 1
          }); got ${maxSteps}.`,
        );
      }
    },
    passes: (o) => {
      const steps = o.steps ?? 32;
      return {
        forward: 1,
        backward: worstCasePasses(steps, o.maxSteps ?? Math.max(DEFAULT_MAX_STEPS, steps)),
      };
    },
    // Fewer points at most, below any maxSteps given (the quick preset's 64 too): 128, 64, 32, then `steps`.
    cheaper: (o) => {
      const steps = o.steps ?? 32;
      const max = o.maxSteps ?? Math.max(DEFAULT_MAX_STEPS, steps);
      return [...new Set([128, 64, 32, steps])].filter((m) => m >= steps && m < max).map((maxSteps) => ({
        ...o,
        maxSteps,
      }));
    },
    linearInTarget: (o) => !(o.absolute ?? false),
    defaults: () => ({
      steps: 32,
      maxSteps: DEFAULT_MAX_STEPS,
      tolerance: DEFAULT_TOLERANCE,
      method: "gausslegendre",
      baseline: 0,
      absolute: false,
    }),
    explain: integratedGradients,
    explainReport: async (model, images, target, options) => {
      const { maps, steps, completenessError, gap } = await integratedGradientsWithReport(
        model,
        images,
        target,
        options,
      );
      return { maps, report: { steps, completenessError, gap } };
    },
  };
