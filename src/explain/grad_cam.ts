/**
 * Grad-CAM (Selvaraju et al. 2017): a layer's activation maps weighted by the spatial mean of the target
 * score's gradient, summed over channels, passed through ReLU and upsampled (bilinear) to the input size.
 * @module
 */
import { tf } from "../deps.ts";
import { applyLayers, layerChain, pickLayer } from "./layers.ts";
import { type ExplainableModel, mapChunks } from "./model_fn.ts";
import { sliceTarget, type Target, targetScores, targetWeights } from "./target.ts";

/** Options of {@link gradCam}. */
export interface GradCamOptions {
  /** Layer name; default the last layer with a 4-D output. */
  layer?: string;
  /** Keep only positive evidence (true, the default), as in the paper. */
  relu?: boolean;
  /** Images per backward pass (default 256). */
  batchSize?: number;
}

/**
 * Grad-CAM maps `[m,H,W]` of one chunk `x` at input resolution: `chain` from {@link layerChain}, `at` the
 * index of the explained layer, `weights` from targetWeights. Shared with Guided Grad-CAM.
 */
export function gradCamMaps(
  chain: tf.layers.Layer[],
  at: number,
  x: tf.Tensor4D,
  weights: tf.Tensor2D,
  relu: boolean,
): tf.Tensor3D {
  return tf.tidy(() => {
    const [, height, width] = x.shape;
    const activations = applyLayers(chain, x, 0, at) as tf.Tensor4D;
    const head = (a: tf.Tensor) =>
      tf.sum(targetScores(applyLayers(chain, a, at + 1, chain.length - 1) as tf.Tensor2D, weights));
    const grads = tf.grad(head)(activations) as tf.Tensor4D;
    const alphas = tf.mean(grads, [1, 2], true);
    let cam = tf.sum(tf.mul(alphas, activations), 3, true) as tf.Tensor4D;
    if (relu) cam = tf.relu(cam);
    return tf.image.resizeBilinear(cam, [height, width]).squeeze([3]) as tf.Tensor3D;
  });
}

/** Grad-CAM maps `[n,H,W]` at input resolution (bilinear upsampling, align corners off). */
export function gradCam(
  model: ExplainableModel,
  images: tf.Tensor4D,
  target: Target,
  options: GradCamOptions = {},
): Promise<tf.Tensor3D> {
  const chain = layerChain(model, "Grad-CAM");
  const at = pickLayer(chain, options.layer, "Grad-CAM");
  return Promise.resolve(mapChunks(images, options.batchSize ?? 256, (x, start, end) => {
    const w = targetWeights(sliceTarget(target, start, end), model.classes);
    return gradCamMaps(chain, at, x, w, options.relu ?? true);
  }));
}
