/**
 * Colormaps: turn a map of numbers into RGBA pixels, and draw the matching colorbar.
 *
 * - `heat`: matplotlib's inferno (black → purple → orange → pale yellow), perceptually uniform, for
 *   magnitudes such as absolute relevance.
 * - `diverging`: blue → white → red, symmetric around 0, for signed relevance (white is exactly 0).
 * - `gray`: black → white.
 * @module
 */

/** The name of a colormap; see the module documentation for what each is for. */
export type ColormapName = "heat" | "diverging" | "gray";

/** How {@linkcode colorize} maps values to colours. */
export interface ColormapOptions {
  /** Which colormap. */
  map: ColormapName;
  /**
   * The value shown with the first colour. Default: the smallest finite value. For `diverging` the range
   * is always symmetric: see {@linkcode colorRange}.
   */
  min?: number;
  /** The value shown with the last colour. Default: the largest finite value (`diverging`: max |v|). */
  max?: number;
}

/** An RGB colour, each channel 0–255. */
export type Rgb = readonly [number, number, number];

/** The value range a colormap spans: `min` gets the first colour, `max` the last. */
export interface ColorRange {
  /** Value drawn with the first colour of the map. */
  min: number;
  /** Value drawn with the last colour of the map. */
  max: number;
}

function hexColors(list: string[]): Rgb[] {
  return list.map((hex) => [
    parseInt(hex.slice(1, 3), 16),
    parseInt(hex.slice(3, 5), 16),
    parseInt(hex.slice(5, 7), 16),
  ]);
}

/** matplotlib's inferno sampled at 10 evenly spaced points. */
const INFERNO = hexColors([
  "#000004",
  "#1b0c41",
  "#4a0c6b",
  "#781c6d",
  "#a52c60",
  "#cf4446",
  "#ed6925",
  "#fb9b06",
  "#f7d13d",
  "#fcffa4",
]);

/** ColorBrewer's RdBu (11 classes), reversed so negative is blue, with a pure white centre. */
const DIVERGING = hexColors([
  "#053061",
  "#2166ac",
  "#4393c3",
  "#92c5de",
  "#d1e5f0",
  "#ffffff",
  "#fddbc7",
  "#f4a582",
  "#d6604d",
  "#b2182b",
  "#67001f",
]);

const GRAY = hexColors(["#000000", "#ffffff"]);

const TABLES: Record<ColormapName, Rgb[]> = { heat: INFERNO, diverging: DIVERGING, gray: GRAY };

/**
 * The colour at position `t` in [0, 1] along a colormap (clamped), linearly interpolated between the lookup
 * table's entries. For `diverging`, `t = 0.5` is white.
 */
export function mapColor(map: ColormapName, t: number): Rgb {
  const table = TABLES[map];
  if (table === undefined) {
    throw new Error(`unknown colormap "${map}"; use "heat", "diverging" or "gray"`);
  }
  const position = Math.min(1, Math.max(0, Number.isNaN(t) ? 0 : t)) * (table.length - 1);
  const i = Math.min(table.length - 2, Math.floor(position));
  const f = position - i;
  const a = table[i];
  const b = table[i + 1];
  return [
    Math.round(a[0] + (b[0] - a[0]) * f),
    Math.round(a[1] + (b[1] - a[1]) * f),
    Math.round(a[2] + (b[2] - a[2]) * f),
  ];
}

/**
 * The value range {@linkcode colorize} uses for `values`: `options.min`/`options.max` where given, else the
 * smallest/largest finite value. For `diverging` the range is `[-m, m]` with `m` the largest of |min| and
 * |max| given, else the largest finite |v|. An empty or all-non-finite input gives `[0, 0]`. Use it to label
 * a colorbar with the numbers the picture really used.
 */
export function colorRange(values: Float32Array, options: ColormapOptions): ColorRange {
  let lo = Infinity;
  let hi = -Infinity;
  let absMax = 0;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
    if (Math.abs(v) > absMax) absMax = Math.abs(v);
  }
  if (options.map === "diverging") {
    const m = options.min === undefined && options.max === undefined
      ? absMax
      : Math.max(Math.abs(options.min ?? 0), Math.abs(options.max ?? 0));
    return { min: -m, max: m };
  }
  if (lo > hi) lo = hi = 0;
  return { min: options.min ?? lo, max: options.max ?? hi };
}

/**
 * Colours each value: returns RGBA bytes, four per value, in the same order. Values outside the range are
 * clamped to its end colours; NaN and ±Infinity become transparent (all four bytes 0). When the range is
 * empty (min = max) every value gets the first colour (`diverging`: white).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * const rgba = colorize(Float32Array.of(0, 1, 2, NaN), { map: "gray", min: 0, max: 1 });
 * // Black, white, white (clamped), transparent.
 * assert.deepEqual(Array.from(rgba), [0, 0, 0, 255, 255, 255, 255, 255, 255, 255, 255, 255, 0, 0, 0, 0]);
 * ```
 */
export function colorize(values: Float32Array, options: ColormapOptions): Uint8ClampedArray {
  const { min, max } = colorRange(values, options);
  const span = max - min;
  const empty = options.map === "diverging" ? 0.5 : 0;
  const out = new Uint8ClampedArray(values.length * 4);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) continue;
    const [r, g, b] = mapColor(options.map, span > 0 ? (v - min) / span : empty);
    out[i * 4] = r;
    out[i * 4 + 1] = g;
    out[i * 4 + 2] = b;
    out[i * 4 + 3] = 255;
  }
  return out;
}

/**
 * Draws a colorbar strip of `width` × `height` pixels (RGBA bytes, row by row). A strip at least as wide as
 * it is tall runs left (first colour) to right (last colour); a taller one runs bottom to top. Only
 * `options.map` matters: label the ends with {@linkcode colorRange}'s numbers.
 */
export function colorbar(
  options: Pick<ColormapOptions, "map">,
  width: number,
  height: number,
): Uint8ClampedArray {
  const out = new Uint8ClampedArray(width * height * 4);
  const horizontal = width >= height;
  const steps = Math.max(1, (horizontal ? width : height) - 1);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const t = horizontal ? x / steps : (height - 1 - y) / steps;
      const [r, g, b] = mapColor(options.map, t);
      const o = (y * width + x) * 4;
      out[o] = r;
      out[o + 1] = g;
      out[o + 2] = b;
      out[o + 3] = 255;
    }
  }
  return out;
}
