/**
 * Guided Grad-CAM (Selvaraju et al. 2017): Guided Backprop's pixel-level gradients multiplied element-wise
 * by the Grad-CAM map upsampled to the input size, so only the fine detail inside the class region remains.
 * @module
 */
import type { tf } from "../deps.ts";
import { pickSpatialNode } from "./graph_query.ts";
import { gradCamMaps } from "./grad_cam.ts";
import { guidedGradients } from "./guided_backprop.ts";
import { type ExplainableModel, modelGraph } from "./explainable_model.ts";
import { reduceChannels, targetChunks } from "./batching.ts";
import { checkOptions, type MethodDescriptor } from "./descriptor.ts";
import { batchSize, flag, text } from "./option_checks.ts";
import type { Target } from "./target.ts";

/** Options of {@link guidedGradCam}. */
export interface GuidedGradCamOptions {
  /** Grad-CAM's layer; default the last node with a 4-D output that feeds the classifier head. */
  layer?: string;
  /** Max of |value| over channels (true, the default) or the signed sum over channels (false). */
  absolute?: boolean;
  /** Images per backward pass (default 128). */
  batchSize?: number;
}

/**
 * Guided Grad-CAM maps `[n,H,W]`: guided gradient × Grad-CAM (with its ReLU, half-pixel bilinear upsampling),
 * then the channels reduced; absolute by default. Needs the model as a graph with a 4-D layer.
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
 * const maps = await guidedGradCam(fromLayersModel(net), x, [0, 1]);
 * assert.deepEqual(maps.shape, [2, 4, 4]);
 * assert.ok(maps.min().dataSync()[0] >= 0); // absolute by default
 * tf.dispose([x, maps]);
 * net.dispose();
 * ```
 */
export async function guidedGradCam(
  model: ExplainableModel,
  images: tf.Tensor4D,
  target: Target,
  options: GuidedGradCamOptions = {},
): Promise<tf.Tensor3D> {
  options = checkOptions(guidedGradCamMethod, options);
  const graph = modelGraph(model, "Guided Grad-CAM");
  const layer = pickSpatialNode(graph, options.layer, "Guided Grad-CAM");
  const chunks = {
    kind: "backward" as const,
    factor: 1.5,
    label: "Guided Grad-CAM",
    batchSize: options.batchSize,
  };
  return await targetChunks(model, images, target, chunks, (x, w) => {
    const cam = gradCamMaps(graph, layer, x, w, true).expandDims(3);
    return reduceChannels(guidedGradients(graph, x, w).mul(cam) as tf.Tensor4D, options.absolute ?? true);
  });
}

/** Guided Grad-CAM as a registered method (`explain("guided_grad_cam", …)`). */
export const guidedGradCamMethod: MethodDescriptor<"guided_grad_cam", GuidedGradCamOptions> = {
  name: "guided_grad_cam",
  label: "Guided Grad-CAM",
  signed: false,
  description:
    "Guided Backprop × Grad-CAM (last 4-D layer of at least 2×2, half-pixel bilinear upsampling); max " +
    "over channels of |value|",
  attribution: true,
  needs: "layer",
  cost: "single",
  options: {
    layer: text("Grad-CAM's layer (default the last 4-D layer of at least 2×2 the logits depend on)"),
    absolute: flag("max of |value| over channels (true, the default) or the signed sum (false)"),
    batchSize: batchSize(),
  },
  passes: () => ({ forward: 1.5, backward: 1 }),
  defaults: () => ({ absolute: true }),
  explain: guidedGradCam,
};
