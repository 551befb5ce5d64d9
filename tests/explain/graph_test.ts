import assert from "node:assert/strict";
import { tf } from "../../src/deps.ts";
import { HansError } from "../../src/errors.ts";
import { evaluate, graphLogits, type GraphNode } from "../../src/explain/graph.ts";
import { graphDefGraph, type GraphDefNode } from "../../src/explain/graph_graphdef.ts";
import { layersGraph } from "../../src/explain/graph_layers.ts";
import { topologicalOrder } from "../../src/explain/graph_query.ts";
import { fromLayersModel, modelGraph } from "../../src/explain/explainable_model.ts";
import { createCnn } from "../../src/model/cnn.ts";
import { Rng } from "../../src/rng.ts";
import { gpuTest, take } from "../gpu.ts";

function randomImages(n: number, h: number, w: number, c: number, seed: number): tf.Tensor4D {
  const rng = new Rng(seed);
  return tf.tensor4d(Float32Array.from({ length: n * h * w * c }, () => rng.next()), [n, h, w, c]);
}

gpuTest("the graph interpreter reproduces model.predict bit for bit (default CNN)", async () => {
  const cnn = createCnn({
    height: 12,
    width: 10,
    channels: 2,
    classes: 4,
    seed: 5,
    filters: [4, 6],
    hidden: 8,
  });
  const x = randomImages(3, 12, 10, 2, 1);
  const graph = layersGraph(cnn);
  assert.deepEqual(graph.nodes.filter((n) => n.op !== "input").map((n) => n.op), [
    "conv2d",
    "maxPool",
    "conv2d",
    "maxPool",
    "reshape",
    "dense",
    "dense",
  ]);
  const expected = await take(cnn.predict(x) as tf.Tensor);
  const actual = await take(tf.tidy(() => graphLogits(graph, x)));
  assert.deepEqual(actual, expected);
  x.dispose();
  cnn.dispose();
});

gpuTest(
  "the CNN with an averaging head: the average covers the whole feature map, the graph matches predict",
  async () => {
    const cnn = createCnn({
      height: 13,
      width: 10,
      channels: 1,
      classes: 3,
      seed: 6,
      filters: [4, 6],
      hidden: 8,
      head: "average",
    });
    // 13x10 → pool → 6x5 → pool → 3x2, averaged over all of it: one value per filter.
    assert.deepEqual(cnn.getLayer("average").outputShape, [null, 1, 1, 6]);
    const x = randomImages(2, 13, 10, 1, 3);
    const graph = layersGraph(cnn);
    assert.deepEqual(graph.nodes.filter((n) => n.op !== "input").map((n) => n.op), [
      "conv2d",
      "maxPool",
      "conv2d",
      "maxPool",
      "avgPool",
      "reshape",
      "dense",
      "dense",
    ]);
    assert.deepEqual(
      await take(tf.tidy(() => graphLogits(graph, x))),
      await take(cnn.predict(x) as tf.Tensor),
    );
    x.dispose();
    cnn.dispose();
  },
);

gpuTest(
  "the graph interpreter reproduces a Sequential model layer by layer, and a ReLU hook replaces all ReLUs",
  async () => {
    const net = tf.sequential({
      layers: [
        tf.layers.inputLayer({ inputShape: [9, 8, 3] }),
        tf.layers.conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: "valid", useBias: false }),
        tf.layers.activation({ activation: "relu" }),
        tf.layers.conv2d({ filters: 3, kernelSize: 2, dilationRate: 2, padding: "same", activation: "relu" }),
        tf.layers.averagePooling2d({ poolSize: 2, strides: 1, padding: "same" }),
        tf.layers.maxPooling2d({ poolSize: [2, 1], padding: "valid" }),
        tf.layers.dropout({ rate: 0.5 }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 5, activation: "relu", useBias: false }),
        tf.layers.reLU(),
        tf.layers.dense({ units: 3 }),
      ],
    });
    // Non-zero biases, so that a bias left out would show.
    for (const layer of net.layers) {
      const w = layer.getWeights();
      if (w.length === 2) layer.setWeights([w[0], tf.randomNormal(w[1].shape, 0, 0.3, "float32", 9)]);
    }
    const x = randomImages(4, 9, 8, 3, 2);
    const graph = layersGraph(net);
    assert.deepEqual(graph.nodes.filter((n) => n.op !== "input").map((n) => n.op), [
      "conv2d",
      "activation",
      "conv2d",
      "avgPool",
      "maxPool",
      "identity",
      "reshape",
      "dense",
      "activation",
      "dense",
    ]);
    const expected = await take(net.predict(x) as tf.Tensor);
    assert.deepEqual(await take(tf.tidy(() => graphLogits(graph, x))), expected);
    // A hook that is tf.relu under another name gives the same numbers (unfused, so allow rounding).
    const hooked = await take(
      tf.tidy(() =>
        evaluate(graph, x, [graph.output], { hooks: { relu: (t) => tf.relu(t) } }).get(graph.output)!
      ),
    );
    for (let i = 0; i < expected.length; i++) assert.ok(Math.abs(hooked[i] - expected[i]) < 1e-5);
    // A hook that is the identity changes the result: it was called.
    let calls = 0;
    tf.tidy(() =>
      evaluate(graph, x, [graph.output], { hooks: { relu: (t) => (calls++, t) } }).get(graph.output)!
    );
    assert.equal(calls, 4);
    x.dispose();
    net.dispose();
  },
);

gpuTest(
  "the graph reader refuses layers it does not know, naming them; a model without a graph says why",
  () => {
    const net = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [6, 6, 1], filters: 2, kernelSize: 3 }),
        tf.layers.upSampling2d({ size: [2, 2], name: "up" }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 2 }),
      ],
    });
    assert.throws(() => layersGraph(net), (e: Error) => {
      return e instanceof HansError && e.message.includes('"up"') && e.message.includes("UpSampling2D");
    });
    const model = fromLayersModel(net);
    assert.equal(model.graph, undefined);
    assert.throws(
      () => modelGraph(model, "LRP-ε"),
      (e: Error) => e instanceof HansError && e.message.includes("UpSampling2D"),
    );
    const leaky = tf.sequential({
      layers: [
        tf.layers.flatten({ inputShape: [2, 2, 1] }),
        tf.layers.dense({ units: 2, activation: "softplus" }),
      ],
    });
    assert.throws(() => layersGraph(leaky), HansError);
    const noLayers = { classes: 2, logits: (x: tf.Tensor4D) => x.reshape([x.shape[0], -1]) as tf.Tensor2D };
    assert.throws(() => modelGraph(noLayers, "LRP-ε"), HansError);
    net.dispose();
    leaky.dispose();
  },
);

gpuTest(
  "a SeparableConv2D reads as depthwise + 1×1 conv: the graph equals predict, shapes as the layers have",
  async () => {
    const net = tf.sequential({
      layers: [
        tf.layers.separableConv2d({
          inputShape: [7, 6, 2],
          filters: 5,
          kernelSize: 3,
          depthMultiplier: 3,
          padding: "same",
          activation: "relu",
          name: "sep",
        }),
        tf.layers.globalAveragePooling2d({}),
        tf.layers.dense({ units: 3 }),
      ],
    });
    for (const layer of net.layers) {
      layer.setWeights(layer.getWeights().map((w, i) => tf.randomNormal(w.shape, 0, 0.5, "float32", 11 + i)));
    }
    const graph = layersGraph(net);
    assert.deepEqual(graph.shapes.get("sep/depthwise"), [1, 7, 6, 6], "in · multiplier channels");
    assert.deepEqual(graph.shapes.get("sep"), [1, 7, 6, 5]);
    const x = randomImages(2, 7, 6, 2, 9);
    const expected = await take(net.predict(x) as tf.Tensor);
    const actual = await take(tf.tidy(() => graphLogits(graph, x)));
    assert.ok(Math.max(...expected.map((v, i) => Math.abs(v - actual[i]))) < 1e-4);
    x.dispose();
    net.dispose();
  },
);

/** A GraphDef of Placeholder `x` → `n` Identity nodes → Relu `out`, whose nodes count how often their inputs are read. */
function countedChain(n: number): { nodes: GraphDefNode[]; reads: () => number } {
  let reads = 0;
  const node = (name: string, op: string, input: string[]): GraphDefNode => ({
    name,
    op,
    get input() {
      reads++;
      return input;
    },
  });
  const nodes = [node("x", "Placeholder", [])];
  for (let i = 0; i < n; i++) nodes.push(node(`id_${i}`, "Identity", [i === 0 ? "x" : `id_${i - 1}`]));
  nodes.push(node("out", "Relu", [`id_${n - 1}`]));
  return { nodes, reads: () => reads };
}

Deno.test("a GraphDef with a chain of 20,000 Identity nodes is read reading each node's inputs a few times", () => {
  const n = 20_000;
  const { nodes, reads } = countedChain(n);
  const graph = graphDefGraph({ nodes, weights: {}, values: () => undefined, input: "x", output: "out" });
  assert.equal(graph.nodes.length, n + 2);
  assert.equal(graph.output, "out");
  // Walking every chain back to its start for each node that reads it read inputs about n²/2 times.
  assert.ok(reads() <= 4 * (n + 2), `inputs read ${reads()} times for ${n + 2} nodes`);
});

Deno.test("a graph as deep as 100,000 nodes is put in order without overflowing the stack", () => {
  const n = 100_000;
  const nodes: GraphNode[] = [];
  for (let i = n - 1; i > 0; i--) nodes.push({ op: "identity", name: `n${i}`, inputs: [`n${i - 1}`] });
  nodes.push({ op: "input", name: "n0", inputs: [] });
  const sorted = topologicalOrder(nodes);
  assert.equal(sorted.length, n);
  assert.ok(sorted.every((node, i) => node.name === `n${i}`));
});

Deno.test("a GraphDef with a cycle is refused with the name of a node on it", () => {
  const read = (nodes: GraphDefNode[]) => () =>
    graphDefGraph({ nodes, weights: {}, values: () => undefined, input: "x", output: "out" });
  // Through Relu nodes: once refused as "the output does not depend on its input".
  const relus: GraphDefNode[] = [
    { name: "x", op: "Placeholder" },
    { name: "a", op: "Relu", input: ["b"] },
    { name: "b", op: "Relu", input: ["a"] },
    { name: "out", op: "Relu", input: ["a"] },
  ];
  assert.throws(
    read(relus),
    (e: Error) => e instanceof HansError && /cycle through node "a"/.test(e.message),
  );
  // Through Identity nodes, which are skipped when looking for constants: once an endless loop.
  const identities: GraphDefNode[] = [
    { name: "x", op: "Placeholder" },
    { name: "a", op: "Identity", input: ["b"] },
    { name: "b", op: "Identity", input: ["a"] },
    { name: "out", op: "Relu", input: ["a"] },
  ];
  assert.throws(
    read(identities),
    (e: Error) => e instanceof HansError && /cycle through node "a"/.test(e.message),
  );
});
