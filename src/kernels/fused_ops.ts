/**
 * Fused layers for hans's own CNN on the WebGPU backend: conv + bias + ReLU + 2×2 max-pool forward in two
 * dispatches (tfjs runs four under a gradient tape: Conv2D, Add, Relu, MaxPool), its backward with the ReLU
 * mask and the pool's gradient in one dispatch (tfjs: MaxPoolGrad, Step, Multiply), and dense + bias + ReLU
 * with the ReLU's gradient in one dispatch. Each op is a `tf.customGrad` over only the tensors whose
 * gradient is wanted (`grads`), so a saliency pass computes no weight gradients and a training step no input
 * gradient for the first layer. Used through `src/model/cnn_fused.ts`, only where hans's kernels are active.
 * @module
 */
import { tf } from "../deps.ts";
import { conv2dForward } from "./conv2d.ts";
import { maxPool, maxPoolGrad } from "./pool.ts";
import { convReluPoolApplies, convReluPoolForward, unpoolGrad } from "./conv_relu_pool.ts";
import { FlatProgram, runFlat, type WebGPUBackendLike } from "./program.ts";

/** Which gradients a fused op passes back: to its input, to its weights and bias. */
export interface FusedGrads {
  input: boolean;
  weights: boolean;
}

const CONV_RELU_POOL = "HansConvReluPool";
const RELU_POOL_GRAD = "HansReluPoolGrad";
const RELU_GRAD = "HansReluGrad";

type PoolInfo = tf.backend_util.Conv2DInfo;
const gpu = (backend: unknown) => backend as WebGPUBackendLike;

function convInfo(x: number[], filter: number[], pad: "same" | "valid"): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(
    x as [number, number, number, number],
    filter as [number, number, number, number],
    1,
    1,
    pad,
  );
}

function poolInfo(z: number[]): PoolInfo {
  return tf.backend_util.computePool2DInfo(z as [number, number, number, number], 2, 2, 1, "valid");
}

/** dz = dy where y > 0, else 0 (ReLU's gradient from its output). */
class ReluGradProgram extends FlatProgram {
  variableNames = ["dy", "y"];
  shaderKey = "hans_relu_grad";

  constructor(shape: number[]) {
    super(shape, shape.reduce((a, b) => a * b, 1));
  }

  getUserCode(): string {
    return `
      fn main(index : i32) {
        if (index >= uniforms.threads) { return; }
        result[index] = select(0.0, dy[index], y[index] > 0.0);
      }
    `;
  }
}

/** A fused op's forward: its value and the gradients of the inputs `own` names, in the order x, w, b. */
type FusedForwardFn<X extends tf.Tensor, W extends tf.Tensor> = (
  x: X,
  w: W,
  b: tf.Tensor1D,
  save: tf.GradSaveFunc,
  own: FusedGrads,
) => { value: tf.Tensor; gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor[] };

/**
 * Runs `forward` as a `tf.customGrad` over only the tensors whose gradient `grads` asks for (x, or w and b,
 * or all three); with neither asked, over x, so that the op stays differentiable.
 */
function withGrads<X extends tf.Tensor, W extends tf.Tensor>(
  grads: FusedGrads,
  x: X,
  w: W,
  b: tf.Tensor1D,
  forward: FusedForwardFn<X, W>,
): tf.Tensor {
  const own = { input: grads.input || !grads.weights, weights: grads.weights };
  const inputs = [...(own.input ? [x] : []), ...(own.weights ? [w, b] : [])];
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args.pop() as tf.GradSaveFunc;
    const xs = own.input ? args.shift() as X : x;
    const [ws, bs] = own.weights ? args as [W, tf.Tensor1D] : [w, b];
    return forward(xs, ws, bs, save, own);
  })(...inputs);
}

let registered = false;

/** Registers the fused kernels for the WebGPU backend (once). */
function register(): void {
  if (registered) return;
  registered = true;
  tf.registerKernel({
    kernelName: CONV_RELU_POOL,
    backendName: "webgpu",
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, filter, bias } = inputs as Record<string, tf.TensorInfo>;
      const c = convInfo(x.shape, filter.shape, (attrs as { pad: "same" | "valid" }).pad);
      if (convReluPoolApplies(c)) {
        return [convReluPoolForward(gpu(backend), x, filter, bias, c)];
      }
      const z = conv2dForward(gpu(backend), x, filter, c, bias, true);
      return [maxPool(gpu(backend), z, poolInfo(z.shape)), z];
    },
  });
  tf.registerKernel({
    kernelName: RELU_POOL_GRAD,
    backendName: "webgpu",
    kernelFunc: ({ inputs, backend }) => {
      const { dy, z } = inputs as Record<string, tf.TensorInfo>;
      // z is the conv's output, or the one-dispatch forward's pooled output with the window positions.
      if (z.shape.every((d, i) => d === dy.shape[i])) return unpoolGrad(gpu(backend), dy, z);
      return maxPoolGrad(gpu(backend), dy, z, poolInfo(z.shape), true);
    },
  });
  tf.registerKernel({
    kernelName: RELU_GRAD,
    backendName: "webgpu",
    kernelFunc: ({ inputs, backend }) => {
      const { dy, y } = inputs as Record<string, tf.TensorInfo>;
      return runFlat(gpu(backend), new ReluGradProgram(y.shape), [dy, y]);
    },
  });
}

function run<T extends tf.Tensor | tf.Tensor[]>(
  name: string,
  inputs: Record<string, tf.Tensor>,
  attrs: Record<string, unknown> = {},
): T {
  register();
  return tf.engine().runKernel(name, inputs as tf.NamedTensorMap, attrs as tf.NamedAttrMap) as T;
}

/**
 * Whether a conv output of this shape can be pooled by {@linkcode convReluPool}: height and width even, so
 * that the 2×2 windows tile it.
 */
export function poolTiles(height: number, width: number): boolean {
  return height % 2 === 0 && width % 2 === 0 && height > 0 && width > 0;
}

/**
 * `maxPool2x2(relu(conv2d(x, filter, stride 1, pad) + bias))`, with its gradient to `x` and/or to `filter`
 * and `bias` as `grads` asks (the others are constants to the tape). The conv output's height and width must
 * be even ({@linkcode poolTiles}). WebGPU only.
 */
export function convReluPool(
  x: tf.Tensor4D,
  filter: tf.Tensor4D,
  bias: tf.Tensor1D,
  pad: "same" | "valid",
  grads: FusedGrads,
): tf.Tensor4D {
  const convAttrs = { strides: 1, pad, dataFormat: "NHWC", dilations: 1, dimRoundingMode: undefined };
  const forward = (
    xs: tf.Tensor4D,
    w: tf.Tensor4D,
    b: tf.Tensor1D,
    save: tf.GradSaveFunc,
    own: FusedGrads,
  ) => {
    // The conv output z, or (one dispatch) only the pooled output p, which carries what the backward needs.
    const outs = run<tf.Tensor4D | tf.Tensor4D[]>(CONV_RELU_POOL, { x: xs, filter: w, bias: b }, { pad });
    const [p, z] = Array.isArray(outs) ? outs : [outs];
    save([xs, w, z ?? p]); // the tape keeps its own references
    z?.dispose();
    return {
      value: p,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sw, sz] = saved as tf.Tensor4D[];
        const dz = run<tf.Tensor4D>(RELU_POOL_GRAD, { dy, z: sz });
        const out: tf.Tensor[] = [];
        if (own.input) {
          out.push(run(
            "Conv2DBackpropInput",
            { dy: dz, filter: sw },
            { ...convAttrs, inputShape: sx.shape },
          ));
        }
        if (own.weights) {
          out.push(
            run("Conv2DBackpropFilter", { x: sx, dy: dz }, { ...convAttrs, filterShape: sw.shape }),
            tf.sum(dz, [0, 1, 2]),
          );
        }
        return out;
      },
    };
  };
  return withGrads(grads, x, filter, bias, forward) as tf.Tensor4D;
}

/**
 * `x · w + bias`, then ReLU if `relu`, for `[n, k]` x and `[k, m]` w, with its gradient to `x` and/or to
 * `w` and `bias` as `grads` asks (ReLU's gradient in one dispatch). WebGPU only.
 */
export function dense(
  x: tf.Tensor2D,
  w: tf.Tensor2D,
  bias: tf.Tensor1D,
  relu: boolean,
  grads: FusedGrads,
): tf.Tensor2D {
  const forward = (
    xs: tf.Tensor2D,
    ws: tf.Tensor2D,
    b: tf.Tensor1D,
    save: tf.GradSaveFunc,
    own: FusedGrads,
  ) => {
    const [n, k] = xs.shape;
    const m = ws.shape[1];
    const y = tf.tidy(() =>
      run<tf.Tensor>("_FusedMatMul", {
        a: xs.reshape([1, n, k]),
        b: ws.reshape([1, k, m]),
        bias: b,
      }, { transposeA: false, transposeB: false, activation: relu ? "relu" : "linear" }).reshape([n, m])
    );
    save([xs, ws, y]);
    return {
      value: y as tf.Tensor2D,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sw, sy] = saved as tf.Tensor2D[];
        const dz = relu ? run<tf.Tensor2D>(RELU_GRAD, { dy, y: sy }) : dy;
        const out: tf.Tensor[] = [];
        if (own.input) out.push(tf.matMul(dz, sw, false, true));
        if (own.weights) out.push(tf.matMul(sx, dz, true, false), tf.sum(dz, 0));
        return out;
      },
    };
  };
  return withGrads(grads, x, w, bias, forward) as tf.Tensor2D;
}
