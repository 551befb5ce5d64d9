/**
 * What hans lets TF.js read of a GraphModel's GraphDef: TF.js reads a graph, plans and runs it in steps that
 * nothing interrupts, so a graph too large, with an input that names no node, or with a cycle is refused
 * before TF.js sees it.
 * @module
 */
import { HansError } from "../errors.ts";
import { MAX_GRAPH_NODES } from "../limits.ts";
import type { ModelJson } from "../model/io.ts";
import type { GraphDefNode } from "./graph_graphdef.ts";

/**
 * Checks a GraphModel's GraphDef before TF.js reads it: at most {@link MAX_GRAPH_NODES} nodes, every input a
 * node of the graph, and no cycle (except through a Merge, as in a while loop, which TF.js refuses itself when
 * it runs). Each problem is a HansError naming the node; linear in the nodes and their inputs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { ModelJson } from "../model/io.ts";
 *
 * const graph = (node: unknown[]) => ({ format: "graph-model", modelTopology: { node } }) as unknown as ModelJson;
 * checkGraphDef(graph([{ name: "x", op: "Placeholder" }, { name: "y", op: "Relu", input: ["x"] }]), "ok.json");
 * const loop = graph([{ name: "a", op: "Relu", input: ["b"] }, { name: "b", op: "Relu", input: ["a"] }]);
 * assert.throws(() => checkGraphDef(loop, "loop.json"), /cycle through node/);
 * ```
 */
export function checkGraphDef(json: ModelJson, file: string): void {
  const nodesOf = (graph: unknown): unknown[] => {
    const node = (graph as { node?: unknown } | null | undefined)?.node;
    return Array.isArray(node) ? node : [];
  };
  const functions = (json.modelTopology as { library?: { function?: unknown } }).library?.function;
  const count = nodesOf(json.modelTopology).length + nodesOf(json.modelInitializer).length +
    (Array.isArray(functions)
      ? functions.reduce(
        (n: number, f) => n + nodesOf({ node: (f as { nodeDef?: unknown })?.nodeDef }).length,
        0,
      )
      : 0);
  if (count > MAX_GRAPH_NODES) {
    throw new HansError(
      `${file} has ${count.toLocaleString("en")} nodes; hans loads GraphModels of at most ` +
        `${MAX_GRAPH_NODES.toLocaleString("en")} nodes, so pass another --model.`,
    );
  }
  const nodes = nodesOf(json.modelTopology) as GraphDefNode[];
  const byName = new Map<string, GraphDefNode>();
  for (const node of nodes) if (typeof node?.name === "string") byName.set(node.name, node);
  // Input names as TF.js reads them: `^name` (a control input), `name`, `name:1`, `name:output:0`.
  const inputsOf = (node: GraphDefNode): GraphDefNode[] =>
    (Array.isArray(node.input) ? node.input : []).map((input) => {
      const name = String(input).replace(/^\^/, "").split(":")[0];
      const found = byName.get(name);
      if (!found) {
        throw new HansError(
          `${file}: node "${node.name}" reads "${input}", which the model's graph does not have; convert the ` +
            `model again with the tfjs converter.`,
        );
      }
      return found;
    });
  // A Merge's inputs are checked but not followed: a while loop's cycle runs through one (TF.js runs it with
  // executeAsync, and hans's probe says so).
  const edges = (node: GraphDefNode) => {
    const inputs = inputsOf(node);
    return node.op === "Merge" ? [] : inputs;
  };
  // Depth first over the inputs, with a stack of its own; a node met again while still open closes a cycle.
  const state = new Map<GraphDefNode, "open" | "done">();
  for (const root of byName.values()) {
    if (state.has(root)) continue;
    state.set(root, "open");
    const stack: { node: GraphDefNode; inputs: GraphDefNode[]; next: number }[] = [
      { node: root, inputs: edges(root), next: 0 },
    ];
    while (stack.length > 0) {
      const frame = stack[stack.length - 1];
      if (frame.next === frame.inputs.length) {
        state.set(frame.node, "done");
        stack.pop();
        continue;
      }
      const input = frame.inputs[frame.next++];
      const seen = state.get(input);
      if (seen === "open") {
        throw new HansError(
          `${file}: the model's graph has a cycle through node "${input.name}" (${input.op}), which TF.js ` +
            `cannot run; pass another --model.`,
        );
      }
      if (seen === "done") continue;
      state.set(input, "open");
      stack.push({ node: input, inputs: edges(input), next: 0 });
    }
  }
}
