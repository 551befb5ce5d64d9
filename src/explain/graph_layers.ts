/**
 * Reads a tfjs LayersModel (Sequential or functional, channels-last) into a {@link ModelGraph}. Layers are
 * read with their own weight variables, so later weight changes show through; BatchNormalization becomes an
 * affine node whose scale and offset are computed once, here.
 *
 * Supported layers: InputLayer, Conv2D, DepthwiseConv2D, SeparableConv2D, Dense (on 2-D input),
 * BatchNormalization (last axis), Activation, ReLU (plain or maxValue 6), Softmax, Add, Concatenate,
 * MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D, Flatten, Reshape, ZeroPadding2D,
 * Rescaling, Dropout and its kin (identity at inference), and hans's HansPixelStandardization and
 * HansContrastNormalization. Activations: linear, relu, relu6, sigmoid, tanh, elu, swish, softmax (last layer
 * only). Anything else raises a HansError that names the layer.
 * @module
 */
import { tf } from "../deps.ts";
import { HansError } from "../errors.ts";
import type { ExplicitPadding, GraphActivation, GraphNode, ModelGraph } from "./graph.ts";
import { topologicalOrder } from "./graph_query.ts";
import { stripSoftmax } from "./strip_softmax.ts";

type Layer = tf.layers.Layer;
type Config = Record<string, unknown>;

const ACTIVATIONS: GraphActivation[] = [
  "linear",
  "relu",
  "relu6",
  "sigmoid",
  "tanh",
  "elu",
  "swish",
  "softmax",
];
const IDENTITY_LAYERS = new Set([
  "Dropout",
  "SpatialDropout1D",
  "SpatialDropout2D",
  "GaussianNoise",
  "GaussianDropout",
  "AlphaDropout",
]);

function activationOf(config: Config, layer: string): GraphActivation {
  const a = String(config.activation ?? "linear");
  if ((ACTIVATIONS as string[]).includes(a)) return a as GraphActivation;
  throw new HansError(
    `layer "${layer}" uses the activation ${a}; hans reads ${ACTIVATIONS.join(", ")}.`,
  );
}

function pair(value: unknown, fallback: number): [number, number] {
  if (value === undefined || value === null) return [fallback, fallback];
  if (typeof value === "number") return [value, value];
  const a = value as number[];
  return [a[0], a.length > 1 ? a[1] : a[0]];
}

function paddingOf(config: Config, layer: string): "same" | "valid" {
  const p = config.padding ?? "valid";
  if (p === "same" || p === "valid") return p;
  throw new HansError(`layer "${layer}" uses padding "${String(p)}"; hans reads same and valid.`);
}

function channelsLast(config: Config, layer: string): void {
  if (config.dataFormat !== undefined && config.dataFormat !== "channelsLast") {
    throw new HansError(`layer "${layer}" is ${config.dataFormat}; hans reads channels-last layers only.`);
  }
}

function inboundNames(layer: Layer): string[] {
  const nodes = (layer as unknown as { inboundNodes: { inboundLayers: Layer[] }[] }).inboundNodes;
  if (nodes.length > 1) {
    throw new HansError(
      `layer "${layer.name}" is used ${nodes.length} times in the model; hans reads layers used once.`,
    );
  }
  return nodes[0]?.inboundLayers.map((l) => l.name) ?? [];
}

/** A layer's output shape with the batch axis (null) set to 1. */
function batchOne(shape: tf.Shape | tf.Shape[]): number[] {
  const s = (Array.isArray(shape[0]) ? shape[0] : shape) as (number | null)[];
  return s.map((d) => d ?? 1);
}

/**
 * The model as a {@link ModelGraph}. A softmax at the end (the last layer's activation, or a Softmax or
 * Activation layer) is left out, so the graph's output is the logits. Throws a HansError naming the first layer
 * it cannot read.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 *
 * await tf.setBackend("cpu");
 * const net = tf.sequential();
 * net.add(tf.layers.flatten({ inputShape: [4, 4, 1] }));
 * net.add(tf.layers.dense({ units: 3, activation: "softmax", name: "head" }));
 * const graph = layersGraph(net);
 * assert.deepEqual(graph.nodes.map((n) => n.op), ["input", "reshape", "dense"]); // Flatten is a reshape
 * assert.equal(graph.output, "head");
 * assert.equal(graph.softmaxRemoved, true); // the head's softmax is left out of the graph
 * net.dispose();
 * ```
 */
export function layersGraph(model: tf.LayersModel): ModelGraph {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new HansError(
      `hans reads models with one input and one output; this one has ${model.inputs.length} and ${model.outputs.length}.`,
    );
  }
  const inputLayer = model.inputs[0].sourceLayer;
  const outputLayer = model.outputs[0].sourceLayer;
  const nodes: GraphNode[] = [{ op: "input", name: inputLayer.name, inputs: [] }];
  const shapes = new Map<string, number[]>([[inputLayer.name, batchOne(model.inputs[0].shape)]]);
  const owned: tf.Tensor[] = [];
  for (const layer of model.layers) {
    if (layer === inputLayer || layer.getClassName() === "InputLayer") continue;
    for (const node of readLayer(layer, inboundNames(layer), owned)) {
      nodes.push(node);
      const shape = batchOne(layer.outputShape);
      // A SeparableConv2D's depthwise half has the layer's spatial size and in·multiplier channels.
      if (node.op === "depthwiseConv2d" && node.name !== layer.name) {
        shape[3] = node.kernel.shape[2] * node.kernel.shape[3];
      }
      if (!shapes.has(node.name)) shapes.set(node.name, shape);
    }
  }
  const graph: ModelGraph = {
    nodes: topologicalOrder(nodes),
    input: inputLayer.name,
    output: outputLayer.name,
    softmaxRemoved: false,
    shapes,
    source: "layers-model",
    owned,
  };
  stripSoftmax(graph);
  return graph;
}

function readLayer(layer: Layer, inputs: string[], owned: tf.Tensor[]): GraphNode[] {
  const name = layer.name;
  const type = layer.getClassName();
  const config = layer.getConfig() as Config;
  const weights = layer.getWeights();
  const single = () => {
    if (inputs.length !== 1) {
      throw new HansError(`layer "${name}" (${type}) has ${inputs.length} inputs; hans expects 1.`);
    }
  };
  if (IDENTITY_LAYERS.has(type)) {
    single();
    return [{ op: "identity", name, inputs }];
  }
  switch (type) {
    case "Conv2D":
    case "DepthwiseConv2D": {
      single();
      channelsLast(config, name);
      const useBias = config.useBias !== false;
      return [{
        op: type === "Conv2D" ? "conv2d" : "depthwiseConv2d",
        name,
        inputs,
        kernel: weights[0] as tf.Tensor4D,
        bias: useBias ? weights[1] as tf.Tensor1D : null,
        strides: pair(config.strides, 1),
        padding: paddingOf(config, name),
        dilations: pair(config.dilationRate, 1),
        activation: activationOf(config, name),
      }];
    }
    case "SeparableConv2D": {
      single();
      channelsLast(config, name);
      const useBias = config.useBias !== false;
      const strides = pair(config.strides, 1);
      const padding = paddingOf(config, name);
      const dilations = pair(config.dilationRate, 1);
      return [
        {
          op: "depthwiseConv2d",
          name: `${name}/depthwise`,
          inputs,
          kernel: weights[0] as tf.Tensor4D,
          bias: null,
          strides,
          padding,
          dilations,
          activation: "linear",
        },
        {
          op: "conv2d",
          name,
          inputs: [`${name}/depthwise`],
          kernel: weights[1] as tf.Tensor4D,
          bias: useBias ? weights[2] as tf.Tensor1D : null,
          strides: [1, 1],
          padding: "valid",
          dilations: [1, 1],
          activation: activationOf(config, name),
        },
      ];
    }
    case "Dense": {
      single();
      const inputShape = (layer.input as tf.SymbolicTensor).shape;
      if (inputShape.length !== 2) {
        throw new HansError(
          `Dense layer "${name}" gets a ${inputShape.length}-D input; hans reads Dense layers on flat features ` +
            `(put a Flatten or a global pooling layer before it).`,
        );
      }
      return [{
        op: "dense",
        name,
        inputs,
        kernel: weights[0] as tf.Tensor2D,
        bias: config.useBias === false ? null : weights[1] as tf.Tensor1D,
        activation: activationOf(config, name),
      }];
    }
    case "BatchNormalization": {
      single();
      const rank = (layer.input as tf.SymbolicTensor).shape.length;
      const axis = config.axis as number;
      if (axis !== -1 && axis !== rank - 1) {
        throw new HansError(
          `BatchNormalization layer "${name}" normalizes axis ${axis}; hans reads the last axis only.`,
        );
      }
      let k = 0;
      const gamma = config.scale === false ? null : weights[k++];
      const beta = config.center === false ? null : weights[k++];
      const mean = weights[k++];
      const variance = weights[k++];
      const [scale, offset] = tf.tidy(() => {
        const inv = tf.rsqrt(tf.add(variance, config.epsilon as number));
        const s = gamma ? tf.mul(gamma, inv) : inv;
        const o = tf.sub(beta ?? tf.zerosLike(mean), tf.mul(mean, s));
        return [s, o];
      });
      owned.push(scale, offset);
      return [{ op: "affine", name, inputs, scale, offset }];
    }
    case "Rescaling": {
      single();
      const scale = tf.scalar(config.scale as number);
      const offset = tf.scalar((config.offset as number | undefined) ?? 0);
      owned.push(scale, offset);
      return [{ op: "affine", name, inputs, scale, offset }];
    }
    case "Activation":
      single();
      return [{ op: "activation", name, inputs, activation: activationOf(config, name) }];
    case "Softmax":
      single();
      return [{ op: "activation", name, inputs, activation: "softmax" }];
    case "ReLU": {
      single();
      const max = config.maxValue;
      if (max === undefined || max === null) return [{ op: "activation", name, inputs, activation: "relu" }];
      if (max === 6) return [{ op: "activation", name, inputs, activation: "relu6" }];
      throw new HansError(`ReLU layer "${name}" has maxValue ${max}; hans reads plain ReLU and ReLU6.`);
    }
    case "Add":
      return [{ op: "add", name, inputs }];
    case "Concatenate":
      return [{ op: "concat", name, inputs, axis: (config.axis as number | undefined) ?? -1 }];
    case "MaxPooling2D":
    case "AveragePooling2D": {
      single();
      channelsLast(config, name);
      const poolSize = pair(config.poolSize, 2);
      return [{
        op: type === "MaxPooling2D" ? "maxPool" : "avgPool",
        name,
        inputs,
        poolSize,
        strides: config.strides === undefined || config.strides === null ? poolSize : pair(config.strides, 1),
        padding: paddingOf(config, name),
      }];
    }
    case "GlobalAveragePooling2D":
    case "GlobalMaxPooling2D":
      single();
      channelsLast(config, name);
      return [{
        op: type === "GlobalAveragePooling2D" ? "globalAvgPool" : "globalMaxPool",
        name,
        inputs,
        keepDims: config.keepDims === true,
      }];
    case "Flatten":
      single();
      channelsLast(config, name);
      return [{ op: "reshape", name, inputs, shape: [-1] }];
    case "Reshape":
      single();
      return [{ op: "reshape", name, inputs, shape: config.targetShape as number[] }];
    case "ZeroPadding2D": {
      single();
      channelsLast(config, name);
      const p = config.padding as number | number[] | number[][];
      const paddings: ExplicitPadding = typeof p === "number"
        ? [[p, p], [p, p]]
        : Array.isArray(p[0])
        ? [(p as number[][])[0] as [number, number], (p as number[][])[1] as [number, number]]
        : [[(p as number[])[0], (p as number[])[0]], [(p as number[])[1], (p as number[])[1]]];
      return [{ op: "pad", name, inputs, paddings }];
    }
    case "HansPixelStandardization":
      single();
      return [{ op: "standardize", name, inputs, mean: weights[0], scale: weights[1] }];
    case "HansContrastNormalization":
      single();
      return [{
        op: "contrast",
        name,
        inputs,
        power: config.power as number,
        epsilon: config.epsilon as number,
      }];
    default:
      throw new HansError(
        `hans cannot read the layer "${name}" (${type}); it reads Conv2D, DepthwiseConv2D, SeparableConv2D, ` +
          `Dense, BatchNormalization, Activation, ReLU, Softmax, Add, Concatenate, pooling, Flatten, Reshape, ` +
          `ZeroPadding2D, Rescaling and Dropout layers.`,
      );
  }
}
