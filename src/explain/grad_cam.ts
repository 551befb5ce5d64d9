/**
 * Grad-CAM (Selvaraju et al. 2017): a layer's activation maps weighted by the spatial mean of the target
 * score's gradient, summed over channels, passed through ReLU and upsampled (bilinear, half-pixel centres, as
 * PyTorch/Captum and TF2's `tf.image.resize` do) to the input size. Works on any model hans reads as a graph
 * (functional models with skip connections and GraphModels included): the model runs once, then the part of
 * the graph after the layer is differentiated with respect to the layer's value.
 * @module
 */
import { tf } from "../deps.ts";
import { evaluate, type ModelGraph } from "./graph.ts";
import { boundaryOf, logitsFrom, pickSpatialNode } from "./graph_query.ts";
import { type ExplainableModel, modelGraph } from "./explainable_model.ts";
import { targetChunks } from "./batching.ts";
import { checkOptions, type MethodDescriptor } from "./descriptor.ts";
import { batchSize, flag, text } from "./option_checks.ts";
import { type Target, targetScores } from "./target.ts";

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
  options = checkOptions(gradCamMethod, options);
  const graph = modelGraph(model, "Grad-CAM");
  const layer = pickSpatialNode(graph, options.layer, "Grad-CAM");
  return await targetChunks(
    model,
    images,
    target,
    { kind: "forward", label: "Grad-CAM", batchSize: options.batchSize },
    (x, w) => gradCamMaps(graph, layer, x, w, options.relu ?? true),
  );
}

/** Grad-CAM as a registered method (`explain("grad_cam", …)`). */
export const gradCamMethod: MethodDescriptor<"grad_cam", GradCamOptions> = {
  name: "grad_cam",
  label: "Grad-CAM",
  signed: false,
  description:
    "last 4-D layer of at least 2×2 the logits depend on (or --layer), ReLU, bilinear upsampling with " +
    "half-pixel centres",
  attribution: true,
  needs: "layer",
  cost: "single",
  options: {
    layer: text("layer (node) name (default the last 4-D layer of at least 2×2 the logits depend on)"),
    relu: flag("keep only positive evidence (true, the default), as in the paper"),
    batchSize: batchSize(),
  },
  passes: () => ({ forward: 1.5, backward: 0 }),
  linearInTarget: (o) => o.relu === false,
  defaults: () => ({ relu: true }),
  explain: gradCam,
};
