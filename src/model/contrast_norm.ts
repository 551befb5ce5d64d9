/**
 * Contrast normalization over channels: at every position, the feature vector is divided by a power of its
 * root mean square, y = x · (mean_c(x²) + ε)^(−p/2). With p = 1 each position's features have about unit
 * size whatever the local contrast, so a pattern blended at 10% excites the next layer about as much as a
 * solid stroke (local contrast normalization, as in Jarrett et al. 2009; RMSNorm over channels). p between 0
 * and 1 normalizes part of the way: p = 0 is the identity. The layer has no weights.
 * @module
 */
import { tf } from "../deps.ts";

/** The ε under the mean square: features whose size is far below √ε are not scaled up much. */
export const DEFAULT_CONTRAST_EPSILON = 1e-3;

/**
 * The power the clever-hans experiment uses by default: enough that a 10% watermark flips over 80% of other
 * digits, little enough that the vanilla gradient stays on bold artifacts (see the README's measurements).
 */
export const DEFAULT_CONTRAST_POWER = 0.4;

/** Constructor arguments of {@link ContrastNormalization}. */
export interface ContrastNormalizationArgs {
  /** The power p in (0, 1]. */
  power: number;
  /** ε (default {@link DEFAULT_CONTRAST_EPSILON}). */
  epsilon?: number;
  name?: string;
}

/** y = x · (mean over channels of x² + ε)^(−power/2), per position; registered for serialization. */
export class ContrastNormalization extends tf.layers.Layer {
  /** The name under which tfjs serializes the layer. */
  static className = "HansContrastNormalization";
  /** The power p. */
  readonly power: number;
  /** ε under the mean square. */
  readonly epsilon: number;

  constructor(args: ContrastNormalizationArgs) {
    super(args);
    if (!(args.power > 0 && args.power <= 1)) {
      throw new RangeError(`the contrast normalization's power must be in (0, 1], got ${args.power}`);
    }
    this.power = args.power;
    this.epsilon = args.epsilon ?? DEFAULT_CONTRAST_EPSILON;
    if (!(this.epsilon > 0)) {
      throw new RangeError(`the contrast normalization's ε must be positive, got ${this.epsilon}`);
    }
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() =>
      contrastNormalize(Array.isArray(inputs) ? inputs[0] : inputs, this.power, this.epsilon)
    );
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    return inputShape;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), power: this.power, epsilon: this.epsilon };
  }
}
tf.serialization.registerClass(ContrastNormalization);

/** The factor (mean over the last axis of x² + ε)^(−power/2), with the last axis kept (size 1). */
export function contrastFactor(x: tf.Tensor, power: number, epsilon: number): tf.Tensor {
  return tf.tidy(() => tf.pow(tf.add(tf.mean(tf.square(x), -1, true), epsilon), -power / 2));
}

/** x times its {@link contrastFactor}. */
export function contrastNormalize(x: tf.Tensor, power: number, epsilon: number): tf.Tensor {
  return tf.tidy(() => tf.mul(x, contrastFactor(x, power, epsilon)));
}
