import assert from "node:assert/strict";
import { tf } from "../../src/deps.ts";
import { maskedCopies } from "../../src/explain/masked_copies.ts";
import { gpuTest, maxAbsDiff, take } from "../gpu.ts";

gpuTest(
  "masked copies equal x·keep + fill per image and mask, written out",
  async () => {
    for (const [m, h, w, c, k] of [[1, 1, 1, 1, 1], [2, 3, 4, 1, 5], [3, 5, 2, 3, 4]]) {
      const x = tf.randomUniform([m, h, w, c], 0, 1, "float32", m) as tf.Tensor4D;
      const keep = tf.randomUniform([k, h * w], 0, 1, "float32", k) as tf.Tensor2D;
      const fill = tf.randomUniform([k, h * w], -1, 1, "float32", 7) as tf.Tensor2D;
      const [xs, ks, fs] = await Promise.all([x.data(), keep.data(), fill.data()]);
      for (const withFill of [true, false]) {
        const out = maskedCopies(x, keep, withFill ? fill : undefined);
        assert.deepEqual(out.shape, [m * k, h, w, c]);
        const got = await take(out);
        // Truth written out: row i·k + p, pixel q, channel ch.
        const truth = new Float32Array(m * k * h * w * c);
        for (let i = 0; i < m; i++) {
          for (let p = 0; p < k; p++) {
            for (let q = 0; q < h * w; q++) {
              for (let ch = 0; ch < c; ch++) {
                truth[((i * k + p) * h * w + q) * c + ch] = xs[(i * h * w + q) * c + ch] * ks[p * h * w + q] +
                  (withFill ? fs[p * h * w + q] : 0);
              }
            }
          }
        }
        assert.ok(maxAbsDiff(got, truth) < 1e-6, `${[m, h, w, c, k]} fill ${withFill}`);
      }
      [x, keep, fill].forEach((t) => t.dispose());
    }
  },
);

gpuTest("masked copies of int32 images are float, and masks of the wrong size are refused", async () => {
  const x = tf.tensor4d([1, 2, 3, 4], [1, 2, 2, 1], "int32");
  const keep = tf.tensor2d([[1, 0, 1, 0]]);
  const out = maskedCopies(x, keep, tf.tensor2d([[0, 5, 0, 5]]));
  assert.equal(out.dtype, "float32");
  assert.deepEqual(Array.from(await take(out)), [1, 5, 3, 5]);
  assert.throws(() => maskedCopies(x, tf.ones([2, 3]) as tf.Tensor2D), RangeError);
  assert.throws(() => maskedCopies(x, keep, tf.ones([2, 4]) as tf.Tensor2D), RangeError);
});
