/**
 * Layer access for methods that look inside a model (Grad-CAM, activations, LRP): the model as a chain of
 * layers, and running a part of that chain.
 * @module
 */
import { tf } from "../deps.ts";
import { HansError } from "../errors.ts";
import type { ExplainableModel } from "./model_fn.ts";

type Layer = tf.layers.Layer;

/** The model's layers in order, without the input layer; throws when the model is not a plain chain. */
export function layerChain(model: ExplainableModel, method: string): Layer[] {
  if (!model.layers) {
    throw new HansError(`${method} needs a tfjs LayersModel (it reads inner layers); this model has none.`);
  }
  const chain = model.layers.layers.filter((l) => l.getClassName() !== "InputLayer");
  for (const layer of chain) {
    const nodes = (layer as unknown as { inboundNodes: { inboundLayers: Layer[] }[] }).inboundNodes;
    if (nodes.length > 1 || (nodes[0] && nodes[0].inboundLayers.length > 1)) {
      throw new HansError(
        `${method} supports models whose layers form one chain; layer "${layer.name}" has several inputs.`,
      );
    }
  }
  return chain;
}

/** Index in `chain` of the layer called `name`, or of the last layer with a 4-D output when no name is given. */
export function pickLayer(chain: Layer[], name: string | undefined, method: string): number {
  if (name !== undefined) {
    const i = chain.findIndex((l) => l.name === name);
    if (i < 0) {
      throw new HansError(
        `${method}: no layer "${name}"; the model has ${chain.map((l) => l.name).join(", ")}.`,
      );
    }
    return i;
  }
  for (let i = chain.length - 1; i >= 0; i--) {
    if ((chain[i].outputShape as number[]).length === 4) return i;
  }
  throw new HansError(
    `${method} needs a layer with a 4-D output (a conv or pooling layer); the model has none.`,
  );
}

/** Applies `chain[from..to]` (inclusive) to `x`, in inference mode. */
export function applyLayers(chain: Layer[], x: tf.Tensor, from: number, to: number): tf.Tensor {
  let h = x;
  for (let i = from; i <= to; i++) h = chain[i].apply(h, { training: false }) as tf.Tensor;
  return h;
}
