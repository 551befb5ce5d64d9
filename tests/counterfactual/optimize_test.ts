import assert from "node:assert/strict";
import { tf } from "../../src/deps.ts";
import { changeNorms, findCounterfactuals } from "../../src/counterfactual/optimize.ts";
import { fromLayersModel } from "../../src/explain/model_fn.ts";
import { gpuTest, linearModel } from "../gpu.ts";

/** logit0 = 0.5·Σx, logit1 = 0.5·Σx + 10·x[0] − 1: class 1 is caused by the top-left pixel alone. */
function trap() {
  const kernel = new Float32Array(20 * 2);
  for (let p = 0; p < 20; p++) kernel.set([0.5, 0.5], p * 2);
  kernel[1] = 10.5;
  return fromLayersModel(linearModel([4, 5, 1], kernel, new Float32Array([0, -1])));
}

for (const reference of [false, true]) {
  gpuTest(
    `counterfactuals change only the pixel that causes the mistake (${reference ? "tfjs" : "fused"} step)`,
    async () => {
      const img = new Float32Array(40).fill(0.5); // two images, both predicted 1 (margin 4)
      const x = tf.tensor4d(img, [2, 4, 5, 1]);
      const result = await findCounterfactuals(trap(), x, [0, 0], {
        steps: 200,
        rounds: 2,
        reference,
        kappa: 0.5,
      });
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

Deno.test("changeNorms counts pixels, not channels, for L0", () => {
  const a = new Float32Array([0, 0, 0, 0, 0, 0]);
  const b = new Float32Array([0.5, 0.5, 0, 0, 0, -0.0005]);
  const n = changeNorms(a, b, 3);
  assert.equal(n.l0, 1);
  assert.ok(Math.abs(n.l1 - 1.0005) < 1e-6);
  assert.ok(Math.abs(n.l2 - Math.sqrt(0.5 + 0.00000025)) < 1e-6);
});
