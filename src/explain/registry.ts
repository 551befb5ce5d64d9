/**
 * The method registry: the list of methods, each a descriptor exported by its own module (see descriptor.ts).
 * Adding a method is one new module and one line in {@link METHODS}. Users switch methods by changing the name.
 * @module
 */
import { tf } from "../deps.ts";
import { HansError } from "../errors.ts";
import { checkWebgpuErrors, webgpuErrors } from "../backend.ts";
import { type Progress, withProgress } from "../progress.ts";
import { tensorsOnEngine } from "../model/forward_engine.ts";
import { activationsMethod } from "./activations.ts";
import { type AnyMethod, checkOptions, type MethodReport, type OptionsOf } from "./descriptor.ts";
export type { MethodPasses, MethodReport } from "./descriptor.ts";
import { type ExplainableModel, settleModel } from "./explainable_model.ts";
import { gradCamMethod } from "./grad_cam.ts";
import { gradientMethod } from "./gradient.ts";
import { gradientInputMethod } from "./gradient_input.ts";
import { pickSpatialNode } from "./graph_query.ts";
import { guidedBackpropMethod } from "./guided_backprop.ts";
import { guidedGradCamMethod } from "./guided_grad_cam.ts";
import { integratedGradientsMethod } from "./integrated_gradients.ts";
import { type LrpMethodName, lrpUnavailable } from "./lrp_method.ts";
import { lrpAlphaBetaMethod } from "./lrp_alpha_beta.ts";
import { lrpEpsilonMethod } from "./lrp_epsilon.ts";
import { lrpEpsilonPlusFlatMethod } from "./lrp_epsilon_plus_flat.ts";
import { occlusionMethod } from "./occlusion.ts";
import { riseMethod } from "./rise.ts";
import { smoothGradMethod } from "./smoothgrad.ts";
import { smoothGradSquaredMethod } from "./smoothgrad_sq.ts";
import { type NoiseTunnelOptions, noiseTunnelOver } from "./noise_tunnel.ts";
import { isContrast, type Target } from "./target.ts";
import { varGradMethod } from "./vargrad.ts";

/** The registered descriptors with their types, from which the names and options types are derived. */
const REGISTERED = [
  gradientMethod,
  gradientInputMethod,
  smoothGradMethod,
  smoothGradSquaredMethod,
  varGradMethod,
  integratedGradientsMethod,
  guidedBackpropMethod,
  gradCamMethod,
  guidedGradCamMethod,
  lrpEpsilonMethod,
  lrpAlphaBetaMethod,
  lrpEpsilonPlusFlatMethod,
  occlusionMethod,
  riseMethod,
  activationsMethod,
] as const;

/** A registered method's descriptor. */
export type RegisteredMethod = typeof REGISTERED[number];

/** The name of a registered method. */
export type MethodName = RegisteredMethod["name"];

/** Each registered method's options, by name: `explain("rise", model, x, target, { masks: 500 })` is checked. */
export type MethodOptionsByName = { [D in RegisteredMethod as D["name"]]: OptionsOf<D> };

/** A method as lists of methods hold it (any options). */
export type MethodInfo = AnyMethod;

/** The registered methods, in the order reports show them. */
export const METHODS: readonly MethodInfo[] = REGISTERED;

/**
 * Throws a HansError when `name` is not a registered method, when `options` has a key the method does not take
 * (a typo such as `sample` for `samples` would otherwise be ignored silently), naming the keys it takes, or a
 * value the method cannot take.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * checkMethodOptions("rise", { masks: 500 });
 * assert.throws(() => checkMethodOptions("rise", { mask: 500 }), /rise has no option "mask"/);
 * assert.throws(() => checkMethodOptions("smoothgrad", { samples: 0 }), /samples must be a whole number ≥ 1/);
 * assert.throws(() => checkMethodOptions("integrated_gradients", { tolerance: -1 }), /tolerance must be/);
 * assert.throws(() => checkMethodOptions("smoothgard", {}), /unknown saliency method "smoothgard"/);
 * ```
 */
export function checkMethodOptions(name: string, options: unknown): void {
  checkOptions(method(name), options);
}

/**
 * Each method's lighter settings of `kind` (a descriptor's `presets`), by name: what a task runs
 * when it covers many methods (`light`) or takes a first look (`quick`). Methods of one pass per map have none.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(presetOptions("light").smoothgrad, { samples: 16 });
 * assert.deepEqual(presetOptions("quick").occlusion, { overlap: false });
 * assert.equal(presetOptions("quick").gradient, undefined);
 * ```
 */
export function presetOptions(kind: "light" | "quick"): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const m of METHODS) {
    const preset = m.presets?.[kind] ?? (kind === "quick" ? m.presets?.light : undefined);
    if (preset) out[m.name] = { ...preset };
  }
  return out;
}

/**
 * `options` for every method that reads a layer (`needs: "layer"`), by name: how a task passes its `--layer`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(Object.keys(layerOptions({ layer: "conv2" })), ["grad_cam", "guided_grad_cam", "activations"]);
 * ```
 */
export function layerOptions(
  options: { layer: string } | Record<string, never>,
): Record<string, Record<string, unknown>> {
  return Object.fromEntries(METHODS.filter((m) => m.needs === "layer").map((m) => [m.name, { ...options }]));
}

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
export function method<N extends MethodName>(name: N): Extract<RegisteredMethod, { name: N }>;
export function method(name: string): MethodInfo;
export function method(name: string): MethodInfo {
  const found = REGISTERED.find((m) => m.name === name);
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
 * const steps: string[] = [];
 * const onProgress = (done: number, total: number, label: string) => steps.push(`${label} ${done}/${total}`);
 * const maps = await explain("rise", model, x, [0, 2], { masks: 8, onProgress });
 * assert.deepEqual(maps.shape, [2, 4, 4]);
 * assert.equal(steps.at(-1), "RISE 8/8"); // masks done of all
 * tf.dispose([x, maps]);
 * ```
 */
export async function explain<N extends MethodName>(
  name: N,
  model: ExplainableModel,
  images: tf.Tensor4D,
  target: Target,
  options?: MethodOptionsByName[N] & ProgressOption,
): Promise<tf.Tensor3D> {
  const info: MethodInfo = method(name);
  const { onProgress, ...given } = options ?? {};
  const checked = checkOptions(info, options === undefined ? undefined : given);
  await settleModel(model);
  const [maps] = await withProgress(onProgress, () =>
    checkedMaps(
      info,
      () =>
        onGradientEngine(info, model, images, async (x) => [await info.explain(model, x, target, checked)]),
    ));
  return maps;
}

/**
 * The option every entry point of the methods takes besides the method's own: `onProgress(done, total, label)`,
 * called after each step of the method's loops (chunks of images, noisy copies, masks, refinement rounds; see
 * `src/progress.ts`). Default none.
 */
export interface ProgressOption {
  /** Called after each step of the method's loops. */
  onProgress?: Progress;
}

/**
 * Maps of a method combined over seeded noisy copies of `images` (Captum's NoiseTunnel; see noise_tunnel.ts):
 * `kind` `smoothgrad` (the mean, the default), `smoothgrad_sq` or `vargrad`. The method is named as for
 * {@link explain} (its `methodOptions` typed and checked by the name), or given as a descriptor.
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
 * const maps = await noiseTunnel("integrated_gradients", model, x, [0], { samples: 4, methodOptions: { steps: 8 } });
 * assert.deepEqual(maps.shape, [1, 4, 4]);
 * const name: string = "integrated_gradient"; // a typo, as from settings: refused when it runs
 * await assert.rejects(noiseTunnel(name as "gradient", model, x, [0]), /unknown saliency method/);
 * tf.dispose([x, maps]);
 * ```
 */
export function noiseTunnel<N extends MethodName>(
  name: N | MethodInfo,
  model: ExplainableModel,
  images: tf.Tensor4D,
  target: Target,
  options: NoiseTunnelOptions<MethodOptionsByName[N]> & ProgressOption = {},
): Promise<tf.Tensor3D> {
  try {
    const info: MethodInfo = typeof name === "string" ? method(name) : name;
    const { onProgress, ...tunnel } = options;
    return settleModel(model).then(() =>
      withProgress(onProgress, () => noiseTunnelOver(info, model, images, target, tunnel))
    );
  } catch (e) {
    return Promise.reject(e);
  }
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
  options?: MethodOptionsByName[N] & ProgressOption,
): Promise<TargetMaps> {
  const { onProgress, ...methodOptions } = options ?? {};
  await settleModel(model);
  return await withProgress(
    onProgress,
    () => explainTargetsNow(name, model, images, targets, options === undefined ? undefined : methodOptions),
  );
}

async function explainTargetsNow(
  name: MethodName,
  model: ExplainableModel,
  images: tf.Tensor4D,
  targets: Target[],
  options: unknown,
): Promise<TargetMaps> {
  const info: MethodInfo = method(name);
  const given = checkOptions(info, options);
  const derived = targets.map(() => false);
  if (info.explainMany) {
    const maps = await checkedMaps(info, () => info.explainMany!(model, images, targets, given));
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
            const out = await info.explainReport(model, x, targets[i], given);
            [maps[i], reports[i]] = [out.maps, out.report];
          } else {
            maps[i] = await info.explain(model, x, targets[i], given);
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
      const why = await lrpUnavailable(model.graph, info.name as LrpMethodName, options);
      if (why) return why;
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
  await settleModel(model);
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
