/**
 * Guided Grad-CAM (Selvaraju et al. 2017): Guided Backprop's pixel-level gradients multiplied element-wise
 * by the Grad-CAM map upsampled to the input size, so only the fine detail inside the class region remains.
 * @module
 */
import type { tf } from "../deps.ts";
import { readChain } from "./chain.ts";
import { gradCamMaps } from "./grad_cam.ts";
import { guidedGradients } from "./guided_backprop.ts";
import { layerChain, pickLayer } from "./layers.ts";
import { type ExplainableModel, mapChunks, reduceChannels } from "./model_fn.ts";
import { sliceTarget, type Target, targetWeights } from "./target.ts";

/** Options of {@link guidedGradCam}. */
export interface GuidedGradCamOptions {
  /** Grad-CAM's layer; default the last layer with a 4-D output. */
  layer?: string;
  /** Max of |value| over channels (true, the default) or the signed sum over channels (false). */
  absolute?: boolean;
  /** Images per backward pass (default 128). */
  batchSize?: number;
}

/**
 * Guided Grad-CAM maps `[n,H,W]`: guided gradient × Grad-CAM (with its ReLU, bilinear upsampling), then the
 * channels reduced; absolute by default. Needs a LayersModel the chain interpreter can run.
 */
export function guidedGradCam(
  model: ExplainableModel,
  images: tf.Tensor4D,
  target: Target,
  options: GuidedGradCamOptions = {},
): Promise<tf.Tensor3D> {
  const steps = readChain(model, "Guided Grad-CAM");
  const chain = layerChain(model, "Guided Grad-CAM");
  const at = pickLayer(chain, options.layer, "Guided Grad-CAM");
  return Promise.resolve(mapChunks(images, options.batchSize ?? 128, (x, start, end) => {
    const w = targetWeights(sliceTarget(target, start, end), model.classes);
    const cam = gradCamMaps(chain, at, x, w, true).expandDims(3);
    return reduceChannels(guidedGradients(steps, x, w).mul(cam) as tf.Tensor4D, options.absolute ?? true);
  }));
}
