/**
 * Questions asked of a {@link ModelGraph} by the methods that look inside it: which nodes the logits depend on
 * ({@link ancestorsOfOutput}), which depend on a node ({@link downstreamOf}), the nodes in an order that runs
 * ({@link topologicalOrder}), the 4-D nodes a layer-reading method may look at ({@link spatialNodes},
 * {@link pickSpatialNode}), and the logits from a node's value on ({@link boundaryOf}, {@link logitsFrom}).
 * @module
 */
import type { tf } from "../deps.ts";
import { HansError } from "../errors.ts";
import { evaluate, type GraphNode, type ModelGraph } from "./graph.ts";

/**
 * Nodes from which the logits can be reached (the logits node included).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { ModelGraph } from "./graph.ts";
 *
 * const graph: ModelGraph = {
 *   nodes: [
 *     { op: "input", name: "x", inputs: [] },
 *     { op: "identity", name: "logits", inputs: ["x"] },
 *     { op: "identity", name: "unused", inputs: ["x"] },
 *   ],
 *   input: "x",
 *   output: "logits",
 *   softmaxRemoved: false,
 *   shapes: new Map(),
 *   source: "graph-model",
 *   owned: [],
 * };
 * assert.deepEqual([...ancestorsOfOutput(graph)].sort(), ["logits", "x"]);
 * ```
 */
export function ancestorsOfOutput(graph: ModelGraph): Set<string> {
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const seen = new Set<string>();
  const stack = [graph.output];
  while (stack.length > 0) {
    const name = stack.pop()!;
    if (seen.has(name)) continue;
    seen.add(name);
    stack.push(...(byName.get(name)?.inputs ?? []));
  }
  return seen;
}

/**
 * Names of the nodes with a 4-D value `[n,h,w,c]` that the logits depend on (the input left out), in order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import { layersGraph } from "./graph_layers.ts";
 *
 * await tf.setBackend("cpu");
 * const layers = [
 *   tf.layers.conv2d({ inputShape: [4, 4, 1], filters: 2, kernelSize: 3, padding: "same", name: "conv" }),
 *   tf.layers.maxPooling2d({ poolSize: 2, name: "pool" }),
 *   tf.layers.flatten(),
 *   tf.layers.dense({ units: 3 }),
 * ];
 * const net = tf.sequential({ layers });
 * assert.deepEqual(spatialNodes(layersGraph(net)), ["conv", "pool"]);
 * net.dispose();
 * ```
 */
export function spatialNodes(graph: ModelGraph): string[] {
  const feeds = ancestorsOfOutput(graph);
  return graph.nodes
    .filter((n) => n.op !== "input" && feeds.has(n.name) && graph.shapes.get(n.name)?.length === 4)
    .map((n) => n.name);
}

/**
 * The node a layer-reading method (Grad-CAM, activations) looks at: `name` when given, else the last node with
 * a 4-D value at least 2×2 that the logits depend on, i.e. the last convolutional activation (as Keras's
 * Grad-CAM example takes it): a pooling to 1×1 before the head (MobileNetV2's `AveragePooling2D(7)`) would
 * make every map one constant. With no node of at least 2×2, the last 4-D node. Throws a HansError listing
 * the candidates when `name` is not one of them, or when the model has none.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import { layersGraph } from "./graph_layers.ts";
 *
 * await tf.setBackend("cpu");
 * const layers = [
 *   tf.layers.conv2d({ inputShape: [4, 4, 1], filters: 2, kernelSize: 3, padding: "same", name: "conv" }),
 *   tf.layers.maxPooling2d({ poolSize: 2, name: "pool" }),
 *   tf.layers.averagePooling2d({ poolSize: 2, name: "to_1x1" }),
 *   tf.layers.flatten(),
 *   tf.layers.dense({ units: 3, name: "head" }),
 * ];
 * const net = tf.sequential({ layers });
 * const graph = layersGraph(net);
 * assert.equal(pickSpatialNode(graph, undefined, "Grad-CAM"), "pool"); // the last 4-D node of 2×2 or more
 * assert.equal(pickSpatialNode(graph, "to_1x1", "Grad-CAM"), "to_1x1"); // named: any 4-D node
 * assert.throws(() => pickSpatialNode(graph, "head", "Grad-CAM"), /use one of conv, pool, to_1x1/);
 * net.dispose();
 * ```
 */
export function pickSpatialNode(graph: ModelGraph, name: string | undefined, method: string): string {
  const candidates = spatialNodes(graph);
  if (candidates.length === 0) {
    throw new HansError(
      `${method} needs a layer with a 4-D output (a conv or pooling layer); the model has none.`,
    );
  }
  if (name === undefined) {
    const spatial = candidates.filter((n) => graph.shapes.get(n)!.slice(1, 3).every((side) => side >= 2));
    return (spatial.length > 0 ? spatial : candidates).at(-1)!;
  }
  if (!candidates.includes(name)) {
    const known = graph.nodes.some((n) => n.name === name);
    // A graph of thousands of layers gets its first and last few, so that the message stays one short line.
    const listed = candidates.length <= 60
      ? candidates.join(", ")
      : `${candidates.slice(0, 10).join(", ")}, …, ${candidates.slice(-20).join(", ")} (${
        candidates.length.toLocaleString("en")
      } layers)`;
    throw new HansError(
      `${method}: ${
        known ? `layer "${name}" has no 4-D output the logits depend on` : `no layer "${name}"`
      }; ` +
        `use one of ${listed}.`,
    );
  }
  return name;
}

/**
 * Sorts nodes so that each comes after its inputs (stable where the order is already right).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * const sorted = topologicalOrder([
 *   { op: "identity", name: "b", inputs: ["a"] },
 *   { op: "input", name: "a", inputs: [] },
 * ]);
 * assert.deepEqual(sorted.map((n) => n.name), ["a", "b"]);
 * assert.throws(() => topologicalOrder([{ op: "identity", name: "c", inputs: ["c"] }]), /cycle/);
 * ```
 */
export function topologicalOrder(nodes: GraphNode[]): GraphNode[] {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const state = new Map<string, "visiting" | "done">();
  const out: GraphNode[] = [];
  // Depth first with a stack of its own (a chain of 100,000 nodes must not overflow the call stack): each frame
  // is a node and the index of its next input to visit.
  const stack: [GraphNode, number][] = [];
  const enter = (node: GraphNode) => {
    const seen = state.get(node.name);
    if (seen === "done") return;
    if (seen === "visiting") throw new HansError(`the model has a cycle through "${node.name}".`);
    state.set(node.name, "visiting");
    stack.push([node, 0]);
  };
  for (const root of nodes) {
    enter(root);
    while (stack.length > 0) {
      const frame = stack[stack.length - 1];
      const [node, next] = frame;
      if (next < node.inputs.length) {
        frame[1]++;
        const i = node.inputs[next];
        const input = byName.get(i);
        if (!input) throw new HansError(`node "${node.name}" reads "${i}", which the model does not have.`);
        enter(input);
        continue;
      }
      stack.pop();
      state.set(node.name, "done");
      out.push(node);
    }
  }
  return out;
}

/**
 * Names of the nodes whose values depend on node `name` (itself included).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import { layersGraph } from "./graph_layers.ts";
 *
 * await tf.setBackend("cpu");
 * const layers = [
 *   tf.layers.conv2d({ inputShape: [4, 4, 1], filters: 2, kernelSize: 3, activation: "relu", name: "conv" }),
 *   tf.layers.flatten(),
 *   tf.layers.dense({ units: 3 }),
 * ];
 * const net = tf.sequential({ layers });
 * const graph = layersGraph(net);
 * const below = downstreamOf(graph, "conv");
 * assert.equal(below.size, graph.nodes.length - 1); // everything but the input
 * assert.ok(below.has("conv") && below.has(graph.output) && !below.has(graph.input));
 * net.dispose();
 * ```
 */
export function downstreamOf(graph: ModelGraph, name: string): Set<string> {
  const below = new Set([name]);
  for (const node of graph.nodes) {
    if (node.inputs.some((i) => below.has(i))) below.add(node.name);
  }
  return below;
}

/**
 * The logits with the value of node `layer` replaced by `a`: everything that does not depend on the layer is
 * taken from `values` (a full forward pass), so only the part of the graph after the layer runs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import { evaluate } from "./graph.ts";
 * import { layersGraph } from "./graph_layers.ts";
 *
 * await tf.setBackend("cpu");
 * const layers = [
 *   tf.layers.conv2d({ inputShape: [4, 4, 1], filters: 2, kernelSize: 3, activation: "relu", name: "conv" }),
 *   tf.layers.flatten(),
 *   tf.layers.dense({ units: 3, biasInitializer: "ones" }),
 * ];
 * const net = tf.sequential({ layers });
 * const graph = layersGraph(net);
 * tf.tidy(() => {
 *   const values = evaluate(graph, tf.randomUniform([2, 4, 4, 1]), [graph.output, "conv"]);
 *   // With the conv layer's value set to zeros, only the dense layer's bias (ones) is left of the logits.
 *   const logits = logitsFrom(graph, values, "conv", tf.zerosLike(values.get("conv")!));
 *   assert.deepEqual(logits.arraySync(), [[1, 1, 1], [1, 1, 1]]);
 * });
 * net.dispose();
 * ```
 */
export function logitsFrom(
  graph: ModelGraph,
  values: Map<string, tf.Tensor>,
  layer: string,
  a: tf.Tensor,
): tf.Tensor2D {
  const below = downstreamOf(graph, layer);
  const given = new Map([...values].filter(([name]) => !below.has(name)));
  given.set(layer, a);
  return evaluate(graph, null, [graph.output], { given, release: true }).get(graph.output) as tf.Tensor2D;
}

/**
 * The values the part of the graph after `layer` needs from before it: the layer's own and those of skip
 * connections around it. A pass that computes just these holds only its working set.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { ModelGraph } from "./graph.ts";
 *
 * // x → a → b → sum(b, a): the part after b needs b and, through the skip connection, a.
 * const graph: ModelGraph = {
 *   nodes: [
 *     { op: "input", name: "x", inputs: [] },
 *     { op: "identity", name: "a", inputs: ["x"] },
 *     { op: "identity", name: "b", inputs: ["a"] },
 *     { op: "add", name: "sum", inputs: ["b", "a"] },
 *   ],
 *   input: "x",
 *   output: "sum",
 *   softmaxRemoved: false,
 *   shapes: new Map(),
 *   source: "graph-model",
 *   owned: [],
 * };
 * assert.deepEqual(boundaryOf(graph, "b").sort(), ["a", "b"]);
 * ```
 */
export function boundaryOf(graph: ModelGraph, layer: string): string[] {
  const below = downstreamOf(graph, layer);
  const boundary = new Set([layer]);
  for (const node of graph.nodes) {
    if (!below.has(node.name) || node.name === layer) continue;
    for (const input of node.inputs) if (!below.has(input)) boundary.add(input);
  }
  return [...boundary];
}
