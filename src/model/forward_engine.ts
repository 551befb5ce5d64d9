/**
 * Work on the faster of two engines: the WebGPU backend everything else runs on, or tfjs's WebAssembly backend
 * on the CPU. Two kinds of work choose apart: gradient-free work (predictions, occlusion, RISE, deletion and
 * insertion curves), timed by a forward pass, and the gradient methods, timed by an input gradient. On Mesa's
 * software adapter wasm measured faster (docs/performance.md, "Forward-only work on wasm"); on a real GPU
 * WebGPU should win. Which engine runs a model's work of
 * each kind is measured once per model, on a probe batch of its own inputs, and recorded
 * ({@linkcode forwardEngineOf}, {@linkcode gradientEngineOf}) for metrics.json.
 *
 * Only one backend is active in tfjs at a time, so a wasm run switches the whole engine: the model's tensors
 * are read back first (asynchronously: WebGPU cannot read synchronously in Deno), tfjs then moves them to wasm
 * as they are used and back when WebGPU uses them again, and runs are serialized (so a callback must not start
 * another run: it would wait for itself). Models that are plain functions (no {@linkcode ForwardModel.tensors})
 * stay on the active backend.
 * @module
 */
import { importWasmBackend, tf } from "../deps.ts";
import { HansError } from "../errors.ts";
import { PassTooLargeError, planPass } from "./pass_plan.ts";

/**
 * What forward-only work needs of a model: logits of a batch, and every tensor they read (weights,
 * constants), so the model can move to another backend. An `ExplainableModel` is one.
 */
export interface ForwardModel {
  logits(x: tf.Tensor4D): tf.Tensor2D;
  /** Without it, the model stays on the active backend. */
  tensors?: () => tf.Tensor[];
}

/** Work that picks its engine apart: forward passes only, or input gradients. */
export type EngineWork = "forward" | "gradient";

/** Which engine runs a model's forward-only work (or its gradients), and why. */
export interface ForwardEngineChoice {
  /** The tfjs backend that runs it: `wasm`, or the active one (`webgpu`, `cpu`). */
  engine: string;
  /** Images per second of one forward pass (or input gradient) of the probe batch, per engine measured. */
  imagesPerSecond: Record<string, number>;
  /** One sentence: measured faster, forced, or why wasm was not tried. */
  reason: string;
}

/** `auto` (default): measure per model; `active`: never switch; `wasm`: always wasm where it loads. */
export type ForwardEnginePolicy = "auto" | "active" | "wasm";

let policy: ForwardEnginePolicy = "auto";
let wasm: Promise<string | undefined> | undefined;
const choices = {
  forward: new WeakMap<ForwardModel, Promise<ForwardEngineChoice>>(),
  gradient: new WeakMap<ForwardModel, Promise<ForwardEngineChoice>>(),
};
const settled = {
  forward: new WeakMap<ForwardModel, ForwardEngineChoice>(),
  gradient: new WeakMap<ForwardModel, ForwardEngineChoice>(),
};
let queue: Promise<unknown> = Promise.resolve();

/** Images in the probe batch that times each engine, at most: fewer for large images (see `choose`). */
const PROBE = 32;
/** Input values the probe batch holds at most (about 4 images of 224×224×3). */
const PROBE_VALUES = 2 ** 19;
/** Input values the gradient's probe batch holds at most (one image of 224×224×3). */
const GRADIENT_PROBE_VALUES = 2 ** 17;

/**
 * Sets how forward-only work picks its engine, for every model from now on (choices already made stay).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import { fromLayersModel } from "../explain/explainable_model.ts";
 *
 * await tf.setBackend("cpu");
 * setForwardEnginePolicy("active"); // keep occlusion, RISE and the curves on the active backend
 * const net = tf.sequential({
 *   layers: [tf.layers.flatten({ inputShape: [4, 4, 1] }), tf.layers.dense({ units: 3, kernelInitializer: "ones" })],
 * });
 * const model = fromLayersModel(net); // logits: three times the sum of the pixels, each
 * const x = tf.ones([2, 4, 4, 1]) as tf.Tensor4D;
 * await onForwardEngine(model, x, async (xs) => void tf.dispose(await model.logits(xs).data()));
 * assert.equal(forwardEngineOf(model)?.engine, "cpu"); // wasm was not even tried
 * setForwardEnginePolicy("auto");
 * tf.dispose(x);
 * net.dispose();
 * ```
 */
export function setForwardEnginePolicy(p: ForwardEnginePolicy): void {
  policy = p;
}

/**
 * Runs `fn` with the engine policy `p`, then restores the one before (a task's `--engine`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * const seen = await withEnginePolicy("active", () => Promise.resolve(enginePolicy()));
 * assert.equal(seen, "active");
 * assert.equal(enginePolicy(), "auto"); // restored
 * ```
 */
export async function withEnginePolicy<T>(p: ForwardEnginePolicy, fn: () => Promise<T>): Promise<T> {
  const before = policy;
  policy = p;
  try {
    return await fn();
  } finally {
    policy = before;
  }
}

/** The policy in force: `auto` unless {@linkcode setForwardEnginePolicy} or {@linkcode withEnginePolicy} set it. */
export function enginePolicy(): ForwardEnginePolicy {
  return policy;
}

/** The engine chosen for `model`'s forward-only work, once one has run; undefined before. */
export function forwardEngineOf(model: ForwardModel): ForwardEngineChoice | undefined {
  return settled.forward.get(model);
}

/** The engine chosen for `model`'s gradient methods, once one has run there; undefined before. */
export function gradientEngineOf(model: ForwardModel): ForwardEngineChoice | undefined {
  return settled.gradient.get(model);
}

/** Loads the wasm backend once; undefined when it runs, else why not. Leaves the active backend as it was. */
function wasmReady(): Promise<string | undefined> {
  wasm ??= (async () => {
    const active = tf.getBackend();
    try {
      await importWasmBackend();
      if (!(await tf.setBackend("wasm"))) return "tfjs's wasm backend did not start";
      return undefined;
    } catch (e) {
      return `tfjs's wasm backend did not load (${(e as Error).message.split("\n")[0]})`;
    } finally {
      await tf.setBackend(active);
    }
  })();
  return wasm;
}

/** Runs `fn` after every run queued before it: one backend switch at a time. */
function serialized<T>(fn: () => Promise<T>): Promise<T> {
  const run = queue.then(fn, fn);
  queue = run.catch(() => {});
  return run;
}

/**
 * Runs `fn` on `backend` with `x` copied there; `fn`'s result must hold no tensors (read them out inside). The
 * model's tensors are read back first so tfjs can move them; the active backend is restored afterwards.
 */
async function onBackend<T>(
  backend: string,
  model: ForwardModel,
  x: tf.Tensor4D,
  fn: (x: tf.Tensor4D) => Promise<T>,
): Promise<T> {
  const active = tf.getBackend();
  if (backend === active) return await fn(x);
  const values = await x.data();
  await Promise.all((model.tensors?.() ?? []).map((t) => t.data()));
  await tf.setBackend(backend);
  const copy = tf.tensor4d(values, x.shape);
  try {
    return await fn(copy);
  } finally {
    copy.dispose();
    await tf.setBackend(active);
  }
}

/** Seconds one forward pass (or input gradient) of `probe` takes, after one untimed one. */
async function passSeconds(model: ForwardModel, probe: tf.Tensor4D, work: EngineWork): Promise<number> {
  const once = async () => {
    const y = tf.tidy(() =>
      work === "forward"
        ? model.logits(probe)
        : tf.grad((x: tf.Tensor) => tf.sum(model.logits(x as tf.Tensor4D)))(probe)
    );
    await y.data();
    y.dispose();
  };
  await once();
  const t0 = performance.now();
  await once();
  return (performance.now() - t0) / 1000;
}

async function choose(
  model: ForwardModel,
  images: tf.Tensor4D,
  work: EngineWork,
): Promise<ForwardEngineChoice> {
  const active = tf.getBackend();
  const stay = (reason: string): ForwardEngineChoice => ({ engine: active, imagesPerSecond: {}, reason });
  if (policy === "active") return stay("kept on the active backend (policy `active`, `--engine active`)");
  if (active === "wasm") return stay("wasm is the active backend");
  if (!model.tensors) return stay("the model is a plain function: hans cannot move its tensors to wasm");
  const failed = await wasmReady();
  if (failed) return stay(failed);
  if (policy === "wasm") {
    return { engine: "wasm", imagesPerSecond: {}, reason: "forced (policy `wasm`, `--engine wasm`)" };
  }
  const [n, height, width, channels] = images.shape;
  const shape: [number, number, number] = [height, width, channels];
  const kind = work === "forward" ? "forward" : "backward";
  const fits = await planPass(model, shape, { kind, requested: PROBE });
  const values = work === "forward" ? PROBE_VALUES : GRADIENT_PROBE_VALUES;
  const size = Math.min(fits.inputs, Math.max(1, Math.ceil(values / (height * width * channels))));
  const probe = tf.tidy(() => tf.tile(images, [Math.ceil(size / n), 1, 1, 1]).slice(0, size)) as tf.Tensor4D;
  const pass = work === "forward" ? "a forward pass" : "an input gradient";
  try {
    const here = await passSeconds(model, probe, work);
    const there = await onBackend("wasm", model, probe, async (x) => {
      // Within wasm's share of the memory budget, or a HansError that keeps the work where it is.
      await planPass(model, shape, { kind, requested: size, label: pass });
      return await passSeconds(model, x, work);
    });
    const rates = { [active]: size / here, wasm: size / there };
    return there < here
      ? { engine: "wasm", imagesPerSecond: rates, reason: `wasm ran ${pass} faster than ${active}` }
      : { engine: active, imagesPerSecond: rates, reason: `${active} ran ${pass} faster than wasm` };
  } catch (e) {
    return stay(`wasm could not run the model (${(e as Error).message.split("\n")[0]})`);
  } finally {
    probe.dispose();
  }
}

/**
 * Runs `work` on the engine chosen for `model`'s work of that kind (measured at its first call, on a probe
 * batch of `images`): `fn` gets `images` on that engine and returns plain values (read any tensors out inside).
 * Should the chosen engine fail, the work runs on the active backend and the choice says so.
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
 * const values = await onEngine("gradient", model, x, async (xs) => {
 *   const g = tf.grad((t) => tf.sum(model.logits(t as tf.Tensor4D)))(xs);
 *   const out = await g.data();
 *   g.dispose();
 *   return out;
 * });
 * assert.ok(values.length === 2 * 16 && values.every((v) => v === 3)); // each pixel feeds each logit once
 * tf.dispose(x);
 * net.dispose();
 * ```
 */
export function onEngine<T>(
  work: EngineWork,
  model: ForwardModel,
  images: tf.Tensor4D,
  fn: (x: tf.Tensor4D) => Promise<T>,
): Promise<T> {
  return serialized(async () => {
    // No images, nothing to time the engines on: the (empty) work runs where it is, and nothing is chosen.
    if (images.shape[0] === 0) return await fn(images);
    if (!choices[work].has(model)) choices[work].set(model, choose(model, images, work));
    const choice = await choices[work].get(model)!;
    settled[work].set(model, choice);
    if (choice.engine === tf.getBackend()) return await fn(images);
    try {
      return await onBackend(choice.engine, model, images, fn);
    } catch (e) {
      // Too large for wasm's share of the memory budget: this call runs on the active backend.
      if (e instanceof PassTooLargeError) return await fn(images);
      if (e instanceof HansError) throw e; // the caller's mistake, not the engine's
      const fallback: ForwardEngineChoice = {
        engine: tf.getBackend(),
        imagesPerSecond: choice.imagesPerSecond,
        reason: `${choice.engine} failed (${(e as Error).message.split("\n")[0]}); ran on ${tf.getBackend()}`,
      };
      choices[work].set(model, Promise.resolve(fallback));
      settled[work].set(model, fallback);
      return await fn(images);
    }
  });
}

/**
 * Runs forward-only work on the engine chosen for `model` (see {@linkcode onEngine}).
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
 * const scores = await onForwardEngine(model, x, async (xs) => {
 *   const logits = model.logits(xs);
 *   const values = await logits.data();
 *   logits.dispose();
 *   return values;
 * });
 * assert.deepEqual(Array.from(scores), new Array(2 * 3).fill(16)); // 16 white pixels
 * console.log(forwardEngineOf(model)?.reason); // e.g. "wasm ran a forward pass faster than cpu"
 * tf.dispose(x);
 * net.dispose();
 * ```
 */
export function onForwardEngine<T>(
  model: ForwardModel,
  images: tf.Tensor4D,
  fn: (x: tf.Tensor4D) => Promise<T>,
): Promise<T> {
  return onEngine("forward", model, images, fn);
}

/**
 * {@linkcode onEngine} for work that returns tensors and a plain value: the tensors are read out on the
 * engine and rebuilt on the active backend.
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
 * const [[grads], report] = await tensorsOnEngine("gradient", model, x, async (xs) => {
 *   const g = tf.grad((t) => tf.sum(model.logits(t as tf.Tensor4D)))(xs);
 *   return [[g], { engine: tf.getBackend() }];
 * });
 * assert.equal(tf.getBackend(), "cpu"); // back on the active backend, wherever the gradient ran
 * assert.deepEqual(grads.shape, [2, 4, 4, 1]);
 * console.log(`computed on ${report.engine}`);
 * tf.dispose([x, grads]);
 * net.dispose();
 * ```
 */
export async function tensorsOnEngine<R extends tf.Tensor, T>(
  work: EngineWork,
  model: ForwardModel,
  images: tf.Tensor4D,
  fn: (x: tf.Tensor4D) => Promise<[R[], T]>,
): Promise<[R[], T]> {
  const active = tf.getBackend();
  type Carried = { values: tf.TypedArray; shape: number[] }[];
  const out = await onEngine<[R[] | Carried, T, boolean]>(work, model, images, async (x) => {
    const [tensors, rest] = await fn(x);
    if (tf.getBackend() === active) return [tensors, rest, true];
    try {
      const carried = await Promise.all(
        tensors.map(async (t) => ({ values: await t.data() as tf.TypedArray, shape: t.shape })),
      );
      return [carried, rest, false];
    } finally {
      tf.dispose(tensors);
    }
  });
  const [tensors, rest, here] = out;
  if (here) return [tensors as R[], rest];
  return [(tensors as Carried).map((c) => tf.tensor(c.values, c.shape) as R), rest];
}

/**
 * {@linkcode onForwardEngine} for work that returns a tensor: it is read out on the engine and rebuilt on the
 * active backend.
 */
export async function tensorOnForwardEngine<R extends tf.Tensor>(
  model: ForwardModel,
  images: tf.Tensor4D,
  fn: (x: tf.Tensor4D) => Promise<R>,
): Promise<R> {
  const [[tensor]] = await tensorsOnEngine("forward", model, images, async (x) => [[await fn(x)], undefined]);
  return tensor;
}
