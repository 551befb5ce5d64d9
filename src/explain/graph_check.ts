/**
 * Whether hans's reading of a model as a graph can be trusted: the graph's output must reproduce the model's
 * on a seeded probe ({@link graphProblem}, and {@link graphProblemNow} where the backend reads synchronously),
 * and every layer of a LayersModel must be the class its name says ({@link layerClassProblem}). `loadModel`
 * and `fromLayersModel` drop a graph that fails, and say why in `graphUnavailable`.
 * @module
 */
import { tf } from "../deps.ts";
import { graphLogits, type ModelGraph } from "./graph.ts";

/** Images of the probe the outputs are compared on (random in [0, 1), seed {@link PROBE_SEED}). */
const PROBE_IMAGES = 2;
/** Seed of the probe's images. */
const PROBE_SEED = 11;

/** Why the graph cannot stand for a model that gives probabilities, or undefined. */
function probabilitiesProblem(graph: ModelGraph, probabilities: boolean): string | undefined {
  return probabilities && !graph.softmaxRemoved && !graph.sigmoidRemoved
    ? "the model gives probabilities, but not through a softmax at its end that hans can leave out."
    : undefined;
}

/** The graph's output (its softmax or sigmoid put back) and the model's, on the probe. */
function outputs(
  graph: ModelGraph,
  forward: (x: tf.Tensor4D) => tf.Tensor,
  [height, width, channels]: [number, number, number],
): [tf.Tensor, tf.Tensor] {
  return tf.tidy(() => {
    const x = tf.randomUniform([PROBE_IMAGES, height, width, channels], 0, 1, "float32", PROBE_SEED);
    const logits = graphLogits(graph, x as tf.Tensor4D);
    const mine = graph.softmaxRemoved
      ? tf.softmax(logits)
      : graph.sigmoidRemoved
      ? tf.sigmoid(logits)
      : logits;
    return [mine, forward(x as tf.Tensor4D)];
  });
}

/** Why outputs `a` (the graph's) differ from `b` (the model's) by more than 1e-3 of the largest, or undefined. */
function difference(a: ArrayLike<number>, b: ArrayLike<number>): string | undefined {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  if (!(diff <= 1e-3 * Math.max(1, scale))) {
    return `hans's reading of the model's layers does not reproduce its output (largest difference ${
      diff.toPrecision(3)
    }).`;
  }
  return undefined;
}

/**
 * Why hans's reading of the model cannot be trusted, or undefined when it can: its output (with the softmax
 * put back where it was left out) must equal the model's (`forward`) on two seeded random images in [0, 1),
 * within 1e-3 of the largest value. A graph that does not end in a softmax while the model gives
 * probabilities would explain probabilities, so it is refused too.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import { layersGraph } from "./graph_layers.ts";
 *
 * await tf.setBackend("cpu");
 * const layers = [tf.layers.flatten({ inputShape: [4, 4, 1] }), tf.layers.dense({ units: 3 })];
 * const net = tf.sequential({ layers });
 * const graph = layersGraph(net);
 * const forward = (x: tf.Tensor4D) => net.predict(x) as tf.Tensor;
 * assert.equal(await graphProblem(graph, forward, [4, 4, 1]), undefined);
 * const doubled = (x: tf.Tensor4D) => tf.mul(forward(x), 2);
 * assert.match((await graphProblem(graph, doubled, [4, 4, 1]))!, /does not reproduce its output/);
 * net.dispose();
 * ```
 */
export async function graphProblem(
  graph: ModelGraph,
  forward: (x: tf.Tensor4D) => tf.Tensor,
  inputShape: [number, number, number],
  probabilities = false,
): Promise<string | undefined> {
  const refused = probabilitiesProblem(graph, probabilities);
  if (refused) return refused;
  const [mine, theirs] = outputs(graph, forward, inputShape);
  try {
    return difference(await mine.data(), await theirs.data());
  } finally {
    tf.dispose([mine, theirs]);
  }
}

/**
 * {@link graphProblem} read back synchronously, for a caller that cannot wait: only where the active backend
 * reads tensors synchronously (see {@link readsSynchronously}; tfjs's WebGPU backend cannot under Deno).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import { layersGraph } from "./graph_layers.ts";
 *
 * await tf.setBackend("cpu");
 * const layers = [tf.layers.flatten({ inputShape: [4, 4, 1] }), tf.layers.dense({ units: 3 })];
 * const net = tf.sequential({ layers });
 * assert.ok(readsSynchronously());
 * const forward = (x: tf.Tensor4D) => tf.add(net.predict(x) as tf.Tensor, 1);
 * assert.match(graphProblemNow(layersGraph(net), forward, [4, 4, 1])!, /does not reproduce/);
 * net.dispose();
 * ```
 */
export function graphProblemNow(
  graph: ModelGraph,
  forward: (x: tf.Tensor4D) => tf.Tensor,
  inputShape: [number, number, number],
  probabilities = false,
): string | undefined {
  const refused = probabilitiesProblem(graph, probabilities);
  if (refused) return refused;
  const [mine, theirs] = outputs(graph, forward, inputShape);
  try {
    return difference(mine.dataSync(), theirs.dataSync());
  } finally {
    tf.dispose([mine, theirs]);
  }
}

/**
 * True when the active tfjs backend can read a tensor it computed synchronously (`dataSync`): cpu and wasm
 * can; WebGPU cannot under Deno (tfjs reads through a 2-D canvas, which Deno does not have).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 *
 * await tf.setBackend("cpu");
 * assert.equal(readsSynchronously(), true);
 * ```
 */
export function readsSynchronously(): boolean {
  return tf.getBackend() !== "webgpu";
}

/**
 * Why a layer of `model` may compute something else than hans reads from its class name and config, or
 * undefined: a layer whose class is a subclass of the class registered under its name (which hans would read
 * as that class), or whose `call` was replaced on the layer itself. Needs no forward pass, so it runs on
 * every backend.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 *
 * await tf.setBackend("cpu");
 * const layers = [tf.layers.flatten({ inputShape: [4, 4, 1] }), tf.layers.dense({ units: 3, name: "head" })];
 * const net = tf.sequential({ layers });
 * assert.equal(layerClassProblem(net), undefined);
 * const head = net.getLayer("head");
 * const call = head.call.bind(head);
 * head.call = (inputs, kwargs) => tf.mul(call(inputs, kwargs) as tf.Tensor, 2);
 * assert.match(layerClassProblem(net)!, /layer "head" \(Dense\) computes something of its own/);
 * net.dispose();
 * ```
 */
export function layerClassProblem(model: tf.LayersModel): string | undefined {
  const registered = tf.serialization.SerializationMap.getMap().classNameMap;
  for (const layer of model.layers) {
    const name = layer.getClassName();
    const own = Object.hasOwn(layer, "call") ||
      (registered[name] !== undefined && layer.constructor !== registered[name][0]);
    if (own) {
      return `layer "${layer.name}" (${name}) computes something of its own, not what hans reads from its ` +
        `class and config.`;
    }
  }
  return undefined;
}
