import assert from "node:assert/strict";
import type { Dataset } from "../../src/data/dataset.ts";
import { tf } from "../../src/deps.ts";
import { graphLogits } from "../../src/explain/graph.ts";
import { layersGraph } from "../../src/explain/graph_layers.ts";
import { lrpAlphaBeta } from "../../src/explain/lrp_alpha_beta.ts";
import { lrpEpsilon } from "../../src/explain/lrp_epsilon.ts";
import { fromLayersModel } from "../../src/explain/explainable_model.ts";
import { modelRandomization } from "../../src/measure/sanity.ts";
import { createCnn } from "../../src/model/cnn.ts";
import { serializeModel } from "../../src/model/io.ts";
import { loadModel } from "../../src/explain/load.ts";
import { type PixelStatistics, pixelStatistics } from "../../src/model/standardize.ts";
import { Rng } from "../../src/rng.ts";
import { gpuTest, maxAbsDiff, take } from "../gpu.ts";

const H = 6, W = 5, C = 3, K = 3, N = 3;
const SIZE = H * W * C;

function images(seed: number, n = N): tf.Tensor4D {
  const rng = new Rng(seed);
  return tf.tensor4d(Float32Array.from({ length: n * SIZE }, () => rng.next()), [n, H, W, C]);
}

/** Random statistics: means in [0, 0.5], scales in [0.5, 20]. */
function randomStats(seed: number): PixelStatistics {
  const rng = new Rng(seed);
  return {
    mean: Float32Array.from({ length: SIZE }, () => 0.5 * rng.next()),
    scale: Float32Array.from({ length: SIZE }, () => 0.5 + 19.5 * rng.next()),
    floor: 0.05,
  };
}

function cnn(standardize?: PixelStatistics, seed = 4): tf.Sequential {
  return createCnn({
    height: H,
    width: W,
    channels: C,
    classes: K,
    seed,
    filters: [4, 4],
    hidden: 5,
    standardize,
  });
}

Deno.test("pixelStatistics: mean, 1/std, the floor, and scale 1 for a pixel that never varies", () => {
  // Three 1x3x1 images: pixel 0 takes 0, 0.5, 1; pixel 1 is always 0.2; pixel 2 is 0, 0, 0.03.
  const data: Dataset = {
    name: "t",
    images: Float32Array.from([0, 0.2, 0, 0.5, 0.2, 0, 1, 0.2, 0.03]),
    labels: Int32Array.from([0, 0, 0]),
    count: 3,
    height: 1,
    width: 3,
    channels: 1,
    classNames: ["a"],
  };
  const s = pixelStatistics(data, 0.05);
  const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-5, `${a} vs ${b}`);
  close(s.mean[0], 0.5);
  close(s.mean[1], 0.2);
  close(s.mean[2], 0.01);
  close(s.scale[0], 1 / Math.sqrt(1 / 6)); // population std of 0, 0.5, 1
  assert.equal(s.scale[1], 1); // constant: left unscaled
  close(s.scale[2], 20); // std 0.0141 < floor 0.05
  close(pixelStatistics(data, 0.01).scale[2], 1 / Math.sqrt(2e-4)); // above a lower floor: 1/std
  assert.throws(() => pixelStatistics(data, 0), /floor must be positive/);
  assert.throws(() => pixelStatistics({ ...data, count: 0 }), /at least one image/);
  assert.throws(
    () => cnn({ ...randomStats(1), mean: new Float32Array(5) }),
    /hold 5 values; images of 6x5x3/,
  );
});

gpuTest(
  "a standardized CNN is the plain CNN on (x − mean) · scale; the chain interpreter agrees",
  async () => {
    const stats = randomStats(2);
    const withLayer = cnn(stats);
    const plain = cnn();
    const x = images(3);
    const z = tf.tidy(() =>
      tf.mul(tf.sub(x, tf.tensor(stats.mean, [H, W, C])), tf.tensor(stats.scale, [H, W, C])) as tf.Tensor4D
    );
    const expected = await take(plain.predict(z) as tf.Tensor);
    const actual = await take(withLayer.predict(x) as tf.Tensor);
    assert.ok(maxAbsDiff(actual, expected) <= 1e-5 * Math.max(...expected.map(Math.abs)), "predict");
    const chained = await take(tf.tidy(() => graphLogits(layersGraph(withLayer), x)));
    assert.ok(maxAbsDiff(chained, actual) <= 1e-6 * Math.max(...actual.map(Math.abs)), "chain");
    assert.equal(
      withLayer.trainableWeights.length,
      plain.trainableWeights.length,
      "the statistics are not trained",
    );
    tf.dispose([x, z]);
    withLayer.dispose();
    plain.dispose();
  },
);

gpuTest("a standardized CNN saves and loads with its statistics", async () => {
  const original = cnn(randomStats(4));
  const saved = await serializeModel(original);
  const dir = await Deno.makeTempDir();
  const x = images(5);
  try {
    await Deno.writeTextFile(`${dir}/model.json`, saved.modelJson);
    await Deno.writeFile(`${dir}/weights.bin`, saved.weights);
    const loaded = await loadModel(dir);
    const expected = await take(original.predict(x) as tf.Tensor);
    assert.ok(maxAbsDiff(await take(loaded.explainable.logits(x)), expected) <= 1e-6);
    loaded.model.dispose();
  } finally {
    await Deno.remove(dir, { recursive: true });
    x.dispose();
    original.dispose();
  }
});

gpuTest("LRP's input bounds are the pixels' [0, 1], not the standardized values'", async () => {
  // (x · c) through W is x through W · c, so both models must give the same z^B and α1β0 maps. A uniform
  // scale cancels in LRP's ratios; what this tells apart is where the z^B bounds sit: [0, 1] in pixel
  // space is [0, c] after the scale. (The LRP-0 test in lrp_test.ts checks the scale and mean themselves.)
  const c = 7;
  const stats: PixelStatistics = {
    mean: new Float32Array(SIZE),
    scale: new Float32Array(SIZE).fill(c),
    floor: 1,
  };
  const withLayer = cnn(stats);
  const folded = cnn();
  const conv1 = folded.getLayer("conv1");
  const [kernel, bias] = conv1.getWeights();
  const scaled = tf.mul(kernel, c);
  conv1.setWeights([scaled, bias]);
  scaled.dispose();
  const x = images(9);
  const target = [0, 1, 2];
  for (const explain of [lrpEpsilon, lrpAlphaBeta]) {
    const a = await take(await explain(fromLayersModel(withLayer), x, target));
    const b = await take(await explain(fromLayersModel(folded), x, target));
    const scale = Math.max(...b.map(Math.abs));
    assert.ok(scale > 0);
    assert.ok(maxAbsDiff(a, b) < 1e-4 * scale, `${explain.name}: ${maxAbsDiff(a, b)} of ${scale}`);
  }
  x.dispose();
  withLayer.dispose();
  folded.dispose();
});

gpuTest("the cascading randomization leaves the fixed standardization alone", async () => {
  const net = cnn(randomStats(10));
  const x = images(11, 2);
  const result = await modelRandomization(net, x, { target: [0, 1], method: "gradient" });
  assert.deepEqual(result.steps.map((s) => s.layer), ["logits", "dense1", "conv2", "conv1"]);
  x.dispose();
  net.dispose();
});
