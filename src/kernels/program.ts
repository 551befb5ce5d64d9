/**
 * The pieces every hand-written WGSL program shares: the shape of a program the tfjs WebGPU backend runs
 * (`runWebGPUProgram`), a flat one-thread-per-index dispatch, and running a program on backend-owned data.
 * @module
 */
import type { tf } from "../deps.ts";

/** Threads per workgroup of the flat programs. */
export const WORKGROUP = 64;

/** The backend methods a custom program needs. */
export interface WebGPUBackendLike {
  runWebGPUProgram(
    program: unknown,
    inputs: tf.TensorInfo[],
    dtype: string,
    uniforms: { type: string; data: number[] }[],
  ): tf.TensorInfo;
  disposeData(dataId: unknown): boolean;
  device: GPUDevice;
}

/**
 * A program with one thread per index `0 … threads−1` (`fn main(index : i32)`), whatever the output's shape;
 * each thread may write several outputs. `uniforms.threads` bounds the index.
 */
export abstract class FlatProgram {
  abstract variableNames: string[];
  outputShape: number[];
  abstract shaderKey: string;
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [WORKGROUP, 1, 1];
  uniforms = "threads : i32,";

  constructor(outputShape: number[], readonly threads: number) {
    this.outputShape = outputShape;
    this.dispatchLayout = { x: outputShape.map((_, i) => i) };
    // The backend reshapes a dispatch wider than the device allows into two or three dimensions.
    this.dispatch = [Math.ceil(threads / WORKGROUP), 1, 1];
  }

  abstract getUserCode(): string;
}

/** Runs `program` on `inputs` and returns the backend's output info (float32). */
export function runFlat(
  backend: WebGPUBackendLike,
  program: FlatProgram,
  inputs: tf.TensorInfo[],
  extra: { type: string; data: number[] }[] = [],
): tf.TensorInfo {
  return backend.runWebGPUProgram(program, inputs, "float32", [
    { type: "int32", data: [program.threads] },
    ...extra,
  ]);
}

/** Sums `[splits, n]` partial results over the splits into the output shape. */
export class SumSplitsProgram extends FlatProgram {
  variableNames = ["partial"];
  shaderKey = "hans_sum_splits";
  override uniforms = "threads : i32, splits : i32,";

  constructor(outputShape: number[], n: number) {
    super(outputShape, n);
  }

  getUserCode(): string {
    return `
      fn main(index : i32) {
        if (index >= uniforms.threads) { return; }
        var sum = 0.0;
        for (var s = 0; s < uniforms.splits; s++) { sum += partial[s * uniforms.threads + index]; }
        result[index] = sum;
      }
    `;
  }
}
