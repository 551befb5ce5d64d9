/**
 * Register-blocked WGSL kernels for 2-D convolution (NHWC, any stride and padding, dilation 1): the forward
 * pass and its two gradients. They use no workgroup memory or barriers, which are slow on Mesa's software
 * adapter; each thread accumulates a small block of outputs in registers so that every value it loads feeds
 * several multiply-adds. {@link conv2dForward}, {@link conv2dBackpropInput} and
 * {@link conv2dBackpropFilter} take the convolution's geometry as tfjs computes it (`backend_util.Conv2DInfo`).
 * @module
 */
import type { tf } from "../deps.ts";
import { FlatProgram, runFlat, SumSplitsProgram, type WebGPUBackendLike } from "./program.ts";
import {
  channelGroups,
  type ConvInfo,
  decodeThread,
  filterGradientLoop,
  forwardTaps,
  geometry,
  geometryKey,
  inputGradientLoop,
  range,
  threadBlock,
} from "./conv2d_geometry.ts";
import {
  Conv2DBackpropFilterFewChannelsProgram,
  Conv2DBackpropInputFewChannelsProgram,
  fewChannelsFilterGradient,
  fewChannelsFilterGroups,
  fewInputChannels,
} from "./conv2d_few_channels.ts";
import {
  Conv2DBackpropFilterVec4Program,
  Conv2DBackpropInputVec4Program,
  Conv2DBlockedProgram,
  vec4Channels,
} from "./conv2d_vec4.ts";

/** Output pixels along the width each thread of the forward and input-gradient kernels computes. */
export const PIXELS_PER_THREAD = 4;
/** Threads the weight-gradient kernel aims for, by splitting its long reduction over image rows. */
const FILTER_THREADS = 4096;
/** Threads the few-input-channels weight gradient aims for (timings: docs/performance.md, "Kernel notes"). */
const FEW_FILTER_THREADS = 256;
/** Output pixels per thread of the few-input-channels forward kernel (chosen by timing: docs/performance.md). */
const FEW_PX = 4;

/** `vec4(a[i], a[i+s], a[i+2s], a[i+3s])` where lane k counts only while `first + k < limit`. */
function gather4(array: string, index: string, stride: string, first: string, limit: string, exact: boolean) {
  const lanes = range(4).map((k) => {
    return exact
      ? `${array}[${index} + ${k} * ${stride}]`
      : `select(0.0, ${array}[min(${index} + ${k} * ${stride}, ${array}Last)], ${first} + ${k} < ${limit})`;
  });
  return `vec4<f32>(${lanes.join(", ")})`;
}

/** Forward convolution: each thread computes 4 output channels of `PIXELS_PER_THREAD` neighbouring pixels. */
class Conv2DProgram extends FlatProgram {
  variableNames: string[];
  shaderKey: string;

  constructor(
    private readonly c: ConvInfo,
    private readonly px: number,
    private readonly hasBias = false,
    private readonly relu = false,
  ) {
    const threads = c.batchSize * c.outHeight * Math.ceil(c.outWidth / px) * Math.ceil(c.outChannels / 4);
    super([c.batchSize, c.outHeight, c.outWidth, c.outChannels], threads);
    this.variableNames = hasBias ? ["x", "w", "bias"] : ["x", "w"];
    this.shaderKey = `hans_conv2d_${px}_${+hasBias}${+relu}_${geometryKey(c)}`;
  }

  getUserCode(): string {
    const P = this.px;
    const exactCo = this.c.outChannels % 4 === 0;
    const j = range(P);
    return `
      ${geometry(this.c)}
      const NCB = ${Math.ceil(this.c.outChannels / 4)};
      const NXB = ${Math.ceil(this.c.outWidth / P)};
      const wLast = KH * KW * CI * CO - 1;
      const biasLast = CO - 1;
      fn main(index : i32) {
        if (index >= uniforms.threads) { return; }${decodeThread("NCB", "oy", "OH")}
        let co = cb * 4;
        let ox0 = xb * ${P};
        ${j.map((k) => `var acc${k} = vec4<f32>(0.0);`).join("\n")}
        for (var kh = 0; kh < KH; kh++) {
          let iy = oy * SH - PT + kh;
          if (iy < 0 || iy >= IH) { continue; }
          let rowBase = (b * IH + iy) * IW;
          for (var kw = 0; kw < KW; kw++) {
            ${forwardTaps(P, "CI")}
            let wBase = (kh * KW + kw) * CI * CO + co;
            for (var ci = 0; ci < CI; ci++) {
              let wv = ${gather4("w", "wBase + ci * CO", "1", "co", "CO", exactCo)};
              ${j.map((k) => `acc${k} += (x[base${k} + ci] * m${k}) * wv;`).join("\n")}
            }
          }
        }
        ${
      this.hasBias
        ? `let bv = ${gather4("bias", "co", "1", "co", "CO", exactCo)};\n` + j.map((k) =>
          `acc${k} += bv;`
        ).join("\n")
        : ""
    }
        ${this.relu ? j.map((k) => `acc${k} = max(acc${k}, vec4<f32>(0.0));`).join("\n") : ""}
        let outBase = ((b * OH + oy) * OW + ox0) * CO + co;
        ${
      j.map((k) =>
        range(4).map((c) => `
        if (ox0 + ${k} < OW && co + ${c} < CO) { result[outBase + ${k} * CO + ${c}] = acc${k}[${c}]; }`)
          .join("")
      ).join("")
    }
      }
    `;
  }
}

/** Input gradient: each thread computes 4 input channels of `PIXELS_PER_THREAD` neighbouring pixels. */
class Conv2DBackpropInputProgram extends FlatProgram {
  variableNames = ["dy", "w"];
  shaderKey: string;

  constructor(private readonly c: ConvInfo, private readonly px: number) {
    const threads = c.batchSize * c.inHeight * Math.ceil(c.inWidth / px) * Math.ceil(c.inChannels / 4);
    super([c.batchSize, c.inHeight, c.inWidth, c.inChannels], threads);
    this.shaderKey = `hans_conv2d_dx_${px}_${geometryKey(c)}`;
  }

  getUserCode(): string {
    const P = this.px;
    const exactCi = this.c.inChannels % 4 === 0;
    const j = range(P);
    return `
      ${geometry(this.c)}
      const NCB = ${Math.ceil(this.c.inChannels / 4)};
      const NXB = ${Math.ceil(this.c.inWidth / P)};
      const wLast = KH * KW * CI * CO - 1;
      fn main(index : i32) {
        if (index >= uniforms.threads) { return; }${decodeThread("NCB", "iy", "IH")}
        let ci = cb * 4;
        let ix0 = xb * ${P};
        ${j.map((k) => `var acc${k} = vec4<f32>(0.0);`).join("\n")}
        ${
      inputGradientLoop(
        P,
        "CO",
        `
            let wBase = ((kh * KW + kw) * CI + ci) * CO;
            for (var co = 0; co < CO; co++) {
              let wv = ${gather4("w", "wBase + co", "CO", "ci", "CI", exactCi)};
              ${j.map((k) => `acc${k} += (dy[base${k} + co] * m${k}) * wv;`).join("\n")}
            }
          `,
      )
    }
        let outBase = ((b * IH + iy) * IW + ix0) * CI + ci;
        ${
      j.map((k) =>
        range(4).map((c) => `
        if (ix0 + ${k} < IW && ci + ${c} < CI) { result[outBase + ${k} * CI + ${c}] = acc${k}[${c}]; }`)
          .join("")
      ).join("")
    }
      }
    `;
  }
}

/**
 * Weight gradient, split over image rows: thread (split, kh, kw, 4 input channels, 4 output channels) sums
 * x·dy over its share of the `batch × outHeight` rows; a second pass adds the splits.
 */
class Conv2DBackpropFilterProgram extends FlatProgram {
  variableNames = ["x", "dy"];
  shaderKey: string;
  override uniforms = "threads : i32, rowsPerSplit : i32,";

  constructor(private readonly c: ConvInfo, readonly splits: number) {
    const blocks = c.filterHeight * c.filterWidth * Math.ceil(c.inChannels / 4) *
      Math.ceil(c.outChannels / 4);
    super([splits, c.filterHeight * c.filterWidth * c.inChannels * c.outChannels], splits * blocks);
    this.shaderKey = `hans_conv2d_dw_${geometryKey(c)}`;
  }

  getUserCode(): string {
    const ciLanes = Math.min(4, this.c.inChannels);
    const exactCi = this.c.inChannels % 4 === 0 || this.c.inChannels < 4;
    const exactCo = this.c.outChannels % 4 === 0;
    const i = range(ciLanes);
    const xLoad = i.map((k) => {
      const at = `x[min(xb + ${k}, xLast)]`;
      return exactCi ? at : `select(0.0, ${at}, ci + ${k} < CI)`;
    });
    const dyLoad = exactCo
      ? `vec4<f32>(dy[min(db, dyLast)], dy[min(db + 1, dyLast)], dy[min(db + 2, dyLast)], dy[min(db + 3, dyLast)])`
      : `vec4<f32>(${
        range(4).map((c) => `select(0.0, dy[min(db + ${c}, dyLast)], co + ${c} < CO)`).join(", ")
      })`;
    return `
      ${geometry(this.c)}
      const NCOB = ${Math.ceil(this.c.outChannels / 4)};
      const NCIB = ${Math.ceil(this.c.inChannels / 4)};
      const N = KH * KW * CI * CO;
      fn main(index : i32) {
        if (index >= uniforms.threads) { return; }
        ${
      filterGradientLoop(
        "NCOB",
        "NCIB",
        ciLanes,
        `let co = cob * 4;
        let ci = cib * 4;
        let xLast = uniforms.xShape[0] * IH * IW * CI - 1;
        let dyLast = rows * OW * CO - 1;`,
        `let xb = (xRow + ix) * CI + ci;
            let db = (dyRow + ox) * CO + co;
            let dv = ${dyLoad};
            ${i.map((k) => `acc${k} += ${xLoad[k]} * dv;`).join("\n")}`,
      )
    }
        let outBase = split * N + ((kh * KW + kw) * CI + ci) * CO + co;
        ${
      i.map((k) =>
        range(4).map((c) => `
        if (ci + ${k} < CI && co + ${c} < CO) { result[outBase + ${k} * CO + ${c}] = acc${k}[${c}]; }`)
          .join("")
      ).join("")
    }
      }
    `;
  }
}

/** y = conv2d(x, w) (+ bias, then ReLU if asked) for NHWC `x`, `[KH, KW, CI, CO]` `w` and `[CO]` bias. */
export function conv2dForward(
  backend: WebGPUBackendLike,
  x: tf.TensorInfo,
  w: tf.TensorInfo,
  c: ConvInfo,
  bias?: tf.TensorInfo,
  relu = false,
): tf.TensorInfo {
  const block = threadBlock(c.outWidth, c.outChannels / 4);
  const program = vec4Channels(c)
    ? new Conv2DBlockedProgram(c, block.px, !!bias, relu, block.groups)
    : fewInputChannels(c)
    ? new Conv2DBlockedProgram(c, FEW_PX, !!bias, relu)
    : new Conv2DProgram(c, PIXELS_PER_THREAD, !!bias, relu);
  return runFlat(backend, program, bias ? [x, w, bias] : [x, w]);
}

/** dx of a convolution from dy `[B, OH, OW, CO]` and the weights. */
export function conv2dBackpropInput(
  backend: WebGPUBackendLike,
  dy: tf.TensorInfo,
  w: tf.TensorInfo,
  c: ConvInfo,
): tf.TensorInfo {
  const block = threadBlock(c.inWidth, c.inChannels / 4);
  const program = vec4Channels(c)
    ? new Conv2DBackpropInputVec4Program(c, block.px, block.groups)
    : fewInputChannels(c)
    ? new Conv2DBackpropInputFewChannelsProgram(c, c.inChannels === 1 ? 8 : 4)
    : new Conv2DBackpropInputProgram(c, PIXELS_PER_THREAD);
  return runFlat(backend, program, [dy, w]);
}

/** dw of a convolution from x and dy, as `[KH, KW, CI, CO]`. */
export function conv2dBackpropFilter(
  backend: WebGPUBackendLike,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  c: ConvInfo,
): tf.TensorInfo {
  const few = fewChannelsFilterGradient(c);
  // Blocks of 4 output channels per thread: one x load feeds up to 16 vec4 products (timings:
  // docs/performance.md, "The first speed round").
  const groups = vec4Channels(c) ? channelGroups(c.outChannels / 4) : few ? fewChannelsFilterGroups(c) : 1;
  // The few-channels kernel does every tap in one thread, so it has KH·KW fewer blocks; it aims for fewer
  // threads too, each summing longer runs of rows.
  const blocks = few
    ? c.outChannels / 4 / groups
    : c.filterHeight * c.filterWidth * Math.ceil(c.inChannels / 4) * Math.ceil(c.outChannels / 4 / groups);
  const rows = c.batchSize * c.outHeight;
  const target = few ? FEW_FILTER_THREADS : FILTER_THREADS;
  const splits = Math.max(1, Math.min(rows, Math.ceil(target / blocks)));
  const rowsPerSplit = Math.ceil(rows / splits);
  const used = Math.ceil(rows / rowsPerSplit);
  const filterShape = [c.filterHeight, c.filterWidth, c.inChannels, c.outChannels];
  const n = filterShape.reduce((a, b) => a * b, 1);
  const program = vec4Channels(c)
    ? new Conv2DBackpropFilterVec4Program(c, used, groups)
    : few
    ? new Conv2DBackpropFilterFewChannelsProgram(c, used, groups)
    : new Conv2DBackpropFilterProgram(c, used);
  const partial = runFlat(backend, program, [x, dy], [
    { type: "int32", data: [rowsPerSplit] },
  ]);
  if (used === 1) return { ...partial, shape: filterShape };
  const out = runFlat(backend, new SumSplitsProgram(filterShape, n), [partial], [
    { type: "int32", data: [used] },
  ]);
  backend.disposeData(partial.dataId);
  return out;
}
