/**
 * A saliency method as one value: its name, how to read its maps, what it needs of the model, what it costs, its
 * typed options with their checks, and the function that makes the maps. Each method's module exports one
 * descriptor; the registry is the list of them.
 * @module
 */
import type { tf } from "../deps.ts";
import { HansError } from "../errors.ts";
import type { ExplainableModel } from "./explainable_model.ts";
import type { OptionSpec } from "./option_checks.ts";
import type { Target } from "./target.ts";

/** Model passes of one map of one image (see {@link MethodDescriptor.passes}). */
export interface MethodPasses {
  /** Forward passes. */
  forward: number;
  /** Backward passes (input gradients). */
  backward: number;
}

/** What a method says about each map it made, by name: e.g. Integrated Gradients' `completenessError`. */
export type MethodReport = Record<string, number[]>;

/**
 * How a method's cost grows, which decides the lighter settings a task runs it with: `single` (one pass per
 * map: nothing to lighten), `sampled` (a pass per random sample: SmoothGrad's copies, RISE's masks), `path` (a
 * pass per point on a path: Integrated Gradients), `perturbation` (a pass per patch position: occlusion).
 */
export type CostClass = "single" | "sampled" | "path" | "perturbation";

/**
 * Every option of `O` with its check: the compiler holds the table to the options type, so an option cannot be
 * declared without a check or checked without being declared.
 */
export type OptionTable<O> = { [K in keyof O]-?: OptionSpec<Exclude<O[K], undefined>> };

/** Images `[height, width, channels]`. */
export type ImageSize = [number, number, number];

/**
 * A registered method. `N` is its name, `O` its options (all optional).
 *
 * Methods are declared with method syntax so that a descriptor of any options type fits {@link AnyMethod}.
 */
export interface MethodDescriptor<N extends string = string, O extends object = object> {
  /** Registry name, e.g. `integrated_gradients`. */
  name: N;
  /** Name for people, e.g. `Integrated Gradients`. */
  label: string;
  /** True when the default maps are signed (negative = evidence against the target). */
  signed: boolean;
  /** One sentence on what the map shows, with its defaults. */
  description: string;
  /**
   * True for attribution methods (the map says how much each pixel counts for the target); false for maps
   * that ignore the target (activations), which relevance metrics should leave out or label as such.
   */
  attribution: boolean;
  /**
   * What the method needs of the model beyond logits and their gradient: `graph` (run through the graph
   * interpreter), `layer` (a 4-D layer inside the graph, named by the `layer` option), `lrp` (a graph LRP can
   * pass relevance through), or nothing.
   */
  needs?: "graph" | "layer" | "lrp";
  /** False for methods that run the model forward only (occlusion, RISE): they need no gradient. */
  usesGradient?: false;
  /** How its cost grows (see {@link CostClass}). */
  cost: CostClass;
  /** Every option with its check (see {@link OptionTable}). */
  options: OptionTable<O>;
  /**
   * Lighter settings for runs that cover many methods (`light`, a task's default) and for a first look
   * (`quick`), where the cost class gives a knob to turn; none for `single` methods.
   */
  presets?: { light?: O; quick?: O };
  /** Checks between options, after each option's own check (e.g. `maxSteps` ≥ `steps`). */
  checkTogether?(options: O): void;
  /**
   * Model passes one map of one image costs with `options` on images of `size`, for time estimates: forward
   * passes and backward ones (an input gradient each, about five forward passes' time).
   */
  passes(options: O, size: ImageSize): MethodPasses;
  /**
   * Cheaper settings to fall back on when a time budget cannot pay for `options`, dearest first; none by
   * default.
   */
  cheaper?(options: O): O[];
  /**
   * True when the maps are linear in the target with `options` (signed, no ReLU or square after the sum):
   * then the map of "P rather than Q" is the map of P minus the map of Q.
   */
  linearInTarget?(options: O): boolean;
  /**
   * The settings when no option is given, for images of `size` (those that depend on the size, such as
   * occlusion's patch, are filled in for it): what a result records as having shaped it. The batch size is
   * left out: the device and the memory budget set it.
   */
  defaults(size: ImageSize, options: O): O;
  /** Maps `[n,H,W]` of `images` `[n,H,W,C]` for `target`. */
  explain(model: ExplainableModel, images: tf.Tensor4D, target: Target, options?: O): Promise<tf.Tensor3D>;
  /** Maps for several targets sharing the method's work, where it can (forward-only methods). */
  explainMany?(
    model: ExplainableModel,
    images: tf.Tensor4D,
    targets: Target[],
    options?: O,
  ): Promise<tf.Tensor3D[]>;
  /** The maps with the method's report on each (Integrated Gradients: points used and completeness error). */
  explainReport?(
    model: ExplainableModel,
    images: tf.Tensor4D,
    target: Target,
    options?: O,
  ): Promise<{ maps: tf.Tensor3D; report: MethodReport }>;
}

/** A descriptor whatever its options: what lists of methods hold. */
// deno-lint-ignore no-explicit-any
export type AnyMethod = MethodDescriptor<string, any>;

/** The options type of a descriptor. */
export type OptionsOf<D> = D extends MethodDescriptor<string, infer O> ? O : never;

/**
 * `options` checked against an option `table` (see {@link checkOptions}); `owner` names whose options they are
 * in messages.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { wholeNumber } from "./option_checks.ts";
 *
 * const table = { samples: wholeNumber("copies (default 32)", 1) };
 * assert.deepEqual(checkOptionValues("demo", table, { samples: 3 }), { samples: 3 });
 * assert.throws(() => checkOptionValues("demo", table, { sample: 3 }), /demo has no option "sample"; it takes samples/);
 * ```
 */
export function checkOptionValues<O extends object>(
  owner: string,
  table: OptionTable<O>,
  options: unknown,
): O {
  if (options === undefined || options === null) return {} as O;
  if (typeof options !== "object" || Array.isArray(options)) {
    throw new HansError(`${owner}'s options must be an object of option names; got ${String(options)}.`);
  }
  const specs = table as Record<string, OptionSpec<unknown>>;
  const given = options as Record<string, unknown>;
  const unknown = Object.keys(given).filter((k) => !Object.hasOwn(specs, k));
  if (unknown.length > 0) {
    throw new HansError(
      `${owner} has no option ${unknown.map((k) => `"${k}"`).join(", ")}; it takes ${
        Object.keys(specs).join(", ")
      }.`,
    );
  }
  const checked: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(given)) {
    if (value !== undefined) checked[key] = specs[key].check(value, `${owner} option ${key}`);
  }
  return checked as O;
}

/**
 * The options a user passed, checked against `method`'s table: an unknown name (a typo such as `sample`) is a
 * HansError naming the options the method takes, a bad value one naming the option and what it takes; then the
 * method's checks between options. Returns the options with each value as checked (undefined values left out).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { smoothGradMethod } from "./smoothgrad.ts";
 *
 * assert.deepEqual(checkOptions(smoothGradMethod, { samples: 8 }), { samples: 8 });
 * assert.throws(() => checkOptions(smoothGradMethod, { sample: 8 }), /smoothgrad has no option "sample"/);
 * assert.throws(() => checkOptions(smoothGradMethod, { samples: 0 }), /smoothgrad option samples must be/);
 * ```
 */
export function checkOptions<O extends object>(method: MethodDescriptor<string, O>, options: unknown): O {
  const checked = checkOptionValues(method.name, method.options, options);
  method.checkTogether?.(checked);
  return checked;
}
