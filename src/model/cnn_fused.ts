/**
 * A faster forward pass (and backward, through the tape) for Sequential models such as hans's CNN, on hans's
 * WebGPU kernels: each Conv2D (ReLU, bias, stride 1) followed by a 2×2 max-pool runs as one fused op, each
 * Dense (ReLU or linear, bias) on a flat input as another, Flatten as a reshape, and every other layer as the
 * layer itself. The result equals `model.apply` up to float rounding; it reads the same variables, so an
 * optimizer trains the model through it.
 * @module
 */
import { tf } from "../deps.ts";
import { convReluPool, dense, type FusedGrads, poolTiles } from "../kernels/fused_ops.ts";
import { hansKernelsActive } from "../kernels/register.ts";

export type { FusedGrads } from "../kernels/fused_ops.ts";

/** The forward pass: logits `[n, classes]` of images `[n, h, w, c]`, with the gradients `grads` asks for. */
export type FusedForward = (x: tf.Tensor4D, grads: FusedGrads) => tf.Tensor2D;

type Layer = tf.layers.Layer;
type Weighted = Layer & { kernel?: { read(): tf.Tensor }; bias?: { read(): tf.Tensor } };

type Step =
  | { kind: "conv-pool"; conv: Weighted; pad: "same" | "valid" }
  | { kind: "dense"; layer: Weighted; relu: boolean }
  | { kind: "flatten" }
  | { kind: "layer"; layer: Layer };

const ones = (v: unknown) => (Array.isArray(v) ? v : [v]).every((d) => d === 1);
const twos = (v: unknown) => (Array.isArray(v) ? v : [v, v]).every((d) => d === 2);

function fusableConv(layer: Layer, next: Layer | undefined): "same" | "valid" | undefined {
  if (layer.getClassName() !== "Conv2D" || next?.getClassName() !== "MaxPooling2D") return undefined;
  const c = layer.getConfig() as Record<string, unknown>;
  const p = next.getConfig() as Record<string, unknown>;
  const out = layer.outputShape as number[];
  const ok = c.activation === "relu" && c.useBias === true && ones(c.strides) && ones(c.dilationRate ?? 1) &&
    (c.dataFormat ?? "channelsLast") === "channelsLast" && (c.padding === "same" || c.padding === "valid") &&
    twos(p.poolSize) && twos(p.strides ?? p.poolSize) && p.padding === "valid" &&
    (p.dataFormat ?? "channelsLast") === "channelsLast" && out.length === 4 && poolTiles(out[1], out[2]);
  return ok ? c.padding as "same" | "valid" : undefined;
}

function fusableDense(layer: Layer): boolean | undefined {
  if (layer.getClassName() !== "Dense") return undefined;
  const c = layer.getConfig() as Record<string, unknown>;
  if (c.useBias !== true || (layer.input as tf.SymbolicTensor).shape.length !== 2) return undefined;
  return c.activation === "relu" ? true : c.activation === "linear" ? false : undefined;
}

/** The model as fusable steps, or undefined when it is not a Sequential model with anything to fuse. */
function plan(model: tf.LayersModel): Step[] | undefined {
  if (model.getClassName() !== "Sequential") return undefined;
  const layers = model.layers;
  const steps: Step[] = [];
  for (let i = 0; i < layers.length; i++) {
    const layer = layers[i];
    const pad = fusableConv(layer, layers[i + 1]);
    const relu = fusableDense(layer);
    if (pad) {
      steps.push({ kind: "conv-pool", conv: layer as Weighted, pad });
      i++;
    } else if (relu !== undefined) {
      steps.push({ kind: "dense", layer: layer as Weighted, relu });
    } else if (layer.getClassName() === "Flatten") {
      steps.push({ kind: "flatten" });
    } else {
      steps.push({ kind: "layer", layer });
    }
  }
  return steps.some((s) => s.kind === "conv-pool" || s.kind === "dense") ? steps : undefined;
}

/**
 * The fused forward pass of `model`, or undefined where it does not apply: another backend than WebGPU with
 * hans's kernels active, a model that is not Sequential, or one with no Conv2D + MaxPooling2D or Dense
 * layer to fuse. Weigh gradients with `grads`: `{ input: true, weights: false }` for saliency,
 * `{ input: false, weights: true }` for training.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { initBackend } from "../backend.ts";
 * import { tf } from "../deps.ts";
 * import { createCnn } from "./cnn.ts";
 *
 * const { backend } = await initBackend({ warn: false, kernels: "hans" });
 * const model = createCnn({ height: 8, width: 8, channels: 1, classes: 3, seed: 1, filters: [2, 4], hidden: 4 });
 * const x = tf.randomUniform([2, 8, 8, 1], 0, 1, "float32", 1) as tf.Tensor4D;
 * const forward = fusedForward(model);
 * assert.equal(forward === undefined, backend !== "webgpu"); // off WebGPU the layers run as they are
 * const logits = forward ? forward(x, { input: true, weights: false }) : model.apply(x) as tf.Tensor2D;
 * assert.deepEqual(logits.shape, [2, 3]);
 * tf.dispose([x, logits]);
 * model.dispose();
 * ```
 */
export function fusedForward(model: tf.LayersModel): FusedForward | undefined {
  if (tf.getBackend() !== "webgpu" || !hansKernelsActive()) return undefined;
  const steps = plan(model);
  if (!steps) return undefined;
  return (x, grads) =>
    tf.tidy(() => {
      let h: tf.Tensor = x;
      // The input of a fused op needs its gradient when the caller wants the input's, or when a layer before
      // it has weights being trained.
      let inputGrad = grads.input;
      for (const step of steps) {
        const g = { input: inputGrad, weights: grads.weights };
        if (step.kind === "conv-pool") {
          const w = step.conv.kernel!.read() as tf.Tensor4D;
          const b = step.conv.bias!.read() as tf.Tensor1D;
          h = convReluPool(h as tf.Tensor4D, w, b, step.pad, g);
          inputGrad ||= grads.weights;
        } else if (step.kind === "dense") {
          const w = step.layer.kernel!.read() as tf.Tensor2D;
          const b = step.layer.bias!.read() as tf.Tensor1D;
          h = dense(h as tf.Tensor2D, w, b, step.relu, g);
          inputGrad ||= grads.weights;
        } else if (step.kind === "flatten") {
          h = h.reshape([h.shape[0], -1]);
        } else {
          h = step.layer.apply(h, { training: grads.weights }) as tf.Tensor;
          inputGrad ||= grads.weights && step.layer.trainableWeights.length > 0;
        }
      }
      return h as tf.Tensor2D;
    });
}
