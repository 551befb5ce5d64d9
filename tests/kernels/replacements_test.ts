import assert from "node:assert/strict";
import { tf } from "../../src/deps.ts";
import { hansKernelCalls, hansKernelsActive, useHansKernels } from "../../src/kernels/register.ts";
import { backendInfo } from "../../src/backend.ts";
import { createCnn } from "../../src/model/cnn.ts";
import { maxAbsDiff, webgpuTest } from "../gpu.ts";

/**
 * Runs `fn` with tfjs's kernels and with hans's; returns both results read back (their shapes must agree), and
 * how many calls each of hans's kernels handled in the second run, so a test can tell they ran at all.
 */
async function both(
  fn: () => tf.Tensor[],
): Promise<{ tfjs: Float32Array[]; hans: Float32Array[]; calls: Record<string, number> }> {
  const before = hansKernelsActive();
  const read = async (on: boolean) => {
    useHansKernels(on);
    const device = (tf.backend() as unknown as { device: GPUDevice }).device;
    device.pushErrorScope("validation");
    const out = fn();
    const shapes = out.map((t) => t.shape);
    const values = await Promise.all(out.map((t) => t.data() as Promise<Float32Array>));
    out.forEach((t) => t.dispose());
    const error = await device.popErrorScope();
    assert.equal(error, null, `WGSL validation: ${error?.message}`);
    return { shapes, values };
  };
  try {
    const tfjs = await read(false);
    const start = { ...hansKernelCalls };
    const hans = await read(true);
    assert.deepEqual(hans.shapes, tfjs.shapes, "output shapes");
    const calls = Object.fromEntries(Object.entries(hansKernelCalls).map(([k, v]) => [k, v - start[k]]));
    return { tfjs: tfjs.values, hans: hans.values, calls };
  } finally {
    useHansKernels(before);
  }
}

/**
 * Agreement within `tolerance` of the output's scale (its largest magnitude, at least 1): long float32 sums
 * (a weight gradient adds 50,000 products) differ in the last bits when added in another order.
 */
function assertClose(a: Float32Array[], b: Float32Array[], what: string, tolerance = 1e-4) {
  assert.equal(a.length, b.length);
  a.forEach((v, i) => {
    const scale = v.reduce((m, x) => Math.max(m, Math.abs(x)), 1);
    const d = maxAbsDiff(v, b[i]);
    assert.ok(d < tolerance * scale, `${what}, output ${i}: max difference ${d} at scale ${scale}`);
  });
}

const uniform = (shape: number[], seed: number) => tf.randomUniform(shape, -0.5, 0.5, "float32", seed);

// Odd sizes, strides, paddings, channel counts that are not multiples of 4, batch 1.
const CONV_CASES: {
  x: number[];
  w: number[];
  strides: number | [number, number];
  pad: "same" | "valid" | number;
}[] = [
  { x: [64, 28, 28, 1], w: [3, 3, 1, 16], strides: 1, pad: "same" },
  { x: [64, 14, 14, 16], w: [3, 3, 16, 32], strides: 1, pad: "same" },
  { x: [1, 7, 9, 3], w: [3, 2, 3, 5], strides: 2, pad: "valid" },
  { x: [2, 8, 7, 6], w: [5, 3, 6, 7], strides: [2, 1], pad: "same" },
  { x: [3, 10, 10, 4], w: [1, 1, 4, 8], strides: 3, pad: "same" },
  { x: [1, 5, 6, 2], w: [3, 3, 2, 3], strides: 1, pad: 1 },
  { x: [2, 11, 13, 5], w: [4, 4, 5, 9], strides: 3, pad: "same" },
  // Fewer than 4 input channels and output channels a multiple of 4: the few-channels input gradient.
  { x: [2, 9, 11, 3], w: [3, 3, 3, 8], strides: 2, pad: "same" },
  { x: [1, 6, 7, 2], w: [2, 3, 2, 4], strides: [1, 2], pad: "valid" },
  // Channel counts that are multiples of 4 take the vec4 kernels.
  { x: [1, 9, 8, 8], w: [3, 3, 8, 12], strides: 2, pad: "same" },
  { x: [2, 7, 7, 4], w: [2, 2, 4, 4], strides: [1, 2], pad: "valid" },
  { x: [3, 6, 5, 16], w: [3, 3, 16, 8], strides: 1, pad: 2 },
];

webgpuTest(
  "WGSL conv2d, its input and filter gradients and the fused forward equal tfjs's kernels",
  async () => {
    for (const [i, c] of CONV_CASES.entries()) {
      const x = uniform(c.x, 3 * i) as tf.Tensor4D;
      const w = uniform(c.w, 3 * i + 1) as tf.Tensor4D;
      const bias = uniform([c.w[3]], 3 * i + 2) as tf.Tensor1D;
      const y = tf.conv2d(x, w, c.strides, c.pad);
      const dy = uniform(y.shape, 3 * i + 5) as tf.Tensor4D;
      const attrs = { strides: c.strides, pad: c.pad, dataFormat: "NHWC" };
      const { tfjs, hans, calls } = await both(() => [
        tf.conv2d(x, w, c.strides, c.pad),
        tf.engine().runKernel("Conv2DBackpropInput", { dy, filter: w }, {
          ...attrs,
          inputShape: c.x,
        }) as tf.Tensor,
        tf.engine().runKernel("Conv2DBackpropFilter", { x, dy }, { ...attrs, filterShape: c.w }) as tf.Tensor,
        tf.fused.conv2d({ x, filter: w, strides: c.strides, pad: c.pad, bias, activation: "relu" }),
        tf.fused.conv2d({ x, filter: w, strides: c.strides, pad: c.pad, activation: "linear" }),
      ]);
      assertClose(tfjs, hans, `conv ${JSON.stringify(c)}`);
      for (const k of ["Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter", "FusedConv2D"]) {
        assert.ok(calls[k] > 0, `hans's ${k} ran for ${JSON.stringify(c)}`);
      }
      [x, w, bias, y, dy].forEach((t) => t.dispose());
    }
  },
);

webgpuTest(
  "WGSL matMul (transposes, shared and paired batches, bias, relu) equals tfjs's kernels",
  async () => {
    const cases: [number[], number[], boolean, boolean][] = [
      [[1, 1], [1, 1], false, false],
      [[5, 7], [7, 3], false, false],
      [[64, 1568], [1568, 64], false, false],
      [[9, 5], [9, 6], true, false],
      [[5, 9], [6, 9], false, true],
      [[9, 5], [6, 9], true, true],
      [[3, 4, 5], [3, 5, 6], false, false],
      [[3, 5, 4], [5, 6], true, false],
      [[2, 3, 7], [2, 5, 7], false, true],
      // Batch ranks that differ: the output keeps the broadcast batch shape.
      [[3, 4], [1, 4, 5], false, false],
      [[2, 3, 4], [1, 1, 4, 5], false, false],
    ];
    for (const [i, [as, bs, ta, tb]] of cases.entries()) {
      const a = uniform(as, 2 * i);
      const b = uniform(bs, 2 * i + 1);
      const n = tb ? bs[bs.length - 2] : bs[bs.length - 1];
      const bias = uniform([n], 99);
      const { tfjs, hans, calls } = await both(() => [
        tf.matMul(a as tf.Tensor3D, b as tf.Tensor3D, ta, tb),
        tf.fused.matMul({ a: a as tf.Tensor3D, b: b as tf.Tensor3D, transposeA: ta, transposeB: tb, bias }),
        tf.fused.matMul({
          a: a as tf.Tensor3D,
          b: b as tf.Tensor3D,
          transposeA: ta,
          transposeB: tb,
          bias,
          activation: "relu",
        }),
      ]);
      assertClose(tfjs, hans, `matMul ${as} ${bs} ${ta} ${tb}`);
      assert.ok(calls.BatchMatMul > 0 && calls._FusedMatMul > 0, `hans's matMul ran for ${as} ${bs}`);
      [a, b, bias].forEach((t) => t.dispose());
    }
  },
);

webgpuTest(
  "WGSL max pooling, its gradient (ties included) and the bias sum equal tfjs's kernels",
  async () => {
    const cases: [number[], number, number, "same" | "valid"][] = [
      [[64, 28, 28, 16], 2, 2, "valid"],
      [[1, 7, 9, 5], 3, 2, "same"],
      [[2, 6, 5, 2], 3, 1, "same"],
      [[1, 5, 5, 3], 2, 2, "valid"],
    ];
    for (const [i, [shape, size, stride, pad]] of cases.entries()) {
      // Rounded values make ties, where the last maximum in scan order must win as in tfjs's WebGPU kernel.
      const x = tf.round(tf.mul(tf.randomNormal(shape, 0, 1, "float32", i), 2)) as tf.Tensor4D;
      const y = tf.maxPool(x, size, stride, pad);
      const dy = uniform(y.shape, 40 + i);
      const { tfjs, hans, calls } = await both(() => [
        tf.maxPool(x, size, stride, pad),
        tf.grad((z) => tf.maxPool(z as tf.Tensor4D, size, stride, pad).mul(dy).sum())(x),
        tf.sum(uniform(shape, 50 + i), [0, 1, 2]),
        tf.sum(uniform(shape, 60 + i), [0, 1, 2], true),
      ]);
      assertClose(tfjs, hans, `pool ${shape} ${size} ${stride} ${pad}`);
      for (const k of ["MaxPool", "MaxPoolGrad", "Sum"]) {
        assert.ok(calls[k] > 0, `hans's ${k} ran for ${shape}`);
      }
      [x, y, dy].forEach((t) => t.dispose());
    }
  },
);

webgpuTest(
  "WGSL sums over leading axes and sums and maxima over trailing axes equal tfjs's kernels",
  async () => {
    const x5 = uniform([32, 3, 7, 5, 1], 70);
    const x4 = uniform([6, 9, 5, 3], 71);
    const x1 = uniform([6, 9, 5, 1], 72);
    const { tfjs, hans, calls } = await both(() => [
      tf.sum(x5, 0), // SmoothGrad's sum over its samples
      tf.sum(x5, [0, 1], true),
      tf.sum(x4, 3), // a map's sum over channels
      tf.max(x4, 3),
      tf.max(tf.abs(x1), 3), // one channel
      tf.max(x4, [2, 3], true),
      tf.sum(x4, [1, 2, 3]),
    ]);
    assertClose(tfjs, hans, "reductions");
    assert.ok(
      calls.Sum >= 4 && calls.Max >= 3,
      `hans's reductions ran: ${calls.Sum} sums, ${calls.Max} maxima`,
    );
    [x5, x4, x1].forEach((t) => t.dispose());
  },
);

webgpuTest(
  "training the default CNN for three steps gives the same weights with hans's kernels as with tfjs's",
  async () => {
    const x = tf.randomUniform([17, 28, 28, 1], 0, 1, "float32", 1);
    const y = tf.oneHot(tf.tensor1d(Array.from({ length: 17 }, (_, i) => i % 10), "int32"), 10);
    const { tfjs, hans, calls } = await both(() => {
      const model = createCnn({ height: 28, width: 28, channels: 1, classes: 10, seed: 4 });
      const optimizer = tf.train.adam(0.01);
      for (let step = 0; step < 3; step++) {
        tf.tidy(() => {
          optimizer.minimize(() => tf.losses.softmaxCrossEntropy(y, model.apply(x) as tf.Tensor), false);
        });
      }
      const weights = model.getWeights().map((w) => w.clone());
      const logits = model.predict(x) as tf.Tensor;
      model.dispose();
      optimizer.dispose();
      return [...weights, logits];
    });
    assertClose(tfjs, hans, "weights after three Adam steps", 1e-4);
    // Both runs agreeing proves nothing unless the second one ran on hans's kernels.
    for (
      const k of ["FusedConv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter", "MaxPool", "MaxPoolGrad"]
    ) {
      assert.ok(calls[k] > 0, `hans's ${k} ran during training (${calls[k]} calls)`);
    }
    [x, y].forEach((t) => t.dispose());
  },
);

webgpuTest(
  "the comparison fails when a kernel is deliberately wrong (a dilated conv in place of hans's)",
  async () => {
    const x = uniform([2, 9, 9, 3], 11) as tf.Tensor4D;
    const w = uniform([3, 3, 3, 4], 12) as tf.Tensor4D;
    const before = hansKernelsActive();
    useHansKernels(true);
    const hans = tf.getKernel("Conv2D", "webgpu")!;
    tf.unregisterKernel("Conv2D", "webgpu");
    // Same output shape ("same" padding), wrong numbers: the kind of bug a wrong index in WGSL makes.
    tf.registerKernel({
      ...hans,
      kernelFunc: (args) =>
        hans.kernelFunc({ ...args, attrs: { ...args.attrs, dilations: 2 } }) as tf.TensorInfo,
    });
    const wrong = tf.conv2d(x, w, 1, "same");
    const wrongValues = await wrong.data() as Float32Array;
    tf.unregisterKernel("Conv2D", "webgpu");
    tf.registerKernel(hans);
    useHansKernels(false);
    const right = tf.conv2d(x, w, 1, "same");
    const rightValues = await right.data() as Float32Array;
    useHansKernels(before);
    assert.deepEqual(wrong.shape, right.shape);
    assert.throws(() => assertClose([rightValues], [wrongValues], "a wrong kernel"), assert.AssertionError);
    [x, w, wrong, right].forEach((t) => t.dispose());
  },
);

webgpuTest("cases hans's kernels do not handle go to tfjs's, with tfjs's results", async () => {
  const x = uniform([2, 7, 7, 3], 1) as tf.Tensor4D;
  const w = uniform([3, 3, 3, 4], 2) as tf.Tensor4D;
  const a = uniform([3, 4], 3) as tf.Tensor2D;
  const b = uniform([4, 3], 4) as tf.Tensor2D;
  const ai = tf.tensor2d([[1, 2], [3, 4]], [2, 2], "int32");
  const { tfjs, hans, calls } = await both(() => [
    tf.conv2d(x, w, 1, "same", "NHWC", 2), // dilated
    tf.fused.conv2d({ x, filter: w, strides: 1, pad: "same", activation: "elu" }),
    // A bias of the right size but another shape broadcasts along rows or output rows in tfjs.
    tf.fused.matMul({ a, b, bias: tf.tensor2d([[100], [200], [300]]) }),
    tf.fused.conv2d({
      x: uniform([1, 2, 3, 1], 5) as tf.Tensor4D,
      filter: uniform([1, 1, 1, 2], 6) as tf.Tensor4D,
      strides: 1,
      pad: "valid",
      bias: tf.tensor3d([[[10]], [[20]]]),
    }),
    tf.matMul(ai, ai), // int32
    tf.sum(x, [0, 2]), // axes that are not adjacent
  ]);
  assertClose(tfjs, hans, "fallbacks");
  for (const k of ["Conv2D", "FusedConv2D", "_FusedMatMul", "BatchMatMul", "Sum"]) {
    assert.equal(calls[k], 0, `${k} went to tfjs`);
  }
});

webgpuTest("a max-pool window that lies wholly in the padding gives -Infinity", async () => {
  const before = hansKernelsActive();
  useHansKernels(true);
  try {
    const out = tf.maxPool(tf.ones([1, 3, 3, 1]) as tf.Tensor4D, 1, 2, 1);
    const values = Array.from(await out.data());
    out.dispose();
    // 1×1 windows at stride 2 over a 3×3 image padded by 1: the corners of the 3×3 output sit in the padding.
    assert.equal(values.length, 9);
    assert.deepEqual(values.filter((v) => v === -Infinity).length > 0, true);
    assert.ok(values.every((v) => v === 1 || v === -Infinity));
  } finally {
    useHansKernels(before);
  }
});

webgpuTest("hans's kernels are on by default on a software adapter and can be switched off and on", () => {
  assert.equal(hansKernelsActive(), backendInfo()?.software === true, "on exactly on a software adapter");
  const before = hansKernelsActive();
  useHansKernels(false);
  assert.equal(hansKernelsActive(), false);
  assert.equal(tf.getKernel("Conv2D", "webgpu")?.kernelFunc.name, "conv2d");
  useHansKernels(true);
  useHansKernels(true); // idempotent
  assert.equal(hansKernelsActive(), true);
  useHansKernels(before);
});
