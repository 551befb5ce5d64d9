/**
 * Fitting photos of any size to a model's input: a centre crop to the model's aspect ratio, then antialiased
 * bilinear resampling (a triangle filter widened by the scale factor when shrinking, as PIL and torchvision's
 * `antialias=True` do), then the model's number of channels (luma for gray, the gray value copied for RGB).
 * @module
 */

/** RGBA bytes of an image, row-major. */
export interface RgbaImage {
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** 4 bytes per pixel. */
  rgba: Uint8Array;
}

/** The largest centred window of `width`×`height` with the aspect ratio `targetWidth`:`targetHeight`. */
export function centreCropBox(
  width: number,
  height: number,
  targetWidth: number,
  targetHeight: number,
): { left: number; top: number; width: number; height: number } {
  const scale = Math.min(width / targetWidth, height / targetHeight);
  const w = Math.max(1, Math.min(width, Math.round(targetWidth * scale)));
  const h = Math.max(1, Math.min(height, Math.round(targetHeight * scale)));
  return { left: Math.floor((width - w) / 2), top: Math.floor((height - h) / 2), width: w, height: h };
}

/** Resampling weights of one axis: the first source sample and the weights of each target sample. */
interface AxisWeights {
  first: number[];
  w: Float64Array[];
}

/**
 * The weights last computed, by axis geometry: a folder of images of one size fitted to a model reuses them
 * instead of making hundreds of small arrays per image.
 */
const recentWeights = new Map<string, AxisWeights>();
/** Geometries kept in {@link recentWeights}. */
const RECENT_WEIGHTS = 8;

/** {@link weights}, from {@link recentWeights} when the same geometry came recently. */
function cachedWeights(start: number, size: number, target: number): AxisWeights {
  const key = `${start},${size},${target}`;
  let found = recentWeights.get(key);
  if (found) recentWeights.delete(key);
  else found = weights(start, size, target);
  recentWeights.set(key, found);
  if (recentWeights.size > RECENT_WEIGHTS) recentWeights.delete(recentWeights.keys().next().value!);
  return found;
}

/**
 * The horizontal pass's buffer, reused from image to image while it holds at most {@link SCRATCH_KEPT}
 * values (1 MB): fitting a folder made one of these per image, as garbage (116 MB of it for 1,270 images).
 */
let scratch = new Float64Array(0);
const SCRATCH_KEPT = 2 ** 17;

function scratchOf(length: number): Float64Array {
  if (length <= scratch.length) return scratch;
  const out = new Float64Array(length);
  if (length <= SCRATCH_KEPT) scratch = out;
  return out;
}

/** Weights of the 1-D resampling from `size` source samples (starting at `start`) to `target` samples. */
function weights(start: number, size: number, target: number): AxisWeights {
  const scale = size / target;
  const support = Math.max(1, scale);
  const first: number[] = [];
  const w: Float64Array[] = [];
  for (let i = 0; i < target; i++) {
    const centre = (i + 0.5) * scale;
    const lo = Math.max(0, Math.floor(centre - support));
    const hi = Math.min(size - 1, Math.ceil(centre + support));
    const row = new Float64Array(hi - lo + 1);
    let sum = 0;
    for (let j = lo; j <= hi; j++) {
      const v = Math.max(0, 1 - Math.abs((j + 0.5 - centre) / support));
      row[j - lo] = v;
      sum += v;
    }
    for (let j = 0; j < row.length; j++) row[j] = sum > 0 ? row[j] / sum : 0;
    first.push(start + lo);
    w.push(row);
  }
  return { first, w };
}

/**
 * Centre-crops `image` to the aspect of `width`×`height`, resamples it to that size, and returns float pixels
 * in [0, 1] with `channels` (1: luma 0.299 R + 0.587 G + 0.114 B; 3: RGB), alpha dropped. They are written
 * into `out` from `offset` when given (a data set's array, so no copy of each image is made), else into a new
 * array.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * // A 4×2 photo: black edges, two white pixels in the middle of each row.
 * const row = [0, 0, 0, 255, 255, 255, 255, 255, 255, 255, 255, 255, 0, 0, 0, 255];
 * const photo = { width: 4, height: 2, rgba: Uint8Array.from([...row, ...row]) };
 * // The square centre crop (the white 2×2 middle) shrunk to 1×1: one white gray value.
 * assert.deepEqual(Array.from(fitImage(photo, 1, 1, 1)), [1]);
 * assert.equal(fitImage(photo, 224, 224, 3).length, 224 * 224 * 3);
 * ```
 */
export function fitImage(
  image: RgbaImage,
  width: number,
  height: number,
  channels: 1 | 3,
  out: Float32Array = new Float32Array(width * height * channels),
  offset = 0,
): Float32Array {
  if (offset < 0 || offset + width * height * channels > out.length) {
    throw new RangeError(
      `fitImage: ${width * height * channels} values do not fit at ${offset} of ${out.length}`,
    );
  }
  const box = centreCropBox(image.width, image.height, width, height);
  const cols = cachedWeights(box.left, box.width, width);
  const rows = cachedWeights(box.top, box.height, height);
  // Horizontal pass over the rows the vertical pass needs, then the vertical pass.
  const rowLo = rows.first[0];
  const rowHi = rows.first[height - 1] + rows.w[height - 1].length - 1;
  // Every value of `mid` that the vertical pass reads is written first, so a reused buffer needs no clearing.
  const mid = scratchOf((rowHi - rowLo + 1) * width * 3);
  for (let y = rowLo; y <= rowHi; y++) {
    for (let x = 0; x < width; x++) {
      const row = cols.w[x];
      let r = 0, g = 0, b = 0;
      for (let k = 0; k < row.length; k++) {
        const p = (y * image.width + cols.first[x] + k) * 4;
        r += row[k] * image.rgba[p];
        g += row[k] * image.rgba[p + 1];
        b += row[k] * image.rgba[p + 2];
      }
      const m = ((y - rowLo) * width + x) * 3;
      mid[m] = r;
      mid[m + 1] = g;
      mid[m + 2] = b;
    }
  }
  for (let y = 0; y < height; y++) {
    const col = rows.w[y];
    for (let x = 0; x < width; x++) {
      let r = 0, g = 0, b = 0;
      for (let k = 0; k < col.length; k++) {
        const m = ((rows.first[y] + k - rowLo) * width + x) * 3;
        r += col[k] * mid[m];
        g += col[k] * mid[m + 1];
        b += col[k] * mid[m + 2];
      }
      const o = offset + (y * width + x) * channels;
      if (channels === 1) out[o] = clamp01((0.299 * r + 0.587 * g + 0.114 * b) / 255);
      else {
        out[o] = clamp01(r / 255);
        out[o + 1] = clamp01(g / 255);
        out[o + 2] = clamp01(b / 255);
      }
    }
  }
  return out;
}

function clamp01(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}
