/**
 * ReLU and its gradient's step function as flat WGSL kernels that read and write `vec4`s where the size
 * allows: on lavapipe tfjs's ReLU took 4.6 ms over the first conv layer's 802,816 values of a batch of 64,
 * this one 1.5 ms. NaN stays NaN, as in tfjs.
 * @module
 */
import type { tf } from "../deps.ts";
import { FlatProgram, runFlat, type WebGPUBackendLike } from "./program.ts";

/** The element-wise ops here. */
export type UnaryOp = "relu" | "step";

class UnaryProgram extends FlatProgram {
  variableNames = ["x"];
  variableComponents: number[];
  outputComponent: number;
  shaderKey: string;
  override uniforms = "threads : i32, alpha : f32,";

  constructor(shape: number[], private readonly op: UnaryOp, private readonly lanes: 1 | 4) {
    super(shape, shape.reduce((a, b) => a * b, 1) / lanes);
    this.variableComponents = [lanes];
    this.outputComponent = lanes;
    this.shaderKey = `hans_unary_${op}_${lanes}`;
  }

  /** NaN test on the bits: the compiler may assume `a != a` is false. */
  private isNan(a: string): string {
    const u = this.lanes === 4 ? "vec4<u32>" : "u32";
    return `(bitcast<${u}>(${a}) & ${u}(0x7fffffffu)) > ${u}(0x7f800000u)`;
  }

  getUserCode(): string {
    const t = this.lanes === 4 ? "vec4<f32>" : "f32";
    const body = this.op === "relu"
      ? `select(a, ${t}(0.0), a < ${t}(0.0))`
      : `select(select(${t}(uniforms.alpha), ${t}(1.0), a > ${t}(0.0)), a, ${this.isNan("a")})`;
    return `
      fn main(index : i32) {
        if (index >= uniforms.threads) { return; }
        let a = x[index];
        result[index] = ${body};
      }
    `;
  }
}

/** `op` applied to every value of float32 `x`; `alpha` is the step's value at and below 0. */
export function unary(backend: WebGPUBackendLike, x: tf.TensorInfo, op: UnaryOp, alpha = 0): tf.TensorInfo {
  const size = x.shape.reduce((a, b) => a * b, 1);
  const program = new UnaryProgram(x.shape, op, size % 4 === 0 ? 4 : 1);
  return runFlat(backend, program, [x], [{ type: "float32", data: [alpha] }]);
}
