import assert from "node:assert/strict";
import type { Dataset } from "../../src/data/dataset.ts";
import { tf } from "../../src/deps.ts";
import {
  type AutoencoderProgress,
  createAutoencoder,
  reconstructionError,
  reconstructionErrors,
  trainAutoencoder,
} from "../../src/model/autoencoder.ts";
import { Rng } from "../../src/rng.ts";
import { gpuTest, maxAbsDiff, take } from "../gpu.ts";

gpuTest("createAutoencoder keeps the image shape, also for sides that are not multiples of 4", async () => {
  for (const shape of [[28, 28, 1], [32, 32, 3], [30, 27, 3]] as [number, number, number][]) {
    const model = createAutoencoder({ height: shape[0], width: shape[1], channels: shape[2], seed: 1 });
    const x = tf.randomUniform([2, ...shape], 0, 1, "float32", 3);
    const y = model.predict(x) as tf.Tensor;
    assert.deepEqual(y.shape, [2, ...shape]);
    const values = await take(y);
    assert.ok(values.every((v) => v > 0 && v < 1), "a sigmoid output stays in (0, 1)");
    x.dispose();
    model.dispose();
  }
});

gpuTest("reconstructionError is ‖R(x) − x‖² per image, in any batch size", async () => {
  const rng = new Rng(2);
  const values = Float32Array.from({ length: 7 * 4 * 3 * 2 }, () => rng.next());
  const x = tf.tensor4d(values, [7, 4, 3, 2]);
  const half = (t: tf.Tensor4D) => tf.mul(t, 0.5) as tf.Tensor4D; // R(x) = x/2: error = Σ x²/4
  const expected = Array.from({ length: 7 }, (_, i) => {
    let s = 0;
    for (let j = i * 24; j < (i + 1) * 24; j++) s += values[j] * values[j] / 4;
    return s;
  });
  assert.ok(maxAbsDiff(await take(reconstructionError(half, x)), expected) < 1e-5);
  assert.ok(maxAbsDiff(await reconstructionErrors(half, x, 3), expected) < 1e-5);
  x.dispose();
});

/** 12×12 images of one bright horizontal or vertical bar on black: easy to compress, not to memorize. */
function bars(n: number, seed: number): Dataset {
  const rng = new Rng(seed);
  const images = new Float32Array(n * 144);
  for (let i = 0; i < n; i++) {
    const at = rng.int(12);
    const vertical = rng.next() < 0.5;
    for (let k = 0; k < 12; k++) images[i * 144 + (vertical ? k * 12 + at : at * 12 + k)] = 1;
  }
  return {
    name: "bars",
    images,
    labels: new Int32Array(n),
    count: n,
    height: 12,
    width: 12,
    channels: 1,
    classNames: ["bar"],
  };
}

gpuTest("trainAutoencoder learns, reproduces with the same seed and leaves no tensor behind", async () => {
  const data = bars(256, 1);
  const before = tf.memory().numTensors;
  const runs = [];
  for (let run = 0; run < 2; run++) {
    const progress: AutoencoderProgress[] = [];
    const trained = await trainAutoencoder(data, {
      epochs: 3,
      seed: 4,
      syncEvery: 4,
      onProgress: (p) => progress.push(p),
    });
    runs.push({ trained, progress });
  }
  const [a, b] = runs;
  assert.equal(a.progress.at(-1)!.step, 8);
  assert.equal(a.progress.at(-1)!.epoch, 3);
  assert.ok(
    a.trained.finalLoss < 0.5 * a.progress[0].loss,
    `the loss falls: ${a.progress.map((p) => p.loss.toFixed(4))}`,
  );
  assert.ok(Math.abs(a.trained.finalLoss - b.trained.finalLoss) < 1e-5);
  const x = tf.tensor4d(data.images.subarray(0, 16 * 144), [16, 12, 12, 1]);
  const errors = await reconstructionErrors(a.trained.model, x);
  assert.ok(maxAbsDiff(errors, await reconstructionErrors(b.trained.model, x)) < 1e-4);
  x.dispose();
  a.trained.model.dispose();
  b.trained.model.dispose();
  assert.equal(tf.memory().numTensors - before, 0, "training (8 steps × 3 epochs, twice) leaves no tensor");
});
