/**
 * WGSL reductions: a sum over leading axes (a bias gradient `[…, C] → [C]`, a sum over samples), split over
 * rows so that many threads share the long reduction, then a second pass adds the splits; and a sum, mean or
 * max over any other run of adjacent axes (over channels: `[n, h, w, c] → [n, h, w]`; over positions:
 * `[n, h, w, c] → [n, 1, 1, c]`), one thread per output. tfjs's general reduction uses workgroup memory and
 * barriers, which are slow on Mesa's software adapter.
 * @module
 */
import type { tf } from "../deps.ts";
import { FlatProgram, runFlat, SumSplitsProgram, type WebGPUBackendLike } from "./program.ts";

/** Threads the column sum aims for. */
const THREADS = 2048;

class ColumnSumProgram extends FlatProgram {
  variableNames = ["x"];
  shaderKey = "hans_column_sum";
  override uniforms = "threads : i32, rows : i32, columns : i32, rowsPerSplit : i32,";

  constructor(splits: number, columns: number) {
    super([splits, columns], splits * columns);
  }

  getUserCode(): string {
    return `
      fn main(index : i32) {
        if (index >= uniforms.threads) { return; }
        let column = index % uniforms.columns;
        let split = index / uniforms.columns;
        let first = split * uniforms.rowsPerSplit;
        let last = min(uniforms.rows, first + uniforms.rowsPerSplit);
        var sum = 0.0;
        for (var row = first; row < last; row++) { sum += x[row * uniforms.columns + column]; }
        result[index] = sum;
      }
    `;
  }
}

/** Sums `x` viewed as `[rows, columns]` over its rows; the result has `outputShape` (columns values). */
export function columnSum(
  backend: WebGPUBackendLike,
  x: tf.TensorInfo,
  rows: number,
  columns: number,
  outputShape: number[],
): tf.TensorInfo {
  const splits = Math.max(1, Math.min(rows, Math.ceil(THREADS / columns)));
  const rowsPerSplit = Math.ceil(rows / splits);
  const used = Math.ceil(rows / rowsPerSplit);
  const partial = runFlat(backend, new ColumnSumProgram(used, columns), [x], [
    { type: "int32", data: [rows] },
    { type: "int32", data: [columns] },
    { type: "int32", data: [rowsPerSplit] },
  ]);
  if (used === 1) return { ...partial, shape: outputShape };
  const out = runFlat(backend, new SumSplitsProgram(outputShape, columns), [partial], [
    { type: "int32", data: [used] },
  ]);
  backend.disposeData(partial.dataId);
  return out;
}

class BlockReduceProgram extends FlatProgram {
  variableNames = ["x"];
  shaderKey: string;
  override uniforms = "threads : i32, middle : i32, inner : i32, scale : f32,";

  constructor(outputShape: number[], outputs: number, private readonly op: "sum" | "max") {
    super(outputShape, outputs);
    this.shaderKey = `hans_block_${op}`;
  }

  getUserCode(): string {
    const combine = this.op === "sum" ? "acc + v" : "max(acc, v)";
    return `
      fn main(index : i32) {
        if (index >= uniforms.threads) { return; }
        let inner = index % uniforms.inner;
        let base = (index / uniforms.inner) * uniforms.middle * uniforms.inner + inner;
        var acc = x[base];
        for (var m = 1; m < uniforms.middle; m++) { let v = x[base + m * uniforms.inner]; acc = ${combine}; }
        result[index] = acc * uniforms.scale;
      }
    `;
  }
}

/**
 * Reduces `x` viewed as `[outer, middle, inner]` over its middle axis (sum, mean or max; one thread per
 * output value); the result has `outputShape` (`outer × inner` values).
 */
export function blockReduce(
  backend: WebGPUBackendLike,
  x: tf.TensorInfo,
  [outer, middle, inner]: [number, number, number],
  outputShape: number[],
  op: "sum" | "mean" | "max",
): tf.TensorInfo {
  return runFlat(backend, new BlockReduceProgram(outputShape, outer * inner, op === "max" ? "max" : "sum"), [
    x,
  ], [
    { type: "int32", data: [middle] },
    { type: "int32", data: [inner] },
    { type: "float32", data: [op === "mean" ? 1 / middle : 1] },
  ]);
}
