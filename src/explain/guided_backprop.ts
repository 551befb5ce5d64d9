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
import { type ExplainableModel, mapChunks, modelGraph, reduceChannels } from "./model_fn.ts";
import { sliceTarget, type Target, targetScores, targetWeights } from "./target.ts";

/** Options of {@link guidedBackprop}. */
export interface GuidedBackpropOptions {
  /** Max of |value| over channels (true, the default) or the signed sum over channels (false). */
  absolute?: boolean;
  /** Images per backward pass (default 128). */
  batchSize?: number;
}

/** ReLU forward; backward lets a gradient through only where the input was positive and the gradient is too. */
export const guidedRelu: (x: tf.Tensor) => tf.Tensor = tf.customGrad(
  (x: tf.Tensor | tf.GradSaveFunc, save: tf.Tensor | tf.GradSaveFunc) => {
    (save as tf.GradSaveFunc)([x as tf.Tensor]);
    return {
      value: tf.relu(x as tf.Tensor),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(dy, tf.mul(tf.step(saved[0]), tf.step(dy))),
    };
  },
);

/** ReLU6 forward; backward lets a gradient through only where 0 < input < 6 and the gradient is positive. */
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

/** Guided-backprop gradients `[n,H,W,C]` of the target scores (`weights` from targetWeights) for images `x`. */
export function guidedGradients(graph: ModelGraph, x: tf.Tensor4D, weights: tf.Tensor2D): tf.Tensor4D {
  return tf.tidy(() => {
    const hooks = { relu: guidedRelu, relu6: guidedRelu6 };
    const f = (input: tf.Tensor) =>
      tf.sum(
        targetScores(
          evaluate(graph, input, [graph.output], { hooks }).get(graph.output) as tf.Tensor2D,
          weights,
        ),
      );
    return tf.grad(f)(x) as tf.Tensor4D;
  });
}

/** Guided Backprop maps `[n,H,W]`; absolute (max |·| over channels) by default. Needs the model as a graph. */
export function guidedBackprop(
  model: ExplainableModel,
  images: tf.Tensor4D,
  target: Target,
  options: GuidedBackpropOptions = {},
): Promise<tf.Tensor3D> {
  const graph = modelGraph(model, "Guided Backprop");
  return Promise.resolve(mapChunks(images, options.batchSize ?? 128, (x, start, end) => {
    const w = targetWeights(sliceTarget(target, start, end), model.classes);
    return reduceChannels(guidedGradients(graph, x, w), options.absolute ?? true);
  }));
}
