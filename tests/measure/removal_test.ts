import assert from "node:assert/strict";
import { tf } from "../../src/deps.ts";
import { removalTest, topOverlap } from "../../src/measure/removal.ts";
import { gpuTest } from "../gpu.ts";
import { trapModel } from "../fixtures/trap_model.ts";

Deno.test("topOverlap counts shared top pixels", () => {
  assert.equal(topOverlap([9, 8, 0, 0, 0, 0, 0, 0, 0, 0], [9, 0, 8, 0, 0, 0, 0, 0, 0, 0], 0.2), 0.5);
  assert.equal(topOverlap([1, 2, 3, 4], [1, 2, 3, 4], 0.5), 1);
  assert.equal(topOverlap([4, 3, 2, 1], [1, 2, 3, 4], 0.5), 0);
});

gpuTest(
  "removalTest: removing the pixel that causes the mistake fixes it; removing others does not",
  async () => {
    const model = trapModel();
    const img = new Float32Array(20).fill(0.5);
    const x = tf.tensor4d(img, [1, 4, 5, 1]);
    const good = new Float32Array(20);
    good[0] = 1; // the culprit
    const bad = new Float32Array(20).fill(1);
    bad[0] = -1; // the culprit ranked last
    const r1 = await removalTest(model, x, good, [1], [0], 0);
    assert.equal(r1.flipToTrueAt5, 1);
    assert.equal(r1.flipToTrueAt10, 1);
    // margin before: 10·0.5 − 1 = 4; after removing the culprit and one more pixel (10% of 20 = 2): −1
    assert.ok(Math.abs(r1.marginDrop - 5) < 1e-4, `${r1.marginDrop}`);
    const r2 = await removalTest(model, x, bad, [1], [0], 0);
    assert.equal(r2.flipToTrueAt10, 0);
    x.dispose();
  },
);
