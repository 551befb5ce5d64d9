/**
 * Activation maps: a layer's activations averaged over its channels and upsampled to the input size. Not an
 * attribution method: it shows where the layer responds at all, for every class alike, so the target is
 * ignored. Useful next to attributions to see whether a shortcut lights up inside the network.
 * @module
 */
import { tf } from "../deps.ts";
import { evaluate, pickSpatialNode } from "./graph.ts";
import { upsample } from "./grad_cam.ts";
import { type ExplainableModel, mapChunks, modelGraph } from "./model_fn.ts";
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
 */
export function activations(
  model: ExplainableModel,
  images: tf.Tensor4D,
  _target: Target,
  options: ActivationsOptions = {},
): Promise<tf.Tensor3D> {
  const graph = modelGraph(model, "activations");
  const layer = pickSpatialNode(graph, options.layer, "activations");
  const [, height, width] = images.shape;
  return Promise.resolve(mapChunks(images, options.batchSize ?? 256, (x) => {
    let a = evaluate(graph, x, [layer]).get(layer) as tf.Tensor4D;
    if (options.absolute ?? false) a = tf.abs(a);
    return upsample(tf.mean(a, 3, true) as tf.Tensor4D, height, width);
  }));
}
