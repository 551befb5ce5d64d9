/**
 * Binary classifiers with one output (a sigmoid unit, or one logit) are explained as two classes: logits
 * [−z/2, z/2], whose softmax is the model's [1 − σ(z), σ(z)], and whose contrast "1 rather than 0" is z. Checked
 * against z written out for a linear model (z = w·x + b), as a LayersModel, loaded from files as a LayersModel
 * and as a GraphModel.
 */
import assert from "node:assert/strict";
import { tf } from "../../src/deps.ts";
import { disposeLoaded, loadModel } from "../../src/explain/load.ts";
import { fromLayersModel } from "../../src/explain/explainable_model.ts";
import { explain } from "../../src/explain/registry.ts";
import { Rng } from "../../src/rng.ts";
import { layersModelFiles, toGraphModel, writeModelFolder } from "../fixtures/real_models.ts";
import { gpuTest, maxAbsDiff, take } from "../gpu.ts";

const [H, W, C] = [4, 4, 3];
const N = H * W * C;

/** Flatten → Dense(1) with seeded weights w and bias b; `activation` sigmoid or linear. */
function linearBinary(activation: "sigmoid" | "linear"): { net: tf.LayersModel; w: Float32Array; b: number } {
  const rng = new Rng(9);
  const w = Float32Array.from({ length: N }, () => rng.normal() * 0.3);
  const b = 0.25;
  // Functional, with an input layer of its own, as Keras writes models (the GraphDef writer reads it).
  const input = tf.input({ shape: [H, W, C] });
  const dense = tf.layers.dense({ units: 1, activation });
  const output = dense.apply(tf.layers.flatten().apply(input)) as tf.SymbolicTensor;
  const net = tf.model({ inputs: input, outputs: output });
  dense.setWeights([tf.tensor2d(w, [N, 1]), tf.tensor1d([b])]);
  return { net, w, b };
}

function images(n: number): { x: tf.Tensor4D; values: Float32Array } {
  const rng = new Rng(2);
  const values = Float32Array.from({ length: n * N }, () => rng.next());
  return { x: tf.tensor4d(values, [n, H, W, C]), values };
}

/** z = w·x + b per image, written out. */
function z(values: Float32Array, w: Float32Array, b: number): number[] {
  const n = values.length / N;
  return Array.from({ length: n }, (_, i) => w.reduce((s, wk, k) => s + wk * values[i * N + k], b));
}

gpuTest(
  "a sigmoid unit is two classes: logits ±z/2, softmax σ(z), gradients w/2 and w, IG sums to z − z(0)",
  async () => {
    const { net, w, b } = linearBinary("sigmoid");
    const { x, values } = images(3);
    try {
      const model = fromLayersModel(net);
      assert.equal(model.classes, 2);
      assert.equal(model.outputs, "pre-sigmoid");
      const expected = z(values, w, b).flatMap((v) => [-v / 2, v / 2]);
      const logits = await take(tf.tidy(() => model.logits(x)));
      assert.ok(maxAbsDiff(logits, expected) < 1e-4, `logits ${maxAbsDiff(logits, expected)}`);
      const p = await take(tf.tidy(() => tf.softmax(model.logits(x)).slice([0, 1], [-1, 1])));
      const sigmoid = await take(tf.tidy(() => net.predict(x) as tf.Tensor));
      assert.ok(maxAbsDiff(p, sigmoid) < 1e-5, "softmax of the two logits is the model's probability");
      // Per pixel, summed over channels: the gradient of z/2 is w/2; of the contrast 1 − 0, w.
      const summed = (scale: number) =>
        Array.from({ length: 3 }, () =>
          Array.from({ length: H * W }, (_, px) => {
            let s = 0;
            for (let c = 0; c < C; c++) s += w[px * C + c];
            return scale * s;
          })).flat();
      const half = await take(await explain("gradient", model, x, [1, 1, 1], { absolute: false }));
      assert.ok(maxAbsDiff(half, summed(0.5)) < 1e-5, "class 1: w/2");
      const negative = await take(await explain("gradient", model, x, [0, 0, 0], { absolute: false }));
      assert.ok(maxAbsDiff(negative, summed(-0.5)) < 1e-5, "class 0: −w/2");
      const contrast = { p: [1, 1, 1], q: [0, 0, 0] };
      const full = await take(await explain("gradient", model, x, contrast, { absolute: false }));
      assert.ok(maxAbsDiff(full, summed(1)) < 1e-5, "1 rather than 0: w");
      const ig = await take(await explain("integrated_gradients", model, x, contrast));
      const zx = z(values, w, b);
      for (let i = 0; i < 3; i++) {
        const total = ig.slice(i * H * W, (i + 1) * H * W).reduce((s, v) => s + v, 0);
        assert.ok(Math.abs(total - (zx[i] - b)) < 1e-4, `IG ${total} vs z(x) − z(0) = ${zx[i] - b}`);
      }
      // LRP-ε on the two-class head passes z back: with the bias it loses only the bias's share.
      const lrp = await take(await explain("lrp_epsilon", model, x, contrast, { inputRule: "epsilon" }));
      const lrpTotal = lrp.slice(0, H * W).reduce((s, v) => s + v, 0);
      assert.ok(Math.abs(lrpTotal - (zx[0] - b)) < 1e-3, `LRP ${lrpTotal} vs ${zx[0] - b}`);
    } finally {
      x.dispose();
      net.dispose();
    }
  },
);

gpuTest("one-output models from files: sigmoid (LayersModel and GraphModel) and a plain logit", async () => {
  const dir = await Deno.makeTempDir();
  const { x, values } = images(2);
  try {
    for (const activation of ["sigmoid", "linear"] as const) {
      const { net, w, b } = linearBinary(activation);
      const expected = z(values, w, b).flatMap((v) => [-v / 2, v / 2]);
      await writeModelFolder(`${dir}/${activation}-layers`, await layersModelFiles(net));
      await writeModelFolder(`${dir}/${activation}-graph`, await toGraphModel(net));
      for (const kind of ["layers", "graph"]) {
        const loaded = await loadModel(`${dir}/${activation}-${kind}`);
        const where = `${activation} ${kind}`;
        assert.equal(loaded.classes, 2, where);
        assert.equal(loaded.outputs, activation === "sigmoid" ? "pre-sigmoid" : "logits", where);
        assert.ok(loaded.explainable.graph, `${where}: ${loaded.explainable.graphUnavailable}`);
        const logits = await take(tf.tidy(() => loaded.explainable.logits(x)));
        assert.ok(maxAbsDiff(logits, expected) < 1e-4, `${where}: ${maxAbsDiff(logits, expected)}`);
        // The graph's own logits (what Grad-CAM, Guided Backprop and LRP run) end in the two-class head.
        const maps = await take(await explain("guided_backprop", loaded.explainable, x, [1, 0]));
        assert.ok(maps.every(Number.isFinite), where);
        disposeLoaded(loaded);
      }
      net.dispose();
    }
  } finally {
    x.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});
