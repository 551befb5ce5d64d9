/**
 * The input-only gradients of convolutions, depthwise convolutions and dense products equal tfjs's own
 * gradients (of the unfused ops, on the cpu backend) on every geometry hans reads: strides 1 and 2, `same` and
 * `valid`, odd and even kernels and inputs, dilations, channel multipliers, with and without the fused ReLU;
 * on the cpu backend, on the active one (WebGPU here) and on wasm, which has no depthwise gradient kernel.
 * @module
 */
import assert from "node:assert/strict";
import { importWasmBackend, tf } from "../../src/deps.ts";
import {
  type ConvGeometry,
  linearInputGradientOnly,
  padSpatial,
  relu6,
} from "../../src/explain/input_gradient_ops.ts";
import { Rng } from "../../src/rng.ts";
import { gpuTest, maxAbsDiff } from "../gpu.ts";

interface Case {
  op: "conv2d" | "depthwiseConv2d" | "dense";
  x: number[];
  kernel: number[];
  geometry: ConvGeometry;
  relu: boolean;
}

const g = (s: number, pad: "same" | "valid", d = 1): ConvGeometry => ({
  strides: [s, s],
  pad,
  dilations: [d, d],
});

const CASES: Case[] = [
  { op: "conv2d", x: [2, 9, 8, 3], kernel: [3, 3, 3, 4], geometry: g(1, "same"), relu: true },
  { op: "conv2d", x: [2, 9, 8, 3], kernel: [3, 3, 3, 4], geometry: g(2, "same"), relu: false },
  { op: "conv2d", x: [1, 10, 10, 2], kernel: [3, 3, 2, 3], geometry: g(2, "valid"), relu: true },
  { op: "conv2d", x: [1, 11, 9, 2], kernel: [2, 4, 2, 3], geometry: g(1, "same"), relu: false },
  { op: "conv2d", x: [1, 11, 9, 2], kernel: [5, 5, 2, 3], geometry: g(3, "same"), relu: true },
  { op: "conv2d", x: [1, 12, 12, 2], kernel: [3, 3, 2, 2], geometry: g(1, "same", 2), relu: false },
  { op: "conv2d", x: [2, 6, 7, 5], kernel: [1, 1, 5, 4], geometry: g(1, "valid"), relu: true },
  { op: "conv2d", x: [2, 6, 7, 5], kernel: [1, 1, 5, 4], geometry: g(2, "same"), relu: false },
  { op: "depthwiseConv2d", x: [2, 9, 8, 4], kernel: [3, 3, 4, 1], geometry: g(1, "same"), relu: true },
  { op: "depthwiseConv2d", x: [2, 10, 10, 4], kernel: [3, 3, 4, 1], geometry: g(2, "same"), relu: false },
  { op: "depthwiseConv2d", x: [1, 9, 9, 3], kernel: [3, 3, 3, 1], geometry: g(2, "same"), relu: true },
  { op: "depthwiseConv2d", x: [1, 11, 10, 3], kernel: [3, 3, 3, 1], geometry: g(2, "valid"), relu: false },
  { op: "depthwiseConv2d", x: [1, 8, 8, 3], kernel: [5, 5, 3, 1], geometry: g(1, "valid"), relu: false },
  { op: "depthwiseConv2d", x: [1, 8, 9, 3], kernel: [4, 2, 3, 1], geometry: g(1, "same"), relu: true },
  { op: "depthwiseConv2d", x: [1, 12, 11, 2], kernel: [3, 3, 2, 2], geometry: g(1, "same", 2), relu: false },
  { op: "depthwiseConv2d", x: [2, 7, 7, 3], kernel: [3, 3, 3, 2], geometry: g(2, "same"), relu: true },
  {
    op: "depthwiseConv2d",
    x: [1, 9, 9, 3],
    kernel: [3, 3, 3, 1],
    geometry: { strides: [2, 2], pad: [[0, 1], [0, 1]], dilations: [1, 1] },
    relu: false,
  },
  {
    op: "conv2d",
    x: [1, 8, 7, 2],
    kernel: [3, 3, 2, 3],
    geometry: { strides: [2, 2], pad: [[1, 2], [0, 1]], dilations: [1, 1] },
    relu: true,
  },
  {
    op: "depthwiseConv2d",
    x: [1, 8, 8, 2],
    kernel: [3, 3, 2, 1],
    geometry: { strides: [1, 1], pad: [[2, 0], [1, 1]], dilations: [1, 1] },
    relu: false,
  },
  {
    op: "conv2d",
    x: [1, 5, 6, 3],
    kernel: [1, 1, 3, 2],
    geometry: { strides: [1, 1], pad: [[1, 0], [0, 2]], dilations: [1, 1] },
    relu: true,
  },
  { op: "dense", x: [3, 7], kernel: [7, 5], geometry: g(1, "valid"), relu: true },
];

function values(shape: number[], seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.next() * 2 - 1);
}

/** `kernel` `[kh,kw,in,k]` dilated by `d`: zeros between its taps (tfjs has no gradient of dilated convolutions). */
function dilatedKernel(kernel: tf.Tensor, d: number): tf.Tensor4D {
  const [kh, kw, inputs, k] = kernel.shape;
  const source = kernel.arraySync() as number[][][][];
  const out = tf.buffer([(kh - 1) * d + 1, (kw - 1) * d + 1, inputs, k]);
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      for (let c = 0; c < inputs; c++) {
        for (let m = 0; m < k; m++) out.set(source[i][j][c][m], i * d, j * d, c, m);
      }
    }
  }
  return out.toTensor() as tf.Tensor4D;
}

/** tfjs's unfused op with its own gradient (bias added, ReLU after; a dilated kernel written out). */
function reference(c: Case, x: tf.Tensor, kernel: tf.Tensor, bias: tf.Tensor): tf.Tensor {
  const { strides } = c.geometry;
  const dilations: [number, number] = [1, 1];
  const pad = typeof c.geometry.pad === "string" ? c.geometry.pad : "valid";
  if (typeof c.geometry.pad !== "string") x = tf.pad(x, [[0, 0], ...c.geometry.pad, [0, 0]]);
  if (c.geometry.dilations[0] > 1) kernel = dilatedKernel(kernel, c.geometry.dilations[0]);
  const z = c.op === "dense"
    ? tf.matMul(x as tf.Tensor2D, kernel as tf.Tensor2D)
    : c.op === "conv2d"
    ? tf.conv2d(x as tf.Tensor4D, kernel as tf.Tensor4D, strides, pad, "NHWC", dilations)
    : tf.depthwiseConv2d(x as tf.Tensor4D, kernel as tf.Tensor4D, strides, pad, "NHWC", dilations);
  const y = tf.add(z, bias);
  return c.relu ? tf.relu(y) : y;
}

/** Output and input gradient (of Σ y·w for a fixed random w) of `f` on the current backend. */
async function run(c: Case, i: number, ours: boolean): Promise<[Float32Array, Float32Array]> {
  const x = tf.tensor(values(c.x, 3 * i + 1), c.x);
  const kernel = tf.tensor(values(c.kernel, 3 * i + 2), c.kernel);
  const outputs = c.kernel[c.kernel.length - 1] * (c.op === "depthwiseConv2d" ? c.kernel[2] : 1);
  const bias = tf.tensor1d(values([outputs], 3 * i + 3));
  const f = (t: tf.Tensor) =>
    ours
      ? linearInputGradientOnly(c.op, t, kernel, bias, c.relu ? "relu" : "linear", c.geometry)
      : reference(c, t, kernel, bias);
  const y = tf.tidy(() => f(x));
  const w = tf.tensor(values(y.shape, 99 + i), y.shape);
  const dx = tf.tidy(() => tf.grad((t) => tf.sum(tf.mul(f(t), w)))(x));
  const out: [Float32Array, Float32Array] = [await y.data() as Float32Array, await dx.data() as Float32Array];
  tf.dispose([x, kernel, bias, y, w, dx]);
  return out;
}

gpuTest(
  "input-only gradients equal tfjs's gradients on every geometry, on cpu, the active backend and wasm",
  async () => {
    const active = tf.getBackend();
    await tf.setBackend("cpu");
    const expected = [];
    for (const [i, c] of CASES.entries()) expected.push(await run(c, i, false));
    await importWasmBackend();
    try {
      for (const backend of ["cpu", active, "wasm"]) {
        assert.ok(await tf.setBackend(backend), `${backend} did not start`);
        for (const [i, c] of CASES.entries()) {
          const [y, dx] = await run(c, i, true);
          assert.equal(y.length, expected[i][0].length);
          const label = `${backend} ${c.op} x ${c.x} kernel ${c.kernel} ${JSON.stringify(c.geometry)}`;
          assert.ok(maxAbsDiff(y, expected[i][0]) < 1e-4, `${label}: values differ`);
          assert.ok(maxAbsDiff(dx, expected[i][1]) < 1e-4, `${label}: gradients differ`);
          // Not vacuous: the gradient has signal.
          assert.ok(expected[i][1].some((v) => Math.abs(v) > 0.1), `${label}: zero reference gradient`);
        }
      }
    } finally {
      await tf.setBackend(active);
    }
  },
);

gpuTest("padSpatial's and relu6's gradients equal tfjs's, on cpu, the active backend and wasm", async () => {
  const active = tf.getBackend();
  const x = () => tf.tensor4d(values([2, 5, 4, 3], 7).map((v) => v * 8), [2, 5, 4, 3]);
  const w = () => tf.tensor4d(values([2, 6, 6, 3], 8), [2, 6, 6, 3]);
  const cases = (ours: boolean) => {
    const pad = (t: tf.Tensor) =>
      ours ? padSpatial(t as tf.Tensor4D, [1, 0], [0, 2]) : tf.pad(t, [[0, 0], [1, 0], [0, 2], [0, 0]]);
    const clip = (t: tf.Tensor) => ours ? relu6(t) : tf.relu6(t);
    return [
      (t: tf.Tensor) => tf.sum(tf.mul(pad(t), w())),
      (t: tf.Tensor) => tf.sum(tf.mul(clip(t), tf.slice(w(), [0, 0, 0, 0], [2, 5, 4, 3]))),
    ];
  };
  await tf.setBackend("cpu");
  const expected = [];
  for (const f of cases(false)) expected.push(await tf.tidy(() => tf.grad(f)(x())).data());
  await importWasmBackend();
  try {
    for (const backend of ["cpu", active, "wasm"]) {
      assert.ok(await tf.setBackend(backend), `${backend} did not start`);
      for (const [i, f] of cases(true).entries()) {
        const dx = await tf.tidy(() => tf.grad(f)(x())).data();
        assert.ok(maxAbsDiff(dx, expected[i]) < 1e-6, `${backend} case ${i}`);
        assert.ok(expected[i].some((v) => v !== 0), `case ${i} vacuous`);
        // ReLU6's inputs reach past both ends (values in [−8, 8]): some gradients are 0.
        if (i === 1) assert.ok(expected[i].some((v) => v === 0), "ReLU6 never clipped");
      }
    }
  } finally {
    await tf.setBackend(active);
  }
});
