/**
 * The convolution geometry the conv kernels bake into their shaders (everything but the batch size).
 * @module
 */
import type { tf } from "../deps.ts";

/** tfjs's description of a 2-D convolution. */
export type ConvInfo = tf.backend_util.Conv2DInfo;

/** `0 … n−1`. */
export const range = (n: number): number[] => [...Array(n).keys()];

/** The geometry every kernel bakes into its shader (everything but the batch size). */
export function geometry(c: ConvInfo): string {
  return `
    const KH = ${c.filterHeight}; const KW = ${c.filterWidth};
    const CI = ${c.inChannels}; const CO = ${c.outChannels};
    const IH = ${c.inHeight}; const IW = ${c.inWidth};
    const OH = ${c.outHeight}; const OW = ${c.outWidth};
    const SH = ${c.strideHeight}; const SW = ${c.strideWidth};
    const PT = ${c.padInfo.top}; const PL = ${c.padInfo.left};`;
}

/** The shader-key part that names the geometry. */
export function geometryKey(c: ConvInfo): string {
  return [
    c.filterHeight,
    c.filterWidth,
    c.inChannels,
    c.outChannels,
    c.inHeight,
    c.inWidth,
    c.outHeight,
    c.outWidth,
    c.strideHeight,
    c.strideWidth,
    c.padInfo.top,
    c.padInfo.left,
  ].join("_");
}
