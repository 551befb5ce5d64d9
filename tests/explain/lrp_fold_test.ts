/**
 * LRP's input rule works in pixel space: a transform of the pixels (an input range, a standardization) is
 * folded into the first linear layer, also through a ZeroPadding2D; where it cannot be folded, the z^B rule
 * is refused instead of running with the wrong bounds.
 */
import assert from "node:assert/strict";
import { tf } from "../../src/deps.ts";
import { HansError } from "../../src/errors.ts";
import { withInputRange } from "../../src/explain/input_range.ts";
import { fromLayersModel } from "../../src/explain/explainable_model.ts";
import { explain, method, unavailable } from "../../src/explain/registry.ts";
import { Rng } from "../../src/rng.ts";
import { gpuTest, maxAbsDiff, take } from "../gpu.ts";

function padConvNet(kernelScale: number, seed: number): tf.Sequential {
  const net = tf.sequential({
    layers: [
      tf.layers.zeroPadding2d({ inputShape: [6, 6, 1], padding: 1 }),
      tf.layers.conv2d({ filters: 3, kernelSize: 3, useBias: false, activation: "relu" }),
      tf.layers.globalAveragePooling2d({}),
      tf.layers.dense({ units: 2, useBias: false }),
    ],
  });
  const rng = new Rng(seed);
  const kernel = tf.tensor4d(Float32Array.from({ length: 27 }, () => kernelScale * rng.normal()), [
    3,
    3,
    1,
    3,
  ]);
  net.layers[1].setWeights([kernel]);
  net.layers[3].setWeights([tf.tensor2d(Float32Array.from({ length: 6 }, () => rng.normal()), [3, 2])]);
  return net;
}

gpuTest(
  "a model on [0, 255] behind a ZeroPadding2D: LRP's z^B maps equal those of the same model on [0, 1]",
  async () => {
    // A takes pixels in [0, 255] (hans scales them with --input-range 0,255); B is A with its kernel times 255,
    // taking [0, 1]: the same function of hans's pixels, so LRP in pixel space must give the same maps.
    const a = padConvNet(1, 3);
    const b = padConvNet(255, 3);
    const x = tf.randomUniform([2, 6, 6, 1], 0, 1, "float32", 4) as tf.Tensor4D;
    const modelA = withInputRange(fromLayersModel(a), [0, 255]);
    const modelB = fromLayersModel(b);
    for (const name of ["lrp_epsilon", "lrp_alpha_beta"] as const) {
      const ma = await take(await explain(name, modelA, x, [0, 1]));
      const mb = await take(await explain(name, modelB, x, [0, 1]));
      const scale = Math.max(...mb.map(Math.abs));
      assert.ok(scale > 0);
      assert.ok(maxAbsDiff(ma, mb) <= 1e-4 * scale, `${name}: ${maxAbsDiff(ma, mb)} of ${scale}`);
    }
    x.dispose();
    a.dispose();
    b.dispose();
  },
);

gpuTest(
  "a transform of the pixels that cannot be folded: z^B is refused with the reason, the ε rule runs",
  async () => {
    // The scaled pixels feed two branches (a conv and a skip into Add), so the scaling cannot be folded into one.
    const input = tf.input({ shape: [4, 4, 1] });
    const scaled = tf.layers.rescaling({ scale: 2, offset: -1 }).apply(input) as tf.SymbolicTensor;
    const conv = tf.layers.conv2d({ filters: 1, kernelSize: 3, padding: "same", useBias: false })
      .apply(scaled) as tf.SymbolicTensor;
    const sum = tf.layers.add({}).apply([scaled, conv]) as tf.SymbolicTensor;
    const flat = tf.layers.flatten({}).apply(sum) as tf.SymbolicTensor;
    const out = tf.layers.dense({ units: 2 }).apply(flat) as tf.SymbolicTensor;
    const net = tf.model({ inputs: input, outputs: out });
    const model = fromLayersModel(net);
    const x = tf.randomUniform([1, 4, 4, 1], 0, 1, "float32", 5) as tf.Tensor4D;
    const why = await unavailable(method("lrp_epsilon"), model);
    assert.match(why ?? "", /cannot fold into it.*inputRule "epsilon"/);
    assert.equal(await unavailable(method("lrp_epsilon"), model, { inputRule: "epsilon" }), undefined);
    // Each method names the input rule it takes: αβ takes "alphaBeta", not "epsilon".
    assert.match(await unavailable(method("lrp_alpha_beta"), model) ?? "", /inputRule "alphaBeta"/);
    await assert.rejects(explain("lrp_epsilon", model, x, [0]), (e: Error) => e instanceof HansError);
    const maps = await take(await explain("lrp_epsilon", model, x, [0], { inputRule: "epsilon" }));
    assert.ok(maps.every(Number.isFinite));
    x.dispose();
    net.dispose();
  },
);
