/**
 * The method registry: one name, one file, one signature. Users switch methods by changing the name.
 * @module
 */
import { tf } from "../deps.ts";
import { HansError } from "../errors.ts";
import { checkWebgpuErrors, webgpuErrors } from "../backend.ts";
import { activations, type ActivationsOptions } from "./activations.ts";
import { gradCam, type GradCamOptions } from "./grad_cam.ts";
import { gradient, type GradientOptions } from "./gradient.ts";
import { gradientInput, type GradientInputOptions } from "./gradient_input.ts";
import { guidedBackprop, type GuidedBackpropOptions } from "./guided_backprop.ts";
import { guidedGradCam, type GuidedGradCamOptions } from "./guided_grad_cam.ts";
import {
  checkIntegratedGradientsOptions,
  DEFAULT_MAX_STEPS,
  DEFAULT_TOLERANCE,
  integratedGradients,
  type IntegratedGradientsOptions,
  integratedGradientsWithReport,
  worstCasePasses,
} from "./integrated_gradients.ts";
import { lrpAlphaBeta, type LrpAlphaBetaOptions } from "./lrp_alpha_beta.ts";
import { lrpEpsilon, type LrpEpsilonOptions } from "./lrp_epsilon.ts";
import { tensorOnForwardEngine, tensorsOnEngine } from "../model/forward_engine.ts";
import { pickSpatialNode } from "./graph.ts";
import { lrpPlan } from "./lrp.ts";
import type { ExplainableModel } from "./explainable_model.ts";
import {
  occlusion,
  occlusionMany,
  type OcclusionOptions,
  occlusionSettings,
  patchPositions,
} from "./occlusion.ts";
import { rise, riseMany, type RiseOptions } from "./rise.ts";
import { smoothGrad, type SmoothGradOptions } from "./smoothgrad.ts";
import { smoothGradSquared, type SmoothGradSquaredOptions } from "./smoothgrad_sq.ts";
import { isContrast, type Target } from "./target.ts";
import { varGrad, type VarGradOptions } from "./vargrad.ts";

/** Each registered method's options, by name: `explain("rise", model, x, target, { masks: 500 })` is checked. */
export interface MethodOptionsByName {
  gradient: GradientOptions;
  gradient_input: GradientInputOptions;
  smoothgrad: SmoothGradOptions;
  smoothgrad_sq: SmoothGradSquaredOptions;
  vargrad: VarGradOptions;
  integrated_gradients: IntegratedGradientsOptions;
  guided_backprop: GuidedBackpropOptions;
  grad_cam: GradCamOptions;
  guided_grad_cam: GuidedGradCamOptions;
  lrp_epsilon: LrpEpsilonOptions;
  lrp_alpha_beta: LrpAlphaBetaOptions;
  occlusion: OcclusionOptions;
  rise: RiseOptions;
  activations: ActivationsOptions;
}

/** The name of a registered method. */
export type MethodName = keyof MethodOptionsByName;

/**
 * The option names each method takes, for the check at run time (options that come from settings or JSON are
 * not seen by the compiler). Kept beside {@link MethodOptionsByName}; a test compares the two.
 */
export const METHOD_OPTION_KEYS: { [N in MethodName]: readonly (keyof MethodOptionsByName[N])[] } = {
  gradient: ["absolute", "batchSize"],
  gradient_input: ["absolute", "batchSize"],
  smoothgrad: ["samples", "noiseLevel", "inputRange", "batchSize", "seed", "absolute"],
  smoothgrad_sq: ["samples", "noiseLevel", "inputRange", "batchSize", "seed"],
  vargrad: ["samples", "noiseLevel", "inputRange", "batchSize", "seed"],
  integrated_gradients: ["steps", "method", "tolerance", "maxSteps", "baseline", "absolute", "batchSize"],
  guided_backprop: ["absolute", "batchSize"],
  grad_cam: ["layer", "relu", "batchSize"],
  guided_grad_cam: ["layer", "absolute", "batchSize"],
  lrp_epsilon: ["epsilon", "inputRule", "bounds", "maxPooling", "absolute", "batchSize"],
  lrp_alpha_beta: ["alpha", "inputRule", "bounds", "maxPooling", "absolute", "batchSize"],
  occlusion: ["patch", "stride", "baseline", "batchSize"],
  rise: ["masks", "grid", "keep", "score", "center", "seed", "batchSize"],
  activations: ["layer", "absolute", "batchSize"],
};

/** Checks of option values, for the methods that have them (a HansError saying what is wrong). */
const METHOD_OPTION_CHECKS: { [N in MethodName]?: (options: MethodOptionsByName[N]) => void } = {
  integrated_gradients: checkIntegratedGradientsOptions,
};

/**
 * Throws a HansError when `options` has a key method `name` does not take (a typo such as `sample` for
 * `samples` would otherwise be ignored silently), naming the keys it takes, or a value the method cannot take
 * (Integrated Gradients: `steps`, `maxSteps`, `tolerance`, `method`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * checkMethodOptions("rise", { masks: 500 });
 * assert.throws(() => checkMethodOptions("rise", { mask: 500 }), /rise has no option "mask"/);
 * assert.throws(() => checkMethodOptions("integrated_gradients", { tolerance: -1 }), /tolerance -1/);
 * ```
 */
export function checkMethodOptions(name: string, options: Record<string, unknown> | undefined): void {
  if (!options) return;
  const known = METHOD_OPTION_KEYS[name as MethodName] as readonly string[] | undefined;
  if (!known) return;
  const unknown = Object.keys(options).filter((k) => !known.includes(k));
  if (unknown.length > 0) {
    throw new HansError(
      `${name} has no option ${unknown.map((k) => `"${k}"`).join(", ")}; it takes ${known.join(", ")}.`,
    );
  }
  (METHOD_OPTION_CHECKS[name as MethodName] as ((o: unknown) => void) | undefined)?.(options);
}

/** Every method's signature: maps `[n,H,W]` for a batch of images `[n,H,W,C]` and a target per image. */
export type ExplainFunction = (
  model: ExplainableModel,
  images: tf.Tensor4D,
  target: Target,
  // deno-lint-ignore no-explicit-any
  options?: any,
) => Promise<tf.Tensor3D>;

/**
 * Maps for several targets at once (`[n,H,W]` each, in the order of `targets`), sharing work between them: the
 * forward-only methods read every target's score off the same passes.
 */
export type ExplainManyFunction = (
  model: ExplainableModel,
  images: tf.Tensor4D,
  targets: Target[],
  // deno-lint-ignore no-explicit-any
  options?: any,
) => Promise<tf.Tensor3D[]>;

/** What a method says about each map it made, by name: e.g. Integrated Gradients' `completenessError`. */
export type MethodReport = Record<string, number[]>;

/** Model passes of one map of one image (see {@link MethodInfo.passes}). */
export interface MethodPasses {
  /** Forward passes. */
  forward: number;
  /** Backward passes (input gradients). */
  backward: number;
}

/** Options that are not given take these values in the pass counts below. */
const signed = (absoluteByDefault: boolean) => (o: Record<string, unknown>) =>
  !((o.absolute as boolean | undefined) ?? absoluteByDefault);
const backward = (n: number): MethodPasses => ({ forward: 0, backward: n });
const forward = (n: number): MethodPasses => ({ forward: n, backward: 0 });

/** A registered method and how to read its maps. */
export interface MethodInfo {
  /** Registry name, e.g. `integrated_gradients`. */
  name: string;
  /** Name for people, e.g. `Integrated Gradients`. */
  label: string;
  /** True when the default maps are signed (negative = evidence against the target). */
  signed: boolean;
  /** One sentence on what the map shows, with its defaults. */
  description: string;
  /**
   * True for attribution methods (the map says how much each pixel counts for the target); false for maps
   * that ignore the target (activations), which relevance metrics should leave out or label as such.
   */
  attribution: boolean;
  /**
   * What the method needs of the model beyond logits and their gradient: `graph` (Guided Backprop, run through
   * the graph interpreter), `layer` (a 4-D layer inside the graph: Grad-CAM, activations, Guided Grad-CAM),
   * `lrp` (a graph LRP can pass relevance through), or nothing.
   */
  needs?: "graph" | "layer" | "lrp";
  /** False for methods that run the model forward only (occlusion, RISE): they need no gradient. */
  usesGradient?: false;
  /**
   * Model passes one map of one image costs with `options` on images `[height, width, channels]`, for time
   * estimates: forward passes (on the forward engine for forward-only methods, else on the active backend)
   * and backward ones (an input gradient each, about five forward passes' time).
   */
  passes: (options: Record<string, unknown>, shape: [number, number, number]) => MethodPasses;
  /**
   * Cheaper settings to fall back on when a time budget cannot pay for `options`, dearest first (Integrated
   * Gradients: fewer points at most, so less refinement); none by default.
   */
  cheaper?: (options: Record<string, unknown>) => Record<string, unknown>[];
  /**
   * True when the maps are linear in the target with `options` (signed, no ReLU or square after the sum):
   * then the map of "P rather than Q" is the map of P minus the map of Q, and {@link explainTargets} derives
   * it instead of computing it.
   */
  linearInTarget?: (options: Record<string, unknown>) => boolean;
  /**
   * The method's settings when no option is given, for images `[height, width, channels]` (those that depend
   * on the size, such as occlusion's patch, are filled in for it): what a result records as having shaped it.
   * The batch size is left out: the device and the memory budget set it.
   */
  defaults: (shape: [number, number, number], options: Record<string, unknown>) => Record<string, unknown>;
  /** The method itself. */
  explain: ExplainFunction;
  /** The method for several targets sharing its work, where it can (see {@link explainTargets}). */
  explainMany?: ExplainManyFunction;
  /** The method with its report on each map (Integrated Gradients: points used and completeness error). */
  explainReport?: (
    model: ExplainableModel,
    images: tf.Tensor4D,
    target: Target,
    // deno-lint-ignore no-explicit-any
    options?: any,
  ) => Promise<{ maps: tf.Tensor3D; report: MethodReport }>;
}

/**
 * A forward-only method run on the engine `forward_engine.ts` picks for the model (wasm on a software adapter,
 * where it measures faster); its maps come back on the active backend.
 */
function onFastestEngine(fn: ExplainFunction): ExplainFunction {
  return (model, images, target, options) =>
    tensorOnForwardEngine(model, images, (x) => fn(model, x, target, options));
}

/** {@link onFastestEngine} for several targets: the maps travel back stacked, one tensor. */
function manyOnFastestEngine(fn: ExplainManyFunction): ExplainManyFunction {
  return async (model, images, targets, options) => {
    const stacked = await tensorOnForwardEngine(model, images, async (x) => {
      const maps = await fn(model, x, targets, options);
      const out = tf.stack(maps) as tf.Tensor4D;
      tf.dispose(maps);
      return out;
    });
    const maps = tf.unstack(stacked) as tf.Tensor3D[];
    stacked.dispose();
    return maps;
  };
}

/** The registered methods, in the order reports show them. */
export const METHODS: MethodInfo[] = [
  {
    name: "gradient",
    label: "Gradient",
    signed: false,
    description: "max over channels of |∂score/∂x| (Simonyan et al.)",
    attribution: true,
    passes: () => backward(1),
    linearInTarget: signed(true),
    defaults: () => ({ absolute: true }),
    explain: gradient,
  },
  {
    name: "gradient_input",
    label: "Gradient × input",
    signed: true,
    description: "sum over channels of x · ∂score/∂x",
    attribution: true,
    passes: () => backward(1),
    linearInTarget: signed(false),
    defaults: () => ({ absolute: false }),
    explain: gradientInput,
  },
  {
    name: "smoothgrad",
    label: "SmoothGrad",
    signed: false,
    description: "|mean gradient| over 32 noisy copies, noise σ = 15% of the input range",
    attribution: true,
    passes: (o) => backward((o.samples as number | undefined) ?? 32),
    defaults: () => ({ samples: 32, noiseLevel: 0.15, inputRange: [0, 1], seed: 0, absolute: true }),
    explain: smoothGrad,
  },
  {
    name: "smoothgrad_sq",
    label: "SmoothGrad²",
    signed: false,
    description:
      "mean squared gradient over 32 noisy copies, noise σ = 15% of the input range; max over channels",
    attribution: true,
    passes: (o) => backward((o.samples as number | undefined) ?? 32),
    defaults: () => ({ samples: 32, noiseLevel: 0.15, inputRange: [0, 1], seed: 0 }),
    explain: smoothGradSquared,
  },
  {
    name: "vargrad",
    label: "VarGrad",
    signed: false,
    description:
      "variance of the gradient over 32 noisy copies, noise σ = 15% of the input range; max over channels",
    attribution: true,
    passes: (o) => backward((o.samples as number | undefined) ?? 32),
    defaults: () => ({ samples: 32, noiseLevel: 0.15, inputRange: [0, 1], seed: 0 }),
    explain: varGrad,
  },
  {
    name: "integrated_gradients",
    label: "Integrated Gradients",
    signed: true,
    description:
      "32 Gauss–Legendre points on the path from a black baseline, more (up to 256) until the map " +
      "sums to f(x) − f(baseline) within 5%",
    attribution: true,
    passes: (o) => {
      const steps = (o.steps as number | undefined) ?? 32;
      const maxSteps = (o.maxSteps as number | undefined) ?? Math.max(DEFAULT_MAX_STEPS, steps);
      return { forward: 1, backward: worstCasePasses(steps, maxSteps) };
    },
    cheaper: (o) => {
      if (o.maxSteps !== undefined) return [];
      const steps = (o.steps as number | undefined) ?? 32;
      return [128, 64, steps].filter((m) => m >= steps && m < DEFAULT_MAX_STEPS).map((maxSteps) => ({
        ...o,
        maxSteps,
      }));
    },
    linearInTarget: signed(false),
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
  },
  {
    name: "guided_backprop",
    label: "Guided Backprop",
    signed: false,
    description:
      "max over channels of |gradient| with every ReLU (and ReLU6) passing only positive gradients of " +
      "inputs where it is open",
    attribution: true,
    needs: "graph",
    passes: () => backward(1),
    linearInTarget: signed(true),
    defaults: () => ({ absolute: true }),
    explain: guidedBackprop,
  },
  {
    name: "grad_cam",
    label: "Grad-CAM",
    signed: false,
    description:
      "last 4-D layer of at least 2×2 the logits depend on (or --layer), ReLU, bilinear upsampling with " +
      "half-pixel centres",
    attribution: true,
    needs: "layer",
    passes: () => forward(1.5),
    linearInTarget: (o) => o.relu === false,
    defaults: () => ({ relu: true }),
    explain: gradCam,
  },
  {
    name: "guided_grad_cam",
    label: "Guided Grad-CAM",
    signed: false,
    description:
      "Guided Backprop × Grad-CAM (last 4-D layer of at least 2×2, half-pixel bilinear upsampling); max over " +
      "channels of |value|",
    attribution: true,
    needs: "layer",
    passes: () => ({ forward: 1.5, backward: 1 }),
    defaults: () => ({ absolute: true }),
    explain: guidedGradCam,
  },
  {
    name: "lrp_epsilon",
    label: "LRP-ε",
    signed: true,
    description: "z^B-rule on the first layer (pixels in [0, 1]), ε-rule above (ε = 1e-6 × RMS of the " +
      "pre-activations), winner-take-all max pooling; sum over channels",
    attribution: true,
    needs: "lrp",
    passes: () => backward(1.5),
    linearInTarget: signed(false),
    defaults: () => ({
      epsilon: 1e-6,
      inputRule: "zB",
      bounds: [0, 1],
      maxPooling: "winner",
      absolute: false,
    }),
    explain: lrpEpsilon,
  },
  {
    name: "lrp_alpha_beta",
    label: "LRP-α1β0",
    signed: true,
    description: "z^B-rule on the first layer (pixels in [0, 1]), α1β0-rule above (positive contributions " +
      "only), winner-take-all max pooling; sum over channels",
    attribution: true,
    needs: "lrp",
    passes: () => backward(2),
    linearInTarget: signed(false),
    defaults: () => ({ alpha: 1, inputRule: "zB", bounds: [0, 1], maxPooling: "winner", absolute: false }),
    explain: lrpAlphaBeta,
  },
  {
    name: "occlusion",
    label: "Occlusion",
    signed: true,
    description: "mean drop of the score under a 4×4 black patch, stride 2",
    attribution: true,
    usesGradient: false,
    passes: (o, [height, width]) => {
      const { patch, stride } = occlusionSettings(o, [1, height, width]);
      return forward(
        patchPositions(height, patch, stride).length * patchPositions(width, patch, stride).length + 1,
      );
    },
    defaults: (shape, options) => occlusionSettings(options, [1, ...shape]),
    explain: onFastestEngine(occlusion),
    explainMany: manyOnFastestEngine(occlusionMany),
  },
  {
    name: "rise",
    label: "RISE",
    signed: true,
    description:
      "mean of 1000 random masks (7×7 cells kept with p = 0.5, bilinear, shifted) weighted by the " +
      "masked image's score, / p",
    attribution: true,
    usesGradient: false,
    passes: (o) => forward((o.masks as number | undefined) ?? 1000),
    defaults: ([height, width]) => ({
      masks: 1000,
      grid: Math.min(7, height, width),
      keep: 0.5,
      score: "logit",
      center: false,
      seed: 0,
    }),
    explain: onFastestEngine(rise),
    explainMany: manyOnFastestEngine(riseMany),
  },
  {
    name: "activations",
    label: "Activations",
    signed: false,
    description:
      "not an attribution: mean over channels of the last 4-D layer's (at least 2×2) activations, half-pixel " +
      "bilinear upsampling; the target is ignored",
    attribution: false,
    needs: "layer",
    passes: () => forward(1),
    defaults: () => ({ absolute: false }),
    explain: activations,
  },
];

/**
 * The method called `name`; throws a HansError listing the valid names.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * assert.equal(method("integrated_gradients").label, "Integrated Gradients");
 * assert.equal(method("occlusion").usesGradient, false); // forward passes only
 * assert.throws(() => method("gradcam"), /unknown saliency method "gradcam"/);
 * ```
 */
export function method(name: string): MethodInfo {
  const found = METHODS.find((m) => m.name === name);
  if (!found) {
    throw new HansError(
      `unknown saliency method "${name}"; use one of ${METHODS.map((m) => m.name).join(", ")}.`,
    );
  }
  return found;
}

/**
 * Runs the method `name` on `images` for `target`: the one entry point for every method. The options are
 * typed by the name, and checked at run time too (an unknown key is a HansError).
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
 * const x = tf.randomUniform([2, 4, 4, 1]) as tf.Tensor4D;
 * const maps = await explain("rise", model, x, [0, 2], { masks: 8 });
 * assert.deepEqual(maps.shape, [2, 4, 4]);
 * tf.dispose([x, maps]);
 * ```
 */
export async function explain<N extends MethodName>(
  name: N,
  model: ExplainableModel,
  images: tf.Tensor4D,
  target: Target,
  options?: MethodOptionsByName[N],
): Promise<tf.Tensor3D> {
  checkMethodOptions(name, options as Record<string, unknown> | undefined);
  const info = method(name);
  const [maps] = await checkedMaps(
    info,
    () => onGradientEngine(info, model, images, async (x) => [await info.explain(model, x, target, options)]),
  );
  return maps;
}

/**
 * Runs a gradient method's `compute` on the engine `forward_engine.ts` picks for the model's input gradients
 * (wasm on a software adapter, where it measures faster); its maps come back on the active backend.
 * Forward-only methods run as they are (they pick their own engine).
 */
async function onGradientEngine(
  info: MethodInfo,
  model: ExplainableModel,
  images: tf.Tensor4D,
  compute: (x: tf.Tensor4D) => Promise<tf.Tensor3D[]>,
): Promise<tf.Tensor3D[]> {
  if (info.usesGradient === false) return await compute(images);
  const [maps] = await tensorsOnEngine("gradient", model, images, async (x) => [await compute(x), undefined]);
  return maps;
}

/**
 * Runs `compute` and, on WebGPU, reads its maps back and checks that the device reported no error meanwhile:
 * tfjs goes on with zeros after a failed dispatch, so maps made then are wrong. They are released and a
 * HansError names the method and the device's message.
 */
async function checkedMaps(info: MethodInfo, compute: () => Promise<tf.Tensor3D[]>): Promise<tf.Tensor3D[]> {
  if (tf.getBackend() !== "webgpu") return await compute();
  const before = (await webgpuErrors()).count;
  const maps = await compute();
  try {
    await Promise.all(maps.map((m) => m.data()));
    await checkWebgpuErrors(before, info.label, ", so its maps were dropped");
  } catch (e) {
    tf.dispose(maps);
    throw e;
  }
  return maps;
}

/** What {@link explainTargets} gives: per target, its maps and what the method reports about them. */
export interface TargetMaps {
  /** Maps `[n,H,W]`, one tensor per target, in the order of the targets. */
  maps: tf.Tensor3D[];
  /** Per target, the method's report on each map (see {@link MethodInfo.explainReport}), where it has one. */
  reports: (MethodReport | undefined)[];
  /** Per target, true when its maps were derived from other targets' (a contrast as P − Q). */
  derived: boolean[];
}

/** True when two class targets name the same class for every image. */
function sameClasses(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  return a.length === b.length && Array.from(a).every((c, i) => c === b[i]);
}

/**
 * Maps of method `name` for each of `targets` (e.g. class P, class Q and the contrast `{p, q}`), sharing work
 * where the method allows: occlusion and RISE read every target off one set of forward passes; a method whose
 * maps are linear in the target (Integrated Gradients, gradient × input, LRP; see
 * {@link MethodInfo.linearInTarget}) gets the contrast as the map of P minus the map of Q when both are among
 * the targets. Otherwise the targets run one after the other, so only one call holds memory at a time.
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
 * const x = tf.randomUniform([2, 4, 4, 1]) as tf.Tensor4D;
 * const p = [0, 1];
 * const q = [2, 2];
 * const { maps, derived } = await explainTargets("gradient_input", model, x, [p, q, { p, q }]);
 * assert.deepEqual(derived, [false, false, true]); // signed and linear: P − Q, no third pass
 * const direct = await explainTargets("gradient_input", model, x, [{ p, q }]);
 * assert.ok(tf.tidy(() => tf.sub(maps[2], direct.maps[0]).abs().max().dataSync()[0]) < 1e-5);
 * tf.dispose([x, ...maps, ...direct.maps]);
 * ```
 */
export async function explainTargets<N extends MethodName>(
  name: N,
  model: ExplainableModel,
  images: tf.Tensor4D,
  targets: Target[],
  options?: MethodOptionsByName[N],
): Promise<TargetMaps> {
  checkMethodOptions(name, options as Record<string, unknown> | undefined);
  const info = method(name);
  const given = (options ?? {}) as Record<string, unknown>;
  const derived = targets.map(() => false);
  if (info.explainMany) {
    const maps = await checkedMaps(info, () => info.explainMany!(model, images, targets, options));
    return { maps, reports: targets.map(() => undefined), derived };
  }
  // A contrast whose P and Q are both class targets here is their difference, when the method is linear.
  const parts = targets.map((t) => {
    if (!isContrast(t) || !info.linearInTarget?.(given)) return undefined;
    const at = (classes: ArrayLike<number>) =>
      targets.findIndex((u) => !isContrast(u) && sameClasses(u as ArrayLike<number>, classes));
    const [p, q] = [at(t.p), at(t.q)];
    return p >= 0 && q >= 0 ? [p, q] : undefined;
  });
  const reports: (MethodReport | undefined)[] = targets.map(() => undefined);
  const computed = await checkedMaps(info, () =>
    onGradientEngine(info, model, images, async (x) => {
      const maps: (tf.Tensor3D | undefined)[] = targets.map(() => undefined);
      try {
        for (let i = 0; i < targets.length; i++) {
          if (parts[i]) continue;
          if (info.explainReport) {
            const out = await info.explainReport(model, x, targets[i], options);
            [maps[i], reports[i]] = [out.maps, out.report];
          } else {
            maps[i] = await info.explain(model, x, targets[i], options);
          }
        }
        parts.forEach((pq, i) => {
          if (!pq) return;
          maps[i] = tf.sub(maps[pq[0]]!, maps[pq[1]]!) as tf.Tensor3D;
          derived[i] = true;
        });
      } catch (e) {
        tf.dispose(maps.filter((m) => m !== undefined) as tf.Tensor3D[]);
        throw e;
      }
      return maps as tf.Tensor3D[];
    }));
  return { maps: computed, reports, derived };
}

/**
 * Each method's settings in a run: its defaults for images of `data`'s size (see {@link MethodInfo.defaults})
 * overridden by the options given, by method name. What metrics.json records as the settings that shaped the
 * maps.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * const settings = resolvedOptions([method("occlusion")], {}, { height: 224, width: 224, channels: 3 });
 * assert.deepEqual(settings.occlusion, { patch: 16, stride: 8, baseline: 0 });
 * ```
 */
export function resolvedOptions(
  methods: MethodInfo[],
  given: Record<string, Record<string, unknown> | undefined>,
  data: { height: number; width: number; channels: number },
): Record<string, Record<string, unknown>> {
  const shape: [number, number, number] = [data.height, data.width, data.channels];
  return Object.fromEntries(
    methods.map((m) => [m.name, { ...m.defaults(shape, given[m.name] ?? {}), ...given[m.name] }]),
  );
}

/** A method left out of a run, and why. */
export interface MethodLeftOut {
  /** Registry name. */
  name: string;
  /** Why it cannot run on the model. */
  reason: string;
}

/**
 * Why method `info` cannot run on `model` (with `options`, e.g. a `layer`), or undefined when it can. Costs no
 * model run: it checks the model's graph, the layer and, for LRP, canonizes the graph once.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import { fromLayersModel } from "./explainable_model.ts";
 *
 * await tf.setBackend("cpu");
 * const layers = [tf.layers.flatten({ inputShape: [4, 4, 1] }), tf.layers.dense({ units: 3 })];
 * const model = fromLayersModel(tf.sequential({ layers })); // no conv or pooling layer
 * assert.equal(await unavailable(method("gradient"), model), undefined);
 * const why = await unavailable(method("grad_cam"), model);
 * assert.match(why ?? "", /needs a layer with a 4-D output/);
 * ```
 */
export async function unavailable(
  info: MethodInfo,
  model: ExplainableModel,
  options: Record<string, unknown> = {},
  noGradient?: string,
): Promise<string | undefined> {
  if (noGradient && info.usesGradient !== false) return noGradient;
  if (!info.needs) return undefined;
  if (!model.graph) {
    return `it looks inside the model, which hans could not read as a graph: ${
      model.graphUnavailable ?? "the model is a plain function"
    }`;
  }
  try {
    if (info.needs === "layer") pickSpatialNode(model.graph, options.layer as string | undefined, info.label);
    if (info.needs === "lrp") {
      const plan = await lrpPlan(model.graph, info.label);
      if (plan.unfolded.length > 0 && (options.inputRule ?? "zB") === "zB") {
        return `the pixels reach layer "${
          plan.unfolded[0]
        }" through a transform hans cannot fold into it, so ` +
          `the z^B input rule's pixel bounds do not hold there (pass inputRule "epsilon")`;
      }
    }
  } catch (e) {
    if (e instanceof HansError) return e.message;
    throw e;
  }
  return undefined;
}

/**
 * Splits method names into those that run on `model` and those left out with the reason. With `explicit`
 * (the user named the methods), a method that cannot run is an error: a HansError with the reason, before any
 * work. Unknown names are always an error. `noGradient` (from {@link gradientProblem}) leaves out every method
 * that needs a gradient.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import { fromLayersModel } from "./explainable_model.ts";
 *
 * await tf.setBackend("cpu");
 * const layers = [tf.layers.flatten({ inputShape: [4, 4, 1] }), tf.layers.dense({ units: 3 })];
 * const model = fromLayersModel(tf.sequential({ layers })); // no conv or pooling layer
 * const names = ["gradient", "grad_cam"];
 * const { methods, leftOut } = await availableMethods(names, model, () => undefined, false);
 * assert.deepEqual(methods.map((m) => m.name), ["gradient"]);
 * assert.deepEqual(leftOut.map((m) => m.name), ["grad_cam"]);
 * // Methods the user named must all run.
 * await assert.rejects(availableMethods(names, model, () => undefined, true), /cannot run on this model/);
 * ```
 */
export async function availableMethods(
  names: string[],
  model: ExplainableModel,
  optionsOf: (name: string) => Record<string, unknown> | undefined,
  explicit: boolean,
  noGradient?: string,
): Promise<{ methods: MethodInfo[]; leftOut: MethodLeftOut[] }> {
  const methods: MethodInfo[] = [];
  const leftOut: MethodLeftOut[] = [];
  for (const name of names) {
    const info = method(name);
    checkMethodOptions(name, optionsOf(name));
    const reason = await unavailable(info, model, optionsOf(name), noGradient);
    if (!reason) methods.push(info);
    else if (explicit) throw new HansError(`${info.label} (${name}) cannot run on this model: ${reason}`);
    else leftOut.push({ name, reason });
  }
  return { methods, leftOut };
}

/**
 * Why the model has no input gradient in TF.js (an op without a registered gradient, named), or undefined when
 * the gradient of its logits on `x` can be computed. Runs one backward pass on the first image of `x`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 *
 * await tf.setBackend("cpu");
 * const x = tf.randomUniform([1, 4, 4, 1]) as tf.Tensor4D;
 * const flat = (t: tf.Tensor4D) => t.reshape([t.shape[0], -1]) as tf.Tensor2D;
 * assert.equal(gradientProblem({ classes: 16, logits: flat }, x), undefined);
 * // TopK has no gradient in TF.js.
 * const top = (t: tf.Tensor4D) => tf.topk(flat(t), 3).values;
 * assert.match(gradientProblem({ classes: 3, logits: top }, x) ?? "", /uses the op TopK/);
 * x.dispose();
 * ```
 */
export function gradientProblem(model: ExplainableModel, x: tf.Tensor4D): string | undefined {
  try {
    tf.tidy(() => {
      const one = x.slice([0, 0, 0, 0], [1, -1, -1, -1]);
      tf.grad((input: tf.Tensor) => tf.sum(model.logits(input as tf.Tensor4D)))(one);
    });
  } catch (e) {
    const op = /gradient function not found for (\w+)/i.exec((e as Error)?.message ?? "")?.[1];
    if (!op) throw e;
    return `the model uses the op ${op}, which has no gradient in TF.js; only occlusion and RISE run on it`;
  }
  return undefined;
}
