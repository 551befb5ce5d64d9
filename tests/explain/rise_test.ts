import assert from "node:assert/strict";
import { tf } from "../../src/deps.ts";
import { fromLayersModel } from "../../src/explain/explainable_model.ts";
import { rise, riseMasks } from "../../src/explain/rise.ts";
import { Rng } from "../../src/rng.ts";
import { gpuTest, linearModel, maxAbsDiff, pearson, take } from "../gpu.ts";

gpuTest("RISE masks: values in [0, 1], mean about p, smooth, the same for the same seed", async () => {
  const a = await take(riseMasks(10, 8, { masks: 400, grid: 3, keep: 0.3, seed: 4 }));
  const b = await take(riseMasks(10, 8, { masks: 400, grid: 3, keep: 0.3, seed: 4 }));
  const c = await take(riseMasks(10, 8, { masks: 400, grid: 3, keep: 0.3, seed: 5 }));
  assert.deepEqual(a, b);
  assert.ok(maxAbsDiff(a, c) > 0.5);
  assert.ok(a.every((v) => v >= 0 && v <= 1 + 1e-6));
  const mean = a.reduce((s, v) => s + v, 0) / a.length;
  assert.ok(Math.abs(mean - 0.3) < 0.03, `mean ${mean}`);
  // Neighbouring pixels differ by at most one cell's ramp (1/3 of the way per pixel at a cell of 4 pixels).
  for (let i = 0; i < 400 * 80; i++) if (i % 8 !== 7) assert.ok(Math.abs(a[i] - a[i + 1]) <= 0.34);
});

gpuTest(
  "RISE equals Σ_i score(x ⊙ M_i) M_i / (N p) computed by hand, for classes, contrasts, options",
  async () => {
    const [H, W, C, K, n, N, p] = [10, 8, 2, 3, 3, 37, 0.4];
    const rng = new Rng(3);
    const kernel = Float32Array.from({ length: H * W * C * K }, () => rng.normal() * 0.3);
    const bias = Float32Array.from({ length: K }, () => rng.normal());
    const model = fromLayersModel(linearModel([H, W, C], kernel, bias));
    const xs = Float32Array.from({ length: n * H * W * C }, () => rng.next());
    const x = tf.tensor4d(xs, [n, H, W, C]);
    const maskOptions = { masks: N, grid: 3, keep: p, seed: 11 };
    const masks = await take(riseMasks(H, W, maskOptions));
    const logits = (i: number, m: number) =>
      Array.from({ length: K }, (_, k) => {
        let z = bias[k];
        for (let j = 0; j < H * W; j++) {
          for (let c = 0; c < C; c++) {
            z += xs[(i * H * W + j) * C + c] * masks[m * H * W + j] * kernel[(j * C + c) * K + k];
          }
        }
        return z;
      });
    const softmax = (z: number[]) => {
      const e = z.map((v) => Math.exp(v - Math.max(...z)));
      const s = e.reduce((a, b) => a + b, 0);
      return e.map((v) => v / s);
    };
    const cases = [
      { target: [0, 2, 1], options: {} },
      { target: { p: [1, 0, 2], q: [0, 2, 0] }, options: {} },
      { target: [2, 2, 0], options: { score: "probability" } },
      { target: { p: [1, 0, 2], q: [0, 2, 1] }, options: { center: true } },
    ] as const;
    for (const { target, options } of cases) {
      const maps = await take(await rise(model, x, target, { ...maskOptions, ...options, batchSize: 7 }));
      for (let i = 0; i < n; i++) {
        const w = new Array(K).fill(0);
        if ("p" in target) (w[target.p[i]] += 1), (w[target.q[i]] -= 1);
        else w[target[i]] = 1;
        const scores = Array.from({ length: N }, (_, m) => {
          const out = "score" in options ? softmax(logits(i, m)) : logits(i, m);
          return out.reduce((s, v, k) => s + v * w[k], 0);
        });
        const meanScore = "center" in options ? scores.reduce((a, b) => a + b, 0) / N : 0;
        const expected = new Float32Array(H * W);
        for (let m = 0; m < N; m++) {
          for (let j = 0; j < H * W; j++) {
            expected[j] += (scores[m] - meanScore) * masks[m * H * W + j] /
              (N * p);
          }
        }
        const got = maps.subarray(i * H * W, (i + 1) * H * W);
        const scale = Math.max(...expected.map(Math.abs));
        assert.ok(
          maxAbsDiff(got, expected) < 1e-4 * scale,
          `${JSON.stringify(options)} image ${i}: ${maxAbsDiff(got, expected)} of ${scale}`,
        );
      }
    }
    x.dispose();
  },
);

gpuTest(
  "RISE of a linear model with smooth relevance recovers x·w (correlation > 0.95), per seed",
  async () => {
    // For a linear model E[RISE_k] = Σ_j (x·w)_j E[M_j M_k] / p + b E[M_k] / p: the relevance x·w smoothed by the
    // masks' correlation (about a cell wide) plus an almost constant term. Relevance that varies slowly at the
    // scale of a cell survives that smoothing, so RISE must correlate with it; with 2000 masks the Monte-Carlo
    // error is small. The relevance here is a positive bump and a negative one on a 12x12 image.
    const [H, W] = [12, 12];
    const relevance = new Float32Array(H * W);
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        relevance[y * W + x] = Math.exp(-((y - 3) ** 2 + (x - 8) ** 2) / 12) -
          0.7 * Math.exp(-((y - 8) ** 2 + (x - 3) ** 2) / 8);
      }
    }
    const image = Float32Array.from({ length: H * W }, (_, j) => 0.5 + 0.5 * ((j * 7) % 3) / 2);
    const kernel = new Float32Array(H * W * 2);
    for (let j = 0; j < H * W; j++) kernel[j * 2] = relevance[j] / image[j]; // so that x·w is the relevance
    const model = fromLayersModel(linearModel([H, W, 1], kernel, new Float32Array([0.3, 0])));
    const x = tf.tensor4d(image, [1, H, W, 1]);
    const a = await take(await rise(model, x, [0], { masks: 2000, grid: 4, seed: 1 }));
    const b = await take(await rise(model, x, [0], { masks: 2000, grid: 4, seed: 1, batchSize: 300 }));
    const c = await take(await rise(model, x, [0], { masks: 2000, grid: 4, seed: 2 }));
    const r = pearson(a, relevance);
    assert.ok(r > 0.95, `correlation ${r}`);
    assert.ok(pearson(c, relevance) > 0.95);
    assert.ok(maxAbsDiff(a, b) < 1e-5, "the batch size must not change the result");
    assert.ok(maxAbsDiff(a, c) > 1e-3, "another seed gives other masks");
    // Far from both bumps E[M_j M_k] ≈ p² = 0.25, so RISE there is about p Σ_j (x·w)_j + b.
    const far = 0.5 * relevance.reduce((s, v) => s + v, 0) + 0.3;
    assert.ok(Math.abs(a[H * W - 1] - far) < 0.1 * far, `corner ${a[H * W - 1]} vs ${far}`);
    x.dispose();
  },
);
