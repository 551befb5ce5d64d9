/**
 * Leaves a model graph's final softmax or sigmoid out, so that its output is the logits (both readers, of
 * LayersModels and of GraphDefs, end with it).
 * @module
 */
import type { ModelGraph } from "./graph.ts";
import { ancestorsOfOutput } from "./graph_query.ts";

/**
 * Leaves a final softmax (or sigmoid) out: such an activation on the output node becomes linear (a copy of the
 * node, the model untouched), such a node is skipped, identities after it included. Nodes the logits do not
 * depend on are dropped.
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
 *     { op: "activation", name: "probabilities", inputs: ["logits"], activation: "softmax" },
 *   ],
 *   input: "x",
 *   output: "probabilities",
 *   softmaxRemoved: false,
 *   shapes: new Map(),
 *   source: "graph-model",
 *   owned: [],
 * };
 * stripSoftmax(graph);
 * assert.equal(graph.output, "logits");
 * assert.equal(graph.softmaxRemoved, true);
 * assert.deepEqual(graph.nodes.map((n) => n.name), ["x", "logits"]);
 * ```
 */
export function stripSoftmax(graph: ModelGraph): void {
  leaveOutSoftmax(graph);
  const keep = ancestorsOfOutput(graph);
  graph.nodes = graph.nodes.filter((n) => keep.has(n.name));
}

function leaveOutSoftmax(graph: ModelGraph): void {
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  let name = graph.output;
  let node = byName.get(name)!;
  while (node.op === "identity" && node.inputs.length === 1) node = byName.get(node.inputs[0])!;
  const removed = (activation: string) => {
    if (activation === "softmax") graph.softmaxRemoved = true;
    else graph.sigmoidRemoved = true;
  };
  if (node.op === "activation" && (node.activation === "softmax" || node.activation === "sigmoid")) {
    graph.output = node.inputs[0];
    removed(node.activation);
    return;
  }
  if ("activation" in node && (node.activation === "softmax" || node.activation === "sigmoid")) {
    const linear = { ...node, activation: "linear" as const };
    graph.nodes = graph.nodes.map((n) => (n === node ? linear : n));
    graph.output = node.name;
    removed(node.activation);
    return;
  }
  name = node.name;
  graph.output = name;
}
