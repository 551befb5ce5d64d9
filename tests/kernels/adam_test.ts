import assert from "node:assert/strict";
import { tf } from "../../src/deps.ts";
import { FusedAdam } from "../../src/kernels/adam.ts";
import { useHansKernels } from "../../src/kernels/register.ts";
import { createCnn } from "../../src/model/cnn.ts";
import { maxAbsDiff, webgpuTest } from "../gpu.ts";

/** The model both optimizers train, from the same initial weights. */
const model = () =>
  createCnn({ height: 12, width: 12, channels: 1, classes: 3, seed: 4, filters: [4, 8], hidden: 6 });

/** The weights and losses after `steps` Adam steps of the same model on the same batch. */
async function train(fused: boolean, steps: number) {
  const x = tf.randomUniform([17, 12, 12, 1], 0, 1, "float32", 1);
  const y = tf.tidy(() => tf.oneHot(tf.tensor1d(Array.from({ length: 17 }, (_, i) => i % 3), "int32"), 3));
  const net = model();
  const optimizer = fused ? new FusedAdam(0.01) : tf.train.adam(0.01);
  const losses: number[] = [];
  for (let step = 0; step < steps; step++) {
    const loss = optimizer.minimize(
      () => tf.losses.softmaxCrossEntropy(y, net.apply(x) as tf.Tensor) as tf.Scalar,
      true,
    )!;
    losses.push((await loss.data())[0]);
    loss.dispose();
  }
  const weights: Float32Array[] = [];
  for (const w of net.getWeights()) weights.push(await w.data() as Float32Array);
  optimizer.dispose();
  net.dispose();
  tf.dispose([x, y]);
  return { weights, losses };
}

webgpuTest(
  "FusedAdam takes the same steps as tfjs's Adam: weights and losses agree over 8 steps",
  async () => {
    useHansKernels(true);
    const before = tf.memory().numTensors;
    const ref = await train(false, 8);
    const got = await train(true, 8);
    assert.equal(tf.memory().numTensors, before, "the moments are released with the optimizer");
    assert.ok(ref.losses[7] < ref.losses[0], "the reference learns");
    for (let i = 0; i < 8; i++) assert.ok(Math.abs(got.losses[i] - ref.losses[i]) < 1e-4, `loss ${i}`);
    got.weights.forEach((w, i) => {
      const scale = ref.weights[i].reduce((m, v) => Math.max(m, Math.abs(v)), 1e-3);
      assert.ok(maxAbsDiff(w, ref.weights[i]) < 1e-4 * Math.max(1, scale), `weight ${i}`);
    });
    // The weights moved: a step that did nothing would also agree with itself, not with the reference's change.
    const initial = model();
    const start = await initial.getWeights()[0].data() as Float32Array;
    assert.ok(maxAbsDiff(start, got.weights[0]) > 1e-3, "conv1's kernel changed");
    initial.dispose();
  },
);
