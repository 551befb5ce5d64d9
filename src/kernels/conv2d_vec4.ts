/**
 * The conv kernels of `conv2d.ts` for channel counts that are multiples of 4: inputs are read as `vec4`
 * along the channels, so one load brings four values. On lavapipe this made the 14×14×16→32 forward pass
 * 1.5× faster than scalar loads (15.5 vs 23.3 ms for 64 images).
 * @module
 */
import {
  type ConvInfo,
  decodeThread,
  filterGradientLoop,
  forwardTaps,
  geometry,
  geometryKey,
  inputGradientTaps,
  range,
} from "./conv2d_geometry.ts";
import { FlatProgram } from "./program.ts";

/** Whether the vec4 kernels apply: both channel counts multiples of 4. */
export function vec4Channels(c: ConvInfo): boolean {
  return c.inChannels % 4 === 0 && c.outChannels % 4 === 0;
}

/** Forward: each thread computes 4 output channels of `px` neighbouring pixels, optional bias and ReLU. */
export class Conv2DVec4Program extends FlatProgram {
  variableNames: string[];
  variableComponents: number[];
  shaderKey: string;

  constructor(
    private readonly c: ConvInfo,
    private readonly px: number,
    private readonly hasBias: boolean,
    private readonly relu: boolean,
  ) {
    const threads = c.batchSize * c.outHeight * Math.ceil(c.outWidth / px) * (c.outChannels / 4);
    super([c.batchSize, c.outHeight, c.outWidth, c.outChannels], threads);
    this.variableNames = hasBias ? ["x", "w", "bias"] : ["x", "w"];
    this.variableComponents = hasBias ? [4, 4, 4] : [4, 4];
    this.shaderKey = `hans_conv2d_v4_${px}_${+hasBias}${+relu}_${geometryKey(c)}`;
  }

  getUserCode(): string {
    const P = this.px;
    const j = range(P);
    return `
      ${geometry(this.c)}
      const CI4 = CI / 4;
      const CO4 = CO / 4;
      const NXB = ${Math.ceil(this.c.outWidth / P)};
      fn main(index : i32) {
        if (index >= uniforms.threads) { return; }${decodeThread("CO4", "oy", "OH")}
        let ox0 = xb * ${P};
        ${j.map((k) => `var acc${k} = vec4<f32>(0.0);`).join("\n")}
        for (var kh = 0; kh < KH; kh++) {
          let iy = oy * SH - PT + kh;
          if (iy < 0 || iy >= IH) { continue; }
          let rowBase = (b * IH + iy) * IW;
          for (var kw = 0; kw < KW; kw++) {
            ${forwardTaps(P, "CI4")}
            let wBase = (kh * KW + kw) * CI * CO4 + cb;
            for (var ci = 0; ci < CI4; ci++) {
              let w0 = w[wBase + (4 * ci) * CO4];
              let w1 = w[wBase + (4 * ci + 1) * CO4];
              let w2 = w[wBase + (4 * ci + 2) * CO4];
              let w3 = w[wBase + (4 * ci + 3) * CO4];
              ${
      j.map((k) => `
              { let v = x[base${k} + ci] * m${k}; acc${k} += v.x * w0 + v.y * w1 + v.z * w2 + v.w * w3; }`)
        .join("")
    }
            }
          }
        }
        ${this.hasBias ? j.map((k) => `acc${k} += bias[cb];`).join("\n") : ""}
        ${this.relu ? j.map((k) => `acc${k} = max(acc${k}, vec4<f32>(0.0));`).join("\n") : ""}
        let outBase = ((b * OH + oy) * OW + ox0) * CO + cb * 4;
        ${
      j.map((k) => `
        if (ox0 + ${k} < OW) {${
        range(4).map((q) => ` result[outBase + ${k} * CO + ${q}] = acc${k}[${q}];`).join("")
      } }`)
        .join("")
    }
      }
    `;
  }
}

/** Input gradient: each thread computes 4 input channels of `px` neighbouring pixels. */
export class Conv2DBackpropInputVec4Program extends FlatProgram {
  variableNames = ["dy", "w"];
  variableComponents = [4, 4];
  shaderKey: string;

  constructor(private readonly c: ConvInfo, private readonly px: number) {
    const threads = c.batchSize * c.inHeight * Math.ceil(c.inWidth / px) * (c.inChannels / 4);
    super([c.batchSize, c.inHeight, c.inWidth, c.inChannels], threads);
    this.shaderKey = `hans_conv2d_dx_v4_${px}_${geometryKey(c)}`;
  }

  getUserCode(): string {
    const P = this.px;
    const j = range(P);
    return `
      ${geometry(this.c)}
      const CI4 = CI / 4;
      const CO4 = CO / 4;
      const NXB = ${Math.ceil(this.c.inWidth / P)};
      fn main(index : i32) {
        if (index >= uniforms.threads) { return; }${decodeThread("CI4", "iy", "IH")}
        let ix0 = xb * ${P};
        ${j.map((k) => `var acc${k} = vec4<f32>(0.0);`).join("\n")}
        for (var kh = 0; kh < KH; kh++) {
          let ty = iy + PT - kh;
          if (ty < 0 || ty % SH != 0 || ty / SH >= OH) { continue; }
          let rowBase = (b * OH + ty / SH) * OW;
          for (var kw = 0; kw < KW; kw++) {
            ${inputGradientTaps(P, "CO4")}
            let wBase = ((kh * KW + kw) * CI + cb * 4) * CO4;
            for (var co = 0; co < CO4; co++) {
              let w0 = w[wBase + co];
              let w1 = w[wBase + CO4 + co];
              let w2 = w[wBase + 2 * CO4 + co];
              let w3 = w[wBase + 3 * CO4 + co];
              ${
      j.map((k) => `
              { let d = dy[base${k} + co] * m${k};
                acc${k} += vec4<f32>(dot(d, w0), dot(d, w1), dot(d, w2), dot(d, w3)); }`).join("")
    }
            }
          }
        }
        let outBase = ((b * IH + iy) * IW + ix0) * CI + cb * 4;
        ${
      j.map((k) => `
        if (ix0 + ${k} < IW) {${
        range(4).map((q) => ` result[outBase + ${k} * CI + ${q}] = acc${k}[${q}];`).join("")
      } }`)
        .join("")
    }
      }
    `;
  }
}

/** Weight gradient over a share of the rows; see `Conv2DBackpropFilterProgram` in `conv2d.ts`. */
export class Conv2DBackpropFilterVec4Program extends FlatProgram {
  variableNames = ["x", "dy"];
  variableComponents = [4, 4];
  shaderKey: string;
  override uniforms = "threads : i32, rowsPerSplit : i32,";

  constructor(private readonly c: ConvInfo, readonly splits: number) {
    const blocks = c.filterHeight * c.filterWidth * (c.inChannels / 4) * (c.outChannels / 4);
    super([splits, c.filterHeight * c.filterWidth * c.inChannels * c.outChannels], splits * blocks);
    this.shaderKey = `hans_conv2d_dw_v4_${geometryKey(c)}`;
  }

  getUserCode(): string {
    const i = range(4);
    return `
      ${geometry(this.c)}
      const CI4 = CI / 4;
      const CO4 = CO / 4;
      const N = KH * KW * CI * CO;
      fn main(index : i32) {
        if (index >= uniforms.threads) { return; }
        ${
      filterGradientLoop(
        "CO4",
        "CI4",
        4,
        "",
        `let v = x[(xRow + ix) * CI4 + cib];
            let d = dy[(dyRow + ox) * CO4 + cob];
            acc0 += v.x * d;
            acc1 += v.y * d;
            acc2 += v.z * d;
            acc3 += v.w * d;`,
      )
    }
        let outBase = split * N + ((kh * KW + kw) * CI + cib * 4) * CO + cob * 4;
        ${
      i.map((k) => range(4).map((q) => `result[outBase + ${k} * CO + ${q}] = acc${k}[${q}];`).join(" ")).join(
        "\n",
      )
    }
      }
    `;
  }
}
