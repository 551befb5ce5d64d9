/**
 * WGSL reductions: a sum over leading axes (a bias gradient `[…, C] → [C]`, a sum over samples), split over
 * rows so that many threads share the long reduction, then a second pass adds the splits; and a sum or max
 * over trailing axes (over channels: `[n, h, w, c] → [n, h, w]`), one thread per output. tfjs's general
 * reduction uses workgroup memory and barriers, which are slow on Mesa's software adapter.
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

class RowReduceProgram extends FlatProgram {
  variableNames = ["x"];
  shaderKey: string;
  override uniforms = "threads : i32, columns : i32,";

  constructor(outputShape: number[], rows: number, private readonly op: "sum" | "max") {
    super(outputShape, rows);
    this.shaderKey = `hans_row_${op}`;
  }

  getUserCode(): string {
    const combine = this.op === "sum" ? "acc + v" : "max(acc, v)";
    return `
      fn main(index : i32) {
        if (index >= uniforms.threads) { return; }
        let base = index * uniforms.columns;
        var acc = x[base];
        for (var c = 1; c < uniforms.columns; c++) { let v = x[base + c]; acc = ${combine}; }
        result[index] = acc;
      }
    `;
  }
}

/** Reduces `x` viewed as `[rows, columns]` over its columns (sum or max); the result has `outputShape`. */
export function rowReduce(
  backend: WebGPUBackendLike,
  x: tf.TensorInfo,
  rows: number,
  columns: number,
  outputShape: number[],
  op: "sum" | "max",
): tf.TensorInfo {
  return runFlat(backend, new RowReduceProgram(outputShape, rows, op), [x], [
    { type: "int32", data: [columns] },
  ]);
}
