/**
 * RGBA pixel helpers for figures: images to RGBA, heatmap overlays, nearest-neighbour upscaling, and PNG
 * encoding. RGBA buffers are row by row, four bytes per pixel.
 * @module
 */
import { encodePngPixels } from "../deps.ts";

function checkSize(rgba: Uint8ClampedArray, width: number, height: number, what: string): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 0 || height < 0) {
    throw new Error(`${what}: width and height must be non-negative integers, got ${width}×${height}`);
  }
  if (rgba.length !== width * height * 4) {
    throw new Error(`${what}: ${rgba.length} bytes do not make a ${width}×${height} RGBA image`);
  }
}

/**
 * Encodes an RGBA image as PNG bytes (8 bits per channel, alpha kept). The same pixels always give the
 * same bytes (no timestamp is written).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { join } from "node:path";
 * import { colorize } from "./colormap.ts";
 *
 * const map = new Float32Array(4 * 4).map((_, i) => i / 15); // a 4×4 ramp
 * const png = await encodePng(colorize(map, { map: "heat" }), 4, 4);
 * assert.deepEqual(Array.from(png.subarray(0, 4)), [0x89, 0x50, 0x4e, 0x47]); // "\x89PNG"
 * await Deno.writeFile(join(await Deno.makeTempDir(), "map.png"), png);
 * ```
 */
export function encodePng(rgba: Uint8ClampedArray, width: number, height: number): Promise<Uint8Array> {
  checkSize(rgba, width, height, "encodePng");
  if (width === 0 || height === 0) throw new Error("encodePng: a PNG needs at least one pixel");
  const pixels = new Uint8Array(rgba.buffer, rgba.byteOffset, rgba.byteLength);
  return Promise.resolve(encodePngPixels(pixels, { width, height, channels: 4, level: 6 }));
}

/**
 * Converts one image from a dataset tensor's layout (`[height, width, channels]` float values in [0, 1],
 * channels 1 for gray or 3 for RGB) to opaque RGBA bytes. Values are clamped to [0, 1] and rounded to
 * 0–255; NaN becomes 0.
 */
export function imageToRgba(
  pixels: Float32Array,
  height: number,
  width: number,
  channels: number,
): Uint8ClampedArray {
  if (channels !== 1 && channels !== 3) {
    throw new Error(`imageToRgba: images must have 1 (gray) or 3 (RGB) channels, got ${channels}`);
  }
  if (pixels.length !== height * width * channels) {
    throw new Error(
      `imageToRgba: ${pixels.length} values do not make a ${height}×${width}×${channels} image`,
    );
  }
  const out = new Uint8ClampedArray(height * width * 4);
  for (let i = 0; i < height * width; i++) {
    for (let c = 0; c < 3; c++) {
      const v = pixels[i * channels + (channels === 1 ? 0 : c)];
      out[i * 4 + c] = Math.round(Math.min(1, Math.max(0, v || 0)) * 255);
    }
    out[i * 4 + 3] = 255;
  }
  return out;
}

/**
 * Blends a heatmap over an image of the same size: each pixel becomes `image * (1 - a) + heat * a` with
 * `a = alpha * heatAlpha / 255`, so transparent heat pixels (NaN in {@linkcode colorize}) leave the image
 * as it is. `alpha` is in [0, 1] (default 0.5); the image's own alpha is kept.
 */
export function overlay(
  imageRgba: Uint8ClampedArray,
  heatRgba: Uint8ClampedArray,
  alpha = 0.5,
): Uint8ClampedArray {
  if (imageRgba.length !== heatRgba.length) {
    throw new Error(
      `overlay: image (${imageRgba.length} bytes) and heatmap (${heatRgba.length}) differ in size`,
    );
  }
  if (!(alpha >= 0 && alpha <= 1)) throw new Error(`overlay: alpha must be in [0, 1], got ${alpha}`);
  const out = new Uint8ClampedArray(imageRgba.length);
  for (let o = 0; o < imageRgba.length; o += 4) {
    const a = alpha * heatRgba[o + 3] / 255;
    out[o] = imageRgba[o] * (1 - a) + heatRgba[o] * a;
    out[o + 1] = imageRgba[o + 1] * (1 - a) + heatRgba[o + 1] * a;
    out[o + 2] = imageRgba[o + 2] * (1 - a) + heatRgba[o + 2] * a;
    out[o + 3] = imageRgba[o + 3];
  }
  return out;
}

/**
 * Enlarges an RGBA image by an integer `factor` with nearest-neighbour sampling (each pixel becomes a
 * `factor` × `factor` block), so 28×28 digits stay sharp. The result is `(w * factor)` × `(h * factor)`.
 */
export function upscale(rgba: Uint8ClampedArray, w: number, h: number, factor: number): Uint8ClampedArray {
  checkSize(rgba, w, h, "upscale");
  if (!Number.isInteger(factor) || factor < 1) {
    throw new Error(`upscale: factor must be a positive integer, got ${factor}`);
  }
  if (factor === 1) return rgba.slice();
  const outW = w * factor;
  const out = new Uint8ClampedArray(outW * h * factor * 4);
  for (let y = 0; y < h; y++) {
    // Build one enlarged row, then copy it factor times.
    const rowStart = y * factor * outW * 4;
    for (let x = 0; x < w; x++) {
      const src = rgba.subarray((y * w + x) * 4, (y * w + x) * 4 + 4);
      for (let k = 0; k < factor; k++) out.set(src, rowStart + (x * factor + k) * 4);
    }
    const row = out.subarray(rowStart, rowStart + outW * 4);
    for (let k = 1; k < factor; k++) out.set(row, rowStart + k * outW * 4);
  }
  return out;
}
