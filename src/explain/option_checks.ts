/**
 * Checks of method option values: small values a method's descriptor lists per option, each turning what a user
 * passed (from code, a flag or JSON) into a value of the option's type, or a HansError that names the method,
 * the option and what it takes.
 * @module
 */
import { HansError } from "../errors.ts";

/**
 * One option of a method: what it is for people (`doc`, with its default) and how a value is checked.
 * `check(value, where)` returns the value when it is valid; `where` names it in messages, e.g. `smoothgrad option
 * samples`.
 */
export interface OptionSpec<T> {
  /** What the option does and its default, in one line. */
  doc: string;
  /** The value as `T`, or a HansError saying what `where` takes. */
  check: (value: unknown, where: string) => T;
}

/** A value as people read it in messages: strings quoted, arrays in brackets. */
function shown(value: unknown): string {
  if (typeof value === "string") return `"${value}"`;
  if (Array.isArray(value)) return `[${value.map(shown).join(", ")}]`;
  return String(value);
}

function fail(where: string, takes: string, value: unknown): never {
  throw new HansError(`${where} must be ${takes}; got ${shown(value)}.`);
}

/**
 * A whole number of at least `min` (and at most `max`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * const samples = wholeNumber("noisy copies per image (default 32)", 1);
 * assert.equal(samples.check(8, "smoothgrad option samples"), 8);
 * assert.throws(() => samples.check(0, "smoothgrad option samples"), /samples must be a whole number ≥ 1; got 0/);
 * assert.throws(() => samples.check(2.5, "smoothgrad option samples"), /got 2.5/);
 * ```
 */
export function wholeNumber(doc: string, min: number, max = Infinity): OptionSpec<number> {
  const takes = max === Infinity ? `a whole number ≥ ${min}` : `a whole number in [${min}, ${max}]`;
  return {
    doc,
    check: (v, where) =>
      Number.isInteger(v) && (v as number) >= min && (v as number) <= max ? v as number : fail(
        where,
        takes,
        v,
      ),
  };
}

/**
 * A whole number of any sign (a seed).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * const seed = integer("seed of the noise (default 0)");
 * assert.equal(seed.check(-7, "vargrad option seed"), -7);
 * assert.throws(() => seed.check(0.5, "vargrad option seed"), /a whole number; got 0.5/);
 * ```
 */
export function integer(doc: string): OptionSpec<number> {
  return {
    doc,
    check: (v, where) => Number.isSafeInteger(v) ? v as number : fail(where, "a whole number", v),
  };
}

/** Bounds of {@link finiteNumber}: `min`/`max` inclusive, `above`/`below` exclusive. */
export interface NumberBounds {
  /** Smallest value allowed. */
  min?: number;
  /** Largest value allowed. */
  max?: number;
  /** The value must be larger than this. */
  above?: number;
  /** The value must be smaller than this. */
  below?: number;
}

/**
 * A finite number within `bounds`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * const noise = finiteNumber("noise σ as a fraction of the input range (default 0.15)", { min: 0 });
 * assert.equal(noise.check(0.2, "smoothgrad option noiseLevel"), 0.2);
 * assert.throws(() => noise.check(-1, "smoothgrad option noiseLevel"), /a finite number ≥ 0; got -1/);
 * assert.throws(() => noise.check(NaN, "smoothgrad option noiseLevel"), /got NaN/);
 * ```
 */
export function finiteNumber(doc: string, bounds: NumberBounds = {}): OptionSpec<number> {
  const parts = [
    bounds.min !== undefined ? `≥ ${bounds.min}` : "",
    bounds.above !== undefined ? `> ${bounds.above}` : "",
    bounds.max !== undefined ? `≤ ${bounds.max}` : "",
    bounds.below !== undefined ? `< ${bounds.below}` : "",
  ].filter((p) => p !== "");
  const takes = `a finite number${parts.length > 0 ? " " + parts.join(" and ") : ""}`;
  return {
    doc,
    check: (v, where) => {
      const ok = typeof v === "number" && Number.isFinite(v) &&
        (bounds.min === undefined || v >= bounds.min) && (bounds.max === undefined || v <= bounds.max) &&
        (bounds.above === undefined || v > bounds.above) && (bounds.below === undefined || v < bounds.below);
      return ok ? v as number : fail(where, takes, v);
    },
  };
}

/**
 * True or false.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * const absolute = flag("max of |value| over channels (default true)");
 * assert.equal(absolute.check(false, "gradient option absolute"), false);
 * assert.throws(() => absolute.check("yes", "gradient option absolute"), /true or false; got "yes"/);
 * ```
 */
export function flag(doc: string): OptionSpec<boolean> {
  return { doc, check: (v, where) => typeof v === "boolean" ? v : fail(where, "true or false", v) };
}

/**
 * One of a few words.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * const score = oneOf("what is scored (default logit)", ["logit", "probability"] as const);
 * assert.equal(score.check("probability", "rise option score"), "probability");
 * assert.throws(() => score.check("prob", "rise option score"), /one of "logit", "probability"; got "prob"/);
 * ```
 */
export function oneOf<const T extends string>(doc: string, values: readonly T[]): OptionSpec<T> {
  const takes = `one of ${values.map(shown).join(", ")}`;
  return { doc, check: (v, where) => values.includes(v as T) ? v as T : fail(where, takes, v) };
}

/**
 * A non-empty string (a layer's name, say).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * const layer = text("layer (node) name (default the last 4-D layer)");
 * assert.equal(layer.check("conv2", "grad_cam option layer"), "conv2");
 * assert.throws(() => layer.check("", "grad_cam option layer"), /a non-empty string/);
 * ```
 */
export function text(doc: string): OptionSpec<string> {
  return {
    doc,
    check: (v, where) => typeof v === "string" && v.length > 0 ? v : fail(where, "a non-empty string", v),
  };
}

/**
 * Two finite numbers `[low, high]` with low < high (an input range, the z^B rule's bounds).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * const range = interval("input range (default [0, 1])");
 * assert.deepEqual(range.check([-1, 1], "vargrad option inputRange"), [-1, 1]);
 * assert.throws(() => range.check([1, 0], "vargrad option inputRange"), /\[low, high\] with low < high; got \[1, 0\]/);
 * ```
 */
export function interval(doc: string): OptionSpec<[number, number]> {
  return {
    doc,
    check: (v, where) =>
      Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === "number" && Number.isFinite(x)) &&
        v[0] < v[1]
        ? [v[0], v[1]]
        : fail(where, "two finite numbers [low, high] with low < high", v),
  };
}

/**
 * The `batchSize` option every method takes: most model inputs per pass, an upper bound (the device's buffer
 * limits and the memory budget may allow fewer).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * assert.throws(() => batchSize().check(0, "gradient option batchSize"), /whole number ≥ 1; got 0/);
 * ```
 */
export function batchSize(defaultCount = 256): OptionSpec<number> {
  return wholeNumber(
    `most model inputs per pass (default ${defaultCount}; fewer when the device or memory budget needs it)`,
    1,
  );
}
