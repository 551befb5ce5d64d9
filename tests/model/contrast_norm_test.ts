import assert from "node:assert/strict";
import { tf } from "../../src/deps.ts";
import { evaluate, graphLogits, graphNode, linearForward, type LinearNode } from "../../src/explain/graph.ts";
import { layersGraph } from "../../src/explain/graph_layers.ts";
import { lrpEpsilon } from "../../src/explain/lrp_epsilon.ts";
import { fromLayersModel } from "../../src/explain/explainable_model.ts";
import { createCnn } from "../../src/model/cnn.ts";
import { contrastFactor, ContrastNormalization } from "../../src/model/contrast_norm.ts";
import { serializeModel } from "../../src/model/io.ts";
import { loadModel } from "../../src/explain/load.ts";
import { Rng } from "../../src/rng.ts";
import { gpuTest, maxAbsDiff, take } from "../gpu.ts";

const H = 6, W = 5, C = 3, K = 3, N = 3;

function images(seed: number): tf.Tensor4D {
  const rng = new Rng(seed);
  return tf.tensor4d(Float32Array.from({ length: N * H * W * C }, () => rng.next()), [N, H, W, C]);
}

function cnn(contrastNorm: number, seed = 4): tf.Sequential {
  return createCnn({
    height: H,
    width: W,
    channels: C,
    classes: K,
    seed,
    filters: [4, 4],
    hidden: 5,
    contrastNorm,
  });
}

gpuTest(
  "ContrastNormalization: x · (mean_c(x²) + ε)^(−p/2) by hand; p = 1 makes a feature 10× fainter look the same",
  async () => {
    // One position with features [3, 4]: mean square 12.5.
    const x = tf.tensor4d([3, 4, 0.3, 0.4, 0, 0], [1, 1, 3, 2]);
    const full = new ContrastNormalization({ power: 1, epsilon: 1e-3 });
    const half = new ContrastNormalization({ power: 0.5, epsilon: 1e-3 });
    const y = await take(full.apply(x) as tf.Tensor);
    const z = await take(half.apply(x) as tf.Tensor);
    const close = (a: number, b: number, what: string) =>
      assert.ok(Math.abs(a - b) < 1e-5, `${what}: ${a} vs ${b}`);
    close(y[0], 3 / Math.sqrt(12.5 + 1e-3), "p=1 bold");
    close(y[2], 0.3 / Math.sqrt(0.125 + 1e-3), "p=1 faint");
    assert.ok(
      Math.abs(y[2] - y[0]) < 0.01 * y[0],
      "p = 1: the faint copy comes out about as large as the bold one",
    );
    close(z[0], 3 / Math.pow(12.5 + 1e-3, 0.25), "p=0.5 bold");
    close(z[2], 0.3 / Math.pow(0.125 + 1e-3, 0.25), "p=0.5 faint");
    assert.deepEqual([y[4], y[5]], [0, 0], "zero stays zero");
    assert.throws(() => new ContrastNormalization({ power: 0 }), /power must be in \(0, 1\]/);
    assert.throws(() => new ContrastNormalization({ power: 1.5 }), /power must be in \(0, 1\]/);
    assert.throws(() => cnn(-0.1), /contrastNorm must be in \[0, 1\]/);
    x.dispose();
  },
);

gpuTest(
  "a CNN with contrast normalization: layer order, the graph interpreter agrees, save and load",
  async () => {
    assert.deepEqual(cnn(0).layers.map((l) => l.name).slice(0, 2), ["conv1", "pool1"], "power 0: no layer");
    const net = cnn(0.75);
    assert.deepEqual(net.layers.map((l) => l.name).slice(0, 4), [
      "conv1",
      "conv1_contrast",
      "conv1_relu",
      "pool1",
    ]);
    const x = images(1);
    const expected = await take(net.predict(x) as tf.Tensor);
    const chained = await take(tf.tidy(() => graphLogits(layersGraph(net), x)));
    assert.ok(maxAbsDiff(chained, expected) <= 1e-5 * Math.max(...expected.map(Math.abs)), "chain");
    const saved = await serializeModel(net);
    const dir = await Deno.makeTempDir();
    try {
      await Deno.writeTextFile(`${dir}/model.json`, saved.modelJson);
      await Deno.writeFile(`${dir}/weights.bin`, saved.weights);
      const loaded = await loadModel(dir);
      assert.ok(maxAbsDiff(await take(loaded.explainable.logits(x)), expected) <= 1e-6, "loaded");
      assert.equal(
        ((loaded.model as tf.LayersModel).getLayer("conv1_contrast") as ContrastNormalization).power,
        0.75,
      );
      loaded.model.dispose();
    } finally {
      await Deno.remove(dir, { recursive: true });
      x.dispose();
      net.dispose();
    }
  },
);

gpuTest(
  "LRP-0 through contrast normalization is gradient × input with the normalizing factor held constant",
  async () => {
    // The factor is read as a constant of the input, so the step is elementwise and LRP-0 = a ⊙ ∂f/∂a holds
    // for the network in which the factor is frozen at its value for x (it differs from the full gradient).
    const net = cnn(1, 7);
    const model = fromLayersModel(net);
    const graph = layersGraph(net);
    const x = images(2);
    const target = [1, 2, 0];
    const lrp = await take(await lrpEpsilon(model, x, target, { inputRule: "epsilon", epsilon: 0 }));
    const conv1 = graphNode(graph, "conv1") as LinearNode;
    const frozen = tf.tidy(() => contrastFactor(linearForward(conv1, x), 1, 1e-3));
    const onehot = tf.oneHot(target, K);
    const frozenGi = await take(tf.tidy(() => {
      const score = (input: tf.Tensor) =>
        tf.sum(tf.mul(
          evaluate(graph, null, [graph.output], {
            given: new Map([["conv1_contrast", tf.mul(linearForward(conv1, input), frozen)]]),
          }).get(graph.output)!,
          onehot,
        ));
      return tf.sum(tf.mul(tf.grad(score)(x), x), -1); // per pixel, as the maps are
    }));
    const fullGi = await take(tf.tidy(() => {
      const score = (input: tf.Tensor) => tf.sum(tf.mul(graphLogits(graph, input as tf.Tensor4D), onehot));
      return tf.sum(tf.mul(tf.grad(score)(x), x), -1); // per pixel, as the maps are
    }));
    const scale = Math.max(...frozenGi.map(Math.abs));
    assert.ok(scale > 0);
    assert.ok(
      maxAbsDiff(lrp, frozenGi) < 1e-4 * scale,
      `frozen factor: ${maxAbsDiff(lrp, frozenGi)} of ${scale}`,
    );
    assert.ok(
      maxAbsDiff(lrp, fullGi) > 1e-2 * scale,
      "the full gradient differs, so the test tells them apart",
    );
    tf.dispose([x, frozen, onehot]);
    net.dispose();
  },
);
