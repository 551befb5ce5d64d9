/**
 * Adam in two WGSL dispatches per variable instead of tfjs's dozen element-wise kernels: one updates both
 * moments, packed as `[2, n]`, and one applies the bias-corrected step to the weights. The arithmetic is
 * tfjs's `AdamOptimizer` in the same order, so the weights agree with it to float rounding. Used by
 * {@linkcode FusedAdam} where hans's WebGPU kernels are active.
 * @module
 */
import { tf } from "../deps.ts";
import { FlatProgram, runFlat, type WebGPUBackendLike } from "./program.ts";

/** m′ = β1·m + (1 − β1)·g and v′ = β2·v + (1 − β2)·g², for `[2, n]` moments (m then v). */
class AdamMomentsProgram extends FlatProgram {
  variableNames = ["g", "moments"];
  shaderKey = "hans_adam_moments";
  override uniforms = "threads : i32, beta1 : f32, beta2 : f32,";

  constructor(n: number) {
    super([2, n], n);
  }

  getUserCode(): string {
    return `
      fn main(index : i32) {
        if (index >= uniforms.threads) { return; }
        let n = uniforms.threads;
        let grad = g[index];
        result[index] = moments[index] * uniforms.beta1 + grad * (1.0 - uniforms.beta1);
        result[n + index] = moments[n + index] * uniforms.beta2 + (grad * grad) * (1.0 - uniforms.beta2);
      }
    `;
  }
}

/** w′ = w − lr · (m′ / (1 − β1ᵗ)) / (√(v′ / (1 − β2ᵗ)) + ε). */
class AdamApplyProgram extends FlatProgram {
  variableNames = ["w", "moments"];
  shaderKey = "hans_adam_apply";
  override uniforms = "threads : i32, lr : f32, c1 : f32, c2 : f32, eps : f32,";

  constructor(shape: number[], n: number) {
    super(shape, n);
  }

  getUserCode(): string {
    return `
      fn main(index : i32) {
        if (index >= uniforms.threads) { return; }
        let m = moments[index] / uniforms.c1;
        let v = moments[uniforms.threads + index] / uniforms.c2;
        result[index] = (m / (sqrt(v) + uniforms.eps)) * (-uniforms.lr) + w[index];
      }
    `;
  }
}

/**
 * Adam (Kingma & Ba 2015) with tfjs's defaults (β1 0.9, β2 0.999, ε the backend's epsilon), for training on
 * hans's WebGPU kernels: `minimize(f)` takes the gradients of f's value with respect to the trainable
 * variables and updates each variable and its moments in two dispatches.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { initBackend } from "../backend.ts";
 * import { tf } from "../deps.ts";
 *
 * const { backend } = await initBackend({ warn: false });
 * if (backend === "webgpu") { // FusedAdam runs hans's WGSL kernels: WebGPU only
 *   const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [2], units: 1, kernelInitializer: "zeros" })] });
 *   const [x, y] = [tf.tensor2d([[1, 2]]), tf.tensor2d([[1]])];
 *   const optimizer = new FusedAdam(0.1);
 *   const loss = optimizer.minimize(() => tf.losses.meanSquaredError(y, model.apply(x) as tf.Tensor) as tf.Scalar);
 *   assert.equal((await loss.data())[0], 1); // before the step: (0 − 1)²
 *   // Adam's first step moves each weight by about the learning rate, against its gradient's sign.
 *   const kernel = await model.getWeights()[0].data();
 *   assert.ok(Array.from(kernel).every((w) => Math.abs(w - 0.1) < 1e-5));
 *   optimizer.dispose();
 *   tf.dispose([x, y, loss]);
 *   model.dispose();
 * }
 * ```
 */
export class FusedAdam {
  private readonly moments = new Map<string, tf.Tensor>();
  private step = 0;

  constructor(
    readonly learningRate: number,
    readonly beta1 = 0.9,
    readonly beta2 = 0.999,
    readonly epsilon = tf.backend().epsilon(),
  ) {}

  /**
   * One Adam step on the gradients of `f()`; returns f's value (a scalar the caller disposes). `returnCost`
   * is there for the call sites of tfjs's optimizers: the value is always returned.
   */
  minimize(f: () => tf.Scalar, _returnCost = true): tf.Scalar {
    const { value, grads } = tf.variableGrads(f);
    this.step++;
    const backend = tf.backend() as unknown as WebGPUBackendLike;
    const c1 = 1 - this.beta1 ** this.step;
    const c2 = 1 - this.beta2 ** this.step;
    for (const [name, g] of Object.entries(grads)) {
      const variable = tf.engine().registeredVariables[name];
      const n = variable.size;
      const old = this.moments.get(name) ?? tf.zeros([2, n]);
      const moments = tf.engine().makeTensorFromTensorInfo(
        runFlat(backend, new AdamMomentsProgram(n), [g, old], [
          { type: "float32", data: [this.beta1] },
          { type: "float32", data: [this.beta2] },
        ]),
      );
      const next = tf.engine().makeTensorFromTensorInfo(
        runFlat(backend, new AdamApplyProgram(variable.shape, n), [variable, moments], [
          { type: "float32", data: [this.learningRate] },
          { type: "float32", data: [c1] },
          { type: "float32", data: [c2] },
          { type: "float32", data: [this.epsilon] },
        ]),
      );
      variable.assign(next);
      tf.dispose([old, next, g]);
      this.moments.set(name, tf.keep(moments));
    }
    return value;
  }

  /** Releases the moments. */
  dispose(): void {
    tf.dispose([...this.moments.values()]);
    this.moments.clear();
  }
}
