import assert from "node:assert/strict";
import { tf } from "../../src/deps.ts";
import { graphLogits } from "../../src/explain/graph.ts";
import { fromLayersModel } from "../../src/explain/explainable_model.ts";
import { inputGradients } from "../../src/explain/batching.ts";
import { explain } from "../../src/explain/registry.ts";
import { targetWeights } from "../../src/explain/target.ts";
import { parseInputRange, withInputRange } from "../../src/explain/input_range.ts";
import { Rng } from "../../src/rng.ts";
import { gpuTest, linearModel, maxAbsDiff, take } from "../gpu.ts";

Deno.test("parseInputRange reads lo,hi and refuses the rest", () => {
  assert.deepEqual(parseInputRange("-1, 1"), [-1, 1]);
  assert.deepEqual(parseInputRange("0,255"), [0, 255]);
  for (const bad of ["1,0", "0", "a,b", "0,1,2", "NaN,1"]) assert.throws(() => parseInputRange(bad));
});

gpuTest(
  "--input-range: the model sees lo + x·(hi − lo); gradients scale by hi − lo; its graph agrees",
  async () => {
    const rng = new Rng(4);
    const kernel = Float32Array.from({ length: 12 * 3 }, () => rng.normal());
    const net = linearModel([2, 3, 2], kernel, new Float32Array([0.5, -1, 0.25]));
    const model = fromLayersModel(net);
    const scaled = withInputRange(model, [-1, 1]);
    const x = tf.tensor4d(Float32Array.from({ length: 2 * 12 }, () => rng.next()), [2, 2, 3, 2]);
    // Truth by hand: logits of 2x − 1 on the original model; its gradient is 2 × the model's (a linear model's
    // gradient is its weights).
    const expected = await take(tf.tidy(() => model.logits(tf.sub(tf.mul(x, 2), 1) as tf.Tensor4D)));
    assert.ok(maxAbsDiff(await take(tf.tidy(() => scaled.logits(x))), expected) < 1e-5);
    assert.ok(scaled.graph, "the graph is kept, with the scaling in front");
    assert.ok(maxAbsDiff(await take(tf.tidy(() => graphLogits(scaled.graph!, x))), expected) < 1e-5);
    const w = targetWeights([1, 2], 3);
    const g = await take(inputGradients(scaled, x, w));
    const g0 = await take(inputGradients(model, x, w));
    assert.ok(maxAbsDiff(g, Array.from(g0, (v) => 2 * v)) < 1e-5);
    // LRP-ε with the ε input rule and no bias equals gradient × input in the model's own pixel space, which the
    // fold of the scaling into the first layer must keep: Σ relevance = logit − bias share (here: exactly the
    // linear part w·(2x − 1) split per pixel, the constant −w·1 going with the bias).
    const lrp = await take(
      await explain("lrp_epsilon", scaled, x, [1, 2], { inputRule: "epsilon", epsilon: 0 }),
    );
    const gi = await take(await explain("gradient_input", scaled, x, [1, 2]));
    assert.ok(maxAbsDiff(lrp, gi) < 1e-4, `LRP-0 vs gradient × input: ${maxAbsDiff(lrp, gi)}`);
    [x, w].forEach((t) => t.dispose());
    net.dispose();
  },
);
