/**
 * Kernel-by-kernel profiles and the adapter's ceiling. A workload runs once while every kernel call that
 * reaches tfjs's engine is recorded (name, inputs, attributes); each distinct call is then replayed alone,
 * several times, and timed to completion. Each row gets its time per workload, floating-point work (convs and
 * matrix products, counted from their shapes), bytes read and written (inputs + outputs, a lower bound), and
 * the rates these give, to set against the ceiling: the best matrix product and the best memory copy this
 * adapter runs, measured by {@linkcode adapterCeiling}.
 * @module
 */
import { tf } from "../deps.ts";
import { hansKernelsActive, useHansKernels } from "../kernels/register.ts";
import { FlatProgram, runFlat, type WebGPUBackendLike } from "../kernels/program.ts";

/** A kernel's inputs: by name, or (Concat, Pack, AddN) a list. */
type KernelInputs = Record<string, tf.Tensor> | tf.Tensor[];

/** One recorded kernel call: what the engine ran, with its inputs kept for the replay. */
interface KernelCall {
  name: string;
  inputs: KernelInputs;
  attrs: Record<string, unknown>;
  outputs: number[][];
}

/** One row of a profile: every call of one kernel with the same shapes. */
export interface ProfileRow {
  /** tfjs kernel name, e.g. `Conv2DBackpropFilter`. */
  kernel: string;
  /** Input shapes, then `→` and output shapes. */
  shapes: string;
  /** Calls per workload. */
  calls: number;
  /** Milliseconds per workload (calls × time of one call replayed alone). */
  ms: number;
  /** Floating-point operations per workload (0 where not counted: element-wise work, reductions, copies). */
  flop: number;
  /** Bytes of inputs and outputs per workload. */
  bytes: number;
  /** flop / time, in GFLOP/s (0 where not counted). */
  gflops: number;
  /** bytes / time, in GB/s. */
  gbps: number;
}

/** A workload's profile: its rows, slowest first, their sum, and the workload timed whole. */
export interface Profile {
  rows: ProfileRow[];
  /** Sum of the rows' times. */
  kernelMs: number;
  /** The workload itself, run to completion, in milliseconds (median of the repeats). */
  workloadMs: number;
  /** Kernel calls per workload. */
  calls: number;
}

type EngineLike = {
  runKernel(name: string, inputs: KernelInputs, attrs?: Record<string, unknown>): unknown;
};

function tensorsOf(inputs: KernelInputs): tf.Tensor[] {
  return (Array.isArray(inputs) ? inputs : Object.values(inputs)).filter((t) => t instanceof tf.Tensor);
}

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

function outputsOf(result: unknown): tf.Tensor[] {
  return (Array.isArray(result) ? result : [result]) as tf.Tensor[];
}

/**
 * Floating-point operations of one call, counted from shapes for the kernels that do most arithmetic: convs
 * (forward, input and filter gradients, depthwise) and matrix products; 0 for the rest.
 */
export function kernelFlop(
  name: string,
  inputs: KernelInputs,
  attrs: Record<string, unknown>,
  outputs: number[][],
): number {
  const out = outputs[0] ?? [];
  const named = Array.isArray(inputs) ? {} : inputs;
  const shape = (key: string): number[] => (named[key]?.shape ?? []) as number[];
  switch (name) {
    case "Conv2D":
    case "FusedConv2D": {
      const f = shape("filter"); // [kh, kw, in, out]
      return 2 * size(out) * f[0] * f[1] * f[2];
    }
    case "HansConvReluPool": { // a 2×2 pool follows the conv: the conv's output is 4× the (first) output
      const f = shape("filter");
      return 2 * 4 * size(out) * f[0] * f[1] * f[2];
    }
    case "Conv2DBackpropInput": {
      const f = shape("filter");
      return 2 * size(shape("dy")) * f[0] * f[1] * f[2];
    }
    case "Conv2DBackpropFilter": // output: the filter's gradient [kh, kw, in, out]
      return 2 * size(shape("dy")) * size(out) / out[3];
    case "DepthwiseConv2dNative":
    case "FusedDepthwiseConv2D": {
      const f = shape("filter");
      return 2 * size(out) * f[0] * f[1];
    }
    case "BatchMatMul":
    case "_FusedMatMul": {
      const a = shape("a");
      const k = attrs.transposeA ? a[a.length - 2] : a[a.length - 1];
      return 2 * size(out) * k;
    }
    default:
      return 0;
  }
}

/** Runs `fn` once, recording every top-level kernel call that reaches tfjs's engine. */
async function record(fn: () => unknown): Promise<KernelCall[]> {
  const engine = tf.engine() as unknown as EngineLike;
  const original = engine.runKernel;
  const calls: KernelCall[] = [];
  let depth = 0;
  engine.runKernel = function (name, inputs, attrs = {}) {
    if (depth > 0) return original.call(this, name, inputs, attrs);
    depth++;
    try {
      const result = original.call(this, name, inputs, attrs);
      const keep = (t: tf.Tensor) => t instanceof tf.Tensor ? tf.keep(t.clone()) : t;
      const kept: KernelInputs = Array.isArray(inputs)
        ? inputs.map(keep)
        : Object.fromEntries(Object.entries(inputs).map(([k, t]) => [k, keep(t)]));
      calls.push({ name, inputs: kept, attrs, outputs: outputsOf(result).map((t) => t.shape) });
      return result;
    } finally {
      depth--;
    }
  };
  try {
    const result = await fn();
    await settle(result);
  } finally {
    engine.runKernel = original;
  }
  return calls;
}

/** Waits for `result`'s tensors (or the last queued work) to finish, then disposes them. */
async function settle(result: unknown): Promise<void> {
  const tensors = (Array.isArray(result) ? result : [result]).filter((t) => t instanceof tf.Tensor);
  if (tensors.length === 0) {
    const probe = tf.zeros([1]);
    await probe.data();
    probe.dispose();
  }
  for (const t of tensors as tf.Tensor[]) {
    await t.data();
    t.dispose();
  }
}

/**
 * Milliseconds of `run` (which returns the tensors it made): runs back to back, at least `repeats` and until
 * `minMs` have passed, timed to the completion of the last, less the latency of one read-back (`latencyMs`),
 * divided by the runs.
 */
async function timeRuns(run: () => tf.Tensor[], repeats: number, minMs: number, latencyMs: number) {
  tf.dispose(run()); // warm-up: the shader is compiled once
  await settle(undefined);
  const start = performance.now();
  let last: tf.Tensor[] = [];
  let runs = 0;
  while (runs < repeats || performance.now() - start < minMs) {
    tf.dispose(last);
    last = run();
    runs++;
    if (runs % 8 === 0) await settle(undefined); // keep the queue from growing without bound
  }
  for (const t of last) await t.data();
  const ms = Math.max(0, performance.now() - start - latencyMs) / runs;
  tf.dispose(last);
  return ms;
}

/** Milliseconds of waiting for a read-back of one value with nothing else queued (median of 5). */
async function readLatency(): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t = tf.zeros([1]);
    const start = performance.now();
    await t.data();
    times.push(performance.now() - start);
    t.dispose();
  }
  return times.sort((a, b) => a - b)[2];
}

function timeCall(call: KernelCall, repeats: number, latencyMs: number): Promise<number> {
  const engine = tf.engine() as unknown as EngineLike;
  return timeRuns(
    () => outputsOf(engine.runKernel(call.name, call.inputs, call.attrs)),
    repeats,
    20,
    latencyMs,
  );
}

/**
 * Profiles a workload kernel by kernel: `fn` is recorded once, every distinct call (same kernel, shapes and
 * attributes) is replayed alone `repeats` times, and the workload is also timed whole (`repeats` runs, the
 * median). `fn` may return tensors (awaited and disposed) or nothing.
 *
 * @example
 * ```ts
 * import { tf } from "../deps.ts";
 * await tf.setBackend("cpu");
 * const w = tf.randomNormal([64, 64]);
 * const profile = await profileWorkload(() => tf.matMul(w, w), 2);
 * if (profile.rows[0].kernel !== "BatchMatMul") throw new Error(profile.rows[0].kernel);
 * if (profile.rows[0].flop !== 2 * 64 * 64 * 64) throw new Error("flop");
 * w.dispose();
 * ```
 */
export async function profileWorkload(fn: () => unknown, repeats = 3): Promise<Profile> {
  await settle(await fn()); // warm-up
  const calls = await record(fn);
  const groups = new Map<string, { call: KernelCall; count: number }>();
  for (const call of calls) {
    const key = `${call.name}|${JSON.stringify(tensorsOf(call.inputs).map((t) => t.shape))}|` +
      JSON.stringify(call.attrs, (_, v) => v instanceof tf.Tensor ? v.shape : v);
    const g = groups.get(key);
    if (g) g.count++;
    else groups.set(key, { call, count: 1 });
  }
  const rows: ProfileRow[] = [];
  const latency = await readLatency();
  for (const { call, count } of groups.values()) {
    const one = await timeCall(call, repeats, latency);
    const inputs = tensorsOf(call.inputs);
    const flop = kernelFlop(call.name, call.inputs, call.attrs, call.outputs) * count;
    const bytes = count * 4 *
      (inputs.reduce((s, t) => s + t.size, 0) + call.outputs.reduce((s, o) => s + size(o), 0));
    const ms = one * count;
    rows.push({
      kernel: call.name,
      shapes: `${inputs.map((t) => `[${t.shape}]`).join(" ")} → ${
        call.outputs.map((o) => `[${o}]`).join(" ")
      }`,
      calls: count,
      ms,
      flop,
      bytes,
      gflops: flop / ms / 1e6,
      gbps: bytes / ms / 1e6,
    });
  }
  for (const call of calls) tf.dispose(tensorsOf(call.inputs));
  rows.sort((a, b) => b.ms - a.ms);
  const times: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const start = performance.now();
    await settle(await fn());
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return {
    rows,
    kernelMs: rows.reduce((s, r) => s + r.ms, 0),
    workloadMs: times[Math.floor(times.length / 2)],
    calls: calls.length,
  };
}

class CopyProgram extends FlatProgram {
  variableNames = ["x"];
  variableComponents = [4];
  shaderKey: string;

  constructor(n: number, private readonly perThread: number) {
    super([n], n / perThread);
    this.shaderKey = `hans_copy_${perThread}`;
  }

  getUserCode(): string {
    // Reads and writes vec4s: one thread moves perThread floats.
    return `
      fn main(index : i32) {
        if (index >= uniforms.threads) { return; }
        let base = index * ${this.perThread / 4};
        for (var k = 0; k < ${this.perThread / 4}; k++) {
          let v = x[base + k];
          result[(base + k) * 4] = v.x;
          result[(base + k) * 4 + 1] = v.y;
          result[(base + k) * 4 + 2] = v.z;
          result[(base + k) * 4 + 3] = v.w;
        }
      }
    `;
  }
}

/** What the adapter can do at best: the fastest matrix product and memory copy measured on it. */
export interface AdapterCeiling {
  /** Best GFLOP/s of a square float32 matrix product, over hans's kernel and tfjs's, and the sizes tried. */
  matmulGflops: number;
  /** Which product and size gave it. */
  matmulBest: string;
  /** Best GB/s (bytes read + written) of a plain copy of 64 MB (4 MB with `quick`). */
  copyGbps: number;
  /** Which copy gave it. */
  copyBest: string;
}

/**
 * Measures the adapter's ceiling: matrix products (square 512 and 1024, and tall ones like a batch through a
 * dense layer; hans's WGSL kernel where it is available and tfjs's) and memory copies (16 M floats: WGSL
 * copies of 4, 16 and 64 floats per thread, and tfjs's element-wise `neg`), keeping the best of each. `quick`
 * tries one 128³ product and 1 M floats (for tests).
 */
export async function adapterCeiling(repeats = 3, quick = false): Promise<AdapterCeiling> {
  const latency = await readLatency();
  const before = tf.getBackend() === "webgpu" ? hansKernelsActive() : false;
  let matmulGflops = 0;
  let matmulBest = "";
  try {
    for (const kernels of tf.getBackend() === "webgpu" ? ["hans", "tfjs"] : ["tfjs"]) {
      if (tf.getBackend() === "webgpu") useHansKernels(kernels === "hans");
      const shapes = quick
        ? [[128, 128, 128]]
        : [[512, 512, 512], [1024, 1024, 1024], [4096, 256, 256], [16384, 64, 64]];
      for (const [m, k, n] of shapes) {
        const a = tf.randomUniform([m, k]);
        const b = tf.randomUniform([k, n]);
        const ms = await timeRuns(() => [tf.matMul(a, b)], repeats, 0, latency);
        tf.dispose([a, b]);
        const g = 2 * m * k * n / ms / 1e6;
        if (g > matmulGflops) [matmulGflops, matmulBest] = [g, `${kernels} matMul ${m}×${k} · ${k}×${n}`];
      }
    }
  } finally {
    if (tf.getBackend() === "webgpu") useHansKernels(before);
  }
  const n = (quick ? 1 : 16) * 1024 * 1024;
  const x = tf.randomUniform([n]);
  let copyGbps = 0;
  let copyBest = "";
  const copies: [string, () => tf.Tensor][] = [["tfjs neg", () => tf.neg(x)]];
  if (tf.getBackend() === "webgpu") {
    const backend = tf.backend() as unknown as WebGPUBackendLike;
    for (const perThread of [4, 16, 64]) {
      copies.unshift([`WGSL copy, ${perThread} floats per thread`, () => {
        const info = runFlat(backend, new CopyProgram(n, perThread), [x]);
        return tf.engine().makeTensorFromTensorInfo(info);
      }]);
    }
  }
  for (const [name, fn] of copies) {
    const ms = await timeRuns(() => [fn()], repeats, 0, latency);
    const g = 2 * 4 * n / ms / 1e6;
    if (g > copyGbps) [copyGbps, copyBest] = [g, name];
  }
  x.dispose();
  return { matmulGflops, matmulBest, copyGbps, copyBest };
}
