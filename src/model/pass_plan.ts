/**
 * How many images one pass of a model may take: batches sized by bytes, against the device's buffer limits and
 * the run's memory budget, never by a fixed image count. A 28×28 CNN takes hundreds of images per pass; a
 * 224×224 MobileNetV2 only a few (its sizes, measured: docs/real-size.md), and on Mesa's software adapter one
 * shader may bind at most 128 MB.
 *
 * What a pass costs is measured once per model and image size ({@link measurePassCost}): the model runs on one
 * image and on two under `tf.profile`, which gives the bytes of every tensor made and the peak; the difference
 * of the two is what each further image adds. {@link planPass} turns that into images per pass.
 * @module
 */
import { deviceLimits, heldBytes, releasePooledBuffers } from "../backend.ts";
import { tf } from "../deps.ts";
import { HansError } from "../errors.ts";
import { megabytes, memoryBudget } from "../limits.ts";

/**
 * The error of a pass that does not fit the memory budget even on one image. Work on wasm that meets it runs
 * on the active backend instead (wasm's heap has a smaller share of the budget).
 */
export class PassTooLargeError extends HansError {}

/** A forward pass (inference) or a backward one (the input gradient, which keeps every activation). */
export type PassKind = "forward" | "backward";

/** What one pass of a model costs in memory, per image and in all (measured by {@link measurePassCost}). */
export interface PassCost {
  /** Peak bytes of tensors a pass adds per image. */
  bytesPerImage: number;
  /**
   * Bytes of all the tensors a pass makes, per image. On WebGPU a forward pass holds about that much: tfjs
   * queues a whole pass before the device runs it, and a buffer is freed only once the work that reads it has
   * run (measured on MobileNetV2 224: docs/real-size.md).
   */
  allocatedPerImage: number;
  /** Peak bytes a pass adds whatever its batch (weights transposed or cast, constants). */
  fixedBytes: number;
  /** Bytes per image of the largest buffer one kernel binds (a tensor, or a convolution's im2col matrix). */
  largestPerImage: number;
  /** The kernel behind `largestPerImage`, e.g. `DepthwiseConv2dNative`. */
  largestKernel: string;
}

/** A model as the planner sees it: logits of a batch. */
export interface PlannedModel {
  logits(x: tf.Tensor4D): tf.Tensor2D;
}

const measured = new WeakMap<PlannedModel, Map<string, Promise<PassCost>>>();

/** Float32 values in a shape. */
function size(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Images of at most this many values are measured on one image and on two (see `measureKind`). */
const SMALL_IMAGE_VALUES = 64 * 64 * 3;

/** A profile of two images made from one's: every buffer and byte twice (all counted per image). */
function double(p: { peak: number; allocated: number; buffers: { name: string; bytes: number }[] }) {
  return {
    peak: 2 * p.peak,
    allocated: 2 * p.allocated,
    buffers: p.buffers.map((b) => ({ ...b, bytes: 2 * b.bytes })),
  };
}

/** Kernels that tfjs's WebGPU backend may run through an im2col matrix (it is set to, on every adapter). */
const IM2COL_KERNELS = new Set(["Conv2D", "FusedConv2D"]);

/**
 * Bytes of the largest buffer each kernel binds: its inputs and outputs (4 bytes a value), and for a
 * convolution the im2col matrix tfjs's WebGPU kernels may make (output positions × kernel taps × input
 * channels).
 */
function kernelBuffers(profile: Awaited<ReturnType<typeof tf.profile>>): { name: string; bytes: number }[] {
  return profile.kernels.map((k) => {
    const shapes = [...k.inputShapes, ...k.outputShapes].filter((s) => Array.isArray(s)) as number[][];
    let bytes = Math.max(0, ...shapes.map(size)) * 4;
    const [x, filter] = k.inputShapes as number[][];
    const out = k.outputShapes[0] as number[] | undefined;
    if (IM2COL_KERNELS.has(k.name) && x?.length === 4 && filter?.length === 4 && out?.length === 4) {
      bytes = Math.max(bytes, out[0] * out[1] * out[2] * filter[0] * filter[1] * filter[2] * 4);
    }
    return { name: k.name, bytes };
  });
}

/** Profiles one pass of `kind` on `n` images of `shape`. */
async function profilePass(
  model: PlannedModel,
  shape: [number, number, number],
  n: number,
  kind: PassKind,
): Promise<{ peak: number; allocated: number; buffers: { name: string; bytes: number }[] }> {
  const x = tf.randomUniform([n, ...shape], 0, 1, "float32", 5) as tf.Tensor4D;
  const start = tf.memory().numBytes;
  // tfjs's WebGPU backend warns once that it cannot time kernels; the timings are not wanted here.
  const backend = tf.backend() as unknown as { hasTimestampQueryWarned?: boolean };
  const warned = backend.hasTimestampQueryWarned;
  if (warned === false) backend.hasTimestampQueryWarned = true;
  try {
    const profile = await tf.profile(() =>
      tf.tidy(() =>
        kind === "forward"
          ? model.logits(x)
          : tf.grad((input: tf.Tensor) => tf.sum(model.logits(input as tf.Tensor4D)))(x)
      )
    );
    tf.dispose(profile.result as tf.Tensor);
    const allocated = profile.kernels.reduce(
      (t, k) => t + k.outputShapes.reduce((u, shape) => u + 4 * size(shape as number[]), 0),
      0,
    );
    return { peak: Math.max(0, profile.peakBytes - start), allocated, buffers: kernelBuffers(profile) };
  } finally {
    x.dispose();
    if (warned === false) backend.hasTimestampQueryWarned = false;
  }
}

/** The cost of one kind of pass, from its profiles on one and two images. */
async function measureKind(
  model: PlannedModel,
  shape: [number, number, number],
  kind: PassKind,
): Promise<PassCost> {
  const one = await profilePass(model, shape, 1, kind);
  // What a second image adds tells the per-image cost from the fixed one; a large image's pass costs so much
  // more than the weights that one image's whole cost stands for it (and the measurement holds less memory).
  const two = size(shape) <= SMALL_IMAGE_VALUES ? await profilePass(model, shape, 2, kind) : double(one);
  const bytesPerImage = Math.max(two.peak - one.peak, two.peak / 2, 4 * size(shape));
  const allocatedPerImage = Math.max(two.allocated - one.allocated, bytesPerImage);
  let largestPerImage = 4 * size(shape);
  let largestKernel = "input";
  two.buffers.forEach((b, i) => {
    // What a further image adds to this kernel's buffer; the whole buffer when the two runs differ.
    const same = one.buffers.length === two.buffers.length && one.buffers[i].name === b.name;
    const perImage = same ? Math.max(b.bytes - one.buffers[i].bytes, b.bytes / 2) : b.bytes;
    if (perImage > largestPerImage) [largestPerImage, largestKernel] = [perImage, b.name];
  });
  return {
    bytesPerImage,
    allocatedPerImage,
    fixedBytes: Math.max(0, one.peak - bytesPerImage),
    largestPerImage,
    largestKernel,
  };
}

/**
 * Measures what a pass of `kind` of `model` costs on images of `shape` (`[height, width, channels]`), once per
 * model, size and kind (later calls return the same promise). Runs two small passes (one and two images),
 * which also compile the shaders the real work needs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 *
 * await tf.setBackend("cpu");
 * const net = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [8, 8, 1] }), tf.layers.dense({ units: 3 })] });
 * const model = { logits: (x: tf.Tensor4D) => net.apply(x) as tf.Tensor2D };
 * const forward = await measurePassCost(model, [8, 8, 1], "forward");
 * assert.ok(forward.bytesPerImage >= 8 * 8 * 4); // at least the image itself
 * net.dispose();
 * ```
 */
export function measurePassCost(
  model: PlannedModel,
  shape: [number, number, number],
  kind: PassKind,
): Promise<PassCost> {
  const key = `${shape.join("x")} ${kind}`;
  let byShape = measured.get(model);
  if (!byShape) measured.set(model, byShape = new Map());
  let cost = byShape.get(key);
  if (!cost) {
    cost = measureKind(model, shape, kind);
    byShape.set(key, cost);
    cost.catch(() => byShape!.delete(key));
  }
  return cost;
}

/** Options of {@link planPass}. */
export interface PlanPassOptions {
  /** The kind of pass (default `forward`). */
  kind?: PassKind;
  /**
   * How many such passes' worth of memory one model input of the method needs (default 1): LRP keeps each
   * layer's relevance beside its activation, Guided Grad-CAM runs a backward and a forward pass.
   */
  factor?: number;
  /** Extra bytes per model input the method itself keeps during the pass (masked copies, noise). */
  extraBytesPerInput?: number;
  /** The most inputs the caller asks for (a method's `batchSize`): the plan never exceeds it. */
  requested?: number;
  /** What runs the pass, for the error message (e.g. `Integrated Gradients`). */
  label?: string;
}

/** Images per pass, and why that many. */
export interface PassPlan {
  /** Model inputs per pass (at least 1). */
  inputs: number;
  /** What bounds it: `memory`, `binding` (the device's buffer limits), `requested`. */
  boundBy: "memory" | "binding" | "requested";
  /** The cost it was planned from. */
  cost: PassCost;
}

/** Share of the free budget one pass may take: the rest is for what the method keeps between passes. */
const PASS_SHARE = 0.7;
/**
 * Share of the budget the wasm backend's heap may grow to for forward passes (it never shrinks), and for input
 * gradients, which need far more per image (LRP half as much again); the measurements are in docs/real-size.md.
 */
const WASM_SHARE = { forward: 0.125, backward: 0.4 };
/**
 * Share of the budget wasm's heap never grows into, whatever is free: the heap never shrinks, and the passes
 * that run on the active backend afterwards need room (a run that loaded a large data set starved them).
 */
const WASM_RESERVE = 0.25;
/** How much the wasm heap grows per byte of a pass's tensor peak (measured: docs/real-size.md). */
const WASM_HEAP_FACTOR = { forward: 2, backward: 1.25 };

/**
 * Model inputs per pass of `kind` for images of `shape`, within the device's buffer limits (no buffer a
 * kernel binds may exceed `maxStorageBufferBindingSize`) and the memory budget (`HANS_MAX_MEMORY_MB`: the
 * pass's peak on top of what the process holds now, as `heldBytes` counts it). A single image that does not
 * fit is a HansError naming the limit.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 *
 * await tf.setBackend("cpu");
 * const net = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [8, 8, 1] }), tf.layers.dense({ units: 3 })] });
 * const model = { logits: (x: tf.Tensor4D) => net.apply(x) as tf.Tensor2D };
 * const plan = await planPass(model, [8, 8, 1], { kind: "backward", requested: 16 });
 * assert.equal(plan.inputs, 16); // a tiny model: the caller's 16 fit
 * net.dispose();
 * ```
 */
export async function planPass(
  model: PlannedModel,
  shape: [number, number, number],
  options: PlanPassOptions = {},
): Promise<PassPlan> {
  const cost = await measurePassCost(model, shape, options.kind ?? "forward");
  const factor = options.factor ?? 1;
  const label = options.label ?? "a pass";
  const limits = deviceLimits();
  const bindable = Math.min(limits.maxBindingBytes, limits.maxBufferBytes);
  const byBinding = Math.floor(bindable / cost.largestPerImage);
  const [height, width, channels] = shape;
  if (byBinding < 1) {
    throw new HansError(
      `${label} on one ${height}x${width}x${channels} image needs a ${
        megabytes(cost.largestPerImage)
      } buffer (${cost.largestKernel}); the device binds at most ${
        megabytes(bindable)
      } (maxStorageBufferBindingSize); --backend cpu has no such limit.`,
    );
  }
  const budget = memoryBudget();
  const requested = options.requested === undefined ? Infinity : Math.max(1, Math.floor(options.requested));
  // tfjs's wasm backend keeps its heap at the largest size a pass ever needed (a WebAssembly memory never
  // shrinks), and it grows by more than the tensors it holds: its passes get an eighth of the budget (two
  // fifths for input gradients).
  const onWasm = tf.getBackend() === "wasm";
  const kind = options.kind ?? "forward";
  const passBytes = onWasm
    ? WASM_HEAP_FACTOR[kind] * cost.bytesPerImage
    : options.kind === "backward"
    ? cost.bytesPerImage
    : cost.allocatedPerImage;
  const perInput = factor * passBytes + (options.extraBytesPerInput ?? 0);
  const fitting = (share: number) => {
    const held = heldBytes();
    const room = onWasm
      ? Math.min(
        budget.bytes * (1 - WASM_RESERVE) - held,
        WASM_SHARE[kind] * budget.bytes - tf.memory().numBytes,
      )
      : (budget.bytes - held) * share;
    return { held, count: Math.floor((room - factor * cost.fixedBytes) / perInput) };
  };
  let fit = fitting(PASS_SHARE);
  // Buffers in tfjs's pool are memory the pass could have: free them when they stand in its way.
  if (fit.count < Math.min(byBinding, requested) && releasePooledBuffers() > 0) fit = fitting(PASS_SHARE);
  // One input at a time keeps little between passes: it may take all that is free.
  if (fit.count < 1 && !onWasm) fit = { ...fit, count: Math.min(1, fitting(1).count) };
  const byMemory = fit.count;
  if (byMemory < 1) {
    throw new PassTooLargeError(
      `${label} on one ${height}x${width}x${channels} image needs about ${
        megabytes(perInput + factor * cost.fixedBytes)
      } and the run holds ${megabytes(fit.held)} of its ${megabytes(budget.bytes)} memory budget; raise ` +
        `HANS_MAX_MEMORY_MB.`,
    );
  }
  const inputs = Math.min(byBinding, byMemory, requested);
  const boundBy = inputs === requested ? "requested" : inputs === byBinding ? "binding" : "memory";
  return { inputs, boundBy, cost };
}
