/**
 * The conv kernels of `conv2d.ts` for channel counts that are multiples of 4: inputs are read as `vec4`
 * along the channels, so one load brings four values (measurements: docs/performance.md, "Kernel notes").
 * @module
 */
import {
  type ConvInfo,
  decodeThread,
  filterGradientLoop,
  forwardTap,
  geometry,
  geometryKey,
  inputGradientLoop,
  range,
  storeBlock,
} from "./conv2d_geometry.ts";
import { FlatProgram } from "./program.ts";

/** Whether the vec4 kernels apply: both channel counts multiples of 4. */
export function vec4Channels(c: ConvInfo): boolean {
  return c.inChannels % 4 === 0 && c.outChannels % 4 === 0;
}

/**
 * Forward: each thread computes `groups` × 4 output channels of `px` neighbouring pixels, optional bias and
 * ReLU. `groups` must divide `CO / 4`. The input is read as `vec4`s over its channels where they are a
 * multiple of 4, else (fewer than 4: a first layer) as one scalar per channel.
 */
export class Conv2DBlockedProgram extends FlatProgram {
  variableNames: string[];
  variableComponents: number[];
  shaderKey: string;

  constructor(
    private readonly c: ConvInfo,
    private readonly px: number,
    private readonly hasBias: boolean,
    private readonly relu: boolean,
    private readonly groups = 1,
  ) {
    const threads = c.batchSize * c.outHeight * Math.ceil(c.outWidth / px) * (c.outChannels / 4 / groups);
    super([c.batchSize, c.outHeight, c.outWidth, c.outChannels], threads);
    this.variableNames = hasBias ? ["x", "w", "bias"] : ["x", "w"];
    const xComponents = vec4Channels(c) ? 4 : 1;
    this.variableComponents = hasBias ? [xComponents, 4, 4] : [xComponents, 4];
    this.shaderKey = `hans_conv2d_blocked_${xComponents}_${px}_${groups}_${+hasBias}${+relu}_${
      geometryKey(c)
    }`;
  }

  getUserCode(): string {
    const P = this.px;
    const j = range(P);
    const g = range(this.groups);
    const acc = (k: number, q: number) => `acc${k}_${q}`;
    return `
      ${geometry(this.c)}
      const CI4 = CI / 4;
      const CO4 = CO / 4;
      const NGB = CO4 / ${this.groups};
      const NXB = ${Math.ceil(this.c.outWidth / P)};
      fn main(index : i32) {
        if (index >= uniforms.threads) { return; }${decodeThread("NGB", "oy", "OH")}
        let cb0 = cb * ${this.groups};
        let ox0 = xb * ${P};
        ${j.flatMap((k) => g.map((q) => `var ${acc(k, q)} = vec4<f32>(0.0);`)).join("\n")}
        for (var kh = 0; kh < KH; kh++) {
          let iy = oy * SH - PT + kh;
          if (iy < 0 || iy >= IH) { continue; }
          let rowBase = (b * IH + iy) * IW;
          for (var kw = 0; kw < KW; kw++) {
            ${forwardTap(vec4Channels(this.c) ? "vec4" : "few", P, this.groups, this.c.inChannels, acc)}
          }
        }
        let outBase = ((b * OH + oy) * OW + ox0) * CO + cb0 * 4;
        ${
      storeBlock({
        px: P,
        groups: this.groups,
        x0: "ox0",
        width: "OW",
        channels: "CO",
        bias: this.hasBias,
        relu: this.relu,
      })
    }
      }
    `;
  }
}

/**
 * Input gradient: each thread computes `groups` × 4 input channels of `px` neighbouring pixels. `groups` must
 * divide `CI / 4`.
 */
export class Conv2DBackpropInputVec4Program extends FlatProgram {
  variableNames = ["dy", "w"];
  variableComponents = [4, 4];
  shaderKey: string;

  constructor(private readonly c: ConvInfo, private readonly px: number, private readonly groups = 1) {
    const threads = c.batchSize * c.inHeight * Math.ceil(c.inWidth / px) * (c.inChannels / 4 / groups);
    super([c.batchSize, c.inHeight, c.inWidth, c.inChannels], threads);
    this.shaderKey = `hans_conv2d_dx_v4_${px}_${groups}_${geometryKey(c)}`;
  }

  getUserCode(): string {
    const P = this.px;
    const j = range(P);
    const g = range(this.groups);
    const acc = (k: number, q: number) => `acc${k}_${q}`;
    return `
      ${geometry(this.c)}
      const CI4 = CI / 4;
      const CO4 = CO / 4;
      const NGB = CI4 / ${this.groups};
      const NXB = ${Math.ceil(this.c.inWidth / P)};
      fn main(index : i32) {
        if (index >= uniforms.threads) { return; }${decodeThread("NGB", "iy", "IH")}
        let cb0 = cb * ${this.groups};
        let ix0 = xb * ${P};
        ${j.flatMap((k) => g.map((q) => `var ${acc(k, q)} = vec4<f32>(0.0);`)).join("\n")}
        ${
      inputGradientLoop(
        P,
        "CO4",
        `
            let wBase = ((kh * KW + kw) * CI + cb0 * 4) * CO4;
            for (var co = 0; co < CO4; co++) {
              ${
          g.map((q) => range(4).map((r) => `let w${q}_${r} = w[wBase + ${q * 4 + r} * CO4 + co];`).join("\n"))
            .join("\n")
        }
              ${
          j.map((k) =>
            `{ let d = dy[base${k} + co] * m${k}; ${
              g.map((q) =>
                `${
                  acc(k, q)
                } += vec4<f32>(dot(d, w${q}_0), dot(d, w${q}_1), dot(d, w${q}_2), dot(d, w${q}_3));`
              ).join(" ")
            } }`
          ).join("\n")
        }
            }
          `,
      )
    }
        let outBase = ((b * IH + iy) * IW + ix0) * CI + cb0 * 4;
        ${storeBlock({ px: P, groups: this.groups, x0: "ix0", width: "IW", channels: "CI" })}
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

  /** `groups` blocks of 4 output channels per thread (it must divide `CO / 4`). */
  constructor(private readonly c: ConvInfo, readonly splits: number, private readonly groups = 1) {
    const blocks = c.filterHeight * c.filterWidth * (c.inChannels / 4) * (c.outChannels / 4 / groups);
    super([splits, c.filterHeight * c.filterWidth * c.inChannels * c.outChannels], splits * blocks);
    this.shaderKey = `hans_conv2d_dw_v4_${groups}_${geometryKey(c)}`;
  }

  getUserCode(): string {
    const i = range(4);
    const g = range(this.groups);
    return `
      ${geometry(this.c)}
      const CI4 = CI / 4;
      const CO4 = CO / 4;
      const N = KH * KW * CI * CO;
      fn main(index : i32) {
        if (index >= uniforms.threads) { return; }
        ${
      filterGradientLoop(
        `(CO4 / ${this.groups})`,
        "CI4",
        0,
        g.flatMap((q) => i.map((k) => `var acc${k}_${q} = vec4<f32>(0.0);`)).join("\n"),
        `let v = x[(xRow + ix) * CI4 + cib];
            let dyBase = (dyRow + ox) * CO4 + cob * ${this.groups};
            ${
          g.map((q) =>
            `{ let d = dy[dyBase + ${q}]; acc0_${q} += v.x * d; acc1_${q} += v.y * d; acc2_${q} += v.z * d; ` +
            `acc3_${q} += v.w * d; }`
          ).join("\n")
        }`,
      )
    }
        let outBase = split * N + ((kh * KW + kw) * CI + cib * 4) * CO + cob * ${this.groups} * 4;
        ${
      g.flatMap((q) =>
        i.map((k) =>
          range(4).map((r) => `result[outBase + ${k} * CO + ${q * 4 + r}] = acc${k}_${q}[${r}];`).join(" ")
        )
      ).join("\n")
    }
      }
    `;
  }
}
