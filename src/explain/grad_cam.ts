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
import { type ExplainableModel, mapChunks, modelGraph } from "./model_fn.ts";
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

/** Names of the nodes whose values depend on node `name` (itself included). */
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
  return evaluate(graph, null, [graph.output], { given }).get(graph.output) as tf.Tensor2D;
}

/** Upsamples maps `[m,h,w,1]` to `[m,H,W]` with bilinear interpolation and half-pixel centres. */
export function upsample(maps: tf.Tensor4D, height: number, width: number): tf.Tensor3D {
  return tf.tidy(() =>
    tf.image.resizeBilinear(maps, [height, width], false, true).squeeze([3]) as tf.Tensor3D
  );
}

/**
 * Grad-CAM maps `[m,H,W]` of one chunk `x` at input resolution: `layer` the node explained, `weights` from
 * targetWeights. Shared with Guided Grad-CAM.
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
    const values = evaluate(graph, x, [graph.output, layer]);
    const activations = values.get(layer) as tf.Tensor4D;
    const head = (a: tf.Tensor) => tf.sum(targetScores(logitsFrom(graph, values, layer, a), weights));
    const grads = tf.grad(head)(activations) as tf.Tensor4D;
    const alphas = tf.mean(grads, [1, 2], true);
    let cam = tf.sum(tf.mul(alphas, activations), 3, true) as tf.Tensor4D;
    if (relu) cam = tf.relu(cam);
    return upsample(cam, height, width);
  });
}

/** Grad-CAM maps `[n,H,W]` at input resolution. Needs the model as a graph with a 4-D layer. */
export function gradCam(
  model: ExplainableModel,
  images: tf.Tensor4D,
  target: Target,
  options: GradCamOptions = {},
): Promise<tf.Tensor3D> {
  const graph = modelGraph(model, "Grad-CAM");
  const layer = pickSpatialNode(graph, options.layer, "Grad-CAM");
  return Promise.resolve(mapChunks(images, options.batchSize ?? 256, (x, start, end) => {
    const w = targetWeights(sliceTarget(target, start, end), model.classes);
    return gradCamMaps(graph, layer, x, w, options.relu ?? true);
  }));
}
