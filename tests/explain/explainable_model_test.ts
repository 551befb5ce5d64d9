import assert from "node:assert/strict";
import { tf } from "../../src/deps.ts";
import { fromLayersModel, settleModel } from "../../src/explain/explainable_model.ts";
import { withInputRange } from "../../src/explain/input_range.ts";
import { availableMethods, explain } from "../../src/explain/registry.ts";
import { gpuTest, maxAbsDiff, take, webgpuTest } from "../gpu.ts";

/** flatten → dense(4, relu, "hidden") → dense(3, softmax, "head") on 4x4 gray images. */
function net(): tf.Sequential {
  return tf.sequential({
    layers: [
      tf.layers.flatten({ inputShape: [4, 4, 1] }),
      tf.layers.dense({ units: 4, activation: "relu", name: "hidden" }),
      tf.layers.dense({ units: 3, activation: "softmax", name: "head" }),
    ],
  });
}

/** The model's own output and the softmax of the explained logits, on seeded images. */
async function outputs(model: tf.LayersModel, logits: (x: tf.Tensor4D) => tf.Tensor2D, softmax: boolean) {
  const x = tf.randomUniform([3, 4, 4, 1], 0, 1, "float32", 5) as tf.Tensor4D;
  const theirs = await take(model.predict(x) as tf.Tensor);
  const mine = await take(tf.tidy(() => (softmax ? tf.softmax(logits(x)) : logits(x))));
  x.dispose();
  return { theirs, mine };
}

Deno.test({
  name:
    "fromLayersModel drops a graph whose output does not reproduce the model's (cpu: the check reads back)",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const before = tf.getBackend();
    await tf.setBackend("cpu");
    const model = net();
    try {
      const read = fromLayersModel(model);
      assert.ok(read.graph, read.graphUnavailable);
      assert.equal(read.outputs, "pre-softmax");
      // Every Dense now computes twice its output: hans's reading (from class and config) no longer matches.
      const dense = Object.getPrototypeOf(model.getLayer("hidden"));
      const call = dense.call;
      dense.call = function (this: tf.layers.Layer, inputs: tf.Tensor, kwargs: Record<string, unknown>) {
        return tf.mul(call.call(this, inputs, kwargs) as tf.Tensor, 2);
      };
      try {
        const misread = fromLayersModel(model);
        assert.equal(misread.graph, undefined);
        assert.match(misread.graphUnavailable!, /does not reproduce its output \(largest difference/);
        assert.equal(misread.outputs, "logits"); // the model's own output, as for any model without a graph
        const { theirs, mine } = await outputs(model, misread.logits, false);
        assert.ok(maxAbsDiff(theirs, mine) < 1e-6);
      } finally {
        dense.call = call;
      }
    } finally {
      model.dispose();
      if (before) await tf.setBackend(before); // none before this test: the next gpuTest starts one
    }
  },
});

gpuTest("fromLayersModel keeps the graph of a model it reads right, on the model's logits", async () => {
  const model = net();
  const read = fromLayersModel(model);
  assert.ok(read.graph, read.graphUnavailable);
  assert.equal(read.graph.source, "layers-model");
  const { theirs, mine } = await outputs(model, read.logits, true);
  assert.ok(maxAbsDiff(theirs, mine) < 1e-5);
  model.dispose();
});

gpuTest(
  "fromLayersModel drops the graph of a layer that computes something else than its class",
  async () => {
    // Replaced on the layer itself: seen without a forward pass, so on every backend.
    const patched = net();
    const head = patched.getLayer("head");
    const call = head.call.bind(head);
    head.call = (inputs, kwargs) => tf.mul(call(inputs, kwargs) as tf.Tensor, 2);
    const read = fromLayersModel(patched);
    assert.equal(read.graph, undefined);
    assert.match(read.graphUnavailable!, /layer "head" \(Dense\) computes something of its own/);
    // Explained on what the model computes, not on hans's reading of it (nor the fused pass built from it).
    const { theirs, mine } = await outputs(patched, read.logits, false);
    assert.ok(maxAbsDiff(theirs, mine) < 1e-5, `${maxAbsDiff(theirs, mine)}`);
    patched.dispose();
    // A subclass of Dense: its class name is still "Dense".
    type DenseClass = new (args: { units: number; name?: string }) => tf.layers.Layer;
    const Dense = Object.getPrototypeOf(tf.layers.dense({ units: 1 })).constructor as DenseClass;
    class Doubled extends Dense {
      override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor {
        return tf.mul(super.call(inputs, kwargs) as tf.Tensor, 2);
      }
    }
    const sub = tf.sequential({
      layers: [tf.layers.flatten({ inputShape: [2, 2, 1] }), new Doubled({ units: 2, name: "doubled" })],
    });
    const subRead = fromLayersModel(sub);
    assert.equal(subRead.graph, undefined);
    assert.match(subRead.graphUnavailable!, /layer "doubled" \(Dense\) computes something of its own/);
    sub.dispose();
  },
);

webgpuTest(
  "fromLayersModel on WebGPU checks the graph's output before the first explanation, and drops a misread graph",
  async () => {
    const model = net();
    // Every Dense computes twice its output: hans's reading (from class and config) no longer matches.
    const dense = Object.getPrototypeOf(model.getLayer("hidden"));
    const call = dense.call;
    dense.call = function (this: tf.layers.Layer, inputs: tf.Tensor, kwargs: Record<string, unknown>) {
      return tf.mul(call.call(this, inputs, kwargs) as tf.Tensor, 2);
    };
    const x = tf.randomUniform([2, 4, 4, 1], 0, 1, "float32", 3) as tf.Tensor4D;
    try {
      const misread = fromLayersModel(model);
      // No synchronous read-back on WebGPU: the graph is kept until the check has run.
      assert.ok(misread.graph);
      const maps = await explain("gradient", misread, x, [0, 1]);
      maps.dispose();
      assert.equal(misread.graph, undefined);
      assert.match(misread.graphUnavailable!, /does not reproduce its output \(largest difference/);
      assert.equal(misread.outputs, "logits");
      const { theirs, mine } = await outputs(model, misread.logits, false);
      assert.ok(maxAbsDiff(theirs, mine) < 1e-5);
      // Methods that need the graph are now left out, with the reason.
      await assert.rejects(explain("grad_cam", misread, x, [0, 1]), /does not reproduce its output/);
      // A model wrapped before its check (pixels in [0, 255]) follows it: its graph goes too, and its logits are
      // the model's own on the scaled pixels.
      const scaled = withInputRange(fromLayersModel(model), [0, 255]);
      assert.ok(scaled.graph);
      (await explain("gradient", scaled, x, [0, 1])).dispose();
      assert.equal(scaled.graph, undefined);
      assert.match(scaled.graphUnavailable!, /does not reproduce its output/);
      const big = tf.mul(x, 255) as tf.Tensor4D;
      const theirsScaled = await take(model.predict(big) as tf.Tensor);
      const mineScaled = await take(scaled.logits(x));
      big.dispose();
      assert.ok(maxAbsDiff(theirsScaled, mineScaled) < 1e-3, `${maxAbsDiff(theirsScaled, mineScaled)}`);
    } finally {
      dense.call = call;
      x.dispose();
      model.dispose();
    }
  },
);

webgpuTest(
  "fromLayersModel on WebGPU keeps the graph of a model it reads right after the check",
  async () => {
    const model = net();
    const x = tf.randomUniform([2, 4, 4, 1], 0, 1, "float32", 3) as tf.Tensor4D;
    const read = fromLayersModel(model);
    await settleModel(read);
    assert.ok(read.graph, read.graphUnavailable);
    assert.equal(read.outputs, "pre-softmax");
    const maps = await explain("grad_cam", read, x, [0, 1], { layer: "hidden" }).catch((e) => e);
    // hidden is 2-D (no spatial layer here): the method says so, which proves it looked at the graph.
    assert.ok(maps instanceof Error ? !/does not reproduce/.test(maps.message) : true);
    if (!(maps instanceof Error)) maps.dispose();
    x.dispose();
    model.dispose();
  },
);

webgpuTest(
  "fromLayersModel on WebGPU checks once per model: calls made while it runs, and later ones, share it",
  async () => {
    const model = net();
    const dense = Object.getPrototypeOf(model.getLayer("hidden"));
    const call = dense.call;
    const doubled = function (this: tf.layers.Layer, inputs: tf.Tensor, kwargs: Record<string, unknown>) {
      return tf.mul(call.call(this, inputs, kwargs) as tf.Tensor, 2);
    };
    const x = tf.randomUniform([2, 4, 4, 1], 0, 1, "float32", 3) as tf.Tensor4D;
    try {
      const read = fromLayersModel(model);
      // The first call starts the check: its probe runs the model now, while the layers compute what they say.
      const first = explain("gradient", read, x, [0, 1]);
      // From here on the model computes something else: a check started now would drop the graph.
      dense.call = doubled;
      const second = availableMethods(["guided_backprop"], read, () => undefined, false);
      (await first).dispose();
      const { methods } = await second;
      assert.deepEqual(
        methods.map((m) => m.name),
        ["guided_backprop"],
        "the second call waited for the first check",
      );
      assert.ok(read.graph, "one check, made before the change");
      (await explain("gradient", read, x, [0, 1])).dispose();
      assert.ok(read.graph, "a later call does not check again");
      // The same model read afresh is checked afresh, and fails.
      const fresh = fromLayersModel(model);
      await settleModel(fresh);
      assert.equal(fresh.graph, undefined);
    } finally {
      dense.call = call;
      x.dispose();
      model.dispose();
    }
  },
);
