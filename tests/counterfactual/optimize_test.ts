import assert from "node:assert/strict";
import { tf } from "../../src/deps.ts";
import { measurePassCost } from "../../src/model/pass_plan.ts";
import {
  changeNorms,
  type CounterfactualLoss,
  counterfactualLoss,
  findCounterfactuals,
} from "../../src/counterfactual/optimize.ts";
import { fromLayersModel } from "../../src/explain/explainable_model.ts";
import { reconstructionErrors } from "../../src/model/autoencoder.ts";
import { Rng } from "../../src/rng.ts";
import { gpuTest, linearModel, maxAbsDiff, take, webgpuTest } from "../gpu.ts";

/** logit0 = 0.5·Σx, logit1 = 0.5·Σx + 10·x[0] − 1: class 1 is caused by the top-left pixel alone. */
function trapNet() {
  const kernel = new Float32Array(20 * 2);
  for (let p = 0; p < 20; p++) kernel.set([0.5, 0.5], p * 2);
  kernel[1] = 10.5;
  return linearModel([4, 5, 1], kernel, new Float32Array([0, -1]));
}

function trap() {
  return fromLayersModel(trapNet());
}

for (const reference of [false, true]) {
  // The fused step is WGSL: on WebGPU only (ignored elsewhere); the tfjs step runs on any backend.
  (reference ? gpuTest : webgpuTest)(
    `counterfactuals change only the pixel that causes the mistake (${reference ? "tfjs" : "fused"} step)`,
    async () => {
      const img = new Float32Array(40).fill(0.5); // two images, both predicted 1 (margin 4)
      const x = tf.tensor4d(img, [2, 4, 5, 1]);
      const net = trapNet();
      const model = fromLayersModel(net);
      const before = tf.memory().numTensors;
      const result = await findCounterfactuals(model, x, [0, 0], {
        steps: 200,
        rounds: 2,
        reference,
        kappa: 0.5,
      });
      assert.equal(tf.memory().numTensors, before, "no tensor outlives the search");
      net.dispose();
      assert.deepEqual(result.success, [true, true]);
      for (let i = 0; i < 2; i++) {
        const changed = result.images.subarray(i * 20, (i + 1) * 20);
        const norms = changeNorms(img.subarray(0, 20), changed, 1);
        assert.equal(norms.l0, 1, `only pixel 0 moves: ${Array.from(changed).map((v) => v.toFixed(3))}`);
        // logit1 − logit0 = 10·x0 − 1 ≤ −κ needs x0 ≤ 0.05 (it may overshoot to 0 between margin checks).
        assert.ok(changed[0] <= 0.05 + 1e-6, `x0 = ${changed[0]}`);
      }
      x.dispose();
    },
  );
}

gpuTest(
  "margins are read after every checkEvery-th step: the step kept is the first check at or after the step reached",
  async () => {
    // Margins checked after every step give the step s at which the margin first reaches κ; checked every 10
    // steps, the search must stop at the first multiple of 10 at or after s (x0 only falls on this model, so the
    // margin stays reached), and the kept x′ must be in the true class by κ.
    const x = tf.tensor4d(new Float32Array(20).fill(0.5), [1, 4, 5, 1]);
    const net = trapNet();
    const model = fromLayersModel(net);
    const settings = { steps: 200, rounds: 1, reference: true, kappa: 0.5 };
    const every = await findCounterfactuals(model, x, [0], { ...settings, checkEvery: 1 });
    const tenth = await findCounterfactuals(model, x, [0], { ...settings, checkEvery: 10 });
    const s = every.steps[0];
    assert.ok(s > 10 && s % 10 !== 0, `reached at step ${s}: the case needs a step between two checks`);
    assert.equal(tenth.steps[0], Math.ceil(s / 10) * 10);
    for (const result of [every, tenth]) {
      const logits = await take(
        tf.tidy(() => net.predict(tf.tensor4d(result.images, [1, 4, 5, 1])) as tf.Tensor),
      );
      assert.ok(logits[0] - logits[1] >= 0.5, `margin ${logits[0] - logits[1]}`);
    }
    net.dispose();
    x.dispose();
  },
);

gpuTest(
  "a search runs the model once per step and once at the end: the checks reuse the loss's logits",
  async () => {
    const x = tf.tensor4d(new Float32Array(40).fill(0.5), [2, 4, 5, 1]);
    const net = trapNet();
    const plain = fromLayersModel(net);
    let calls = 0;
    const model = { ...plain, logits: (t: tf.Tensor4D) => (calls++, plain.logits(t)) };
    // What a pass costs is measured once per model (two profiled passes), before the search: not counted.
    await measurePassCost(model, [4, 5, 1], "backward");
    calls = 0;
    // κ out of reach: no image stops, so every one of the 20 checks happens.
    await findCounterfactuals(model, x, [0, 0], { steps: 200, rounds: 1, checkEvery: 10, kappa: 1e9 });
    assert.equal(calls, 201);
    net.dispose();
    x.dispose();
  },
);

Deno.test("changeNorms counts pixels, not channels, for L0", () => {
  const a = new Float32Array([0, 0, 0, 0, 0, 0]);
  const b = new Float32Array([0.5, 0.5, 0, 0, 0, -0.0005]);
  const n = changeNorms(a, b, 3);
  assert.equal(n.l0, 1);
  assert.ok(Math.abs(n.l1 - 1.0005) < 1e-6);
  assert.ok(Math.abs(n.l2 - Math.sqrt(0.5 + 0.00000025)) < 1e-6);
});

gpuTest(
  "onStep counts every step of every round up to rounds × steps, a round that ends early as finished",
  async () => {
    const x = tf.tensor4d(new Float32Array(40).fill(0.5), [2, 4, 5, 1]);
    const net = trapNet();
    const model = fromLayersModel(net);
    for (const kappa of [1e9, 0.5]) {
      // κ = 1e9 is never reached: all 2 × 100 steps run. κ = 0.5 is reached early in both rounds.
      const seen: [number, number][] = [];
      const result = await findCounterfactuals(model, x, [0, 0], {
        steps: 100,
        rounds: 2,
        reference: true,
        kappa,
        onStep: (done, total) => seen.push([done, total]),
      });
      assert.ok(seen.every(([, total]) => total === 200), JSON.stringify(seen));
      assert.ok(seen.every(([done], i) => i === 0 || done >= seen[i - 1][0]), JSON.stringify(seen));
      assert.deepEqual(seen.at(-1), [200, 200]);
      if (kappa === 1e9) {
        assert.deepEqual(seen.map(([done]) => done), Array.from({ length: 200 }, (_, i) => i + 1));
      } else {
        assert.ok(result.success.every((s) => s) && result.steps.every((s) => s < 100), `${result.steps}`);
        // The first round stops at the check after its images reached κ, then counts as finished.
        const first = seen.findIndex(([done]) => done === 100);
        assert.ok(first > 0 && seen[first - 1][0] < 99, JSON.stringify(seen.slice(first - 2, first + 2)));
        assert.ok(seen.length < 200, `${seen.length} calls`);
      }
    }
    net.dispose();
    x.dispose();
  },
);

gpuTest("counterfactualLoss builds its one-hot targets once, not at every evaluation", async () => {
  const x = tf.tensor4d(new Float32Array(40).fill(0.5), [2, 4, 5, 1]);
  const net = trapNet();
  const model = fromLayersModel(net);
  const before = tf.memory().numTensors;
  const loss = counterfactualLoss(model, [0, 1]);
  assert.equal(tf.memory().numTensors, before + 1, "the loss holds one tensor, its one-hot targets");
  const profile = await tf.profile(() => tf.grad((t) => loss.value(t as tf.Tensor4D))(x));
  (profile.result as tf.Tensor).dispose();
  const kernels = profile.kernels.map((k) => k.name);
  assert.ok(kernels.length > 0, "the profile saw the loss's kernels");
  assert.ok(!kernels.includes("OneHot"), `no one-hot per step: ${kernels.join(", ")}`);
  // Both images have logits (0.5·Σx, 0.5·Σx + 10·x0 − 1) = (5, 9); cross-entropy to class 0, then class 1.
  const value = (await take(loss.value(x)))[0];
  assert.ok(Math.abs(value - (Math.log1p(Math.exp(4)) + Math.log1p(Math.exp(-4)))) < 1e-4, `loss ${value}`);
  loss.dispose();
  assert.equal(tf.memory().numTensors, before, "dispose frees it");
  x.dispose();
  net.dispose();
});

/** A linear "autoencoder" R(x) = x·A per flattened image, as a function and as a LayersModel. */
function linearAutoencoder(a: Float32Array, shape: [number, number, number]) {
  const d = shape[0] * shape[1] * shape[2];
  const kernel = tf.tensor2d(a, [d, d]);
  const fn = (x: tf.Tensor4D) =>
    tf.tidy(() => tf.matMul(x.reshape([x.shape[0], d]), kernel).reshape(x.shape) as tf.Tensor4D);
  const model = tf.sequential({
    layers: [
      tf.layers.flatten({ inputShape: shape }),
      tf.layers.dense({ units: d, useBias: false }),
      tf.layers.reshape({ targetShape: shape }),
    ],
  });
  model.layers[1].setWeights([kernel]);
  return { fn, model };
}

gpuTest(
  "the prior adds γ·2·(xB)·Bᵀ to the loss's gradient (B = A − I), as autodiff and finite differences say",
  async () => {
    const rng = new Rng(11);
    const d = 20;
    const a = Float32Array.from(
      { length: d * d },
      (_, k) => (k % (d + 1) === 0 ? 0.6 : 0) + 0.1 * rng.normal(),
    );
    const { fn, model } = linearAutoencoder(a, [4, 5, 1]);
    const values = Float32Array.from({ length: 2 * d }, () => rng.next());
    const x = tf.tensor4d(values, [2, 4, 5, 1]);
    const gamma = 0.7;
    const target = [0, 0];
    const plain = counterfactualLoss(trap(), target);
    const grad = (loss: CounterfactualLoss) => take(tf.grad((t) => loss.value(t as tf.Tensor4D))(x));
    const base = await grad(plain);
    // Analytic: ‖x(A − I)‖² has the gradient 2·r·(A − I)ᵀ with r = x(A − I), per image (row vectors).
    const expected = new Float64Array(2 * d);
    for (let i = 0; i < 2; i++) {
      const r = new Float64Array(d);
      for (let k = 0; k < d; k++) {
        for (let j = 0; j < d; j++) r[k] += values[i * d + j] * (a[j * d + k] - (j === k ? 1 : 0));
      }
      for (let j = 0; j < d; j++) {
        for (let k = 0; k < d; k++) {
          expected[i * d + j] += 2 * gamma * r[k] * (a[j * d + k] - (j === k ? 1 : 0));
        }
      }
    }
    for (const reconstruct of [fn, model]) {
      const withPrior = counterfactualLoss(trap(), target, { reconstruct, weight: gamma });
      const g = await grad(withPrior);
      const added = g.map((v, k) => v - base[k]);
      const scale = Math.max(...expected.map(Math.abs));
      assert.ok(
        maxAbsDiff(added, expected) < 1e-4 * scale,
        `added ${added.slice(0, 4)} vs ${expected.slice(0, 4)}`,
      );
      // Central differences of the whole loss on a few pixels (exact for the quadratic prior term).
      const h = 0.01;
      for (const k of [0, 7, 23, 39]) {
        const at = async (delta: number) => {
          const moved = values.slice();
          moved[k] += delta;
          const t = tf.tensor4d(moved, x.shape);
          const v = (await take(withPrior.value(t)))[0];
          t.dispose();
          return v;
        };
        const fd = ((await at(h)) - (await at(-h))) / (2 * h);
        assert.ok(
          Math.abs(fd - g[k]) < 2e-3 * Math.max(1, Math.abs(g[k])),
          `pixel ${k}: fd ${fd} vs ${g[k]}`,
        );
      }
      withPrior.dispose();
    }
    plain.dispose();
    x.dispose();
    model.dispose();
  },
);

gpuTest("with γ = 0 the prior leaves the counterfactuals exactly as without it", async () => {
  const rng = new Rng(5);
  const { fn } = linearAutoencoder(Float32Array.from({ length: 400 }, () => 0.1 * rng.normal()), [4, 5, 1]);
  const x = tf.tensor4d(Float32Array.from({ length: 40 }, () => 0.3 + 0.4 * rng.next()), [2, 4, 5, 1]);
  const settings = { steps: 60, rounds: 2 };
  const without = await findCounterfactuals(trap(), x, [0, 0], settings);
  const zero = await findCounterfactuals(trap(), x, [0, 0], {
    ...settings,
    prior: { reconstruct: fn, weight: 0 },
  });
  assert.deepEqual(zero.images, without.images);
  assert.deepEqual(zero.success, without.success);
  assert.deepEqual(zero.steps, without.steps);
  assert.deepEqual(zero.lambda1, without.lambda1);
  const some = await findCounterfactuals(trap(), x, [0, 0], {
    ...settings,
    prior: { reconstruct: fn, weight: 1 },
  });
  assert.ok(maxAbsDiff(some.images, without.images) > 1e-3, "a non-zero γ does change them");
  x.dispose();
});

gpuTest("the prior keeps the counterfactual where the autoencoder reconstructs well", async () => {
  // R(x) = the image's mean everywhere: only flat images reconstruct exactly. Without the prior, only pixel 0
  // moves (see the trap); with it, the other pixels follow, so x′ stays flatter.
  const mean = linearAutoencoder(new Float32Array(400).fill(1 / 20), [4, 5, 1]).fn;
  const x = tf.tensor4d(new Float32Array(20).fill(0.5), [1, 4, 5, 1]);
  const settings = { steps: 200, rounds: 2 };
  const without = await findCounterfactuals(trap(), x, [0], settings);
  const withPrior = await findCounterfactuals(trap(), x, [0], {
    ...settings,
    prior: { reconstruct: mean, weight: 3 },
  });
  assert.deepEqual([without.success[0], withPrior.success[0]], [true, true]);
  const error = async (images: Float32Array) => {
    const t = tf.tensor4d(images, x.shape);
    const e = (await reconstructionErrors(mean, t))[0];
    t.dispose();
    return e;
  };
  const [e0, e1] = [await error(without.images), await error(withPrior.images)];
  assert.ok(e1 < 0.5 * e0, `reconstruction error with the prior ${e1}, without ${e0}`);
  assert.ok(changeNorms(x.dataSync() as Float32Array, withPrior.images, 1).l0 > 1, "more than pixel 0 moves");
  x.dispose();
});
