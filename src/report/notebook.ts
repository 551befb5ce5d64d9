/**
 * Results that show themselves in a notebook: {@link mapsFigure} draws images and any number of methods' maps
 * as hans's SVG grid (the same figure code as the reports), {@link showMaps} draws one `explain(…)` result,
 * {@link toPng} makes PNG bytes of an image or a map, {@link mapsToArrays} gives maps as plain arrays. Each
 * figure has a `[Symbol.for("Jupyter.display")]()` method, which Deno's Jupyter kernel calls to show it: the
 * SVG inline in `text/html` (nbconvert's HTML keeps that; it blanks `image/svg+xml` images) and a one-line
 * `text/plain` summary. Nothing here touches `Deno.jupyter`, so it works anywhere.
 * @module
 */
import type { Dataset } from "../data/dataset.ts";
import { tf } from "../deps.ts";
import { HansError } from "../errors.ts";
import { METHODS } from "../explain/registry.ts";
import { colorize, type ColormapName } from "./colormap.ts";
import { gridSvg } from "./grid.ts";
import { normalizeByMaxAbs } from "./image_table.ts";
import { encodePng, imageToRgba, upscale } from "./png.ts";
import { saliencyGrid } from "./saliency_figure.ts";

/** The symbol Deno's Jupyter kernel (and `Deno.jupyter.display`) calls to show an object. */
export const JUPYTER_DISPLAY: unique symbol = Symbol.for("Jupyter.display");

/** A Jupyter MIME bundle: MIME type → data (text, or base64 for images). */
export type MimeBundle = Record<string, string>;

/** Anything a notebook shows by calling its `[JUPYTER_DISPLAY]()` method. */
export interface Displayable {
  /** The MIME bundle to show. */
  [JUPYTER_DISPLAY](): MimeBundle;
}

/** A figure for a notebook: its SVG, a one-line summary, and how Jupyter shows it. */
export interface NotebookFigure extends Displayable {
  /** The standalone SVG document (also what `text/html` holds). */
  svg: string;
  /** One line saying what the figure shows (`text/plain`). */
  summary: string;
}

/** Maps of one method or view: a tensor `[n,H,W]`, `n·H·W` values, or nested arrays `[n][H][W]`. */
export type MapsInput = tf.Tensor3D | Float32Array | number[][][];

/** Images: a tensor `[n,H,W,C]` with values in [0, 1], or a data set (its first images). */
export type ImagesInput = tf.Tensor4D | Dataset;

/** Options of {@link mapsFigure}. */
export interface MapsFigureOptions {
  /** Class names, by class index, for the row labels. */
  classNames?: readonly string[];
  /** True class per image; rows are labelled with its name (and the prediction's, when given). */
  labels?: ArrayLike<number>;
  /** Predicted class per image; a row reads `true → predicted`. */
  predicted?: ArrayLike<number>;
  /** Row labels as given, instead of the class names. */
  rowLabels?: string[];
  /** A title above the figure. Default none. */
  title?: string;
  /**
   * Whether a column's maps are signed, by its key. Default: the registered method's own (`gradient` is
   * unsigned, `integrated_gradients` signed), else signed when any value is negative.
   */
  signed?: Record<string, boolean>;
  /** More image columns after the image (say, counterfactuals), by title, each like the images. */
  extraImages?: Record<string, ImagesInput | Float32Array>;
  /** Title of the image column. Default `image`. */
  imageTitle?: string;
}

/**
 * A figure of `images` (one row each) and the maps of any number of methods or views (`maps`, by key: a
 * registered method's name is titled by its label), each map overlaid on its image and scaled by its own
 * largest |value| (written under it), with labelled colour bars. Shows itself in a notebook (see
 * {@link JUPYTER_DISPLAY}); `svg` is the figure as a file.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 *
 * await tf.setBackend("cpu");
 * const images = tf.randomUniform([2, 8, 8, 1], 0, 1, "float32", 1) as tf.Tensor4D;
 * const gradient = tf.randomUniform([2, 8, 8], 0, 1, "float32", 2) as tf.Tensor3D;
 * const contrast = tf.randomUniform([2, 8, 8], -1, 1, "float32", 3) as tf.Tensor3D;
 * const figure = await mapsFigure(images, { gradient, "P − Q": contrast }, {
 *   classNames: ["cat", "dog"],
 *   labels: [0, 1],
 *   predicted: [1, 1],
 * });
 * const shown = figure[JUPYTER_DISPLAY](); // what Jupyter shows: Symbol.for("Jupyter.display")
 * assert.ok(shown["text/html"].startsWith("<svg"));
 * assert.equal(shown["text/plain"], "maps of 2 images (8×8): Gradient, P − Q");
 * tf.dispose([images, gradient, contrast]);
 * ```
 */
export async function mapsFigure(
  images: ImagesInput,
  maps: Record<string, MapsInput>,
  options: MapsFigureOptions = {},
): Promise<NotebookFigure> {
  const shown = await imageValues(images, "images");
  const { n, height, width, channels } = shown;
  const keys = Object.keys(maps);
  const columns = [];
  for (const key of keys) {
    const values = await mapValues(maps[key], `maps "${key}"`);
    if (values.length !== n * height * width) {
      throw new HansError(
        `maps "${key}" hold ${values.length} values, not one ${height}×${width} map per image for ${n} images.`,
      );
    }
    const registered = METHODS.find((m) => m.name === key);
    const signed = options.signed?.[key] ?? registered?.signed ?? values.some((v) => v < 0);
    const size = height * width;
    columns.push({
      title: registered?.label ?? key,
      signed,
      maps: Array.from({ length: n }, (_, i) => values.slice(i * size, (i + 1) * size)),
    });
  }
  const imageColumns = [{ title: options.imageTitle ?? "image", images: split(shown) }];
  for (const [title, extra] of Object.entries(options.extraImages ?? {})) {
    const values = extra instanceof Float32Array
      ? { ...shown, values: extra }
      : await imageValues(extra, `extra images "${title}"`);
    if (values.values.length !== shown.values.length) {
      throw new HansError(`extra images "${title}" do not match the images' count and size.`);
    }
    imageColumns.push({ title, images: split(values) });
  }
  const grid = saliencyGrid({
    height,
    width,
    channels,
    rowLabels: options.rowLabels ?? rowLabels(n, options),
    images: imageColumns,
    maps: columns,
    overlayOn: 0,
  });
  grid.title = options.title;
  const svg = await gridSvg(grid);
  const titles = columns.map((c) => c.title);
  const summary = `maps of ${n} image${n === 1 ? "" : "s"} (${height}×${width}): ${titles.join(", ")}`;
  return figureOf(svg, summary);
}

/**
 * One `explain(…)` result drawn over its images, titled by the method's name: {@link mapsFigure} with one
 * column.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 *
 * await tf.setBackend("cpu");
 * const images = tf.zeros([1, 4, 4, 1]) as tf.Tensor4D;
 * const maps = tf.ones([1, 4, 4]) as tf.Tensor3D;
 * assert.match((await showMaps(maps, images, { method: "gradient" })).summary, /Gradient$/);
 * tf.dispose([images, maps]);
 * ```
 */
export async function showMaps(
  maps: MapsInput,
  images: ImagesInput,
  options: MapsFigureOptions & { method?: string } = {},
): Promise<NotebookFigure> {
  const { method = "maps", ...rest } = options;
  return await mapsFigure(images, { [method]: maps }, rest);
}

/** PNG bytes that show themselves as `image/png` in a notebook. */
export interface NotebookPng extends Displayable {
  /** The PNG file's bytes. */
  bytes: Uint8Array;
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
}

/** Options of {@link toPng}. */
export interface ToPngOptions {
  /**
   * Colormap of a map (`[H,W]`), which is divided by its largest |value| first: `diverging` on [−1, 1] (the
   * default when a value is negative) or `heat` on [0, 1]. Images (`[H,W,C]`, values in [0, 1]) are drawn as
   * they are.
   */
  map?: ColormapName;
  /** Integer enlargement by nearest neighbour (default 4). */
  scale?: number;
}

/**
 * A PNG of one image (`[H,W,C]`, C 1 or 3, values in [0, 1]) or one map (`[H,W]`, coloured; see
 * {@link ToPngOptions}); its `bytes` can be written to a file, and a notebook shows it as `image/png`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 *
 * await tf.setBackend("cpu");
 * const map = tf.tensor2d([[0, 1], [-1, 0.5]]);
 * const png = await toPng(map, { scale: 2 });
 * assert.deepEqual([png.width, png.height], [4, 4]);
 * assert.deepEqual(Array.from(png.bytes.subarray(1, 4)), [0x50, 0x4e, 0x47]); // "PNG"
 * map.dispose();
 * ```
 */
export async function toPng(
  values: tf.Tensor2D | tf.Tensor3D,
  options: ToPngOptions = {},
): Promise<NotebookPng> {
  const scale = options.scale ?? 4;
  if (!Number.isInteger(scale) || scale < 1) {
    throw new HansError(`toPng: scale ${scale} must be a whole number ≥ 1.`);
  }
  const [height, width, channels = 0] = values.shape;
  const data = await values.data() as Float32Array;
  let rgba: Uint8ClampedArray;
  if (values.rank === 2) {
    const map = options.map ?? (data.some((v) => v < 0) ? "diverging" : "heat");
    rgba = colorize(normalizeByMaxAbs(Float32Array.from(data)), {
      map,
      min: map === "diverging" ? -1 : 0,
      max: 1,
    });
  } else if (values.rank === 3 && (channels === 1 || channels === 3)) {
    rgba = imageToRgba(Float32Array.from(data), height, width, channels);
  } else {
    throw new HansError(`toPng: expected a map [H,W] or an image [H,W,1|3], got shape [${values.shape}].`);
  }
  const bytes = await encodePng(upscale(rgba, width, height, scale), width * scale, height * scale);
  const base64 = btoa(Array.from(bytes, (b) => String.fromCharCode(b)).join(""));
  return {
    bytes,
    width: width * scale,
    height: height * scale,
    [JUPYTER_DISPLAY]: () => ({
      "image/png": base64,
      "text/plain": `PNG ${width * scale}×${height * scale}, ${bytes.length} bytes`,
    }),
  };
}

/**
 * Maps as plain nested arrays `[n][H][W]` (numbers), for plotting libraries or JSON; a record of them (say,
 * `{ gradient, integrated_gradients }`) gives a record of arrays.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 *
 * await tf.setBackend("cpu");
 * const maps = tf.tensor3d([1, 2, 3, 4], [1, 2, 2]);
 * assert.deepEqual(await mapsToArrays(maps), [[[1, 2], [3, 4]]]);
 * assert.deepEqual(await mapsToArrays({ gradient: maps }), { gradient: [[[1, 2], [3, 4]]] });
 * maps.dispose();
 * ```
 */
export function mapsToArrays(maps: tf.Tensor3D): Promise<number[][][]>;
export function mapsToArrays(maps: Record<string, tf.Tensor3D>): Promise<Record<string, number[][][]>>;
export async function mapsToArrays(
  maps: tf.Tensor3D | Record<string, tf.Tensor3D>,
): Promise<number[][][] | Record<string, number[][][]>> {
  if (maps instanceof tf.Tensor) return await maps.array();
  const out: Record<string, number[][][]> = {};
  for (const [key, value] of Object.entries(maps)) out[key] = await value.array();
  return out;
}

/** A figure from its SVG and summary. */
function figureOf(svg: string, summary: string): NotebookFigure {
  return {
    svg,
    summary,
    [JUPYTER_DISPLAY]: () => ({ "text/html": svg, "text/plain": summary }),
    toString: () => summary,
  } as NotebookFigure;
}

interface ImageValues {
  n: number;
  height: number;
  width: number;
  channels: number;
  values: Float32Array;
}

async function imageValues(images: ImagesInput, what: string): Promise<ImageValues> {
  if (images instanceof tf.Tensor) {
    if (images.rank !== 4) {
      throw new HansError(`${what}: expected a tensor [n,H,W,C], got [${images.shape}].`);
    }
    const [n, height, width, channels] = images.shape;
    return { n, height, width, channels, values: await images.data() as Float32Array };
  }
  const { count: n, height, width, channels, images: values } = images;
  if (!(values instanceof Float32Array)) {
    throw new HansError(`${what}: expected a tensor [n,H,W,C] or a data set.`);
  }
  return { n, height, width, channels, values };
}

function split(images: ImageValues): Float32Array[] {
  const size = images.height * images.width * images.channels;
  return Array.from({ length: images.n }, (_, i) => images.values.slice(i * size, (i + 1) * size));
}

async function mapValues(maps: MapsInput, what: string): Promise<Float32Array> {
  if (maps instanceof tf.Tensor) return Float32Array.from(await maps.data());
  if (maps instanceof Float32Array) return maps;
  if (Array.isArray(maps)) return Float32Array.from(maps.flat(2));
  throw new HansError(`${what}: expected a tensor [n,H,W], a Float32Array or nested arrays [n][H][W].`);
}

function rowLabels(n: number, options: MapsFigureOptions): string[] {
  const name = (c: number) => options.classNames?.[c] ?? String(c);
  return Array.from({ length: n }, (_, i) => {
    const truth = options.labels?.[i];
    const predicted = options.predicted?.[i];
    if (truth !== undefined && predicted !== undefined) return `${name(truth)} → ${name(predicted)}`;
    if (truth !== undefined) return name(truth);
    if (predicted !== undefined) return `→ ${name(predicted)}`;
    return `#${i}`;
  });
}
