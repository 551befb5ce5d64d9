/**
 * LRP's canonizers, tested directly: the canonized graph computes what the original computes (random inputs,
 * cpu backend, 1e-5 relative), the caller's graph is left as it was, and the canonized graph's own tensors are
 * released on their own.
 */
import assert from "node:assert/strict";
import { tf } from "../../src/deps.ts";
import {
  disposeGraph,
  evaluate,
  graphLogits,
  type LinearNode,
  type ModelGraph,
} from "../../src/explain/graph.ts";
import { layersGraph } from "../../src/explain/graph_layers.ts";
import {
  disposeInputFolds,
  foldedForward,
  foldInputTransforms,
  mergeBatchNorm,
} from "../../src/explain/lrp_canonize.ts";
import { withInputTransform } from "../../src/explain/graph.ts";
import { Rng } from "../../src/rng.ts";

await tf.setBackend("cpu");

/** Gives every BatchNormalization layer of `net` random gamma, beta, moving mean and moving variance. */
function randomizeBatchNorm(net: tf.LayersModel, rng: Rng): void {
  for (const layer of net.layers) {
    if (layer.getClassName() !== "BatchNormalization") continue;
    const n = layer.getWeights()[0].shape[0];
    const values = (f: () => number) => tf.tensor1d(Float32Array.from({ length: n }, f));
    layer.setWeights([
      values(() => 0.5 + rng.next()),
      values(() => rng.normal()),
      values(() => rng.normal()),
      values(() => 0.2 + rng.next()),
    ]);
  }
}

/** Max |a − b| relative to max |b|. */
function relativeDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.sub(a, b).abs().max().dataSync()[0] / Math.max(1e-12, b.abs().max().dataSync()[0]));
}

function bnNet(after: "conv" | "relu"): tf.LayersModel {
  // "conv": conv → BN → ReLU (BN mergeable); "relu": conv+ReLU → BN (BN after the ReLU: not mergeable).
  const layers = after === "conv"
    ? [
      tf.layers.conv2d({ inputShape: [8, 8, 2], filters: 4, kernelSize: 3, padding: "same", name: "conv1" }),
      tf.layers.batchNormalization({ name: "bn1" }),
      tf.layers.reLU({ name: "relu1" }),
    ]
    : [
      tf.layers.conv2d({
        inputShape: [8, 8, 2],
        filters: 4,
        kernelSize: 3,
        padding: "same",
        activation: "relu",
        name: "conv1",
      }),
      tf.layers.batchNormalization({ name: "bn1" }),
    ];
  const net = tf.sequential({
    layers: [
      ...layers,
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.conv2d({ filters: 3, kernelSize: 3, name: "conv2" }),
      tf.layers.batchNormalization({ name: "bn2" }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 5, name: "dense1" }),
      tf.layers.batchNormalization({ name: "bn3" }),
      tf.layers.dense({ units: 3, name: "head" }),
    ],
  });
  randomizeBatchNorm(net, new Rng(after === "conv" ? 1 : 2));
  return net;
}

function snapshot(graph: ModelGraph): string {
  return JSON.stringify(graph.nodes.map((n) => [n.name, n.op, n.inputs]));
}

for (const after of ["conv", "relu"] as const) {
  Deno.test(`mergeBatchNorm with BatchNorm after the ${after}: same logits, caller's graph untouched`, () => {
    const net = bnNet(after);
    const graph = layersGraph(net);
    const before = snapshot(graph);
    const kernels = graph.nodes.flatMap((n) => "kernel" in n ? [n.kernel] : []);
    const merged = mergeBatchNorm(graph);
    const x = tf.randomUniform([4, 8, 8, 2], 0, 1, "float32", 7) as tf.Tensor4D;
    const diff = tf.tidy(() => relativeDiff(graphLogits(merged, x), graphLogits(graph, x)));
    assert.ok(diff < 1e-5, `relative difference ${diff}`);
    // What merged: bn2 into conv2 and bn3 into dense1 (both follow a linear layer with no activation), and bn1
    // only when it comes before the ReLU; after the ReLU it stays an affine node that LRP passes unchanged.
    const affine = merged.nodes.filter((n) => n.op === "affine").map((n) => n.name);
    assert.deepEqual(affine, after === "conv" ? [] : ["bn1"]);
    assert.equal(merged.nodes.filter((n) => n.op === "conv2d" || n.op === "dense").length, 4);
    // The caller's graph: same nodes, its kernels alive after the merged graph's tensors are released.
    assert.equal(snapshot(graph), before);
    assert.equal(merged.owned.length, after === "conv" ? 6 : 4);
    disposeGraph(merged);
    assert.ok(kernels.every((k) => !k.isDisposed));
    const again = tf.tidy(() => relativeDiff(graphLogits(graph, x), net.predict(x) as tf.Tensor));
    assert.ok(again < 1e-5);
    x.dispose();
    net.dispose();
  });
}

Deno.test("mergeBatchNorm leaves a linear node with two readers alone", () => {
  const input = tf.input({ shape: [4, 4, 1] });
  const conv = tf.layers.conv2d({ filters: 2, kernelSize: 3, padding: "same", name: "conv" })
    .apply(input) as tf.SymbolicTensor;
  const bn = tf.layers.batchNormalization({ name: "bn" }).apply(conv) as tf.SymbolicTensor;
  const sum = tf.layers.add({}).apply([conv, bn]) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 2 }).apply(tf.layers.flatten().apply(sum)) as tf.SymbolicTensor;
  const net = tf.model({ inputs: input, outputs: out });
  randomizeBatchNorm(net, new Rng(3));
  const graph = layersGraph(net);
  const merged = mergeBatchNorm(graph);
  assert.deepEqual(merged.owned, []);
  assert.ok(merged.nodes.some((n) => n.name === "conv") && merged.nodes.some((n) => n.name === "bn"));
  net.dispose();
});

Deno.test("foldInputTransforms: the folded first layer of the raw pixels equals its pre-activation", async () => {
  // Per-pixel standardization (a scale per pixel cannot go into a conv kernel), a zero padding, then a conv;
  // and a scalar input transform in front of it all.
  const rng = new Rng(4);
  const mean = tf.tensor3d(Float32Array.from({ length: 6 * 6 * 2 }, () => rng.next()), [6, 6, 2]);
  const scale = tf.tensor3d(Float32Array.from({ length: 6 * 6 * 2 }, () => 0.5 + 3 * rng.next()), [6, 6, 2]);
  const net = tf.sequential({
    layers: [
      tf.layers.zeroPadding2d({ inputShape: [6, 6, 2], padding: 1 }),
      tf.layers.conv2d({ filters: 3, kernelSize: 3, activation: "relu", name: "conv" }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 2 }),
    ],
  });
  const base = layersGraph(net);
  // The standardization node between the pixels and the padding, as hans's standardize layer reads.
  const pixels = "hans/raw";
  const standardized: ModelGraph = {
    ...base,
    input: pixels,
    nodes: [
      { op: "input", name: pixels, inputs: [] },
      ...base.nodes.map((n) =>
        n.name === base.input
          ? { op: "standardize" as const, name: n.name, inputs: [pixels], mean, scale }
          : n
      ),
    ],
    shapes: new Map([...base.shapes, [pixels, base.shapes.get(base.input)!]]),
    owned: [],
  };
  const graph = withInputTransform(standardized, 2, -1);
  const found = await foldInputTransforms(graph, "LRP");
  assert.deepEqual([...found.folds.keys()], ["conv"]);
  assert.deepEqual(found.unfolded, []);
  const conv = graph.nodes.find((n) => n.name === "conv") as LinearNode;
  const x = tf.randomUniform([3, 6, 6, 2], 0, 1, "float32", 8) as tf.Tensor4D;
  const diff = tf.tidy(() => {
    const values = evaluate(graph, x, ["conv"]);
    const padded = values.get(conv.inputs[0]) as tf.Tensor4D; // the padded, standardized pixels
    const original = tf.add(tf.conv2d(padded, conv.kernel as tf.Tensor4D, 1, "valid"), conv.bias!);
    return relativeDiff(foldedForward(found.folds.get("conv")!, conv, x), original);
  });
  assert.ok(diff < 1e-5, `relative difference ${diff}`);
  // The fold's tensors are its own: releasing them leaves the graph's.
  disposeInputFolds(found);
  assert.ok(!mean.isDisposed && !scale.isDisposed);
  disposeGraph(graph);
  tf.dispose([x, mean, scale]);
  net.dispose();
});

Deno.test("foldInputTransforms: a transform whose output feeds two nodes is reported, not folded", async () => {
  const input = tf.input({ shape: [4, 4, 1] });
  const scaled = tf.layers.rescaling({ scale: 2, offset: -1 }).apply(input) as tf.SymbolicTensor;
  const conv = tf.layers.conv2d({ filters: 1, kernelSize: 3, padding: "same", name: "conv" })
    .apply(scaled) as tf.SymbolicTensor;
  const sum = tf.layers.add({}).apply([scaled, conv]) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 2 }).apply(tf.layers.flatten().apply(sum)) as tf.SymbolicTensor;
  const net = tf.model({ inputs: input, outputs: out });
  const found = await foldInputTransforms(layersGraph(net), "LRP");
  assert.equal(found.folds.size, 0);
  assert.deepEqual(found.unfolded, ["conv"]);
  assert.deepEqual(found.owned, []);
  net.dispose();
});
