/**
 * The method registry: one name, one file, one signature. Users switch methods by changing the name.
 * @module
 */
import type { tf } from "../deps.ts";
import { HansError } from "../errors.ts";
import { gradCam } from "./grad_cam.ts";
import { gradient } from "./gradient.ts";
import { gradientInput } from "./gradient_input.ts";
import { integratedGradients } from "./integrated_gradients.ts";
import type { ExplainableModel } from "./model_fn.ts";
import { occlusion } from "./occlusion.ts";
import { smoothGrad } from "./smoothgrad.ts";
import type { Target } from "./target.ts";

/** Every method's signature: maps `[n,H,W]` for a batch of images `[n,H,W,C]` and a target per image. */
export type ExplainFunction = (
  model: ExplainableModel,
  images: tf.Tensor4D,
  target: Target,
  // deno-lint-ignore no-explicit-any
  options?: any,
) => Promise<tf.Tensor3D>;

/** A registered method and how to read its maps. */
export interface MethodInfo {
  /** Registry name, e.g. `integrated_gradients`. */
  name: string;
  /** Name for people, e.g. `Integrated Gradients`. */
  label: string;
  /** At most 10 characters, for figure columns, e.g. `IG`. */
  short: string;
  /** True when the default maps are signed (negative = evidence against the target). */
  signed: boolean;
  /** One sentence on what the map shows, with its defaults. */
  description: string;
  explain: ExplainFunction;
}

/** The registered methods, in the order reports show them. */
export const METHODS: MethodInfo[] = [
  {
    name: "gradient",
    label: "Gradient",
    short: "Gradient",
    signed: false,
    description: "max over channels of |∂score/∂x| (Simonyan et al.)",
    explain: gradient,
  },
  {
    name: "gradient_input",
    label: "Gradient × input",
    short: "Grad×Input",
    signed: true,
    description: "sum over channels of x · ∂score/∂x",
    explain: gradientInput,
  },
  {
    name: "smoothgrad",
    label: "SmoothGrad",
    short: "SmoothGrad",
    signed: false,
    description: "|mean gradient| over 32 noisy copies, noise σ = 15% of the input range",
    explain: smoothGrad,
  },
  {
    name: "integrated_gradients",
    label: "Integrated Gradients",
    short: "IG",
    signed: true,
    description: "32 midpoint steps from a black baseline; sums to f(x) − f(baseline)",
    explain: integratedGradients,
  },
  {
    name: "grad_cam",
    label: "Grad-CAM",
    short: "Grad-CAM",
    signed: false,
    description: "last 4-D layer, ReLU, bilinear upsampling",
    explain: gradCam,
  },
  {
    name: "occlusion",
    label: "Occlusion",
    short: "Occlusion",
    signed: true,
    description: "mean drop of the score under a 4×4 black patch, stride 2",
    explain: occlusion,
  },
];

/** The method called `name`; throws a HansError listing the valid names. */
export function method(name: string): MethodInfo {
  const found = METHODS.find((m) => m.name === name);
  if (!found) {
    throw new HansError(
      `unknown saliency method "${name}"; use one of ${METHODS.map((m) => m.name).join(", ")}.`,
    );
  }
  return found;
}

/** Runs the method `name` on `images` for `target`: the one entry point for every method. */
export function explain(
  name: string,
  model: ExplainableModel,
  images: tf.Tensor4D,
  target: Target,
  options?: Record<string, unknown>,
): Promise<tf.Tensor3D> {
  return method(name).explain(model, images, target, options);
}
