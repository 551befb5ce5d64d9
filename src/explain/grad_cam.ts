/**
 * Grad-CAM (Selvaraju et al. 2017): a layer's activation maps weighted by the spatial mean of the target
 * score's gradient, summed over channels, passed through ReLU and upsampled (bilinear, half-pixel centres, as
 * PyTorch/Captum and TF2's `tf.image.resize` do) to the input size. Works on any model hans reads as a graph
 * (functional models with skip connections and GraphModels included): the model runs once, then the part of
 * the graph after the layer is differentiated with respect to the layer's value.
 * @module
 */
import { tf } from "../deps.ts";
import { evaluate, type ModelGraph, pickSpatialNode } from "./graph.ts";
import { type ExplainableModel, modelGraph } from "./explainable_model.ts";
import { inputsPerPass, mapChunks } from "./batching.ts";
import { sliceTarget, type Target, targetScores, targetWeights } from "./target.ts";

/** Options of {@link gradCam}. */
export interface GradCamOptions {
  /** Layer (node) name; default the last node with a 4-D output that feeds the classifier head. */
  layer?: string;
  /** Keep only positive evidence (true, the default), as in the paper. */
  relu?: boolean;
  /** Images per backward pass (default 256). */
  batchSize?: number;
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
 */
function boundaryOf(graph: ModelGraph, layer: string): string[] {
  const below = downstreamOf(graph, layer);
  const boundary = new Set([layer]);
  for (const node of graph.nodes) {
    if (!below.has(node.name) || node.name === layer) continue;
    for (const input of node.inputs) if (!below.has(input)) boundary.add(input);
  }
  return [...boundary];
}

/**
 * Upsamples maps `[m,h,w,1]` to `[m,H,W]` with bilinear interpolation and half-pixel centres.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 *
 * await tf.setBackend("cpu");
 * const maps = tf.tensor4d([1, 2, 3, 4], [1, 2, 2, 1]);
 * const up = upsample(maps, 4, 4);
 * assert.deepEqual(up.shape, [1, 4, 4]);
 * const [[first, , , topRight], , , [, , , last]] = up.arraySync()[0];
 * assert.deepEqual([first, topRight, last], [1, 2, 4]); // half-pixel centres: corners keep their values
 * tf.dispose([maps, up]);
 * ```
 */
export function upsample(maps: tf.Tensor4D, height: number, width: number): tf.Tensor3D {
  return tf.tidy(() =>
    tf.image.resizeBilinear(maps, [height, width], false, true).squeeze([3]) as tf.Tensor3D
  );
}

/**
 * Grad-CAM maps `[m,H,W]` of one chunk `x` at input resolution: `layer` the node explained, `weights` from
 * targetWeights. Shared with Guided Grad-CAM.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import { layersGraph } from "./graph_layers.ts";
 * import { targetWeights } from "./target.ts";
 *
 * await tf.setBackend("cpu");
 * const layers = [
 *   tf.layers.conv2d({ inputShape: [4, 4, 1], filters: 2, kernelSize: 3, activation: "relu", name: "conv" }),
 *   tf.layers.flatten(),
 *   tf.layers.dense({ units: 3 }),
 * ];
 * const net = tf.sequential({ layers });
 * const x = tf.randomUniform([2, 4, 4, 1]) as tf.Tensor4D;
 * const weights = targetWeights([0, 1], 3);
 * const maps = gradCamMaps(layersGraph(net), "conv", x, weights, true);
 * assert.deepEqual(maps.shape, [2, 4, 4]); // the 2×2 conv maps upsampled to the input size
 * assert.ok(maps.min().dataSync()[0] >= 0); // after the ReLU
 * tf.dispose([x, weights, maps]);
 * net.dispose();
 * ```
 */
export function gradCamMaps(
  graph: ModelGraph,
  layer: string,
  x: tf.Tensor4D,
  weights: tf.Tensor2D,
  relu: boolean,
): tf.Tensor3D {
  return tf.tidy(() => {
    const [, height, width] = x.shape;
    const values = evaluate(graph, x, boundaryOf(graph, layer), { release: true });
    const activations = values.get(layer) as tf.Tensor4D;
    const head = (a: tf.Tensor) => tf.sum(targetScores(logitsFrom(graph, values, layer, a), weights));
    const grads = tf.grad(head)(activations) as tf.Tensor4D;
    const alphas = tf.mean(grads, [1, 2], true);
    let cam = tf.sum(tf.mul(alphas, activations), 3, true) as tf.Tensor4D;
    if (relu) cam = tf.relu(cam);
    return upsample(cam, height, width);
  });
}

/**
 * Grad-CAM maps `[n,H,W]` at input resolution. Needs the model as a graph with a 4-D layer.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import { fromLayersModel } from "./explainable_model.ts";
 *
 * await tf.setBackend("cpu");
 * const layers = [
 *   tf.layers.conv2d({ inputShape: [4, 4, 1], filters: 2, kernelSize: 3, activation: "relu" }),
 *   tf.layers.flatten(),
 *   tf.layers.dense({ units: 3 }),
 * ];
 * const net = tf.sequential({ layers });
 * const x = tf.randomUniform([2, 4, 4, 1]) as tf.Tensor4D;
 * const maps = await gradCam(fromLayersModel(net), x, [0, 1]);
 * assert.deepEqual(maps.shape, [2, 4, 4]);
 * assert.ok(maps.min().dataSync()[0] >= 0); // positive evidence only
 * tf.dispose([x, maps]);
 * net.dispose();
 * ```
 */
export async function gradCam(
  model: ExplainableModel,
  images: tf.Tensor4D,
  target: Target,
  options: GradCamOptions = {},
): Promise<tf.Tensor3D> {
  const graph = modelGraph(model, "Grad-CAM");
  const layer = pickSpatialNode(graph, options.layer, "Grad-CAM");
  const batch = await inputsPerPass(model, images, {
    kind: "forward",
    requested: options.batchSize ?? 256,
    label: "Grad-CAM",
  });
  return mapChunks(images, batch, (x, start, end) => {
    const w = targetWeights(sliceTarget(target, start, end), model.classes);
    return gradCamMaps(graph, layer, x, w, options.relu ?? true);
  });
}
