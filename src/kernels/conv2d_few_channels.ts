/**
 * The input gradient of a convolution with fewer than 4 input channels (a network's first layer on gray or
 * RGB images): each thread computes every input channel of several neighbouring pixels and reads dy and the
 * weights as `vec4`s over the output channels (a multiple of 4). The general kernel computes 4 input
 * channels per thread and would waste three quarters of its work on a gray image.
 * @module
 */
import {
  channelGroups,
  type ConvInfo,
  geometry,
  geometryKey,
  inputGradientLoop,
  range,
} from "./conv2d_geometry.ts";
import { FlatProgram } from "./program.ts";

/** Whether {@linkcode Conv2DBackpropInputFewChannelsProgram} handles this geometry. */
export function fewInputChannels(c: ConvInfo): boolean {
  return c.inChannels < 4 && c.outChannels % 4 === 0;
}

/** dx for fewer than 4 input channels: each thread computes all of them for `px` neighbouring pixels. */
export class Conv2DBackpropInputFewChannelsProgram extends FlatProgram {
  variableNames = ["dy", "w"];
  variableComponents = [4, 4];
  shaderKey: string;

  constructor(private readonly c: ConvInfo, private readonly px: number) {
    super(
      [c.batchSize, c.inHeight, c.inWidth, c.inChannels],
      c.batchSize * c.inHeight * Math.ceil(c.inWidth / px),
    );
    this.shaderKey = `hans_conv2d_dx_few_${px}_${geometryKey(c)}`;
  }

  getUserCode(): string {
    const P = this.px;
    const j = range(P);
    const ch = range(this.c.inChannels);
    return `
      ${geometry(this.c)}
      const CO4 = CO / 4;
      const NXB = ${Math.ceil(this.c.inWidth / P)};
      fn main(index : i32) {
        if (index >= uniforms.threads) { return; }
        let xb = index % NXB;
        var r = index / NXB;
        let iy = r % IH;
        let b = r / IH;
        let ix0 = xb * ${P};
        ${j.flatMap((k) => ch.map((c) => `var acc${k}_${c} = 0.0;`)).join("\n")}
        ${
      inputGradientLoop(
        P,
        "CO4",
        `
            let wBase = (kh * KW + kw) * CI * CO4;
            for (var co = 0; co < CO4; co++) {
              ${ch.map((c) => `let w${c} = w[wBase + ${c} * CO4 + co];`).join("\n")}
              ${
          j.map((k) =>
            `{ let d = dy[base${k} + co] * m${k}; ${
              ch.map((c) => `acc${k}_${c} += dot(d, w${c});`).join(" ")
            } }`
          ).join("\n")
        }
            }
          `,
      )
    }
        let outBase = ((b * IH + iy) * IW + ix0) * CI;
        ${
      j.map((k) =>
        `if (ix0 + ${k} < IW) { ${
          ch.map((c) => `result[outBase + ${k} * CI + ${c}] = acc${k}_${c};`).join(" ")
        } }`
      ).join("\n")
    }
      }
    `;
  }
}

/** Most accumulators (vec4) a thread of {@linkcode Conv2DBackpropFilterFewChannelsProgram} keeps. */
const FILTER_ACCUMULATORS = 36;

/**
 * Whether {@linkcode Conv2DBackpropFilterFewChannelsProgram} handles this geometry: fewer than 4 input
 * channels, output channels a multiple of 4, and a filter small enough that one thread keeps all its taps.
 */
export function fewChannelsFilterGradient(c: ConvInfo): boolean {
  return fewInputChannels(c) && c.filterHeight * c.filterWidth * c.inChannels <= FILTER_ACCUMULATORS;
}

/** Blocks of 4 output channels per thread of the few-channels weight gradient: as many as the registers allow. */
export function fewChannelsFilterGroups(c: ConvInfo): number {
  const most = Math.floor(FILTER_ACCUMULATORS / (c.filterHeight * c.filterWidth * c.inChannels));
  return channelGroups(c.outChannels / 4, most);
}

/**
 * Weight gradient for fewer than 4 input channels, split over image rows: each thread sums, over its rows,
 * x·dy for every tap and input channel and `groups` × 4 output channels, so dy is read once (the general
 * kernel reads it once per tap); a second pass adds the splits.
 */
export class Conv2DBackpropFilterFewChannelsProgram extends FlatProgram {
  variableNames = ["x", "dy"];
  variableComponents = [1, 4];
  shaderKey: string;
  override uniforms = "threads : i32, rowsPerSplit : i32,";

  constructor(private readonly c: ConvInfo, readonly splits: number, private readonly groups: number) {
    super(
      [splits, c.filterHeight * c.filterWidth * c.inChannels * c.outChannels],
      splits * (c.outChannels / 4 / groups),
    );
    this.shaderKey = `hans_conv2d_dw_few_${groups}_${geometryKey(c)}`;
  }

  getUserCode(): string {
    const c = this.c;
    const g = range(this.groups);
    const taps = range(c.filterHeight).flatMap((kh) => range(c.filterWidth).map((kw) => [kh, kw]));
    const ch = range(c.inChannels);
    const acc = (t: number, ci: number, q: number) => `acc${t}_${ci}_${q}`;
    return `
      ${geometry(c)}
      const CO4 = CO / 4;
      const NGB = CO4 / ${this.groups};
      const N = KH * KW * CI * CO;
      fn main(index : i32) {
        if (index >= uniforms.threads) { return; }
        let cob = index % NGB;
        let split = index / NGB;
        let rows = uniforms.xShape[0] * OH;
        ${
      taps.flatMap((_, t) => ch.flatMap((ci) => g.map((q) => `var ${acc(t, ci, q)} = vec4<f32>(0.0);`))).join(
        "\n",
      )
    }
        let first = split * uniforms.rowsPerSplit;
        let last = min(rows, first + uniforms.rowsPerSplit);
        for (var row = first; row < last; row++) {
          let b = row / OH;
          let oy = row % OH;
          let dyRow = row * OW;
          for (var ox = 0; ox < OW; ox++) {
            let dyBase = (dyRow + ox) * CO4 + cob * ${this.groups};
            ${g.map((q) => `let d${q} = dy[dyBase + ${q}];`).join("\n")}
            ${
      taps.map(([kh, kw], t) => `
            {
              let iy = oy * SH - PT + ${kh};
              let ix = ox * SW - PL + ${kw};
              let inside = iy >= 0 && iy < IH && ix >= 0 && ix < IW;
              let m = select(0.0, 1.0, inside);
              let at = select(0, ((b * IH + iy) * IW + ix) * CI, inside);
              ${
        ch.map((ci) =>
          `{ let v = x[at + ${ci}] * m; ${g.map((q) => `${acc(t, ci, q)} += v * d${q};`).join(" ")} }`
        ).join("\n")
      }
            }`).join("")
    }
          }
        }
        let outBase = split * N + cob * ${this.groups} * 4;
        ${
      taps.flatMap((_, t) =>
        ch.flatMap((ci) =>
          g.map((q) =>
            range(4).map((r) =>
              `result[outBase + ${t * c.inChannels + ci} * CO + ${q * 4 + r}] = ${acc(t, ci, q)}[${r}];`
            )
              .join(" ")
          )
        )
      ).join("\n")
    }
      }
    `;
  }
}
