import assert from "node:assert/strict";
import { tf } from "../../src/deps.ts";
import {
  counterfactualStepFused,
  counterfactualStepReference,
  type StepSettings,
} from "../../src/kernels/counterfactual_step.ts";
import { Rng } from "../../src/rng.ts";
import { gpuTest, maxAbsDiff, take, webgpuTest } from "../gpu.ts";

function inputs(n: number, size: number, seed: number) {
  const rng = new Rng(seed);
  const u = (k: number, scale = 1, shift = 0) =>
    Float32Array.from({ length: k }, () => shift + scale * rng.next());
  const x0 = u(n * size);
  const x = x0.map((v) => Math.min(1, Math.max(0, v + 0.2 * (rng.next() - 0.5))));
  const state = new Float32Array(3 * n * size);
  state.set(x);
  state.set(u(n * size, 0.2, -0.1), n * size);
  state.set(u(n * size, 0.05), 2 * n * size);
  const params = new Float32Array(n * 3);
  for (let i = 0; i < n; i++) params.set([rng.next(), rng.next(), i % 3 === 2 ? 0 : 1], i * 3);
  return {
    original: tf.tensor4d(x0, [n, size / 2, 2, 1]),
    state: tf.tensor2d(state, [3, n * size]),
    grad: tf.tensor4d(u(n * size, 2, -1), [n, size / 2, 2, 1]),
    params: tf.tensor2d(params, [n, 3]),
  };
}

webgpuTest(
  "the fused WGSL counterfactual step equals the tfjs reference within 1e-4, frozen images untouched",
  async () => {
    const device = (tf.backend() as unknown as { device: GPUDevice }).device;
    for (const [n, size, t] of [[1, 784, 1], [5, 98, 7], [7, 3072, 200]]) {
      const input = inputs(n, size, n * 13 + t);
      const s: StepSettings = {
        t,
        learningRate: 0.02,
        beta1: 0.9,
        beta2: 0.999,
        epsilon: 1e-8,
        range: [0, 1],
      };
      device.pushErrorScope("validation");
      const fused = await take(counterfactualStepFused(input, s));
      const error = await device.popErrorScope();
      assert.equal(error, null, `WGSL validation: ${error?.message}`);
      const reference = await take(counterfactualStepReference(input, s));
      assert.ok(maxAbsDiff(fused, reference) < 1e-4, `n ${n} size ${size}: ${maxAbsDiff(fused, reference)}`);
      const before = await input.state.data();
      const total = n * size;
      for (let i = 0; i < n; i++) {
        if (i % 3 !== 2) continue;
        for (let k = 0; k < 3; k++) {
          const a = before.subarray(k * total + i * size, k * total + (i + 1) * size);
          const b = fused.subarray(k * total + i * size, k * total + (i + 1) * size);
          assert.deepEqual(Array.from(b), Array.from(a), "a frozen image keeps its state");
        }
      }
      for (let j = 0; j < total; j++) assert.ok(fused[j] >= 0 && fused[j] <= 1, "x stays in the pixel range");
      Object.values(input).forEach((x) => x.dispose());
    }
  },
);

gpuTest("the reference step: soft-thresholding keeps small changes at exactly zero", async () => {
  // Zero gradient and zero moments: Adam's step is 0 and v̂ = 0, so x − x0 shrinks by lr·λ1 / ε toward 0:
  // with ε = 1 that is lr·λ1.
  const original = tf.tensor2d([[0.5, 0.5, 0.5, 0.5]]);
  const state = tf.tensor2d([[0.5, 0.501, 0.7, 0.3], [0, 0, 0, 0], [0, 0, 0, 0]]).reshape([
    3,
    4,
  ]) as tf.Tensor2D;
  const params = tf.tensor2d([[0.1, 0, 1]]);
  const grad = tf.zeros([1, 4]);
  const s: StepSettings = { t: 1, learningRate: 0.1, beta1: 0.9, beta2: 0.999, epsilon: 1, range: [0, 1] };
  const next = await take(counterfactualStepReference({ original, state, grad, params }, s));
  // threshold = 0.1 · 0.1 = 0.01: 0.001 → 0, 0.2 → 0.19, −0.2 → −0.19
  const expected = [0.5, 0.5, 0.69, 0.31];
  assert.ok(maxAbsDiff(next.subarray(0, 4), expected) < 1e-6, `${next.subarray(0, 4)}`);
  [original, state, params, grad].forEach((t) => t.dispose());
});
