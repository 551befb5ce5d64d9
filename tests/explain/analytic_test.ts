import assert from "node:assert/strict";
import { tf } from "../../src/deps.ts";
import { type ExplainableModel, fromLayersModel } from "../../src/explain/explainable_model.ts";
import { gradient } from "../../src/explain/gradient.ts";
import { gradientInput } from "../../src/explain/gradient_input.ts";
import {
  gaussLegendre,
  integratedGradients,
  integratedGradientsWithReport,
} from "../../src/explain/integrated_gradients.ts";
import { smoothGrad } from "../../src/explain/smoothgrad.ts";
import { occlusion } from "../../src/explain/occlusion.ts";
import { METHODS } from "../../src/explain/registry.ts";
import { Rng } from "../../src/rng.ts";
import { gpuTest, linearModel, maxAbsDiff, take } from "../gpu.ts";

const H = 6, W = 5, C = 2, K = 3;

function fixture() {
  const rng = new Rng(7);
  const kernel = Float32Array.from({ length: H * W * C * K }, () => rng.normal());
  const bias = Float32Array.from({ length: K }, () => rng.normal());
  const images = Float32Array.from({ length: 4 * H * W * C }, () => rng.next());
  return { kernel, bias, images, model: fromLayersModel(linearModel([H, W, C], kernel, bias)) };
}

/** The column of the kernel for class k, summed over channels per pixel: what a signed map must equal. */
function weightMap(kernel: Float32Array, k: number, q?: number): Float32Array {
  const out = new Float32Array(H * W);
  for (let p = 0; p < H * W; p++) {
    for (let c = 0; c < C; c++) {
      const row = (p * C + c) * K;
      out[p] += kernel[row + k] - (q === undefined ? 0 : kernel[row + q]);
    }
  }
  return out;
}

gpuTest("gradient of a linear model equals its weights (signed, per class and for a contrast)", async () => {
  const { kernel, images, model } = fixture();
  const x = tf.tensor4d(images, [4, H, W, C]);
  const maps = await take(await gradient(model, x, [0, 1, 2, 1], { absolute: false }));
  [0, 1, 2, 1].forEach((k, i) => {
    assert.ok(maxAbsDiff(maps.subarray(i * H * W, (i + 1) * H * W), weightMap(kernel, k)) < 1e-5);
  });
  const contrast = await take(
    await gradient(model, x, { p: [2, 2, 0, 1], q: [0, 1, 1, 2] }, { absolute: false }),
  );
  assert.ok(maxAbsDiff(contrast.subarray(0, H * W), weightMap(kernel, 2, 0)) < 1e-5);
  assert.ok(maxAbsDiff(contrast.subarray(3 * H * W), weightMap(kernel, 1, 2)) < 1e-5);
  x.dispose();
});

gpuTest(
  "Integrated Gradients of a linear model is (x − baseline) × weights, for any step count",
  async () => {
    const { kernel, images, model } = fixture();
    const x = tf.tensor4d(images, [4, H, W, C]);
    for (const [steps, baseline] of [[1, 0], [7, 0.3]]) {
      const maps = await take(
        await integratedGradients(model, x, [2, 0, 1, 2], { steps, maxSteps: steps, baseline, batchSize: 5 }),
      );
      [2, 0, 1, 2].forEach((k, i) => {
        const expected = new Float32Array(H * W);
        for (let p = 0; p < H * W; p++) {
          for (let c = 0; c < C; c++) {
            expected[p] += (images[(i * H * W + p) * C + c] - baseline) * kernel[(p * C + c) * K + k];
          }
        }
        assert.ok(maxAbsDiff(maps.subarray(i * H * W, (i + 1) * H * W), expected) < 1e-4, `steps ${steps}`);
      });
    }
    x.dispose();
  },
);

Deno.test("Gauss–Legendre on [0, 1]: weights sum to 1, t^k exact up to k = 2n − 1, the known error at t^2n", () => {
  const factorial = (k: number) => Array.from({ length: k }, (_, i) => i + 1).reduce((a, b) => a * b, 1);
  for (const n of [1, 2, 3, 5, 8, 13, 32, 64]) {
    const { nodes, weights } = gaussLegendre(n);
    assert.ok(Math.abs(weights.reduce((a, b) => a + b, 0) - 1) < 1e-14, `n ${n}: weights sum`);
    for (let i = 0; i < n; i++) {
      assert.ok(nodes[i] > 0 && nodes[i] < 1 && weights[i] > 0, `n ${n}: node ${i} inside, weight positive`);
      if (i > 0) assert.ok(nodes[i] > nodes[i - 1], `n ${n}: nodes ascend`);
      assert.ok(Math.abs(nodes[i] + nodes[n - 1 - i] - 1) < 1e-14, `n ${n}: nodes symmetric about ½`);
    }
    const rule = (k: number) => nodes.reduce((sum, t, i) => sum + weights[i] * t ** k, 0);
    for (let k = 0; k <= 2 * n - 1; k++) {
      assert.ok(Math.abs(rule(k) - 1 / (k + 1)) < 1e-14, `n ${n}: ∫ t^${k} = 1/${k + 1}, got ${rule(k)}`);
    }
    if (n <= 8) {
      // Not exact one degree higher: ∫₀¹ t^2n − rule = (n!)⁴ / ((2n + 1) ((2n)!)²), the textbook error term.
      const error = factorial(n) ** 4 / ((2 * n + 1) * factorial(2 * n) ** 2);
      const got = 1 / (2 * n + 1) - rule(2 * n);
      assert.ok(
        Math.abs(got - error) < 1e-14 + 1e-9 * error,
        `n ${n}: error at t^${2 * n}: ${got} vs ${error}`,
      );
    }
  }
  // The 3-point rule in closed form: nodes ½ ∓ √(3/5)/2, weights 5/18, 8/18, 5/18.
  const three = gaussLegendre(3);
  assert.ok(maxAbsDiff(three.nodes, [0.5 - Math.sqrt(0.6) / 2, 0.5, 0.5 + Math.sqrt(0.6) / 2]) < 1e-15);
  assert.ok(maxAbsDiff(three.weights, [5 / 18, 8 / 18, 5 / 18]) < 1e-15);
  assert.throws(() => gaussLegendre(0), /whole number/);
});

/**
 * Two classes whose path integrals have closed forms: logit 0 = (v·x)⁴, logit 1 = exp(u·x). Along x(α) =
 * b + α(x − b) the gradient of (v·x)⁴ is 4 s(α)³ v with s linear in α, so IG_i = (x − b)_i v_i (s_x⁴ − s_b⁴) /
 * (s_x − s_b); for exp(u·x) likewise with e^{s_x} − e^{s_b}.
 */
function curvedModel(v: Float32Array, u: Float32Array): ExplainableModel {
  const kernel = tf.tensor2d(
    Float32Array.from({ length: 2 * v.length }, (_, i) => i % 2 ? u[i >> 1] : v[i >> 1]),
    [v.length, 2],
  );
  return {
    classes: 2,
    logits: (x) =>
      tf.tidy(() => {
        const s = tf.matMul(x.reshape([x.shape[0], -1]), kernel);
        const s0 = s.slice([0, 0], [-1, 1]);
        return tf.concat([tf.square(tf.square(s0)), tf.exp(s.slice([0, 1], [-1, 1]))], 1) as tf.Tensor2D;
      }),
  };
}

/** The closed-form IG map `[H*W]` of {@link curvedModel} for one image `x` (length H*W*C), class k, baseline b. */
function curvedIg(
  v: Float32Array,
  u: Float32Array,
  x: ArrayLike<number>,
  k: number,
  b: number,
): Float64Array {
  const w = k === 0 ? v : u;
  let sx = 0, sb = 0;
  for (let i = 0; i < w.length; i++) (sx += w[i] * x[i]), (sb += w[i] * b);
  const f = (s: number) => k === 0 ? s ** 4 : Math.exp(s);
  const scale = (f(sx) - f(sb)) / (sx - sb);
  const map = new Float64Array(H * W);
  for (let p = 0; p < H * W; p++) {
    for (let c = 0; c < C; c++) map[p] += (x[p * C + c] - b) * w[p * C + c] * scale;
  }
  return map;
}

function curvedFixture() {
  const rng = new Rng(11);
  const P = H * W * C;
  const v = Float32Array.from({ length: P }, () => rng.normal() / Math.sqrt(P) * 2);
  const u = Float32Array.from({ length: P }, () => rng.normal() / Math.sqrt(P) * 3);
  const images = Float32Array.from({ length: 4 * P }, () => rng.next());
  return { v, u, images, model: curvedModel(v, u) };
}

/** Largest |a − b| over the largest |b|. */
function relativeDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  return maxAbsDiff(a, b) / Math.max(...Array.from(b, Math.abs));
}

gpuTest(
  "Integrated Gradients equals the closed form of (v·x)⁴ and exp(u·x): Gauss–Legendre exact for a cubic path",
  async () => {
    const { v, u, images, model } = curvedFixture();
    const P = H * W * C;
    const x = tf.tensor4d(images, [4, H, W, C]);
    const target = [0, 1, 0, 1];
    const b = 0.2;
    const truth = target.map((k, i) => curvedIg(v, u, images.subarray(i * P, (i + 1) * P), k, b));
    const errors = async (method: "gausslegendre" | "riemann_middle", steps: number, k: number) => {
      const maps = await take(
        await integratedGradients(model, x, target, { method, steps, maxSteps: steps, baseline: b }),
      );
      return target.map((t, i) =>
        t === k ? relativeDiff(maps.subarray(i * H * W, (i + 1) * H * W), truth[i]) : 0
      )
        .reduce((a, e) => Math.max(a, e), 0);
    };
    // The gradient of (v·x)⁴ is cubic in α: 2 Gauss–Legendre points integrate it exactly, 2 midpoints do not.
    assert.ok(await errors("gausslegendre", 2, 0) < 1e-4, "2-point Gauss–Legendre on the quartic");
    assert.ok(await errors("riemann_middle", 2, 0) > 1e-3, "2 midpoints on the quartic");
    // exp: Gauss–Legendre converges geometrically, the midpoint rule as 1/steps².
    assert.ok(await errors("gausslegendre", 8, 1) < 1e-4, "8-point Gauss–Legendre on exp");
    const mid16 = await errors("riemann_middle", 16, 1);
    const mid64 = await errors("riemann_middle", 64, 1);
    assert.ok(
      mid64 < 1e-3 && mid64 < mid16 / 8,
      `midpoint rule on exp: 16 steps ${mid16}, 64 steps ${mid64}`,
    );
    // The default rule is Gauss–Legendre.
    const byDefault = await take(
      await integratedGradients(model, x, target, { steps: 2, maxSteps: 2, baseline: b }),
    );
    const gl = await take(
      await integratedGradients(model, x, target, {
        steps: 2,
        maxSteps: 2,
        baseline: b,
        method: "gausslegendre",
      }),
    );
    assert.deepEqual(byDefault, gl);
    x.dispose();
  },
);

/** |Σ map − (f(x) − f(b))| / |f(x) − f(b)| per image, computed here from the maps and the model's logits. */
async function completeness(
  model: ExplainableModel,
  x: tf.Tensor4D,
  maps: Float32Array,
  score: (logits: Float32Array, i: number) => number,
  b: number,
): Promise<number[]> {
  const fx = await take(model.logits(x));
  const fb = await take(tf.tidy(() => model.logits(tf.fill(x.shape, b) as tf.Tensor4D)));
  const size = x.shape[1] * x.shape[2];
  return Array.from({ length: x.shape[0] }, (_, i) => {
    let sum = 0;
    for (let p = 0; p < size; p++) sum += maps[i * size + p];
    const gap = score(fx, i) - score(fb, i);
    return Math.abs(sum - gap) / Math.abs(gap);
  });
}

type TestTarget = number[] | { p: number[]; q: number[] };

/** Target `target`'s score of image i from logits `[n, classes]`. */
function scoreOf(target: TestTarget, classes: number) {
  return (logits: Float32Array, i: number) =>
    Array.isArray(target)
      ? logits[i * classes + target[i]]
      : logits[i * classes + target.p[i]] - logits[i * classes + target.q[i]];
}

gpuTest(
  "with a tolerance, every map's reported completeness error is within it and is |Σ map − gap| / |gap|",
  async () => {
    const { images, model } = curvedFixture();
    const init = (seed: number) => tf.initializers.glorotUniform({ seed });
    const cnn = tf.sequential({
      layers: [
        tf.layers.conv2d({
          inputShape: [H, W, C],
          filters: 4,
          kernelSize: 3,
          activation: "relu",
          kernelInitializer: init(1),
        }),
        tf.layers.flatten(),
        tf.layers.dense({ units: K, activation: "tanh", kernelInitializer: init(2) }),
      ],
    });
    const cases: [string, ExplainableModel, TestTarget, number][] = [
      ["curved model", model, [0, 1, 1, 0], 1e-4],
      ["ReLU CNN, a contrast", fromLayersModel(cnn), { p: [0, 1, 2, 0], q: [1, 2, 0, 2] }, 5e-3],
    ];
    const x = tf.tensor4d(images, [4, H, W, C]);
    for (const [name, m, target, tolerance] of cases) {
      for (const method of ["gausslegendre", "riemann_middle"] as const) {
        const options = { tolerance, method, steps: 4, maxSteps: 1024, baseline: 0.1, batchSize: 24 };
        const before = tf.memory().numTensors;
        const report = await integratedGradientsWithReport(m, x, target, options);
        const maps = await take(report.maps);
        assert.equal(tf.memory().numTensors, before, `${name}, ${method}: leaks tensors`);
        const truth = await completeness(m, x, maps, scoreOf(target, m.classes), 0.1);
        report.completenessError.forEach((e, i) => {
          const where = `${name}, ${method}, image ${i}: ${e} after ${report.steps[i]} steps`;
          assert.ok(e <= tolerance, where);
          assert.ok(
            Math.abs(e - truth[i]) <= 1e-5 + 1e-3 * truth[i],
            `${where} vs ${truth[i]} computed here`,
          );
          assert.ok([4, 8, 16, 32, 64, 128, 256, 512, 1024].includes(report.steps[i]), where);
        });
        // The maps are what that many steps give (back in the images' order), and |·| changes no steps.
        for (let i = 0; i < 4; i++) {
          const one = x.slice([i, 0, 0, 0], [1, -1, -1, -1]);
          const t = Array.isArray(target) ? [target[i]] : { p: [target.p[i]], q: [target.q[i]] };
          const alone = await take(
            await integratedGradients(m, one, t, {
              method,
              steps: report.steps[i],
              maxSteps: report.steps[i],
              baseline: 0.1,
            }),
          );
          assert.ok(
            maxAbsDiff(alone, maps.subarray(i * H * W, (i + 1) * H * W)) < 1e-5,
            `${name} image ${i}`,
          );
          one.dispose();
        }
        const absolute = await integratedGradientsWithReport(m, x, target, { ...options, absolute: true });
        absolute.maps.dispose();
        assert.deepEqual(absolute.steps, report.steps);
      }
    }
    x.dispose();
    cnn.dispose();
  },
);

gpuTest(
  "with a tolerance, an image on a nearly straight path stops early; a curved one takes more steps",
  async () => {
    // Logit 1 is exp(u·x) with u = 6/P everywhere: from a black baseline, the path's exponent runs from 0 to
    // 6·mean(x). An image at 0.05 (exponent 0.3) is nearly linear along the path; an image at 1 (exponent 6) is not.
    const P = H * W * C;
    const u = new Float32Array(P).fill(6 / P);
    const model = curvedModel(new Float32Array(P), u);
    const x = tf.concat([
      tf.fill([1, H, W, C], 0.05),
      tf.ones([1, H, W, C]),
      tf.fill([1, H, W, C], 0.05),
    ]) as tf.Tensor4D;
    for (const [method, tolerance] of [["gausslegendre", 1e-5], ["riemann_middle", 1e-3]] as const) {
      const report = await integratedGradientsWithReport(model, x, [1, 1, 1], {
        method,
        tolerance,
        steps: 2,
      });
      report.maps.dispose();
      const [flat, curved, flatAgain] = report.steps;
      assert.equal(flat, 2, `${method}: ${report.steps}`);
      assert.equal(flatAgain, 2, `${method}: ${report.steps}`);
      assert.ok(curved > flat, `${method}: ${report.steps}`);
      assert.ok(
        report.completenessError.every((e) => e <= tolerance),
        `${method}: ${report.completenessError}`,
      );
      // The error is the midpoint or Gauss–Legendre error of ∫₀¹ 6 e^{6α} dα against e⁶ − 1, computed here.
      const { nodes, weights } = method === "gausslegendre" ? gaussLegendre(curved) : {
        nodes: Float64Array.from({ length: curved }, (_, k) => (k + 0.5) / curved),
        weights: new Float64Array(curved).fill(1 / curved),
      };
      const quad = nodes.reduce((sum, t, k) => sum + weights[k] * 6 * Math.exp(6 * t), 0);
      const exact = Math.exp(6) - 1;
      assert.ok(
        Math.abs(report.completenessError[1] - Math.abs(quad - exact) / exact) < 1e-5,
        `${method}: ${report.completenessError[1]} vs ${Math.abs(quad - exact) / exact}`,
      );
    }
    x.dispose();
  },
);

gpuTest(
  "gradient × input of a linear model is x × weights; SmoothGrad of a linear model is |weights|",
  async () => {
    const { kernel, images, model } = fixture();
    const x = tf.tensor4d(images, [4, H, W, C]);
    const gi = await take(await gradientInput(model, x, [1, 1, 1, 1]));
    const expected = new Float32Array(H * W);
    for (let p = 0; p < H * W; p++) {
      for (let c = 0; c < C; c++) {
        expected[p] += images[p * C + c] * kernel[(p * C + c) * K + 1];
      }
    }
    assert.ok(maxAbsDiff(gi.subarray(0, H * W), expected) < 1e-5);
    // The gradient of a linear model is the same everywhere, so noise changes nothing.
    const sg = await take(await smoothGrad(model, x, [0, 0, 0, 0], { samples: 4, absolute: false }));
    assert.ok(maxAbsDiff(sg.subarray(0, H * W), weightMap(kernel, 0)) < 1e-4);
    x.dispose();
  },
);

gpuTest(
  "occlusion of a linear model is the patch-averaged (x − baseline)·w; pixels with zero weight stay 0",
  async () => {
    const { kernel, images } = fixture();
    // Zero the weights of the right-most column, and every patch that only covers it must score 0.
    const k2 = kernel.slice();
    for (let y = 0; y < H; y++) {
      for (let c = 0; c < C; c++) {
        for (let k = 0; k < K; k++) k2[((y * W + W - 1) * C + c) * K + k] = 0;
      }
    }
    const model = fromLayersModel(linearModel([H, W, C], k2, new Float32Array(K)));
    const x = tf.tensor4d(images.subarray(0, H * W * C), [1, H, W, C]);
    const maps = await take(await occlusion(model, x, [1], { patch: 1, stride: 1 }));
    for (let y = 0; y < H; y++) {
      for (let xx = 0; xx < W; xx++) {
        let expected = 0;
        for (let c = 0; c < C; c++) {
          expected += images[(y * W + xx) * C + c] *
            k2[((y * W + xx) * C + c) * K + 1];
        }
        assert.ok(Math.abs(maps[y * W + xx] - expected) < 1e-5);
        if (xx === W - 1) assert.equal(maps[y * W + xx], 0);
      }
    }
    x.dispose();
  },
);

gpuTest("every method returns [n,H,W] and leaves no tensors behind over many batches", async () => {
  const { images } = fixture();
  const cnn = tf.sequential({
    layers: [
      tf.layers.conv2d({
        inputShape: [H, W, C],
        filters: 3,
        kernelSize: 3,
        padding: "same",
        activation: "relu",
      }),
      tf.layers.flatten(),
      tf.layers.dense({ units: K }),
    ],
  });
  const model = fromLayersModel(cnn);
  const x = tf.tensor4d(images, [4, H, W, C]);
  // Small batches so every method runs several; few masks so RISE stays quick (it still needs two batches).
  for (const m of METHODS) {
    const options = { batchSize: 3, ...("masks" in m.options ? { masks: 5 } : {}) };
    const warm = await m.explain(model, x, [0, 1, 2, 0], options);
    assert.deepEqual(warm.shape, [4, H, W], m.name);
    warm.dispose();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 25; i++) { // 25 calls of at least 2 internal batches each: 50+ batches
      (await m.explain(model, x, { p: [0, 1, 2, 0], q: [1, 2, 0, 1] }, options)).dispose();
    }
    assert.equal(tf.memory().numTensors, before, `${m.name} leaks tensors`);
  }
  x.dispose();
  cnn.dispose();
});

gpuTest(
  "by default every map is refined until it sums to f(x) − f(baseline) within 5%, or reaches 256 points",
  async () => {
    // Logit 1 is exp(u·x): from a black baseline to an image at 1 the path's exponent runs from 0 to 6, so two
    // Gauss–Legendre points miss its integral by far; an image at 0.05 is nearly linear along the path.
    const P = H * W * C;
    const model = curvedModel(new Float32Array(P), new Float32Array(P).fill(6 / P));
    const x = tf.concat([tf.ones([1, H, W, C]), tf.fill([1, H, W, C], 0.05)]) as tf.Tensor4D;
    const report = await integratedGradientsWithReport(model, x, [1, 1], { steps: 2 });
    report.maps.dispose();
    assert.ok(report.completenessError.every((e) => e <= 0.05), `${report.completenessError}`);
    assert.ok(report.steps[0] > 2 && report.steps[1] === 2, `${report.steps}`);
    // maxSteps equal to steps turns the refinement off: the first image keeps its large error.
    const fixed = await integratedGradientsWithReport(model, x, [1, 1], { steps: 2, maxSteps: 2 });
    fixed.maps.dispose();
    assert.deepEqual(fixed.steps, [2, 2]);
    assert.ok(fixed.completenessError[0] > 0.05, `${fixed.completenessError}`);
    x.dispose();
  },
);
