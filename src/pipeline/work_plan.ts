/**
 * The time plan of a run that explains many images with many methods: what each method costs per image on this
 * model and machine (from timed passes and each method's pass count), how many images each method gets within
 * a time budget, and progress lines with an estimate of the time left. On a 28×28 CNN every method studies
 * every image in seconds; on a 224×224 MobileNetV2 on two CPU cores one image of occlusion or Integrated
 * Gradients takes minutes, so without a plan a default run would take hours and say nothing until the end.
 * @module
 */
import { tf } from "../deps.ts";
import type { ExplainableModel } from "../explain/explainable_model.ts";
import { inputGradients, inputsPerPass } from "../explain/batching.ts";
import type { MethodInfo, MethodLeftOut } from "../explain/registry.ts";
import { targetWeights } from "../explain/target.ts";
import { forwardEngineOf, onEngine, onForwardEngine } from "../model/forward_engine.ts";

/** Seconds per image of one pass of each kind, measured on the model. */
export interface PassSeconds {
  /** A forward pass on the active backend. */
  forward: number;
  /** A forward pass on the engine that runs forward-only methods (wasm where it measured faster). */
  engineForward: number;
  /** A backward pass (the input gradient), on the engine gradient methods run on (wasm where it measured faster). */
  backward: number;
  /** A forward pass on the engine gradient methods run on. */
  gradientForward: number;
}

/** Seconds of one run of `fn` after one untimed run (which compiles what it needs). */
async function timed(fn: () => tf.Tensor): Promise<number> {
  const run = async () => {
    const t = fn();
    await t.data();
    t.dispose();
  };
  await run();
  const start = performance.now();
  await run();
  return (performance.now() - start) / 1000;
}

/**
 * Times a forward and a backward pass of `model` on the first images of `x` (as many as one pass takes, at
 * most 4), after an untimed run of each: forward on the active backend, and on the engine forward-only methods
 * run on (the slower of that and the engine's own probe, `forwardEngineOf`); backward and forward on the
 * engine gradient methods run on.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import { fromLayersModel } from "../explain/explainable_model.ts";
 *
 * await tf.setBackend("cpu");
 * const net = tf.sequential({
 *   layers: [tf.layers.flatten({ inputShape: [4, 4, 1] }), tf.layers.dense({ units: 3, kernelInitializer: "ones" })],
 * });
 * const model = fromLayersModel(net); // logits: three times the sum of the pixels, each
 * const x = tf.ones([2, 4, 4, 1]) as tf.Tensor4D;
 * const seconds = await measurePassSeconds(model, x);
 * console.log(`one input gradient takes ${seconds.backward.toFixed(4)} s per image`);
 * assert.ok(seconds.forward > 0 && seconds.backward > 0);
 * tf.dispose(x);
 * net.dispose();
 * ```
 */
export async function measurePassSeconds(model: ExplainableModel, x: tf.Tensor4D): Promise<PassSeconds> {
  const slice = async (kind: "forward" | "backward") => {
    const n = Math.min(x.shape[0], 4, await inputsPerPass(model, x, { kind, requested: 4 }));
    return x.slice([0, 0, 0, 0], [n, -1, -1, -1]);
  };
  const xf = await slice("forward");
  const nf = xf.shape[0];
  const forward = await timed(() => tf.tidy(() => model.logits(xf))) / nf;
  // On the engine forward-only methods run on (wasm where it measured faster), the slower of its probe and this.
  const engine = await onForwardEngine(
    model,
    xf,
    async (xe) => await timed(() => tf.tidy(() => model.logits(xe))),
  );
  xf.dispose();
  const xb = await slice("backward");
  const nb = xb.shape[0];
  // On the engine gradient methods run on: a backward pass, and a forward one (their forward work).
  const [backward, gradientForward] = await onEngine("gradient", model, xb, async (xe) => {
    const w = targetWeights(new Array(nb).fill(0), model.classes);
    try {
      return [
        await timed(() => inputGradients(model, xe, w)) / nb,
        await timed(() => tf.tidy(() => model.logits(xe))) / nb,
      ];
    } finally {
      w.dispose();
    }
  });
  xb.dispose();
  const choice = forwardEngineOf(model);
  const rate = choice?.imagesPerSecond[choice.engine];
  return { forward, engineForward: Math.max(engine / nf, rate ? 1 / rate : 0), backward, gradientForward };
}

/**
 * Estimated seconds for the maps of one image for `targets` targets (and for `extraForward` forward passes
 * per image the run adds, such as a removal test): the method's pass count for its options and the image size
 * ({@link MethodInfo.passes}) times the measured pass times. Methods that share passes between targets count
 * them once; a method linear in the target computes a contrast from the maps of P and Q.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { method } from "../explain/registry.ts";
 *
 * const seconds = { forward: 0.2, engineForward: 0.05, backward: 1, gradientForward: 0.2 };
 * // Integrated Gradients, 32 points and no refinement: P and Q (the contrast is their difference), and a
 * // forward pass each for the gap f(x) − f(baseline).
 * const ig = methodSeconds(method("integrated_gradients"), { maxSteps: 32 }, [224, 224, 3], seconds, 3);
 * assert.equal(ig, 2 * (32 + 0.2));
 * ```
 */
export function methodSeconds(
  info: MethodInfo,
  options: Record<string, unknown>,
  shape: [number, number, number],
  seconds: PassSeconds,
  targets: number,
  extraForward = 0,
): number {
  const passes = info.passes(options, shape);
  const forward = info.usesGradient === false ? seconds.engineForward : seconds.gradientForward;
  const maps = info.explainMany ? 1 : info.linearInTarget?.(options) && targets === 3 ? 2 : targets;
  return maps * (passes.forward * forward + passes.backward * seconds.backward) +
    extraForward * seconds.forward;
}

/** How many images each method studies, and what is left out. */
export interface WorkAllocation {
  /** Images per method (by name), in [1, images]; methods left out are absent. */
  images: Record<string, number>;
  /** Methods that do not fit the budget even on one image, and why. */
  leftOut: MethodLeftOut[];
}

/** "2.4 min", "38 s", "1.2 h": a duration for people. */
export function duration(seconds: number): string {
  if (seconds < 90) return `${Math.max(0, seconds).toPrecision(seconds < 10 ? 2 : 3).replace(/\.0+$/, "")} s`;
  if (seconds < 5400) return `${(seconds / 60).toFixed(1)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

/**
 * Splits `budgetSeconds` between methods that cost `secondsPerImage` each, so that they share it evenly: every
 * method studies as many of the `images` as a common time level L pays for (`min(images, ⌊L / cost⌋)`), L as
 * high as the budget allows, so the cheap methods study every image and the dear ones fewer. What is left
 * below the next level goes, one image at a time, to the methods in their order. A method that cannot pay for
 * one image is left out, with the reason. The methods keep their order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * const costs = [{ name: "gradient", secondsPerImage: 1 }, { name: "occlusion", secondsPerImage: 100 },
 *   { name: "integrated_gradients", secondsPerImage: 30 }];
 * const plan = allocateImages(costs, 10, 100);
 * // Gradient takes all 10 images (10 s); the highest level the rest pays for gives IG 3 images (90 s), and
 * // occlusion would need 100 s for one.
 * assert.deepEqual(plan.images, { gradient: 10, integrated_gradients: 3 });
 * assert.equal(plan.leftOut[0].name, "occlusion");
 * ```
 */
export function allocateImages(
  costs: { name: string; secondsPerImage: number }[],
  images: number,
  budgetSeconds: number,
): WorkAllocation {
  const budget = Math.max(0, budgetSeconds);
  const cost = (c: { secondsPerImage: number }) => Math.max(c.secondsPerImage, 1e-9);
  const count = (level: number, c: { secondsPerImage: number }) =>
    Math.min(images, Math.floor(level / cost(c)));
  const spent = (level: number) => costs.reduce((t, c) => t + count(level, c) * cost(c), 0);
  // The highest level the budget pays for: spent() rises with it, so halve the interval 60 times.
  let [lo, hi] = [0, Math.max(0, ...costs.map((c) => images * cost(c)))];
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    if (spent(mid) <= budget) lo = mid;
    else hi = mid;
  }
  const out: WorkAllocation = { images: {}, leftOut: [] };
  let left = budget - spent(lo);
  for (const c of costs) {
    let n = count(lo, c);
    if (n < images && cost(c) <= left) {
      n++;
      left -= cost(c);
    }
    if (n >= 1) out.images[c.name] = n;
    else {
      out.leftOut.push({
        name: c.name,
        reason: `one image takes about ${duration(c.secondsPerImage)} here and an even share of the time ` +
          `budget is ${duration(lo)}; raise --budget or name it alone in --methods`,
      });
    }
  }
  return out;
}

/** A method's cost per image under each of its settings, dearest (as asked) first. */
export interface MethodCosts {
  name: string;
  /** Seconds per image under each setting: the one asked for first, then cheaper ones. */
  secondsPerImage: number[];
}

/** What {@link planImages} decides. */
export interface ImagePlan extends WorkAllocation {
  /** Per method studied, the index of the setting it runs with (0: as asked). */
  setting: Record<string, number>;
}

/** The largest share of the budget one image of one method may take. */
const ONE_IMAGE_SHARE = 1 / 3;

/**
 * Plans a run in two rounds. First every method gets one image, so that every method's maps can be seen and
 * compared: a method whose one image would take more than a third of `budgetSeconds` with the settings asked
 * for runs with the dearest cheaper setting that fits (Integrated Gradients with fewer points at most), and is
 * left out when none does (`oneImageShare`, a third by default); if the methods' first images still do not fit together, the dearest are left out.
 * Then {@link allocateImages} shares the rest of the budget out as further images.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * const plan = planImages([
 *   { name: "gradient", secondsPerImage: [2] },
 *   { name: "integrated_gradients", secondsPerImage: [800, 200, 60] }, // up to 256, 64 or 32 points
 * ], 16, 600);
 * // IG's one image may take 200 s (a third of 600): it runs with its second setting; gradient studies all 16.
 * assert.deepEqual(plan.setting, { gradient: 0, integrated_gradients: 1 });
 * assert.equal(plan.images.gradient, 16);
 * assert.ok(plan.images.integrated_gradients >= 1);
 * ```
 */
export function planImages(
  methods: MethodCosts[],
  images: number,
  budgetSeconds: number,
  oneImageShare = ONE_IMAGE_SHARE,
): ImagePlan {
  const plan: ImagePlan = { images: {}, leftOut: [], setting: {} };
  if (images < 1) return plan;
  let running: { name: string; cost: number }[] = [];
  for (const m of methods) {
    const index = m.secondsPerImage.findIndex((s) => s <= oneImageShare * budgetSeconds);
    if (index < 0) {
      const cheapest = m.secondsPerImage.at(-1)!;
      plan.leftOut.push({
        name: m.name,
        reason: `one image takes about ${duration(cheapest)} here, more than ${
          oneImageShare < 1 ? "a third of " : ""
        }the time budget left (${duration(budgetSeconds)}); raise --budget or name it alone in --methods`,
      });
      continue;
    }
    plan.setting[m.name] = index;
    running.push({ name: m.name, cost: m.secondsPerImage[index] });
  }
  // The first images of all must fit together: leave the dearest out until they do.
  while (running.length > 0 && running.reduce((t, r) => t + r.cost, 0) > budgetSeconds) {
    const dearest = running.reduce((a, b) => (b.cost > a.cost ? b : a));
    running = running.filter((r) => r !== dearest);
    delete plan.setting[dearest.name];
    plan.leftOut.push({
      name: dearest.name,
      reason: `one image takes about ${duration(dearest.cost)} here and the time budget ` +
        `(${duration(budgetSeconds)}) cannot pay for one image of every method; raise --budget`,
    });
  }
  const first = running.reduce((t, r) => t + r.cost, 0);
  const more = allocateImages(
    running.map((r) => ({ name: r.name, secondsPerImage: r.cost })),
    images - 1,
    budgetSeconds - first,
  );
  for (const r of running) plan.images[r.name] = 1 + (more.images[r.name] ?? 0);
  const order = new Map(methods.map((m, i) => [m.name, i]));
  plan.leftOut.sort((a, b) => order.get(a.name)! - order.get(b.name)!);
  return plan;
}
