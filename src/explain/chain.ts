/**
 * A chain interpreter: re-runs a sequential tfjs LayersModel layer by layer from its own weights, so a method
 * can change what happens on the way. Guided backprop swaps the ReLU for one with another gradient; LRP reads
 * each linear layer's kernel and runs it with modified weights. tfjs fuses the ReLU into Conv2D and Dense
 * (`activation: "relu"`), which is why the layers cannot simply be applied one by one.
 *
 * Supported layers (what hans's CNNs use): InputLayer, Conv2D, Dense (on 2-D input), MaxPooling2D,
 * AveragePooling2D, Flatten, Activation and ReLU (relu or linear only), Dropout (identity at inference), hans's
 * PixelStandardization and ContrastNormalization, all channels-last. Anything else raises a HansError that
 * names the layer.
 * @module
 */
import { tf } from "../deps.ts";
import { HansError } from "../errors.ts";
import { contrastNormalize } from "../model/contrast_norm.ts";
import { layerChain } from "./layers.ts";
import type { ExplainableModel } from "./model_fn.ts";

/** The activations the interpreter knows. */
export type ChainActivation = "relu" | "linear";

/** A Conv2D layer: kernel `[kh,kw,in,out]`, the model's own variable (not a copy). */
export interface ConvStep {
  /** Step type. */
  kind: "conv2d";
  /** The layer's name in the model. */
  name: string;
  /** Kernel `[kh,kw,in,out]`. */
  kernel: tf.Tensor4D;
  /** Bias `[out]`, or null when the layer has none. */
  bias: tf.Tensor1D | null;
  /** Strides (rows, columns). */
  strides: [number, number];
  /** Padding mode. */
  padding: "same" | "valid";
  /** Dilation rate (rows, columns). */
  dilations: [number, number];
  /** Activation after the linear part (or of the layer itself). */
  activation: ChainActivation;
}

/** A Dense layer on 2-D input: kernel `[in,out]`, the model's own variable (not a copy). */
export interface DenseStep {
  /** Step type. */
  kind: "dense";
  /** The layer's name in the model. */
  name: string;
  /** Kernel `[in,out]`. */
  kernel: tf.Tensor2D;
  /** Bias `[out]`, or null when the layer has none. */
  bias: tf.Tensor1D | null;
  /** Activation after the linear part (or of the layer itself). */
  activation: ChainActivation;
}

/** A 2-D max or average pooling layer. */
export interface PoolStep {
  /** Step type. */
  kind: "maxPool" | "avgPool";
  /** The layer's name in the model. */
  name: string;
  /** Window size (rows, columns). */
  poolSize: [number, number];
  /** Strides (rows, columns). */
  strides: [number, number];
  /** Padding mode. */
  padding: "same" | "valid";
}

/** Flatten `[n,h,w,c]` to `[n,h*w*c]`. */
export interface FlattenStep {
  /** Step type. */
  kind: "flatten";
  /** The layer's name in the model. */
  name: string;
}

/** A stand-alone activation (an Activation or ReLU layer). */
export interface ActivationStep {
  /** Step type. */
  kind: "activation";
  /** The layer's name in the model. */
  name: string;
  /** Activation after the linear part (or of the layer itself). */
  activation: ChainActivation;
}

/** A layer that does nothing at inference (Dropout). */
export interface IdentityStep {
  /** Step type. */
  kind: "identity";
  /** The layer's name in the model. */
  name: string;
}

/** Per-pixel standardization `(x − mean) · scale` (hans's PixelStandardization layer). */
export interface StandardizeStep {
  /** Step type. */
  kind: "standardize";
  /** The layer's name in the model. */
  name: string;
  /** Mean `[H,W,C]`, the model's own variable. */
  mean: tf.Tensor;
  /** Scale `[H,W,C]` (1 / the floored standard deviation), positive, the model's own variable. */
  scale: tf.Tensor;
}

/** Contrast normalization over channels, x · (mean_c(x²) + ε)^(−p/2) (hans's ContrastNormalization layer). */
export interface ContrastStep {
  /** Step type. */
  kind: "contrast";
  /** The layer's name in the model. */
  name: string;
  /** The power p. */
  power: number;
  /** ε under the mean square. */
  epsilon: number;
}

/** One layer of the chain, with what the interpreter needs to run it. */
export type ChainStep =
  | ConvStep
  | DenseStep
  | PoolStep
  | FlattenStep
  | ActivationStep
  | IdentityStep
  | StandardizeStep
  | ContrastStep;

/** A layer with weights: a linear map followed by an activation. */
export type LinearStep = ConvStep | DenseStep;

/** True for Conv2D and Dense steps. */
export function isLinear(step: ChainStep): step is LinearStep {
  return step.kind === "conv2d" || step.kind === "dense";
}

type Config = Record<string, unknown>;

function pair(value: unknown, fallback: number): [number, number] {
  if (value === undefined || value === null) return [fallback, fallback];
  if (typeof value === "number") return [value, value];
  const a = value as number[];
  return [a[0], a.length > 1 ? a[1] : a[0]];
}

function activationOf(config: Config, layer: string, method: string): ChainActivation {
  const a = config.activation ?? "linear";
  if (a === "relu" || a === "linear") return a;
  throw new HansError(
    `${method} runs the model layer by layer and supports the activations relu and linear; layer "${layer}" ` +
      `uses ${String(a)}. Use a model whose hidden layers use relu and whose output is logits.`,
  );
}

function channelsLast(config: Config, layer: string, method: string): void {
  if (config.dataFormat !== undefined && config.dataFormat !== "channelsLast") {
    throw new HansError(
      `${method} supports channels-last layers only; layer "${layer}" is ${config.dataFormat}.`,
    );
  }
}

function paddingOf(config: Config, layer: string, method: string): "same" | "valid" {
  const p = config.padding ?? "valid";
  if (p === "same" || p === "valid") return p;
  throw new HansError(`${method}: layer "${layer}" uses padding "${String(p)}"; only same and valid work.`);
}

/**
 * The model as a list of steps the interpreter can run. Weights are the model's own variables, so reading
 * the chain allocates nothing and later weight changes show through. Throws a HansError for a model that is
 * not a plain chain or has a layer the interpreter does not know.
 */
export function readChain(model: ExplainableModel, method: string): ChainStep[] {
  return layerChain(model, method).map((layer): ChainStep => {
    const name = layer.name;
    const type = layer.getClassName();
    const config = layer.getConfig() as Config;
    const weights = layer.getWeights();
    switch (type) {
      case "Conv2D": {
        channelsLast(config, name, method);
        return {
          kind: "conv2d",
          name,
          kernel: weights[0] as tf.Tensor4D,
          bias: config.useBias === false ? null : weights[1] as tf.Tensor1D,
          strides: pair(config.strides, 1),
          padding: paddingOf(config, name, method),
          dilations: pair(config.dilationRate, 1),
          activation: activationOf(config, name, method),
        };
      }
      case "Dense": {
        const inputShape = (layer.input as tf.SymbolicTensor).shape;
        if (inputShape.length !== 2) {
          throw new HansError(
            `${method}: Dense layer "${name}" gets a ${inputShape.length}-D input; put a Flatten layer before it.`,
          );
        }
        return {
          kind: "dense",
          name,
          kernel: weights[0] as tf.Tensor2D,
          bias: config.useBias === false ? null : weights[1] as tf.Tensor1D,
          activation: activationOf(config, name, method),
        };
      }
      case "MaxPooling2D":
      case "AveragePooling2D": {
        channelsLast(config, name, method);
        const poolSize = pair(config.poolSize, 2);
        return {
          kind: type === "MaxPooling2D" ? "maxPool" : "avgPool",
          name,
          poolSize,
          strides: config.strides === undefined || config.strides === null
            ? poolSize
            : pair(config.strides, 1),
          padding: paddingOf(config, name, method),
        };
      }
      case "Flatten":
        channelsLast(config, name, method);
        return { kind: "flatten", name };
      case "Activation":
        return { kind: "activation", name, activation: activationOf(config, name, method) };
      case "ReLU":
        if (config.maxValue !== undefined && config.maxValue !== null) {
          throw new HansError(`${method}: ReLU layer "${name}" has a maxValue; only a plain ReLU works.`);
        }
        return { kind: "activation", name, activation: "relu" };
      case "Dropout":
        return { kind: "identity", name };
      case "HansPixelStandardization":
        return { kind: "standardize", name, mean: weights[0], scale: weights[1] };
      case "HansContrastNormalization":
        return { kind: "contrast", name, power: config.power as number, epsilon: config.epsilon as number };
      default:
        throw new HansError(
          `${method} runs the model layer by layer and does not know the layer "${name}" (${type}); it supports ` +
            `Conv2D, Dense, MaxPooling2D, AveragePooling2D, Flatten, Activation, ReLU, Dropout, ` +
            `HansPixelStandardization and HansContrastNormalization.`,
        );
    }
  });
}

/** Options of {@link linearForward}. */
export interface LinearForwardOptions {
  /** Replaces the kernel (e.g. its positive part, for LRP rules); default the layer's kernel. */
  kernel?: tf.Tensor;
  /** Replaces the bias; `null` leaves it out; default the layer's bias. */
  bias?: tf.Tensor | null;
}

/** The linear part of a Conv2D or Dense step (before its activation). */
export function linearForward(step: LinearStep, x: tf.Tensor, options: LinearForwardOptions = {}): tf.Tensor {
  const bias = (options.bias === undefined ? step.bias : options.bias) ?? undefined;
  if (step.kind === "dense") {
    return tf.fused.matMul({ a: x as tf.Tensor2D, b: (options.kernel ?? step.kernel) as tf.Tensor2D, bias });
  }
  return tf.fused.conv2d({
    x: x as tf.Tensor4D,
    filter: (options.kernel ?? step.kernel) as tf.Tensor4D,
    strides: step.strides,
    pad: step.padding,
    dilations: step.dilations,
    dataFormat: "NHWC",
    bias,
  });
}

/** Runs a pooling step. */
export function poolForward(step: PoolStep, x: tf.Tensor): tf.Tensor4D {
  const op = step.kind === "maxPool" ? tf.maxPool : tf.avgPool;
  return op(x as tf.Tensor4D, step.poolSize, step.strides, step.padding);
}

/** Options of {@link runChain}. */
export interface RunChainOptions {
  /** Replaces every ReLU (fused or stand-alone); default tf.relu, fused into the conv/matMul as tfjs does. */
  relu?: (x: tf.Tensor) => tf.Tensor;
  /** First step to run (default 0). */
  from?: number;
  /** Last step to run, inclusive (default the last step). */
  to?: number;
  /** Called with each step's index and its input before the step runs (e.g. to keep activations). */
  onStep?: (index: number, input: tf.Tensor) => void;
}

/**
 * Runs `steps[from..to]` on `x`. Without a `relu` hook it uses the same fused ops as the tfjs layers, so the
 * result equals `model.predict` bit for bit.
 */
export function runChain(steps: ChainStep[], x: tf.Tensor, options: RunChainOptions = {}): tf.Tensor {
  const relu = options.relu;
  let h = x;
  for (let i = options.from ?? 0; i <= (options.to ?? steps.length - 1); i++) {
    const step = steps[i];
    options.onStep?.(i, h);
    switch (step.kind) {
      case "conv2d":
      case "dense":
        if (relu && step.activation === "relu") {
          h = relu(linearForward(step, h));
        } else if (step.kind === "dense") {
          h = tf.fused.matMul({
            a: h as tf.Tensor2D,
            b: step.kernel,
            bias: step.bias ?? undefined,
            activation: step.activation,
          });
        } else {
          h = tf.fused.conv2d({
            x: h as tf.Tensor4D,
            filter: step.kernel,
            strides: step.strides,
            pad: step.padding,
            dilations: step.dilations,
            dataFormat: "NHWC",
            bias: step.bias ?? undefined,
            activation: step.activation,
          });
        }
        break;
      case "maxPool":
      case "avgPool":
        h = poolForward(step, h);
        break;
      case "flatten":
        h = tf.reshape(h, [h.shape[0], -1]);
        break;
      case "activation":
        if (step.activation === "relu") h = relu ? relu(h) : tf.relu(h);
        break;
      case "identity":
        break;
      case "standardize":
        h = tf.mul(tf.sub(h, step.mean), step.scale);
        break;
      case "contrast":
        h = contrastNormalize(h, step.power, step.epsilon);
        break;
    }
  }
  return h;
}
