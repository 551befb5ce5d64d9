import assert from "node:assert/strict";
import { tf } from "../../src/deps.ts";
import { fromLayersModel } from "../../src/explain/explainable_model.ts";
import { gpuTest, maxAbsDiff, take } from "../gpu.ts";

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
  () => {
    // Replaced on the layer itself: seen without a forward pass, so on every backend.
    const patched = net();
    const head = patched.getLayer("head");
    const call = head.call.bind(head);
    head.call = (inputs, kwargs) => tf.mul(call(inputs, kwargs) as tf.Tensor, 2);
    const read = fromLayersModel(patched);
    assert.equal(read.graph, undefined);
    assert.match(read.graphUnavailable!, /layer "head" \(Dense\) computes something of its own/);
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
