/**
 * hans in a web page: load a TF.js image classifier from a URL or from files a user dropped, predict, explain
 * with the registry's methods (a class per image, or the contrast P − Q) and draw hans's SVG figures, all in
 * the browser, on the user's GPU. No Deno or Node API is reached from here; `deno task bundle` builds it into
 * `dist/hans.js` (with tfjs's wasm files beside it), and `web/` is a page on it (`deno task serve`).
 *
 * @example
 * ```ts ignore
 * import * as hans from "./dist/hans.js"; // in a page
 *
 * await hans.startBackend(); // WebGPU on a real adapter, else wasm
 * const loaded = await hans.loadModelFromUrl("model/model.json"); // relative to the page
 * const [h, w, c] = loaded.inputShape;
 * const pixels = await hans.imageFromBlob(await (await fetch("shoe.png")).blob(), loaded.inputShape);
 * const x = hans.tf.tensor4d(pixels, [1, h, w, c]);
 * const { classes } = await hans.predict(loaded, x);
 * const maps = await hans.explain("grad_cam", loaded.explainable, x, classes);
 * document.body.innerHTML = await hans.mapsSvg(x, [{ title: "Grad-CAM", maps, signed: false }], ["shoe"]);
 * ```
 * @module
 */
import { type BackendInfo, initBackend } from "./src/backend.ts";
import { tf } from "./src/deps.ts";
import { HansError } from "./src/errors.ts";
import { maxReadBytes, megabytes } from "./src/limits.ts";
import { fitImage } from "./src/data/resize.ts";
import { type LoadedModel, loadModel, type LoadModelOptions } from "./src/explain/load.ts";
import { filesSource, urlSource } from "./src/explain/model_source.ts";
import { gridSvg } from "./src/report/grid.ts";
import { saliencyGrid } from "./src/report/saliency_figure.ts";

export { tf };
export { HansError };
export { adapterName, type BackendInfo, webgpuErrors } from "./src/backend.ts";
export { disposeLoaded, type LoadedModel, type LoadModelOptions } from "./src/explain/load.ts";
export { filesSource, type ModelSource, urlSource } from "./src/explain/model_source.ts";
export {
  availableMethods,
  explain,
  explainTargets,
  method,
  type MethodInfo,
  type MethodName,
  type MethodOptionsByName,
  METHODS,
  type TargetMaps,
} from "./src/explain/registry.ts";
export type { ContrastTarget, Target } from "./src/explain/target.ts";
export {
  type ImageColumn,
  type MapColumn,
  type SaliencyFigure,
  saliencyGrid,
} from "./src/report/saliency_figure.ts";
export { type Grid, gridSvg } from "./src/report/grid.ts";
export { colorbar, colorize, type ColormapName } from "./src/report/colormap.ts";
export { encodePng } from "./src/report/png.ts";
export { fitImage, type RgbaImage } from "./src/data/resize.ts";
export {
  type ForwardEngineChoice,
  forwardEngineOf,
  type ForwardEnginePolicy,
  gradientEngineOf,
  setForwardEnginePolicy,
} from "./src/model/forward_engine.ts";

/** Options of {@link startBackend}. */
export interface StartBackendOptions {
  /** `auto` (the default): WebGPU on a real adapter, else wasm; or force one. */
  backend?: "auto" | "webgpu" | "wasm" | "webgl" | "cpu";
  /** Where tfjs's `.wasm` files are served (a URL ending in `/`); default the bundle's own folder. */
  wasmFolder?: string;
  /** On WebGPU: `auto` (tfjs's kernels, but hans's on Mesa's software adapter), or force `hans` or `tfjs`. */
  kernels?: "auto" | "hans" | "tfjs";
}

/**
 * Starts tfjs in the page: by default WebGPU on a real GPU, else wasm (on a software adapter such as Chrome's
 * SwiftShader, wasm is the faster one: 27 ms against 309 ms for Grad-CAM on 8 images). Returns what runs the
 * work, the adapter named (`google swiftshader (software)`).
 */
export async function startBackend(options: StartBackendOptions = {}): Promise<BackendInfo> {
  const choice = options.backend ?? "auto";
  return await initBackend({
    backend: choice === "auto" ? undefined : choice,
    fallback: "wasm",
    softwareWebgpu: false,
    wasmFolder: options.wasmFolder ?? new URL("./", import.meta.url).href,
    kernels: options.kernels,
  });
}

/**
 * Loads the TF.js model whose model.json is at `url`, resolved against the page (`model/model.json`,
 * `https://host/m/`); weights files are read only from its folder.
 */
export async function loadModelFromUrl(url: string, options: LoadModelOptions = {}): Promise<LoadedModel> {
  const base = (globalThis as { location?: { href: string } }).location?.href;
  let resolved: URL;
  try {
    resolved = new URL(url, base);
  } catch {
    throw new HansError(`${url} is not a URL; give the model.json's URL (or drop the model's folder).`);
  }
  return await loadModel(urlSource(resolved.href, options), options);
}

/**
 * Loads a TF.js model from files the user dropped or picked: `File`s (a folder's files keep their
 * `webkitRelativePath`), or a map of name → bytes. The one model.json among them is the model; its weights
 * files must be beside it. Each file is read within hans's read limit (256 MB).
 */
export async function loadModelFromFiles(
  files: Iterable<File> | ReadonlyMap<string, Uint8Array>,
  options: LoadModelOptions = {},
): Promise<LoadedModel> {
  let bytes: ReadonlyMap<string, Uint8Array>;
  if (files instanceof Map) {
    bytes = files;
  } else {
    const read = new Map<string, Uint8Array>();
    for (const file of files as Iterable<File>) {
      const name = (file as File & { webkitRelativePath?: string }).webkitRelativePath || file.name;
      if (file.size > maxReadBytes()) {
        throw new HansError(
          `${name} is ${megabytes(file.size)}, over hans's read limit of ${megabytes(maxReadBytes())}.`,
        );
      }
      if (name.endsWith(".json") || name.endsWith(".bin") || !name.includes(".")) {
        read.set(name, new Uint8Array(await file.arrayBuffer()));
      }
    }
    bytes = read;
  }
  return await loadModel(filesSource(bytes), options);
}

/**
 * Decodes an image file (PNG, JPEG, WebP, … whatever the browser decodes) and fits it to `shape`
 * `[height, width, channels]` as hans does in Deno (`fitImage`: centre crop, antialiased bilinear, luma for
 * gray): values in [0, 1]. No colour management is applied, so an 8-bit file gives the same numbers as hans's
 * own decoders.
 */
export async function imageFromBlob(
  blob: Blob,
  shape: readonly [number, number, number],
): Promise<Float32Array> {
  const [height, width, channels] = shape;
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(blob, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
  } catch {
    throw new HansError(`${(blob as File).name ?? "the image"} cannot be decoded; give a PNG or JPEG.`);
  }
  // Deno's types know no 2-D canvas; a page's OffscreenCanvas has one.
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height) as unknown as {
    getContext(kind: "2d"): Canvas2d | null;
  };
  const context = canvas.getContext("2d");
  if (!context) throw new HansError("this browser has no 2-D canvas to read images with.");
  context.drawImage(bitmap, 0, 0);
  const data = context.getImageData(0, 0, bitmap.width, bitmap.height).data;
  const image = { width: bitmap.width, height: bitmap.height, rgba: new Uint8Array(data.buffer) };
  bitmap.close();
  return fitImage(image, width, height, channels as 1 | 3);
}

/** The part of a 2-D canvas context that {@link imageFromBlob} uses. */
interface Canvas2d {
  drawImage(image: ImageBitmap, x: number, y: number): void;
  getImageData(x: number, y: number, width: number, height: number): { data: Uint8ClampedArray };
}

/** What {@link predict} gives per image. */
export interface Predictions {
  /** The most probable class of each image. */
  classes: number[];
  /** Each image's class probabilities (softmax of the logits hans explains). */
  probabilities: number[][];
}

/** The model's classes and probabilities for `images` `[n,H,W,C]`. */
export async function predict(loaded: LoadedModel, images: tf.Tensor4D): Promise<Predictions> {
  const probabilities = tf.tidy(() => tf.softmax(loaded.explainable.logits(images)));
  const rows = await probabilities.array() as number[][];
  probabilities.dispose();
  const classes = rows.map((row) => row.indexOf(Math.max(...row)));
  return { classes, probabilities: rows };
}

/** One method's maps for {@link mapsSvg}. */
export interface MapsColumn {
  /** The column's title (say `Grad-CAM: P − Q`). */
  title: string;
  /** Maps `[n,H,W]`. */
  maps: tf.Tensor3D;
  /** Signed maps use the diverging colormap on [−max|v|, max|v|], unsigned ones heat on [0, max]. */
  signed: boolean;
}

/**
 * hans's SVG figure of `images` `[n,H,W,C]` with one overlay column per entry of `columns` and one row per
 * image (`rowLabels`): every map scaled by its own largest |value|, written under it, with the colour bars.
 */
export async function mapsSvg(
  images: tf.Tensor4D,
  columns: MapsColumn[],
  rowLabels: string[],
): Promise<string> {
  const [n, height, width, channels] = images.shape;
  const pixels = await images.data() as Float32Array;
  const size = height * width;
  const rows = (values: Float32Array, per: number) =>
    Array.from({ length: n }, (_, i) => values.slice(i * per, (i + 1) * per));
  const maps = await Promise.all(columns.map(async (c) => rows(await c.maps.data() as Float32Array, size)));
  const grid = saliencyGrid({
    height,
    width,
    channels,
    rowLabels,
    images: [{ title: "image", images: rows(pixels, size * channels) }],
    maps: columns.map((c, i) => ({ title: c.title, signed: c.signed, maps: maps[i] })),
  });
  return await gridSvg(grid);
}
