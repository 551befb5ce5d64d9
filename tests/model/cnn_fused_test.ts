import assert from "node:assert/strict";
import { tf } from "../../src/deps.ts";
import { type CnnOptions, createCnn } from "../../src/model/cnn.ts";
import { fusedForward } from "../../src/model/cnn_fused.ts";
import { convReluPool } from "../../src/kernels/fused_ops.ts";
import { useHansKernels } from "../../src/kernels/register.ts";
import { Rng } from "../../src/rng.ts";
import { maxAbsDiff, take, webgpuTest } from "../gpu.ts";

function images(n: number, h: number, w: number, c: number, seed: number): tf.Tensor4D {
  const rng = new Rng(seed);
  return tf.tensor4d(Float32Array.from({ length: n * h * w * c }, () => rng.next()), [n, h, w, c]);
}

const scale = (t: Float32Array) => Math.max(1e-6, ...t.map(Math.abs));

/** Logits, their input gradient and every weight gradient, by tfjs's layers (`fused` false) or fused ops. */
async function pass(model: tf.Sequential, x: tf.Tensor4D, target: tf.Tensor2D, fused: boolean) {
  const forward = fusedForward(model);
  if (fused) assert.ok(forward, "the model has layers to fuse");
  const saliency = (input: tf.Tensor) =>
    (fused
      ? forward!(input as tf.Tensor4D, { input: true, weights: false })
      : model.apply(input, { training: false }) as tf.Tensor2D).mul(target).sum() as tf.Scalar;
  const logits = fused
    ? forward!(x, { input: false, weights: false })
    : model.apply(x, { training: false }) as tf.Tensor2D;
  const dx = tf.grad(saliency)(x);
  const { grads } = tf.variableGrads(() =>
    tf.losses.softmaxCrossEntropy(
      target,
      fused
        ? forward!(x, { input: false, weights: true })
        : model.apply(x, { training: true }) as tf.Tensor2D,
    ) as tf.Scalar
  );
  const out = {
    logits: await logits.data() as Float32Array,
    dx: await dx.data() as Float32Array,
    grads: {} as Record<string, Float32Array>,
  };
  for (const [k, g] of Object.entries(grads)) out.grads[k] = await g.data() as Float32Array;
  tf.dispose([logits, dx, ...Object.values(grads)]);
  return out;
}

for (
  const [name, options] of [
    ["the default CNN", { height: 28, width: 28, channels: 1, classes: 10, seed: 3 }],
    ["an RGB CNN with odd channel counts", {
      height: 12,
      width: 16,
      channels: 3,
      classes: 5,
      seed: 4,
      filters: [6, 10] as [number, number],
      hidden: 7,
    }],
    // conv1 3 → 8 channels on 20 × 20 (4 pixels × 2 channel groups per thread of the fused conv + pool),
    // conv2 8 → 12 on 10 × 10 (2 pixels × 1 group).
    ["an RGB CNN whose fused conv + pool blocks are small", {
      height: 20,
      width: 20,
      channels: 3,
      classes: 4,
      seed: 6,
      filters: [8, 12] as [number, number],
      hidden: 5,
    }],
    ["a CNN with contrast normalization (conv1 unfused) and pixel standardization", {
      height: 12,
      width: 12,
      channels: 1,
      classes: 3,
      seed: 5,
      contrastNorm: 0.5,
      standardize: {
        mean: new Float32Array(144).fill(0.3),
        scale: new Float32Array(144).fill(5),
        floor: 0.05,
      },
    }],
  ] as [string, CnnOptions][]
) {
  webgpuTest(
    `fused forward = tfjs's layers for ${name}: logits, input gradient, weight gradients`,
    async () => {
      useHansKernels(true);
      const model = createCnn(options);
      const x = images(9, options.height, options.width, options.channels, 1);
      const target = tf.oneHot(
        tf.tensor1d([0, 1, 2, 0, 1, 2, 0, 1, 2], "int32"),
        options.classes,
      ) as tf.Tensor2D;
      const ref = await pass(model, x, target, false);
      const got = await pass(model, x, target, true);
      assert.ok(maxAbsDiff(got.logits, ref.logits) <= 1e-5 * scale(ref.logits), "logits");
      assert.ok(
        maxAbsDiff(got.dx, ref.dx) <= 1e-4 * scale(ref.dx),
        `input gradient ${maxAbsDiff(got.dx, ref.dx)}`,
      );
      assert.deepEqual(
        Object.keys(got.grads).sort(),
        Object.keys(ref.grads).sort(),
        "the same variables train",
      );
      for (const [k, g] of Object.entries(ref.grads)) {
        assert.ok(maxAbsDiff(got.grads[k], g) <= 1e-4 * scale(g), `${k}: ${maxAbsDiff(got.grads[k], g)}`);
      }
      tf.dispose([x, target]);
      model.dispose();
    },
  );
}

for (const [filters, hidden] of [[[2, 2], 3], [[4, 8], 8]] as [[number, number], number][]) {
  webgpuTest(
    `ReLU's zero: a window whose maximum is 0 after ReLU passes no gradient, as tfjs's step(0) = 0 ` +
      `(filters ${filters})`,
    async () => {
      useHansKernels(true);
      // conv1's bias of −100 makes every pre-activation negative, so ReLU gives 0 everywhere and every window's
      // maximum is 0; the filters stay nonzero, so a gradient let through the pool would reach the input. With
      // 2 filters the conv and pool run as separate kernels, with 4 and 8 as one.
      const model = createCnn({ height: 8, width: 8, channels: 1, classes: 2, seed: 1, filters, hidden });
      const x = images(2, 8, 8, 1, 2);
      const forward = fusedForward(model)!;
      const dx = () =>
        tf.grad((i: tf.Tensor) => forward(i as tf.Tensor4D, { input: true, weights: false }).sum())(x);
      const live = dx();
      assert.ok(
        maxAbsDiff(await live.data(), new Float32Array(live.size)) > 0,
        "a gradient with the bias at 0",
      );
      const bias = model.getLayer("conv1").getWeights()[1];
      model.getLayer("conv1").setWeights([
        model.getLayer("conv1").getWeights()[0],
        tf.fill(bias.shape, -100),
      ]);
      const dead = dx();
      assert.equal(maxAbsDiff(await dead.data(), new Float32Array(dead.size)), 0);
      tf.dispose([x, live, dead]);
      model.dispose();
    },
  );
}

webgpuTest(
  "ties at a positive maximum: the gradient goes to the same window position as through tfjs's layers",
  async () => {
    useHansKernels(true);
    // conv1's filters at 0 and bias at 0.5: every conv1 output is 0.5, so all four positions of every window
    // tie. conv1's weight gradient depends on which position gets dy (each sees other pixels), so it tells
    // whether the fused kernel picks the position tfjs's pooling gradient picks.
    const model = createCnn({
      height: 8,
      width: 8,
      channels: 1,
      classes: 2,
      seed: 1,
      filters: [4, 8],
      hidden: 8,
    });
    const [w, b] = model.getLayer("conv1").getWeights();
    model.getLayer("conv1").setWeights([tf.zerosLike(w), tf.fill(b.shape, 0.5)]);
    const x = images(3, 8, 8, 1, 7);
    const target = tf.oneHot(tf.tensor1d([0, 1, 0], "int32"), 2) as tf.Tensor2D;
    const ref = await pass(model, x, target, false);
    const got = await pass(model, x, target, true);
    const name = Object.keys(ref.grads).find((k) => k.includes("conv1") && k.includes("kernel"))!;
    assert.ok(maxAbsDiff(ref.grads[name], new Float32Array(ref.grads[name].length)) > 0, "a weight gradient");
    assert.ok(maxAbsDiff(got.grads[name], ref.grads[name]) <= 1e-4 * scale(ref.grads[name]));
    tf.dispose([x, target]);
    model.dispose();
  },
);

webgpuTest("no fused forward without hans's kernels, or for a model with nothing to fuse", () => {
  const model = createCnn({ height: 8, width: 8, channels: 1, classes: 2, seed: 1 });
  useHansKernels(false);
  assert.equal(fusedForward(model), undefined);
  useHansKernels(true);
  assert.ok(fusedForward(model));
  const plain = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [4, 4, 1] })] });
  assert.equal(fusedForward(plain), undefined);
  // A 7×7 conv output cannot be tiled by 2×2 windows: the conv runs as its layer, the dense layers fused.
  const odd = createCnn({ height: 7, width: 7, channels: 1, classes: 2, seed: 1 });
  assert.ok(fusedForward(odd));
  model.dispose();
  plain.dispose();
  odd.dispose();
});

webgpuTest(
  "convReluPool = conv2d + bias + ReLU + 2×2 max-pool in tfjs ops, with every gradient, for filters the " +
    "one-dispatch kernels and their fallbacks take",
  async () => {
    useHansKernels(true);
    for (
      const [xShape, wShape, pad] of [
        [[2, 10, 10, 3], [7, 7, 3, 8], "same"], // 147 taps × channels: the weight gradient's general kernel
        [[2, 9, 9, 1], [4, 4, 1, 4], "valid"], // a 6 × 6 output
        [[3, 6, 8, 8], [3, 3, 8, 12], "same"],
        [[2, 6, 6, 6], [3, 3, 6, 4], "same"], // 6 input channels: the separate conv and pool kernels
      ] as [number[], number[], "same" | "valid"][]
    ) {
      const rng = new Rng(xShape[3]);
      const tensor = (shape: number[]) =>
        tf.tensor(
          Float32Array.from({ length: shape.reduce((a, b) => a * b) }, () => rng.next() - 0.3),
          shape,
        );
      const [x, w, b] = [tensor(xShape), tensor(wShape), tensor([wShape[3]])] as [
        tf.Tensor4D,
        tf.Tensor4D,
        tf.Tensor1D,
      ];
      const reference = (xs: tf.Tensor4D, ws: tf.Tensor4D, bs: tf.Tensor1D) =>
        tf.maxPool(tf.relu(tf.add(tf.conv2d(xs, ws, 1, pad), bs)), 2, 2, "valid") as tf.Tensor4D;
      const fused = (xs: tf.Tensor4D, ws: tf.Tensor4D, bs: tf.Tensor1D) =>
        convReluPool(xs, ws, bs, pad, { input: true, weights: true });
      const dy = tf.tidy(() => tensor(reference(x, w, b).shape));
      const results: Float32Array[][] = [];
      for (const f of [reference, fused]) {
        const y = f(x, w, b);
        const grads = tf.grads((xs, ws, bs) =>
          f(xs as tf.Tensor4D, ws as tf.Tensor4D, bs as tf.Tensor1D).mul(dy).sum()
        )([x, w, b]);
        results.push([await take(y), ...await Promise.all(grads.map(take))]);
      }
      ["value", "dx", "dw", "db"].forEach((name, i) => {
        const d = maxAbsDiff(results[1][i], results[0][i]);
        assert.ok(d <= 1e-4 * scale(results[0][i]), `${xShape} ${wShape} ${name}: ${d}`);
      });
      tf.dispose([x, w, b, dy]);
    }
  },
);
