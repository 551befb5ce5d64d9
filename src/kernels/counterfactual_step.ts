/**
 * The counterfactual update step as one hand-written WGSL kernel on tensors the tfjs WebGPU backend owns:
 * the L2 penalty's gradient, Adam's moments and bias correction, the L1 proximal step in Adam's metric (soft
 * threshold lr·λ1 / (√v̂ + ε), so a pixel moves only where the loss's gradient outweighs λ1) and the projection
 * to the pixel range, for every pixel of every image in one dispatch. {@link counterfactualStepReference}
 * is the same step in plain tfjs ops.
 * @module
 */
import { tf } from "../deps.ts";
import type { WebGPUBackendLike } from "./program.ts";

/** Adam and penalty settings of one step. */
export interface StepSettings {
  /** Step number, from 1 (for Adam's bias correction). */
  t: number;
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  /** Valid pixel range. */
  range: [number, number];
}

/**
 * Inputs of one step. `state` is `[3, total]`: the current image x′, Adam's first and second moments, where
 * `total = n * size` values. `params` is `[n, 3]`: per image λ1 (L1), λ2 (L2) and 1 when still optimizing (0
 * freezes the image). `grad` is the model loss's gradient with respect to x′ (`total` values, any shape).
 */
export interface StepInputs {
  original: tf.Tensor;
  state: tf.Tensor2D;
  grad: tf.Tensor;
  params: tf.Tensor2D;
}

const WORKGROUP = 64;

class CounterfactualStepProgram {
  variableNames = ["x0", "state", "grad", "params"];
  outputShape: number[];
  shaderKey = "hans_counterfactual_step";
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [WORKGROUP, 1, 1];
  uniforms =
    "total : i32, perImage : i32, lr : f32, beta1 : f32, beta2 : f32, eps : f32, c1 : f32, c2 : f32, " +
    "lo : f32, hi : f32,";

  constructor(total: number) {
    this.outputShape = [3, total];
    this.dispatchLayout = { x: [0, 1] };
    this.dispatch = [Math.ceil(total / WORKGROUP), 1, 1];
  }

  getUserCode(): string {
    return `
      fn main(index : i32) {
        let total = uniforms.total;
        if (index >= total) { return; }
        let image = index / uniforms.perImage;
        let lambda1 = params[image * 3];
        let lambda2 = params[image * 3 + 1];
        let optimizing = params[image * 3 + 2];
        let x = state[index];
        let m = state[total + index];
        let v = state[2 * total + index];
        let x0v = x0[index];
        if (optimizing < 0.5) {
          result[index] = x;
          result[total + index] = m;
          result[2 * total + index] = v;
          return;
        }
        let d = x - x0v;
        let g = grad[index] + 2.0 * lambda2 * d;
        let m1 = uniforms.beta1 * m + (1.0 - uniforms.beta1) * g;
        let v1 = uniforms.beta2 * v + (1.0 - uniforms.beta2) * g * g;
        let scale = uniforms.lr / (sqrt(v1 * uniforms.c2) + uniforms.eps);
        let d1 = d - scale * m1 * uniforms.c1;
        let shrunk = sign(d1) * max(abs(d1) - scale * lambda1, 0.0);
        result[index] = clamp(x0v + shrunk, uniforms.lo, uniforms.hi);
        result[total + index] = m1;
        result[2 * total + index] = v1;
      }
    `;
  }
}

/** Adam's bias-correction factors 1 / (1 − β^t). */
function corrections(s: StepSettings): [number, number] {
  return [1 / (1 - Math.pow(s.beta1, s.t)), 1 / (1 - Math.pow(s.beta2, s.t))];
}

/** One fused step on the WebGPU backend; returns the new `[3, total]` state. */
export function counterfactualStepFused(inputs: StepInputs, s: StepSettings): tf.Tensor2D {
  const total = inputs.state.shape[1];
  const n = inputs.params.shape[0];
  const backend = tf.backend() as unknown as WebGPUBackendLike;
  const [c1, c2] = corrections(s);
  const flat = (t: tf.Tensor) => (t.rank === 1 ? t : t.reshape([-1]));
  return tf.tidy(() => {
    const x0 = flat(inputs.original);
    const g = flat(inputs.grad);
    const info = backend.runWebGPUProgram(
      new CounterfactualStepProgram(total),
      [x0, inputs.state, g, inputs.params],
      "float32",
      [
        { type: "int32", data: [total] },
        { type: "int32", data: [total / n] },
        { type: "float32", data: [s.learningRate] },
        { type: "float32", data: [s.beta1] },
        { type: "float32", data: [s.beta2] },
        { type: "float32", data: [s.epsilon] },
        { type: "float32", data: [c1] },
        { type: "float32", data: [c2] },
        { type: "float32", data: [s.range[0]] },
        { type: "float32", data: [s.range[1]] },
      ],
    );
    return tf.engine().makeTensorFromTensorInfo(info) as tf.Tensor2D;
  });
}

/** The same step in plain tfjs ops (about ten kernels); the reference the fused kernel is tested against. */
export function counterfactualStepReference(inputs: StepInputs, s: StepSettings): tf.Tensor2D {
  const [c1, c2] = corrections(s);
  return tf.tidy(() => {
    const total = inputs.state.shape[1];
    const n = inputs.params.shape[0];
    const perImage = total / n;
    const x0 = inputs.original.reshape([n, perImage]);
    const g0 = inputs.grad.reshape([n, perImage]);
    const [x, m, v] = tf.split(inputs.state, 3, 0).map((t) => t.reshape([n, perImage]));
    const [lambda1, lambda2, active] = tf.split(inputs.params, 3, 1);
    const d = tf.sub(x, x0);
    const g = tf.add(g0, tf.mul(tf.mul(lambda2, 2), d));
    const m1 = tf.add(tf.mul(m, s.beta1), tf.mul(g, 1 - s.beta1));
    const v1 = tf.add(tf.mul(v, s.beta2), tf.mul(tf.square(g), 1 - s.beta2));
    const scale = tf.div(s.learningRate, tf.add(tf.sqrt(tf.mul(v1, c2)), s.epsilon));
    const d1 = tf.sub(d, tf.mul(scale, tf.mul(m1, c1)));
    const shrunk = tf.mul(tf.sign(d1), tf.relu(tf.sub(tf.abs(d1), tf.mul(scale, lambda1))));
    const x1 = tf.clipByValue(tf.add(x0, shrunk), s.range[0], s.range[1]);
    const keep = tf.cast(tf.greater(active, 0.5), "float32");
    const mix = (next: tf.Tensor, prev: tf.Tensor) =>
      tf.add(tf.mul(next, keep), tf.mul(prev, tf.sub(1, keep)));
    return tf.stack([mix(x1, x), mix(m1, m), mix(v1, v)]).reshape([3, total]) as tf.Tensor2D;
  });
}

/** The fused step on the WebGPU backend, the reference elsewhere (the cpu backend has no WGSL). */
export function counterfactualStep(inputs: StepInputs, s: StepSettings): tf.Tensor2D {
  const total = inputs.state.shape[1];
  return tf.getBackend() === "webgpu" && Math.ceil(total / WORKGROUP) <= 65535
    ? counterfactualStepFused(inputs, s)
    : counterfactualStepReference(inputs, s);
}
