/**
 * Activation maps: a layer's activations averaged over its channels and upsampled to the input size. Not an
 * attribution method: it shows where the layer responds at all, for every class alike, so the target is
 * ignored. Useful next to attributions to see whether a shortcut lights up inside the network.
 * @module
 */
import { tf } from "../deps.ts";
import { HansError } from "../errors.ts";
import { applyLayers, layerChain, pickLayer } from "./layers.ts";
import { type ExplainableModel, mapChunks } from "./model_fn.ts";
import type { Target } from "./target.ts";

/** Options of {@link activations}. */
export interface ActivationsOptions {
  /** Layer name; default the last layer with a 4-D output. */
  layer?: string;
  /** Mean of |activation| (true) or of the signed activation (false, the default; ≥ 0 after a ReLU). */
  absolute?: boolean;
  /** Images per pass (default 256). */
  batchSize?: number;
}

/**
 * Mean activation maps `[n,H,W]` of one layer, bilinearly upsampled (align corners off) to the input size.
 * `target` is ignored (it is there so every method has the same signature).
 */
export function activations(
  model: ExplainableModel,
  images: tf.Tensor4D,
  _target: Target,
  options: ActivationsOptions = {},
): Promise<tf.Tensor3D> {
  const chain = layerChain(model, "activations");
  const at = pickLayer(chain, options.layer, "activations");
  if ((chain[at].outputShape as number[]).length !== 4) {
    throw new HansError(`activations needs a layer with a 4-D output; layer "${chain[at].name}" has none.`);
  }
  const [, height, width] = images.shape;
  return Promise.resolve(mapChunks(images, options.batchSize ?? 256, (x) => {
    let a = applyLayers(chain, x, 0, at) as tf.Tensor4D;
    if (options.absolute ?? false) a = tf.abs(a);
    const mean = tf.mean(a, 3, true) as tf.Tensor4D;
    return tf.image.resizeBilinear(mean, [height, width]).squeeze([3]) as tf.Tensor3D;
  }));
}
