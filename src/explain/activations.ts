/**
 * Activation maps: a layer's activations averaged over its channels and upsampled to the input size. Not an
 * attribution method: it shows where the layer responds at all, for every class alike, so the target is
 * ignored. Useful next to attributions to see whether a shortcut lights up inside the network.
 * @module
 */
import { tf } from "../deps.ts";
import { evaluate } from "./graph.ts";
import { pickSpatialNode } from "./graph_query.ts";
import { upsample } from "./grad_cam.ts";
import { type ExplainableModel, modelGraph } from "./explainable_model.ts";
import { DEFAULT_INPUTS_PER_PASS, inputsPerPass, mapChunks } from "./batching.ts";
import { checkOptions, type MethodDescriptor } from "./descriptor.ts";
import { batchSize, flag, text } from "./option_checks.ts";
import type { Target } from "./target.ts";

/** Options of {@link activations}. */
export interface ActivationsOptions {
  /** Layer (node) name; default the last node with a 4-D output that feeds the classifier head. */
  layer?: string;
  /** Mean of |activation| (true) or of the signed activation (false, the default; ≥ 0 after a ReLU). */
  absolute?: boolean;
  /** Images per pass (default 256). */
  batchSize?: number;
}

/**
 * Mean activation maps `[n,H,W]` of one layer, bilinearly upsampled (half-pixel centres) to the input size.
 * `target` is ignored (it is there so every method has the same signature).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import { fromLayersModel } from "./explainable_model.ts";
 *
 * await tf.setBackend("cpu");
 * const layers = [
 *   tf.layers.conv2d({ inputShape: [4, 4, 1], filters: 2, kernelSize: 3, activation: "relu", name: "conv" }),
 *   tf.layers.flatten(),
 *   tf.layers.dense({ units: 3 }),
 * ];
 * const net = tf.sequential({ layers });
 * const x = tf.randomUniform([2, 4, 4, 1]) as tf.Tensor4D;
 * const maps = await activations(fromLayersModel(net), x, [0, 0], { layer: "conv" });
 * assert.deepEqual(maps.shape, [2, 4, 4]); // the 2×2 layer, upsampled to the input size
 * assert.ok(maps.min().dataSync()[0] >= 0); // the layer ends in a ReLU
 * tf.dispose([x, maps]);
 * net.dispose();
 * ```
 */
export async function activations(
  model: ExplainableModel,
  images: tf.Tensor4D,
  _target: Target,
  options: ActivationsOptions = {},
): Promise<tf.Tensor3D> {
  options = checkOptions(activationsMethod, options);
  const graph = modelGraph(model, "activations");
  const layer = pickSpatialNode(graph, options.layer, "activations");
  const [, height, width] = images.shape;
  const batch = await inputsPerPass(model, images, {
    kind: "forward",
    requested: options.batchSize ?? DEFAULT_INPUTS_PER_PASS,
    label: "activations",
  });
  return mapChunks(images, batch, (x) => {
    let a = evaluate(graph, x, [layer], { release: true }).get(layer) as tf.Tensor4D;
    if (options.absolute ?? false) a = tf.abs(a);
    return upsample(tf.mean(a, 3, true) as tf.Tensor4D, height, width);
  });
}

/** Activations as a registered method (`explain("activations", …)`; not an attribution). */
export const activationsMethod: MethodDescriptor<"activations", ActivationsOptions> = {
  name: "activations",
  label: "Activations",
  signed: false,
  description: "not an attribution: mean over channels of the last 4-D layer's (at least 2×2) activations, " +
    "half-pixel bilinear upsampling; the target is ignored",
  attribution: false,
  needs: "layer",
  cost: "single",
  options: {
    layer: text("layer (node) name (default the last 4-D layer of at least 2×2 the logits depend on)"),
    absolute: flag("mean of |activation| (true) or of the signed activation (false, the default)"),
    batchSize: batchSize(),
  },
  passes: () => ({ forward: 1, backward: 0 }),
  defaults: () => ({ absolute: false }),
  explain: activations,
};
