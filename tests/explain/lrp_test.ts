import assert from "node:assert/strict";
import { tf } from "../../src/deps.ts";
import { HansError } from "../../src/errors.ts";
import { gradientInput } from "../../src/explain/gradient_input.ts";
import { checkOptions } from "../../src/explain/descriptor.ts";
import { lrpAlphaBeta, lrpAlphaBetaMethod } from "../../src/explain/lrp_alpha_beta.ts";
import { lrpEpsilon, lrpEpsilonMethod } from "../../src/explain/lrp_epsilon.ts";
import { lrpEpsilonPlusFlatMethod } from "../../src/explain/lrp_epsilon_plus_flat.ts";
import { fromLayersModel } from "../../src/explain/explainable_model.ts";
import { createCnn } from "../../src/model/cnn.ts";
import { Rng } from "../../src/rng.ts";
import { gpuTest, linearModel, maxAbsDiff, take } from "../gpu.ts";

const H = 10, W = 8, C = 2, K = 4, N = 3;

function images(seed: number): tf.Tensor4D {
  const rng = new Rng(seed);
  return tf.tensor4d(Float32Array.from({ length: N * H * W * C }, () => rng.next()), [N, H, W, C]);
}

/**
 * The default CNN architecture, small, with every bias set to 0 (or, with `bias`, to random values); with
 * `standardize`, behind a standardization layer with random means and scales.
 */
function cnn(bias = false, standardize = false): tf.Sequential {
  const rng = new Rng(9);
  const net = createCnn({
    height: H,
    width: W,
    channels: C,
    classes: K,
    seed: 6,
    filters: [4, 5],
    hidden: 7,
    standardize: standardize
      ? {
        mean: Float32Array.from({ length: H * W * C }, () => 0.5 * rng.next()),
        scale: Float32Array.from({ length: H * W * C }, () => 0.5 + 19.5 * rng.next()),
        floor: 0.05,
      }
      : undefined,
  });
  let seed = 1;
  for (const layer of net.layers) {
    const w = layer.getWeights();
    if (layer.trainableWeights.length === 2) {
      const b = bias ? tf.randomNormal(w[1].shape, 0, 0.2, "float32", seed++) : tf.zerosLike(w[1]);
      layer.setWeights([w[0], b]);
    }
  }
  return net;
}

function sums(maps: Float32Array): number[] {
  return Array.from(
    { length: N },
    (_, i) => maps.subarray(i * H * W, (i + 1) * H * W).reduce((a, b) => a + b, 0),
  );
}

async function targetScores(
  net: tf.Sequential,
  x: tf.Tensor4D,
  p: number[],
  q?: number[],
): Promise<number[]> {
  const logits = await take(net.predict(x) as tf.Tensor);
  return p.map((k, i) => logits[i * K + k] - (q ? logits[i * K + q[i]] : 0));
}

function assertClose(actual: number[], expected: number[], relative: number, what: string): void {
  actual.forEach((a, i) => {
    const tol = relative * Math.abs(expected[i]) + 1e-5;
    assert.ok(Math.abs(a - expected[i]) <= tol, `${what}, image ${i}: sum ${a} vs score ${expected[i]}`);
  });
}

gpuTest(
  "LRP-ε and LRP-α1β0 conserve relevance on a ReLU CNN without biases (class and contrast)",
  async () => {
    const net = cnn();
    const model = fromLayersModel(net);
    const x = images(1);
    const p = [0, 2, 3], q = [1, 1, 0];
    const classScores = await targetScores(net, x, p);
    const contrastScores = await targetScores(net, x, p, q);
    for (const maxPooling of ["winner", "proportional"] as const) {
      const eps = sums(await take(await lrpEpsilon(model, x, p, { maxPooling, batchSize: 2 })));
      assertClose(eps, classScores, 0.01, `LRP-ε ${maxPooling}`);
      const ab = sums(await take(await lrpAlphaBeta(model, x, p, { maxPooling })));
      assertClose(ab, classScores, 0.01, `LRP-α1β0 ${maxPooling}`);
      const epsContrast = sums(await take(await lrpEpsilon(model, x, { p, q }, { maxPooling })));
      assertClose(epsContrast, contrastScores, 0.01, `LRP-ε contrast ${maxPooling}`);
      const abContrast = sums(await take(await lrpAlphaBeta(model, x, { p, q }, { maxPooling })));
      assertClose(abContrast, contrastScores, 0.01, `LRP-α1β0 contrast ${maxPooling}`);
    }
    // A large ε absorbs relevance: the sum must shrink (the test can tell rules apart).
    const absorbed = sums(await take(await lrpEpsilon(model, x, p, { epsilon: 1 })));
    absorbed.forEach((s, i) => assert.ok(Math.abs(s) < 0.9 * Math.abs(classScores[i]), `ε = 1, image ${i}`));
    x.dispose();
    net.dispose();
  },
);

gpuTest("LRP-0 (ε-rule everywhere) equals gradient × input on a ReLU CNN, biases included", async () => {
  // For ReLU nets with winner-take-all max pooling, R = a ⊙ ∂f/∂a holds layer by layer (Ancona et al. 2018).
  // Behind a standardization layer, which LRP folds into the first conv, a is the raw pixel.
  for (const standardize of [false, true]) {
    const net = cnn(true, standardize);
    const model = fromLayersModel(net);
    const x = images(2);
    const target = { p: [1, 2, 0], q: [3, 0, 2] };
    const lrp = await take(await lrpEpsilon(model, x, target, { inputRule: "epsilon", epsilon: 0 }));
    const gi = await take(await gradientInput(model, x, target));
    const scale = Math.max(...gi.map(Math.abs));
    const diff = maxAbsDiff(lrp, gi);
    assert.ok(diff < 1e-4 * scale, `standardize ${standardize}: max diff ${diff} of ${scale}`);
    x.dispose();
    net.dispose();
  }
});

gpuTest("LRP on a linear model: ε-rule is gradient × input, z^B matches the hand formula", async () => {
  const rng = new Rng(5);
  const kernel = Float32Array.from({ length: H * W * C * K }, () => rng.normal());
  const net = linearModel([H, W, C], kernel, new Float32Array(K));
  const model = fromLayersModel(net);
  const x = images(3);
  const xs = await x.data();
  const target = [3, 0, 1];
  const lrp = await take(await lrpEpsilon(model, x, target, { inputRule: "epsilon" }));
  const gi = await take(await gradientInput(model, x, target));
  assert.ok(maxAbsDiff(lrp, gi) < 1e-4, `ε vs gradient × input: ${maxAbsDiff(lrp, gi)}`);
  // z^B with bounds [l, h]: R_i = (x_i w_i − l w_i⁺ − h w_i⁻) · f(x) / Σ_i (x_i w_i − l w_i⁺ − h w_i⁻).
  const [l, h] = [-0.5, 1.5];
  const zb = await take(await lrpEpsilon(model, x, target, { bounds: [l, h] }));
  target.forEach((k, i) => {
    const terms = new Float64Array(H * W * C);
    let f = 0;
    for (let j = 0; j < H * W * C; j++) {
      const w = kernel[j * K + k];
      const xi = xs[i * H * W * C + j];
      f += xi * w;
      terms[j] = xi * w - l * Math.max(w, 0) - h * Math.min(w, 0);
    }
    const total = terms.reduce((a, b) => a + b, 0);
    const expected = new Float32Array(H * W);
    for (let p = 0; p < H * W; p++) {
      for (let c = 0; c < C; c++) expected[p] += terms[p * C + c] * f / total;
    }
    const got = zb.subarray(i * H * W, (i + 1) * H * W);
    assert.ok(maxAbsDiff(got, expected) < 1e-4, `z^B image ${i}: ${maxAbsDiff(got, expected)}`);
  });
  x.dispose();
  net.dispose();
});

gpuTest("LRP-αβ on a linear model with inputs of both signs matches the hand formula (α2β1)", async () => {
  // R_i = α (x_i w_i)⁺ f / Σ (x w)⁺ − β (x_i w_i)⁻ f / Σ (x w)⁻, with β = α − 1.
  const rng = new Rng(8);
  const kernel = Float32Array.from({ length: H * W * C * K }, () => rng.normal());
  const net = linearModel([H, W, C], kernel, new Float32Array(K));
  const model = fromLayersModel(net);
  const xs = Float32Array.from({ length: N * H * W * C }, () => rng.next() - 0.5);
  const x = tf.tensor4d(xs, [N, H, W, C]);
  const target = [2, 2, 1];
  const maps = await take(await lrpAlphaBeta(model, x, target, { alpha: 2, inputRule: "alphaBeta" }));
  target.forEach((k, i) => {
    const z = Array.from({ length: H * W * C }, (_, j) => xs[i * H * W * C + j] * kernel[j * K + k]);
    const f = z.reduce((a, b) => a + b, 0);
    const zp = z.reduce((a, b) => a + Math.max(b, 0), 0);
    const zn = z.reduce((a, b) => a + Math.min(b, 0), 0);
    const expected = new Float32Array(H * W);
    for (let p = 0; p < H * W; p++) {
      for (let c = 0; c < C; c++) {
        const v = z[p * C + c];
        expected[p] += 2 * Math.max(v, 0) * f / zp - Math.min(v, 0) * f / zn;
      }
    }
    const got = maps.subarray(i * H * W, (i + 1) * H * W);
    assert.ok(maxAbsDiff(got, expected) < 1e-4, `image ${i}: ${maxAbsDiff(got, expected)}`);
  });
  x.dispose();
  net.dispose();
});

gpuTest("LRP refuses a softmax inside the model, naming the layer", async () => {
  const net = tf.sequential({
    layers: [
      tf.layers.flatten({ inputShape: [2, 2, 1] }),
      tf.layers.dense({ units: 3, activation: "softmax", name: "inner_softmax" }),
      tf.layers.dense({ units: 2 }),
    ],
  });
  const x = tf.zeros([1, 2, 2, 1]) as tf.Tensor4D;
  await assert.rejects(
    () => lrpEpsilon(fromLayersModel(net), x, [0]),
    (e: Error) => e instanceof HansError && e.message.includes("inner_softmax"),
  );
  x.dispose();
  net.dispose();
});

gpuTest(
  "the flat rule on the first layer spreads each output's relevance evenly over its receptive field",
  async () => {
    // conv 2×2 valid (1 filter, ReLU) on 3×3 pixels → flatten → dense, no biases. LRP-0 on the dense layer gives
    // conv unit j the relevance a_j · w_j (w: the target's column); flat gives pixel i Σ_{j sees i} a_j w_j / 4.
    const rng = new Rng(12);
    const net = tf.sequential({
      layers: [
        tf.layers.conv2d({
          inputShape: [3, 3, 1],
          filters: 1,
          kernelSize: 2,
          activation: "relu",
          useBias: false,
        }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 2, useBias: false }),
      ],
    });
    const kernel = Float32Array.from({ length: 4 }, () => 0.5 + rng.next()); // positive: every unit active
    const dense = Float32Array.from({ length: 8 }, () => rng.normal());
    net.layers[0].setWeights([tf.tensor4d(kernel, [2, 2, 1, 1])]);
    net.layers[2].setWeights([tf.tensor2d(dense, [4, 2])]);
    const xs = Float32Array.from({ length: 9 }, () => rng.next());
    const x = tf.tensor4d(xs, [1, 3, 3, 1]);
    const maps = await take(
      await lrpEpsilon(fromLayersModel(net), x, [1], { inputRule: "flat", epsilon: 0 }),
    );
    const expected = new Float32Array(9);
    for (let r = 0; r < 2; r++) {
      for (let c = 0; c < 2; c++) {
        let a = 0;
        for (let dr = 0; dr < 2; dr++) {
          for (let dc = 0; dc < 2; dc++) {
            a += xs[(r + dr) * 3 + c + dc] * kernel[dr * 2 + dc];
          }
        }
        const share = a * dense[(r * 2 + c) * 2 + 1] / 4;
        for (let dr = 0; dr < 2; dr++) {
          for (let dc = 0; dc < 2; dc++) {
            expected[(r + dr) * 3 + c + dc] += share;
          }
        }
      }
    }
    assert.ok(maxAbsDiff(maps, expected) < 1e-5, `flat: ${maxAbsDiff(maps, expected)}`);
    x.dispose();
    net.dispose();
  },
);

gpuTest("the LRP methods' report: conservation is Σ map / target score per image", async () => {
  const net = cnn(true);
  const model = fromLayersModel(net);
  const x = images(4);
  const p = [1, 3, 0];
  const scores = await targetScores(net, x, p);
  for (const method of [lrpEpsilonMethod, lrpAlphaBetaMethod, lrpEpsilonPlusFlatMethod]) {
    const { maps, report } = await method.explainReport!(model, x, p, {});
    const expected = sums(await take(maps)).map((s, i) => s / scores[i]);
    assert.equal(report.conservation.length, N);
    assertClose(report.conservation, expected, 1e-3, `${method.name} conservation`);
  }
  // Without biases, LRP-ε (z^B below) and ε-plus-flat conserve relevance: the report says 1.
  const unbiased = cnn();
  const bare = fromLayersModel(unbiased);
  for (const method of [lrpEpsilonMethod, lrpEpsilonPlusFlatMethod]) {
    const { maps, report } = await method.explainReport!(bare, x, p, {});
    maps.dispose();
    assertClose(report.conservation, [1, 1, 1], 1e-3, `${method.name} without biases`);
  }
  x.dispose();
  net.dispose();
  unbiased.dispose();
});

gpuTest("the LRP descriptors check their options and say when maps are linear in the target", () => {
  assert.throws(
    () => checkOptions(lrpAlphaBetaMethod, { inputRule: "epsilon" }),
    /inputRule must be one of/,
  );
  assert.throws(() => checkOptions(lrpEpsilonMethod, { epsilon: -1 }), /epsilon must be/);
  assert.throws(() => checkOptions(lrpEpsilonPlusFlatMethod, { bounds: [0, 1] }), /has no option "bounds"/);
  assert.equal(lrpEpsilonMethod.linearInTarget!({}), true);
  assert.equal(lrpEpsilonMethod.linearInTarget!({ absolute: true }), false);
});
