/**
 * Swaps tfjs's WebGPU kernels for the model's hot ops with hans's hand-written ones (see `conv2d.ts` and
 * `matmul.ts`). They are faster on Mesa's software adapter, where workgroup memory and barriers are slow, and
 * are switched on at start-up only there; on a real GPU tfjs's tiled kernels stay. Cases a replacement does
 * not handle (NCHW, dilation, other dtypes) go to tfjs's own kernel.
 * @module
 */
import { tf } from "../deps.ts";
import { conv2dBackpropFilter, conv2dBackpropInput, conv2dForward } from "./conv2d.ts";
import { matMul } from "./matmul.ts";
import { maxPool, maxPoolGrad } from "./pool.ts";
import { blockReduce, columnSum } from "./reduce.ts";
import type { WebGPUBackendLike } from "./program.ts";

type KernelFunc = tf.KernelFunc;
type Args = Parameters<KernelFunc>[0];
type Attrs = Record<string, unknown>;

const originals = new Map<string, tf.KernelConfig>();

function convInfo(
  xShape: number[],
  filterShape: number[],
  attrs: Attrs,
): tf.backend_util.Conv2DInfo | undefined {
  const dataFormat = (attrs.dataFormat as string | undefined) ?? "NHWC";
  const dilations = attrs.dilations ?? 1;
  const dilated = Array.isArray(dilations) ? dilations.some((d) => d !== 1) : dilations !== 1;
  if (dataFormat !== "NHWC" || dilated) return undefined;
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides as [number, number] | number,
    1,
    attrs.pad as "same" | "valid" | number,
    attrs.dimRoundingMode as "floor" | "round" | "ceil" | undefined,
  );
}

function poolInfo(xShape: number[], attrs: Attrs): tf.backend_util.Conv2DInfo | undefined {
  const dilations = attrs.dilations ?? 1;
  const dilated = Array.isArray(dilations) ? dilations.some((d) => d !== 1) : dilations !== 1;
  if (dilated || xShape.length !== 4) return undefined;
  return tf.backend_util.computePool2DInfo(
    xShape as [number, number, number, number],
    attrs.filterSize as [number, number] | number,
    attrs.strides as [number, number] | number,
    1,
    attrs.pad as "same" | "valid" | number,
    attrs.dimRoundingMode as "floor" | "round" | "ceil" | undefined,
  );
}

const allFloat = (infos: tf.TensorInfo[]) => infos.every((t) => t.dtype === "float32");
const gpu = (backend: unknown) => backend as WebGPUBackendLike;

/**
 * Whether a fused op's bias is one value per output column/channel as the kernels add it: shape `[n]` or
 * `[1, …, 1, n]`. tfjs broadcasts any other shape, so those go to tfjs.
 */
function perColumnBias(bias: tf.TensorInfo | undefined, n: number): boolean {
  if (!bias) return true;
  const shape = bias.shape;
  return shape.length >= 1 && shape[shape.length - 1] === n && shape.slice(0, -1).every((d) => d === 1);
}

/**
 * A float32 sum, mean or max over a run of adjacent axes: sums over leading axes (`[0, …, k−1]`) as column
 * sums split over rows, everything else one thread per output; undefined for axes that are not adjacent,
 * empty tensors and integers, which go to tfjs.
 */
function reduction(
  inputs: Args["inputs"],
  backend: unknown,
  attrs: Args["attrs"],
  op: "sum" | "mean" | "max",
): tf.TensorInfo | undefined {
  const { x } = inputs as { x: tf.TensorInfo };
  // Sum and Mean name their axes `axis`, Max `reductionIndices`.
  const a = attrs as { axis?: number | number[]; reductionIndices?: number | number[]; keepDims: boolean };
  const axis = a.axis ?? a.reductionIndices;
  const rank = x.shape.length;
  if (axis === undefined || x.dtype !== "float32" || rank === 0) return undefined;
  const axes = tf.util.parseAxisParam(axis, x.shape).sort((p, q) => p - q);
  if (axes.length === 0 || new Set(axes).size !== axes.length) return undefined;
  if (axes.some((v, i) => i > 0 && v !== axes[i - 1] + 1)) return undefined;
  const size = (dims: number[]) => dims.reduce((p, q) => p * q, 1);
  const first = axes[0];
  const last = axes[axes.length - 1];
  const outer = size(x.shape.slice(0, first));
  const middle = size(x.shape.slice(first, last + 1));
  const inner = size(x.shape.slice(last + 1));
  const kept = x.shape.filter((_, i) => !axes.includes(i));
  const shape = a.keepDims ? x.shape.map((d, i) => axes.includes(i) ? 1 : d) : kept;
  if (outer * middle * inner === 0 || outer * inner === 1) return undefined;
  if (outer === 1 && op === "sum") return columnSum(gpu(backend), x, middle, inner, shape);
  return blockReduce(gpu(backend), x, [outer, middle, inner], shape, op);
}

/** The replacements: each returns undefined for a case it leaves to tfjs. */
const REPLACEMENTS: Record<string, (args: Args) => tf.TensorInfo | undefined> = {
  Conv2D({ inputs, backend, attrs }) {
    const { x, filter } = inputs as { x: tf.TensorInfo; filter: tf.TensorInfo };
    const c = allFloat([x, filter]) ? convInfo(x.shape, filter.shape, attrs as Attrs) : undefined;
    return c && conv2dForward(gpu(backend), x, filter, c);
  },
  FusedConv2D({ inputs, backend, attrs }) {
    const { x, filter, bias, preluActivationWeights } = inputs as Record<string, tf.TensorInfo | undefined>;
    const a = attrs as Attrs;
    const activation = a.activation as string;
    if (preluActivationWeights || (activation !== "linear" && activation !== "relu")) return undefined;
    if (!perColumnBias(bias, filter!.shape[3])) return undefined;
    const c = allFloat([x!, filter!]) ? convInfo(x!.shape, filter!.shape, a) : undefined;
    return c &&
      conv2dForward(gpu(backend), x!, filter!, c, bias, activation === "relu");
  },
  Conv2DBackpropInput({ inputs, backend, attrs }) {
    const { dy, filter } = inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
    const a = attrs as Attrs;
    const c = allFloat([dy, filter]) ? convInfo(a.inputShape as number[], filter.shape, a) : undefined;
    return c && conv2dBackpropInput(gpu(backend), dy, filter, c);
  },
  Conv2DBackpropFilter({ inputs, backend, attrs }) {
    const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
    const a = attrs as Attrs;
    // An empty batch has nothing to sum: tfjs returns zeros.
    const c = allFloat([x, dy]) && x.shape[0] > 0
      ? convInfo(x.shape, a.filterShape as number[], a)
      : undefined;
    return c && conv2dBackpropFilter(gpu(backend), x, dy, c);
  },
  MaxPool({ inputs, backend, attrs }) {
    const { x } = inputs as { x: tf.TensorInfo };
    const c = x.dtype === "float32" ? poolInfo(x.shape, attrs as Attrs) : undefined;
    return c && maxPool(gpu(backend), x, c);
  },
  MaxPoolGrad({ inputs, backend, attrs }) {
    const { dy, input } = inputs as { dy: tf.TensorInfo; input: tf.TensorInfo };
    const c = allFloat([dy, input]) ? poolInfo(input.shape, attrs as Attrs) : undefined;
    return c && maxPoolGrad(gpu(backend), dy, input, c);
  },
  Sum({ inputs, backend, attrs }) {
    return reduction(inputs, backend, attrs, "sum");
  },
  Max({ inputs, backend, attrs }) {
    return reduction(inputs, backend, attrs, "max");
  },
  Mean({ inputs, backend, attrs }) {
    return reduction(inputs, backend, attrs, "mean");
  },
  BatchMatMul({ inputs, backend, attrs }) {
    const { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const { transposeA, transposeB } = attrs as { transposeA: boolean; transposeB: boolean };
    if (!allFloat([a, b])) return undefined;
    return matMul(gpu(backend), a, b, transposeA, transposeB, undefined, false);
  },
  _FusedMatMul({ inputs, backend, attrs }) {
    const { a, b, bias, preluActivationWeights } = inputs as Record<string, tf.TensorInfo | undefined>;
    const { transposeA, transposeB, activation } = attrs as {
      transposeA: boolean;
      transposeB: boolean;
      activation: string;
    };
    if (preluActivationWeights || !allFloat([a!, b!]) || (activation !== "linear" && activation !== "relu")) {
      return undefined;
    }
    const n = transposeB ? b!.shape[b!.shape.length - 2] : b!.shape[b!.shape.length - 1];
    if (!perColumnBias(bias, n)) return undefined;
    return matMul(
      gpu(backend),
      a!,
      b!,
      transposeA,
      transposeB,
      bias,
      activation === "relu",
    );
  },
};

/** The names of the kernels hans replaces. */
export const REPLACED_KERNELS = Object.keys(REPLACEMENTS);

/** Per kernel name, how many calls hans's kernel handled (the rest went to tfjs's); tests read it. */
export const hansKernelCalls: Record<string, number> = Object.fromEntries(
  REPLACED_KERNELS.map((n) => [n, 0]),
);

/** True while hans's kernels are registered for the WebGPU backend. */
export function hansKernelsActive(): boolean {
  return originals.size > 0;
}

/**
 * Registers (`on`) or removes hans's WebGPU kernels. Idempotent; call it after the WebGPU backend is
 * registered. With them off, tfjs's own kernels run.
 */
export function useHansKernels(on: boolean): void {
  if (on === hansKernelsActive()) return;
  for (const name of REPLACED_KERNELS) {
    if (on) {
      const original = tf.getKernel(name, "webgpu");
      if (!original) continue;
      originals.set(name, original);
      tf.unregisterKernel(name, "webgpu");
      const replace = REPLACEMENTS[name];
      tf.registerKernel({
        kernelName: name,
        backendName: "webgpu",
        kernelFunc: (args: Args) => {
          const out = replace(args);
          if (!out) return original.kernelFunc(args) as tf.TensorInfo;
          hansKernelCalls[name]++;
          return out;
        },
      });
    } else {
      const original = originals.get(name);
      if (!original) continue;
      tf.unregisterKernel(name, "webgpu");
      tf.registerKernel(original);
    }
  }
  if (!on) originals.clear();
}
