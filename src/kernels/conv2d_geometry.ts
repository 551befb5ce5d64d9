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

/**
 * WGSL that splits a thread index into `cb` (channel block, `blocks` of them), `xb` (block of pixels along
 * the width, `NXB` of them), the row `row` (of `rows`) and the image `b`.
 */
export function decodeThread(blocks: string, row: string, rows: string): string {
  return `
        let cb = index % ${blocks};
        var r = index / ${blocks};
        let xb = r % NXB;
        r = r / NXB;
        let ${row} = r % ${rows};
        let b = r / ${rows};`;
}

/**
 * WGSL for the `px` input pixels a forward thread reads at tap (kh, kw): `in{k}` whether pixel k is inside
 * the image, `m{k}` 1 or 0 to match, `base{k}` its first element (`stride` elements per pixel; 0 outside).
 */
export function forwardTaps(px: number, stride: string): string {
  return range(px).map((k) => `
            let ix${k} = (ox0 + ${k}) * SW - PL + kw;
            let in${k} = ix${k} >= 0 && ix${k} < IW;
            let m${k} = select(0.0, 1.0, in${k});
            let base${k} = select(0, (rowBase + ix${k}) * ${stride}, in${k});`).join("");
}

/**
 * WGSL for one tap (kh, kw) of a blocked forward thread, inside its `kw` loop: read the `px` input pixels
 * (`forwardTaps`) and the weights of `groups` × 4 output channels from `cb0` on, and add their products to
 * `acc(k, q)` (pixel k, channel group q). `vec4` reads the input as vec4s over its channels (a multiple of 4);
 * `few` reads each of its `inChannels` (fewer than 4) as a scalar.
 */
export function forwardTap(
  kind: "vec4" | "few",
  px: number,
  groups: number,
  inChannels: number,
  acc: (k: number, q: number) => string,
): string {
  const j = range(px);
  const g = range(groups);
  if (kind === "vec4") {
    return `${forwardTaps(px, "CI4")}
            let wBase = (kh * KW + kw) * CI * CO4 + cb0;
            for (var ci = 0; ci < CI4; ci++) {
              ${
      g.map((q) =>
        range(4).map((r) => `let w${q}_${r} = w[wBase + (4 * ci + ${r}) * CO4 + ${q}];`).join("\n")
      ).join("\n")
    }
              ${
      j.map((k) =>
        `{ let v = x[base${k} + ci] * m${k}; ${
          g.map((q) => `${acc(k, q)} += v.x * w${q}_0 + v.y * w${q}_1 + v.z * w${q}_2 + v.w * w${q}_3;`).join(
            " ",
          )
        } }`
      ).join("\n")
    }
            }`;
  }
  const ch = range(inChannels);
  return `${forwardTaps(px, "CI")}
            let wBase = (kh * KW + kw) * CI * CO4 + cb0;
            ${g.flatMap((q) => ch.map((c) => `let w${q}_${c} = w[wBase + ${c} * CO4 + ${q}];`)).join("\n")}
            ${
    j.map((k) =>
      `{ ${ch.map((c) => `let x${c} = x[base${k} + ${c}] * m${k};`).join(" ")} ${
        g.map((q) => `${acc(k, q)} += ${ch.map((c) => `x${c} * w${q}_${c}`).join(" + ")};`).join(" ")
      } }`
    ).join("\n")
  }`;
}

/**
 * WGSL of an input-gradient thread's loop over the taps (kh, kw) that reach its row `iy` from some output row:
 * per tap, the `px` output pixels it reads ({@linkcode inputGradientTaps}, `stride` elements per pixel), then
 * `body`.
 */
export function inputGradientLoop(px: number, stride: string, body: string): string {
  return `
        for (var kh = 0; kh < KH; kh++) {
          let ty = iy + PT - kh;
          if (ty < 0 || ty % SH != 0 || ty / SH >= OH) { continue; }
          let rowBase = (b * OH + ty / SH) * OW;
          for (var kw = 0; kw < KW; kw++) {
            ${inputGradientTaps(px, stride)}
            ${body}
          }
        }`;
}

/**
 * WGSL for the `px` output pixels an input-gradient thread reads at tap (kh, kw): the output pixel each input
 * pixel k came from, if any (`in{k}`, `m{k}`), and its first element `base{k}` (`stride` per pixel).
 */
export function inputGradientTaps(px: number, stride: string): string {
  return range(px).map((k) => `
            let tx${k} = ix0 + ${k} + PL - kw;
            let in${k} = tx${k} >= 0 && tx${k} % SW == 0 && tx${k} / SW < OW;
            let m${k} = select(0.0, 1.0, in${k});
            let base${k} = select(0, (rowBase + tx${k} / SW) * ${stride}, in${k});`).join("");
}

/**
 * The weight-gradient threads' shared WGSL: split the index into output-channel block `cob` (`coBlocks` of
 * them), input-channel block `cib` (`ciBlocks`), tap (kh, kw) and row split; declare `accumulators` vec4
 * sums after the declarations in `setup`; then run `body` for every (row, ox) of the split whose input pixel (`xRow + ix`) lies in the image,
 * with `dyRow + ox` the dy pixel.
 */
export function filterGradientLoop(
  coBlocks: string,
  ciBlocks: string,
  accumulators: number,
  setup: string,
  body: string,
): string {
  return `
        let cob = index % ${coBlocks};
        var r = index / ${coBlocks};
        let cib = r % ${ciBlocks};
        r = r / ${ciBlocks};
        let kw = r % KW;
        r = r / KW;
        let kh = r % KH;
        let split = r / KH;
        let rows = uniforms.xShape[0] * OH;
        ${setup}
        ${range(accumulators).map((k) => `var acc${k} = vec4<f32>(0.0);`).join("\n")}
        let first = split * uniforms.rowsPerSplit;
        let last = min(rows, first + uniforms.rowsPerSplit);
        for (var row = first; row < last; row++) {
          let b = row / OH;
          let iy = (row % OH) * SH - PT + kh;
          if (iy < 0 || iy >= IH) { continue; }
          let xRow = (b * IH + iy) * IW;
          let dyRow = row * OW;
          for (var ox = 0; ox < OW; ox++) {
            let ix = ox * SW - PL + kw;
            if (ix < 0 || ix >= IW) { continue; }
            ${body}
          }
        }`;
}

/**
 * How much one thread of the vec4 conv kernels computes: `px` neighbouring pixels along a row of `width` (a
 * divisor of the width from 16 down to 4 where there is one, so no thread computes pixels past the edge;
 * else 8) and `groups` of 4 channels (4, 2 or 1, whichever divides `channels4`, the channel count / 4). On
 * lavapipe large blocks win (timings: docs/performance.md, "The first speed round").
 */
export function threadBlock(width: number, channels4: number): { px: number; groups: number } {
  return { px: rowBlock(width), groups: channelGroups(channels4) };
}

/** Pixels per thread along a row of `width`: a divisor from 16 down to 4 where there is one, else 8. */
function rowBlock(width: number): number {
  for (let p = Math.min(16, width); p >= 4; p--) if (width % p === 0) return p;
  return width < 4 ? Math.max(1, width) : 8;
}

/** Blocks of 4 channels per thread: the largest of 4, 2, 1 that divides `channels4` and is at most `most`. */
export function channelGroups(channels4: number, most = 4): number {
  return [4, 2, 1].find((g) => g <= most && channels4 % g === 0)!;
}

/** What {@linkcode storeBlock} writes. */
export interface BlockStore {
  /** Pixels along the row per thread; the accumulators are `acc{k}_{q}` for pixel k and channel group q. */
  px: number;
  /** Blocks of 4 channels per thread. */
  groups: number;
  /** WGSL names of the thread's first pixel and of the row's width (pixels at or past it are skipped). */
  x0: string;
  width: string;
  /** WGSL name of the channel count per pixel. */
  channels: string;
  /** Add `bias[cb0 + q]` (a vec4 per group), then ReLU if asked. */
  bias?: boolean;
  relu?: boolean;
}

/**
 * WGSL that ends a blocked conv thread: bias and ReLU if asked, then each vec4 accumulator `acc{k}_{q}` stored
 * to `result[outBase + k·channels + 4q + r]` for the pixels inside the row (`outBase` declared before).
 */
export function storeBlock(o: BlockStore): string {
  const j = range(o.px);
  const g = range(o.groups);
  const acc = (k: number, q: number) => `acc${k}_${q}`;
  const each = (line: (k: number, q: number) => string) =>
    j.flatMap((k) => g.map((q) => line(k, q))).join("\n");
  return [
    o.bias ? each((k, q) => `${acc(k, q)} += bias[cb0 + ${q}];`) : "",
    o.relu ? each((k, q) => `${acc(k, q)} = max(${acc(k, q)}, vec4<f32>(0.0));`) : "",
    ...j.map((k) =>
      `if (${o.x0} + ${k} < ${o.width}) {${
        g.flatMap((q) =>
          range(4).map((r) => ` result[outBase + ${k} * ${o.channels} + ${q * 4 + r}] = ${acc(k, q)}[${r}];`)
        ).join("")
      } }`
    ),
  ].join("\n");
}
