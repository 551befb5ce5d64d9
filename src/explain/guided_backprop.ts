/**
 * Guided Backpropagation (Springenberg et al. 2015): the input gradient of the target score, except that every
 * ReLU passes a gradient back only where its forward input was positive and the gradient itself is positive
 * (ReLU6 likewise, and only where its input was below 6). The model runs through the graph interpreter
 * ({@link evaluate}) because tfjs fuses the ReLU into Conv2D and Dense layers, where its gradient cannot be
 * swapped; fused activations of a GraphModel's `_FusedConv2D` are swapped the same way.
 * @module
 */
import { tf } from "../deps.ts";
import { evaluate, type ModelGraph } from "./graph.ts";
import { type ExplainableModel, modelGraph } from "./explainable_model.ts";
import { reduceChannels, targetChunks } from "./batching.ts";
import { checkOptions, type MethodDescriptor } from "./descriptor.ts";
import { batchSize, flag } from "./option_checks.ts";
import { type Target, targetScores } from "./target.ts";

/** Options of {@link guidedBackprop}. */
export interface GuidedBackpropOptions {
  /** Max of |value| over channels (true, the default) or the signed sum over channels (false). */
  absolute?: boolean;
  /** Images per backward pass (default 128). */
  batchSize?: number;
}

/**
 * ReLU forward; backward lets a gradient through only where the input was positive and the gradient is too.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 *
 * await tf.setBackend("cpu");
 * tf.tidy(() => {
 *   const x = tf.tensor1d([-1, 2, 3]);
 *   assert.deepEqual(guidedRelu(x).arraySync(), [0, 2, 3]);
 *   const dy = tf.tensor1d([1, 1, -1]);
 *   const dx = tf.grad((t) => tf.sum(tf.mul(guidedRelu(t), dy)))(x);
 *   // Only where the input is positive and so is the gradient arriving from above.
 *   assert.deepEqual(Array.from(dx.dataSync(), (v) => v !== 0), [false, true, false]);
 * });
 * ```
 */
export const guidedRelu: (x: tf.Tensor) => tf.Tensor = tf.customGrad(
  (x: tf.Tensor | tf.GradSaveFunc, save: tf.Tensor | tf.GradSaveFunc) => {
    (save as tf.GradSaveFunc)([x as tf.Tensor]);
    return {
      value: tf.relu(x as tf.Tensor),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(dy, tf.mul(tf.step(saved[0]), tf.step(dy))),
    };
  },
);

/**
 * ReLU6 forward; backward lets a gradient through only where 0 < input < 6 and the gradient is positive.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 *
 * await tf.setBackend("cpu");
 * tf.tidy(() => {
 *   const x = tf.tensor1d([-1, 2, 7]);
 *   assert.deepEqual(guidedRelu6(x).arraySync(), [0, 2, 6]);
 *   const dx = tf.grad((t) => tf.sum(guidedRelu6(t)))(x);
 *   assert.deepEqual(dx.arraySync(), [0, 1, 0]); // closed below 0 and above 6
 * });
 * ```
 */
export const guidedRelu6: (x: tf.Tensor) => tf.Tensor = tf.customGrad(
  (x: tf.Tensor | tf.GradSaveFunc, save: tf.Tensor | tf.GradSaveFunc) => {
    (save as tf.GradSaveFunc)([x as tf.Tensor]);
    return {
      value: tf.relu6(x as tf.Tensor),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const open = tf.mul(tf.step(saved[0]), tf.cast(tf.less(saved[0], 6), "float32"));
        return tf.mul(dy, tf.mul(open, tf.step(dy)));
      },
    };
  },
);

/**
 * Guided-backprop gradients `[n,H,W,C]` of the target scores (`weights` from targetWeights) for images `x`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import { layersGraph } from "./graph_layers.ts";
 * import { fromLayersModel } from "./explainable_model.ts";
 * import { inputGradients } from "./batching.ts";
 * import { targetWeights } from "./target.ts";
 *
 * await tf.setBackend("cpu");
 * const layers = [tf.layers.flatten({ inputShape: [4, 4, 1] }), tf.layers.dense({ units: 3 })];
 * const net = tf.sequential({ layers });
 * const x = tf.randomUniform([2, 4, 4, 1]) as tf.Tensor4D;
 * const w = targetWeights([0, 2], 3);
 * tf.tidy(() => {
 *   // Without a ReLU in the model, the guided gradient is the plain gradient.
 *   const guided = guidedGradients(layersGraph(net), x, w);
 *   assert.ok(tf.sub(guided, inputGradients(fromLayersModel(net), x, w)).abs().max().dataSync()[0] < 1e-6);
 * });
 * tf.dispose([x, w]);
 * net.dispose();
 * ```
 */
export function guidedGradients(graph: ModelGraph, x: tf.Tensor4D, weights: tf.Tensor2D): tf.Tensor4D {
  return tf.tidy(() => {
    const hooks = { relu: guidedRelu, relu6: guidedRelu6 };
    const f = (input: tf.Tensor) =>
      tf.sum(
        targetScores(
          evaluate(graph, input, [graph.output], { hooks, release: true }).get(graph.output) as tf.Tensor2D,
          weights,
        ),
      );
    return tf.grad(f)(x) as tf.Tensor4D;
  });
}

/**
 * Guided Backprop maps `[n,H,W]`; absolute (max |·| over channels) by default. Needs the model as a graph.
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
 * const maps = await guidedBackprop(fromLayersModel(net), x, [0, 1]);
 * assert.deepEqual(maps.shape, [2, 4, 4]);
 * assert.ok(maps.min().dataSync()[0] >= 0); // absolute by default
 * tf.dispose([x, maps]);
 * net.dispose();
 * ```
 */
export async function guidedBackprop(
  model: ExplainableModel,
  images: tf.Tensor4D,
  target: Target,
  options: GuidedBackpropOptions = {},
): Promise<tf.Tensor3D> {
  options = checkOptions(guidedBackpropMethod, options);
  const graph = modelGraph(model, "Guided Backprop");
  return await targetChunks(
    model,
    images,
    target,
    { kind: "backward", label: "Guided Backprop", batchSize: options.batchSize },
    (x, w) => reduceChannels(guidedGradients(graph, x, w), options.absolute ?? true),
  );
}

/** Guided Backprop as a registered method (`explain("guided_backprop", …)`). */
export const guidedBackpropMethod: MethodDescriptor<"guided_backprop", GuidedBackpropOptions> = {
  name: "guided_backprop",
  label: "Guided Backprop",
  signed: false,
  description:
    "max over channels of |gradient| with every ReLU (and ReLU6) passing only positive gradients of " +
    "inputs where it is open",
  attribution: true,
  needs: "graph",
  cost: "single",
  options: {
    absolute: flag("max of |value| over channels (true, the default) or the signed sum (false)"),
    batchSize: batchSize(),
  },
  passes: () => ({ forward: 0, backward: 1 }),
  linearInTarget: (o) => !(o.absolute ?? true),
  defaults: () => ({ absolute: true }),
  explain: guidedBackprop,
};
