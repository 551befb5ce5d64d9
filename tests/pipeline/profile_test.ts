import assert from "node:assert/strict";
import { tf } from "../../src/deps.ts";
import { kernelFlop, profileWorkload } from "../../src/pipeline/profile.ts";
import { gpuTest } from "../gpu.ts";

gpuTest(
  "profileWorkload: every kernel call once, grouped by shapes, with FLOPs counted from the shapes",
  async () => {
    const a = tf.randomUniform([24, 40]);
    const b = tf.randomUniform([40, 8]);
    const x = tf.randomUniform([2, 9, 9, 3]) as tf.Tensor4D;
    const w = tf.randomUniform([3, 3, 3, 5]) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const profile = await profileWorkload(() =>
      tf.tidy(() => {
        const y = tf.conv2d(x, w, 1, "same"); // 2 · (2·9·9·5) · (3·3·3) FLOPs
        const p = tf.add(tf.matMul(a, b), tf.matMul(a, b)); // two identical products: one row, 2 calls
        return [y, p];
      }), 2);
    assert.equal(tf.memory().numTensors, before, "the recorded inputs and the outputs are released");
    const row = (kernel: string) => profile.rows.find((r) => r.kernel === kernel)!;
    assert.equal(row("BatchMatMul").calls, 2);
    assert.equal(row("BatchMatMul").flop, 2 * 2 * 24 * 40 * 8);
    assert.equal(row("Conv2D").flop, 2 * (2 * 9 * 9 * 5) * 27);
    assert.equal(row("Add").flop, 0);
    assert.equal(row("Add").bytes, 4 * 3 * 24 * 8, "two inputs and one output of 24×8 floats");
    assert.equal(profile.calls, profile.rows.reduce((s, r) => s + r.calls, 0));
    for (const r of profile.rows) assert.ok(r.ms >= 0 && Number.isFinite(r.ms), `${r.kernel} ${r.ms}`);
    assert.ok(profile.workloadMs > 0 && profile.kernelMs > 0);
    assert.deepEqual(profile.rows.map((r) => r.ms), profile.rows.map((r) => r.ms).sort((p, q) => q - p));
    tf.dispose([a, b, x, w]);
  },
);

Deno.test("kernelFlop counts conv gradients, fused conv + pool and transposed products from their shapes", () => {
  const t = (shape: number[]) => ({ shape }) as unknown as tf.Tensor;
  // dy [2, 4, 4, 6] through a 3×3×5×6 filter: every dy value meets 3·3·5 weights.
  assert.equal(
    kernelFlop("Conv2DBackpropInput", { dy: t([2, 4, 4, 6]), filter: t([3, 3, 5, 6]) }, {}, [[2, 4, 4, 5]]),
    2 * 2 * 4 * 4 * 6 * 45,
  );
  assert.equal(
    kernelFlop("Conv2DBackpropFilter", { x: t([2, 4, 4, 5]), dy: t([2, 4, 4, 6]) }, {}, [[3, 3, 5, 6]]),
    2 * 2 * 4 * 4 * 6 * 45,
  );
  // aᵀ·b with a [1, 7, 3]: the inner dimension is 7.
  assert.equal(
    kernelFlop("BatchMatMul", { a: t([1, 7, 3]), b: t([1, 7, 4]) }, { transposeA: true }, [[1, 3, 4]]),
    2 * 3 * 4 * 7,
  );
  // The fused conv + ReLU + 2×2 pool: the conv's output [2, 8, 8, 6] is 4× the pooled one.
  assert.equal(
    kernelFlop("HansConvReluPool", { x: t([2, 8, 8, 5]), filter: t([3, 3, 5, 6]) }, {}, [[2, 4, 4, 6]]),
    2 * 2 * 8 * 8 * 6 * 45,
  );
  assert.equal(kernelFlop("Relu", { x: t([5]) }, {}, [[5]]), 0);
});
