/**
 * A register-blocked WGSL matrix product for the dense layers: each thread computes a block of up to 8 × 16
 * outputs and keeps it in registers, with no workgroup memory (slow on Mesa's software adapter). Handles
 * transposed operands, a batch dimension where one side may be shared, and an optional bias and ReLU.
 * @module
 */
import { tf } from "../deps.ts";
import { range } from "./conv2d_geometry.ts";
import { FlatProgram, runFlat, type WebGPUBackendLike } from "./program.ts";

class MatMulProgram extends FlatProgram {
  variableNames: string[];
  shaderKey: string;
  override uniforms = "threads : i32, M : i32, N : i32, K : i32, batchA : i32, batchB : i32,";

  constructor(
    outputShape: number[],
    threads: number,
    private readonly transposeA: boolean,
    private readonly transposeB: boolean,
    private readonly hasBias: boolean,
    private readonly relu: boolean,
    private readonly blockRows: number,
    private readonly groups: number,
  ) {
    super(outputShape, threads);
    this.variableNames = hasBias ? ["a", "b", "bias"] : ["a", "b"];
    this.shaderKey = `hans_matmul_${+transposeA}${+transposeB}${+hasBias}${+relu}_${blockRows}_${groups}`;
  }

  getUserCode(): string {
    const rows = range(this.blockRows);
    const g = range(this.groups);
    const cols = range(4 * this.groups);
    // A(m, k) and B(k, n) as flat indices of the (possibly transposed) operands.
    const aAt = (m: string) => this.transposeA ? `aBase + k * M + ${m}` : `aBase + ${m} * K + k`;
    const bAt = (n: string) => this.transposeB ? `bBase + ${n} * K + k` : `bBase + k * N + ${n}`;
    const acc = (i: number, q: number) => `acc${i}_${q}`;
    return `
      fn main(index : i32) {
        if (index >= uniforms.threads) { return; }
        let M = uniforms.M;
        let N = uniforms.N;
        let K = uniforms.K;
        let nBlocks = (N + ${4 * this.groups - 1}) / ${4 * this.groups};
        let mBlocks = (M + ${this.blockRows - 1}) / ${this.blockRows};
        let nb = index % nBlocks;
        let rest = index / nBlocks;
        let mb = rest % mBlocks;
        let batch = rest / mBlocks;
        let row0 = mb * ${this.blockRows};
        let col0 = nb * ${4 * this.groups};
        let aBase = min(batch, uniforms.batchA - 1) * M * K;
        let bBase = min(batch, uniforms.batchB - 1) * K * N;
        ${rows.map((i) => `let r${i} = min(row0 + ${i}, M - 1);`).join("\n")}
        ${cols.map((c) => `let c${c} = min(col0 + ${c}, N - 1);`).join("\n")}
        ${rows.flatMap((i) => g.map((q) => `var ${acc(i, q)} = vec4<f32>(0.0);`)).join("\n")}
        for (var k = 0; k < K; k++) {
          ${
      g.map((q) => `let bv${q} = vec4<f32>(${range(4).map((c) => `b[${bAt(`c${4 * q + c}`)}]`).join(", ")});`)
        .join("\n")
    }
          ${
      rows.map((i) =>
        `{ let av = a[${aAt(`r${i}`)}]; ${g.map((q) => `${acc(i, q)} += av * bv${q};`).join(" ")} }`
      ).join("\n")
    }
        }
        ${
      this.hasBias
        ? g.map((q) => `let biasv${q} = vec4<f32>(${range(4).map((c) => `bias[c${4 * q + c}]`).join(", ")});`)
          .join("\n") + "\n" + rows.flatMap((i) => g.map((q) => `${acc(i, q)} += biasv${q};`)).join("\n")
        : ""
    }
        ${
      this.relu
        ? rows.flatMap((i) => g.map((q) => `${acc(i, q)} = max(${acc(i, q)}, vec4<f32>(0.0));`)).join("\n")
        : ""
    }
        let outBase = batch * M * N;
        ${
      rows.map((i) =>
        cols.map((c) => `
        if (row0 + ${i} < M && col0 + ${c} < N) { result[outBase + (row0 + ${i}) * N + col0 + ${c}] = ${
          acc(i, Math.floor(c / 4))
        }[${c % 4}]; }`).join("")
      ).join("")
    }
      }
    `;
  }
}

/**
 * `act(a · b + bias)` with optional transposes, a bias of one value per column, and act ReLU or none;
 * undefined for shapes it does not handle (tfjs's kernel then runs).
 */
export function matMul(
  backend: WebGPUBackendLike,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  transposeA: boolean,
  transposeB: boolean,
  bias: tf.TensorInfo | undefined,
  relu: boolean,
): tf.TensorInfo | undefined {
  if (a.shape.length < 2 || b.shape.length < 2) return undefined;
  const ra = a.shape.length;
  const rb = b.shape.length;
  const [M, K] = transposeA ? [a.shape[ra - 1], a.shape[ra - 2]] : [a.shape[ra - 2], a.shape[ra - 1]];
  const [K2, N] = transposeB ? [b.shape[rb - 1], b.shape[rb - 2]] : [b.shape[rb - 2], b.shape[rb - 1]];
  if (K !== K2 || M === 0 || N === 0 || K === 0) return undefined;
  const batchDimsA = a.shape.slice(0, -2);
  const batchDimsB = b.shape.slice(0, -2);
  const batchA = batchDimsA.reduce((x, y) => x * y, 1);
  const batchB = batchDimsB.reduce((x, y) => x * y, 1);
  // One side's batch shared by all of the other's, or both the same; anything else goes to tfjs.
  if (batchA !== batchB && batchA !== 1 && batchB !== 1) return undefined;
  let batchDims: number[];
  try {
    batchDims = tf.backend_util.assertAndGetBroadcastShape(batchDimsA, batchDimsB);
  } catch {
    return undefined;
  }
  const batch = Math.max(batchA, batchB);
  // Each thread: 8 rows × 16 columns where the matrix has them (on lavapipe 1024³ ran at 13.6 GFLOP/s so
  // against 2.6 with 4 × 4 blocks, the 256 × 1568 · 1568 × 64 dense layer at 7.3 against 4.8).
  const blockRows = M >= 8 ? 8 : 4;
  const groups = N >= 16 ? 4 : N >= 8 ? 2 : 1;
  const threads = batch * Math.ceil(M / blockRows) * Math.ceil(N / (4 * groups));
  const program = new MatMulProgram(
    [...batchDims, M, N],
    threads,
    transposeA,
    transposeB,
    !!bias,
    relu,
    blockRows,
    groups,
  );
  return runFlat(backend, program, bias ? [a, b, bias] : [a, b], [
    { type: "int32", data: [M] },
    { type: "int32", data: [N] },
    { type: "int32", data: [K] },
    { type: "int32", data: [batchA] },
    { type: "int32", data: [batchB] },
  ]);
}
