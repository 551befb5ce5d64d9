/**
 * Convolutions, depthwise convolutions and dense products whose gradient flows to their input only. tfjs's
 * fused ops differentiate their kernel and bias too, eagerly, whatever the caller asks (about a fifth of a
 * MobileNetV2 backward pass, all thrown away: hans differentiates with respect to images and activations,
 * never weights), and the depthwise convolution's input gradient is a kernel that tfjs's wasm backend lacks
 * and that runs slowly on WebGPU. Here the input gradient is a forward convolution: of the output gradient,
 * dilated by the stride and padded, with the kernel turned 180° (a transposed convolution written with the
 * kernels every backend has). Forward values are tfjs's fused ops, unchanged.
 * @module
 */
import { tf } from "../deps.ts";

/** Geometry of a convolution. */
export interface ConvGeometry {
  /** Strides (rows, columns). */
  strides: [number, number];
  /** `same`, `valid`, or explicit padding `[[top, bottom], [left, right]]`. */
  pad: "same" | "valid" | [[number, number], [number, number]];
  /** Dilation rate (rows, columns). */
  dilations: [number, number];
}

/** The fused activations whose gradient is written here. */
export type InputGradientActivation = "linear" | "relu";

/**
 * Padding before (first) and after (second) that turns a convolution's output gradient, dilated by the
 * stride, into the input of a stride-1 `valid` convolution giving the input gradient; negative values crop.
 * One dimension: input length `input`, output length `output`, effective kernel length `span`, the forward
 * padding `same`, `valid` or explicit (before, after).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * // 3-tap kernel, stride 1, `same` on 5 values: pad the gradient by 1 on both sides.
 * assert.deepEqual(transposedPadding(5, 5, 3, 1, "same"), [1, 1]);
 * // Stride 2, `same` on 224 values (112 out; tfjs pads the input by 0 before, 1 after): 2 before, 1 after
 * // the 223 dilated values.
 * assert.deepEqual(transposedPadding(224, 112, 3, 2, "same"), [2, 1]);
 * ```
 */
export function transposedPadding(
  input: number,
  output: number,
  span: number,
  stride: number,
  pad: "same" | "valid" | [number, number],
): [number, number] {
  const total = pad === "same" ? Math.max((output - 1) * stride + span - input, 0) : 0;
  const before = span - 1 - (typeof pad === "string" ? Math.floor(total / 2) : pad[0]);
  const dilated = (output - 1) * stride + 1;
  return [before, input + span - 1 - dilated - before];
}

/** `dy` `[b,h,w,c]` with `stride − 1` zeros after each row and column (the trailing ones left on). */
function dilate(dy: tf.Tensor4D, [sh, sw]: [number, number]): tf.Tensor4D {
  const [b, h, w, c] = dy.shape;
  let out = dy;
  if (sh > 1) {
    out = tf.pad(out.reshape([b, h, 1, w * c]), [[0, 0], [0, 0], [0, sh - 1], [0, 0]]).reshape([
      b,
      h * sh,
      w,
      c,
    ]);
  }
  if (sw > 1) {
    out = tf.pad(out.reshape([b * h * sh, w, 1, c]), [[0, 0], [0, 0], [0, sw - 1], [0, 0]])
      .reshape([b, h * sh, w * sw, c]);
  }
  return out;
}

/**
 * Rows `[before, after]` and columns `[before, after]` cut from `x` `[b,h,w,c]`, as one slice of rows of
 * `w·c` values (tfjs's wasm backend copies a 4-D slice one pixel at a time; docs/performance.md).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 *
 * await tf.setBackend("cpu");
 * const x = tf.tensor4d([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 3, 3, 1]);
 * assert.deepEqual(cropSpatial(x, [0, 1], [1, 0]).arraySync(), [[[[2], [3]], [[5], [6]]]]);
 * ```
 */
export function cropSpatial(x: tf.Tensor4D, rows: [number, number], cols: [number, number]): tf.Tensor4D {
  if (rows[0] === 0 && rows[1] === 0 && cols[0] === 0 && cols[1] === 0) return x;
  const [b, h, w, c] = x.shape;
  const height = h - rows[0] - rows[1];
  const width = w - cols[0] - cols[1];
  return tf.tidy(() =>
    tf.slice(x.reshape([b, h, w * c]), [0, rows[0], cols[0] * c], [b, height, width * c]).reshape([
      b,
      height,
      width,
      c,
    ]) as tf.Tensor4D
  );
}

/**
 * Zeros added around the rows and columns of `x` `[b,h,w,c]`, with {@link cropSpatial} as its gradient.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 *
 * await tf.setBackend("cpu");
 * const x = tf.ones([1, 2, 2, 1]) as tf.Tensor4D;
 * assert.deepEqual(padSpatial(x, [0, 1], [0, 1]).shape, [1, 3, 3, 1]);
 * const dx = tf.grad((t) => tf.sum(padSpatial(t as tf.Tensor4D, [1, 0], [0, 1])))(x);
 * assert.deepEqual(Array.from(dx.dataSync()), [1, 1, 1, 1]);
 * ```
 */
export function padSpatial(x: tf.Tensor4D, rows: [number, number], cols: [number, number]): tf.Tensor4D {
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const input = args[0] as tf.Tensor4D;
    return {
      value: tf.pad(input, [[0, 0], rows, cols, [0, 0]]),
      gradFunc: (dy: tf.Tensor) => cropSpatial(dy as tf.Tensor4D, rows, cols),
    };
  })(x) as tf.Tensor4D;
}

/**
 * ReLU6, `min(max(x, 0), 6)`, whose gradient is `dy` where `0 < y < 6` in four element-wise ops (tfjs's takes
 * six, one of them a comparison that wasm runs slowly). At `x = 6` exactly the gradient is 0 here, 1 in tfjs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 *
 * await tf.setBackend("cpu");
 * const x = tf.tensor1d([-1, 3, 7]);
 * assert.deepEqual(Array.from(relu6(x).dataSync()), [0, 3, 6]);
 * assert.deepEqual(Array.from(tf.grad((t) => tf.sum(relu6(t)))(x).dataSync()), [0, 1, 0]);
 * ```
 */
export function relu6(x: tf.Tensor): tf.Tensor {
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [input, save] = args as [tf.Tensor, tf.GradSaveFunc];
    const value = tf.relu6(input);
    save([value]);
    return {
      value,
      gradFunc: (dy: tf.Tensor, [y]: tf.Tensor[]) => tf.mul(dy, tf.step(tf.mul(y, tf.sub(6, y)))),
    };
  })(x);
}

/** Pads (positive) or crops (negative) rows and columns of `x` `[b,h,w,c]`. */
function padOrCrop(x: tf.Tensor4D, rows: [number, number], cols: [number, number]): tf.Tensor4D {
  const grow = (n: number) => Math.max(n, 0);
  const cut = (n: number) => Math.max(-n, 0);
  let out = x;
  if (rows.some((n) => n > 0) || cols.some((n) => n > 0)) {
    out = tf.pad(out, [[0, 0], [grow(rows[0]), grow(rows[1])], [grow(cols[0]), grow(cols[1])], [0, 0]]);
  }
  return cropSpatial(out, [cut(rows[0]), cut(rows[1])], [cut(cols[0]), cut(cols[1])]);
}

/**
 * The input gradient of a (depthwise) convolution of input shape `xShape` with `kernel` `[kh,kw,in,k]`, given
 * the gradient `dy` of its output: a stride-1 `valid` convolution of `dy` (dilated, padded) with the kernel
 * turned 180° (and, for a full convolution, its channels swapped).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import type { ConvGeometry } from "./input_gradient_ops.ts";
 *
 * await tf.setBackend("cpu");
 * tf.tidy(() => {
 *   const x = tf.randomNormal([1, 7, 7, 2]) as tf.Tensor4D;
 *   const kernel = tf.randomNormal([3, 3, 2, 1]) as tf.Tensor4D;
 *   const dy = tf.randomNormal([1, 4, 4, 2]) as tf.Tensor4D;
 *   const geometry: ConvGeometry = { strides: [2, 2], pad: "same", dilations: [1, 1] };
 *   const f = (t: tf.Tensor) => tf.sum(tf.mul(tf.depthwiseConv2d(t as tf.Tensor4D, kernel, 2, "same"), dy));
 *   const expected = tf.grad(f)(x);
 *   const dx = convInputGradient("depthwiseConv2d", dy, x.shape, kernel, geometry);
 *   assert.ok(tf.sub(dx, expected).abs().max().dataSync()[0] < 1e-4);
 * });
 * ```
 */
export function convInputGradient(
  op: "conv2d" | "depthwiseConv2d",
  dy: tf.Tensor4D,
  xShape: number[],
  kernel: tf.Tensor4D,
  { strides, pad, dilations }: ConvGeometry,
): tf.Tensor4D {
  return tf.tidy(() => {
    const [kh, kw, inputs, k] = kernel.shape;
    const [, h, w] = xShape;
    const [, oh, ow] = dy.shape;
    const span = [(kh - 1) * dilations[0] + 1, (kw - 1) * dilations[1] + 1];
    // Explicit padding (not all zero) makes the output larger than the input: not a per-pixel product then.
    const unpadded = typeof pad === "string" || pad.flat().every((v) => v === 0);
    if (op === "conv2d" && kh === 1 && kw === 1 && strides[0] === 1 && strides[1] === 1 && unpadded) {
      // A 1×1 convolution's transpose is the 1×1 convolution with the kernel's channels swapped (a convolution,
      // not a product with a transposed operand: wasm runs the latter outside XNNPACK, 5–10 times slower).
      return tf.conv2d(dy, tf.transpose(kernel, [0, 1, 3, 2]) as tf.Tensor4D, 1, "valid");
    }
    const rows = transposedPadding(h, oh, span[0], strides[0], typeof pad === "string" ? pad : pad[0]);
    const cols = transposedPadding(w, ow, span[1], strides[1], typeof pad === "string" ? pad : pad[1]);
    const turned = tf.reverse(kernel, [0, 1]) as tf.Tensor4D;
    const unitStride = strides[0] === 1 && strides[1] === 1;
    // A stride-1 `same` convolution with an odd kernel is its own transpose's geometry: no copy of dy needed.
    const symmetric = unitStride && pad === "same" && rows[0] === rows[1] && cols[0] === cols[1] &&
      span[0] % 2 === 1 && span[1] % 2 === 1;
    // dilate() leaves stride − 1 zeros after the last row and column: the padding after counts them.
    const source = symmetric ? dy : padOrCrop(dilate(dy, strides), [rows[0], rows[1] - strides[0] + 1], [
      cols[0],
      cols[1] - strides[1] + 1,
    ]);
    const geometry = symmetric ? "same" : "valid";
    if (op === "conv2d") {
      const swapped = tf.transpose(turned, [0, 1, 3, 2]) as tf.Tensor4D;
      return tf.conv2d(source, swapped, 1, geometry, "NHWC", dilations);
    }
    if (k === 1) return tf.depthwiseConv2d(source, turned, 1, geometry, "NHWC", dilations);
    // A channel multiplier k: every output channel c·k + m goes back to input channel c.
    const perOutput = turned.reshape([kh, kw, inputs * k, 1]) as tf.Tensor4D;
    const each = tf.depthwiseConv2d(source, perOutput, 1, geometry, "NHWC", dilations);
    return tf.sum(each.reshape([...each.shape.slice(0, 3), inputs, k]), 4) as tf.Tensor4D;
  });
}

/**
 * A fused convolution, depthwise convolution or dense product (with bias and ReLU or none) whose gradient is
 * its input's only: the kernel and the bias are constants to it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import type { ConvGeometry } from "./input_gradient_ops.ts";
 *
 * await tf.setBackend("cpu");
 * tf.tidy(() => {
 *   const x = tf.randomNormal([2, 6, 6, 3]) as tf.Tensor4D;
 *   const kernel = tf.randomNormal([3, 3, 3, 4]) as tf.Tensor4D;
 *   const bias = tf.randomNormal([4]) as tf.Tensor1D;
 *   const geometry: ConvGeometry = { strides: [1, 1], pad: "same", dilations: [1, 1] };
 *   const ours = (t: tf.Tensor) => tf.sum(linearInputGradientOnly("conv2d", t, kernel, bias, "relu", geometry));
 *   const theirs = (t: tf.Tensor) =>
 *     tf.sum(tf.fused.conv2d({ x: t as tf.Tensor4D, filter: kernel, strides: 1, pad: "same", bias, activation: "relu" }));
 *   assert.ok(tf.sub(tf.grad(ours)(x), tf.grad(theirs)(x)).abs().max().dataSync()[0] < 1e-4);
 * });
 * ```
 */
export function linearInputGradientOnly(
  op: "conv2d" | "depthwiseConv2d" | "dense",
  x: tf.Tensor,
  kernel: tf.Tensor,
  bias: tf.Tensor | undefined,
  activation: InputGradientActivation,
  geometry: ConvGeometry,
): tf.Tensor {
  const forward = (input: tf.Tensor) => {
    if (op === "dense") {
      return tf.fused.matMul({ a: input as tf.Tensor2D, b: kernel as tf.Tensor2D, bias, activation });
    }
    // Explicit padding is applied first and the convolution runs unpadded; the gradient is the input's
    // unpadded (no crop: the transposed convolution's geometry counts the padding).
    const explicit = typeof geometry.pad !== "string";
    const padded = explicit
      ? tf.pad(input as tf.Tensor4D, [[0, 0], ...(geometry.pad as [[number, number], [number, number]]), [
        0,
        0,
      ]])
      : input;
    const args = {
      x: padded as tf.Tensor4D,
      filter: kernel as tf.Tensor4D,
      strides: geometry.strides,
      pad: explicit ? "valid" as const : geometry.pad as "same" | "valid",
      dilations: geometry.dilations,
      dataFormat: "NHWC" as const,
      bias,
      activation,
    };
    return op === "conv2d" ? tf.fused.conv2d(args) : tf.fused.depthwiseConv2d(args);
  };
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [input, save] = args as [tf.Tensor, tf.GradSaveFunc];
    const value = forward(input);
    // The kernel is saved (kept for the backward pass): a caller may make it in a scope that ends before.
    save(activation === "relu" ? [kernel, value] : [kernel]);
    return {
      value,
      gradFunc: (dy: tf.Tensor, [w, y]: tf.Tensor[]) => {
        const g = activation === "relu" ? tf.mul(dy, tf.step(y)) : dy;
        if (op === "dense") {
          // wasm multiplies by a transposed operand outside XNNPACK; for a few rows that beats a transpose.
          return g.shape[0] < 16
            ? tf.matMul(g as tf.Tensor2D, w as tf.Tensor2D, false, true)
            : tf.matMul(g as tf.Tensor2D, tf.transpose(w as tf.Tensor2D));
        }
        return convInputGradient(op, g as tf.Tensor4D, input.shape, w as tf.Tensor4D, geometry);
      },
    };
  })(x);
}
