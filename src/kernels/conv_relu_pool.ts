/**
 * Convolution + bias + ReLU + 2×2 max-pool in one dispatch, keeping the pool's choice instead of the
 * convolution's output: each thread computes a 2-row block of conv outputs in registers, pools it and writes
 * the pooled values. Which of a window's four positions won rides in the two lowest mantissa bits of its
 * (positive) pooled value, a change of at most 3 units in the last place (2.4e-7 relative, below the rounding
 * differences between conv kernels); a maximum of 0 stays exactly 0, and ReLU passes it no gradient. So the
 * conv output, four times the pooled size, never reaches memory, and the choice costs no memory either: on
 * lavapipe a pass over memory costs more than the arithmetic of a first layer with one input channel. The
 * backward pass scatters dy back through the kept choice ({@linkcode unpoolGrad}).
 *
 * Stride 1 only, conv output height and width even, output channels a multiple of 4, and input channels a
 * multiple of 4 or fewer than 4 ({@linkcode convReluPoolApplies}).
 * @module
 */
import type { tf } from "../deps.ts";
import {
  channelGroups,
  type ConvInfo,
  decodeThread,
  forwardTap,
  geometry,
  geometryKey,
  range,
} from "./conv2d_geometry.ts";
import { fewInputChannels } from "./conv2d_few_channels.ts";
import { vec4Channels } from "./conv2d_vec4.ts";
import { FlatProgram, runFlat, type WebGPUBackendLike } from "./program.ts";

/** Most vec4 accumulators one thread keeps (2 rows × pixels × channel groups). */
const ACCUMULATORS = 128;

/** Whether {@linkcode convReluPoolForward} handles this convolution. */
export function convReluPoolApplies(c: ConvInfo): boolean {
  return c.strideHeight === 1 && c.strideWidth === 1 && c.dilationHeight === 1 && c.dilationWidth === 1 &&
    c.outHeight % 2 === 0 && c.outWidth % 2 === 0 && c.outHeight > 0 && c.outWidth > 0 &&
    (vec4Channels(c) || fewInputChannels(c));
}

/**
 * The thread block: `px` conv columns (an even divisor of the width, at most 8) × 2 rows × `groups` blocks of
 * 4 output channels, within {@linkcode ACCUMULATORS}.
 */
function block(c: ConvInfo): { px: number; groups: number } {
  let px = 2;
  for (let p = Math.min(16, c.outWidth); p >= 2; p -= 2) {
    if (c.outWidth % p === 0) {
      px = p;
      break;
    }
  }
  return { px, groups: channelGroups(c.outChannels / 4, Math.max(1, Math.floor(ACCUMULATORS / (2 * px)))) };
}

/**
 * Output `[batch, OH/2, OW/2, CO]`: the pooled values, each positive one with its window position (0–3,
 * row-major) in its two lowest mantissa bits. Ties go to the last maximum in scan order, as in tfjs's pooling.
 */
class ConvReluPoolProgram extends FlatProgram {
  variableNames = ["x", "w", "bias"];
  variableComponents: number[];
  shaderKey: string;

  constructor(private readonly c: ConvInfo, private readonly px: number, private readonly groups: number) {
    const ph = c.outHeight / 2;
    const pw = c.outWidth / 2;
    super(
      [c.batchSize, ph, pw, c.outChannels],
      c.batchSize * ph * (c.outWidth / px) * (c.outChannels / 4 / groups),
    );
    this.variableComponents = [vec4Channels(c) ? 4 : 1, 4, 4];
    this.shaderKey = `hans_conv_relu_pool_${px}_${groups}_${geometryKey(c)}`;
  }

  getUserCode(): string {
    const P = this.px;
    const g = range(this.groups);
    const kind = vec4Channels(this.c) ? "vec4" : "few";
    const acc = (row: number) => (k: number, q: number) => `a${row}_${k}_${q}`;
    const rows = range(2).map((row) => `
        {
          let oy = py * 2 + ${row};
          for (var kh = 0; kh < KH; kh++) {
            let iy = oy - PT + kh;
            if (iy < 0 || iy >= IH) { continue; }
            let rowBase = (b * IH + iy) * IW;
            for (var kw = 0; kw < KW; kw++) {
              ${forwardTap(kind, P, this.groups, this.c.inChannels, acc(row))}
            }
          }
        }`);
    const pool = range(P / 2).flatMap((j) =>
      g.map((q) => {
        const [v00, v01, v10, v11] = [
          acc(0)(2 * j, q),
          acc(0)(2 * j + 1, q),
          acc(1)(2 * j, q),
          acc(1)(2 * j + 1, q),
        ];
        const at = `pBase + ${j} * CO + ${q * 4}`;
        return `
        {
          var m = max(${v00} + bias[cb0 + ${q}], vec4<f32>(0.0));
          var i = vec4<u32>(0u);
          ${
          [v01, v10, v11].map((v, n) => `
          { let v = max(${v} + bias[cb0 + ${q}], vec4<f32>(0.0)); let s = v >= m;
            m = select(m, v, s); i = select(i, vec4<u32>(${n + 1}u), s); }`).join("")
        }
          let tagged = bitcast<vec4<f32>>((bitcast<vec4<u32>>(m) & vec4<u32>(0xfffffffcu)) | i);
          m = select(vec4<f32>(0.0), tagged, m > vec4<f32>(0.0));
          ${range(4).map((r) => `result[${at} + ${r}] = m[${r}];`).join(" ")}
        }`;
      })
    );
    return `
      ${geometry(this.c)}
      const CI4 = CI / 4;
      const CO4 = CO / 4;
      const NGB = CO4 / ${this.groups};
      const NXB = OW / ${P};
      const PH = OH / 2;
      const PW = OW / 2;
      fn main(index : i32) {
        if (index >= uniforms.threads) { return; }${decodeThread("NGB", "py", "PH")}
        let cb0 = cb * ${this.groups};
        let ox0 = xb * ${P};
        ${
      range(2).flatMap((row) =>
        range(P).flatMap((k) => g.map((q) => `var ${acc(row)(k, q)} = vec4<f32>(0.0);`))
      )
        .join("\n")
    }
        ${rows.join("")}
        let pBase = ((b * PH + py) * PW + ox0 / 2) * CO + cb0 * 4;
        ${pool.join("")}
      }
    `;
  }
}

/**
 * dz `[batch, OH, OW, CO]` of the conv output from dy and the forward's output `pooled`: dy at the window
 * position kept in the pooled value's lowest bits, 0 at the other three and wherever the maximum was 0.
 */
class UnpoolGradProgram extends FlatProgram {
  variableNames = ["dy", "pooled"];
  shaderKey = "hans_unpool_grad";

  constructor(shape: number[]) {
    const [n, ph, pw, co] = shape;
    super([n, ph * 2, pw * 2, co], n * ph * pw * co);
  }

  getUserCode(): string {
    return `
      fn main(index : i32) {
        if (index >= uniforms.threads) { return; }
        let CO = uniforms.dyShape[3];
        let PW = uniforms.dyShape[2];
        let PH = uniforms.dyShape[1];
        let ch = index % CO;
        var r = index / CO;
        let px = r % PW;
        r = r / PW;
        let py = r % PH;
        let b = r / PH;
        let p = pooled[index];
        let g = select(0.0, dy[index], p > 0.0);
        let choice = i32(bitcast<u32>(p) & 3u);
        let at = ((b * PH * 2 + py * 2) * PW * 2 + px * 2) * CO + ch;
        let down = PW * 2 * CO;
        result[at] = select(0.0, g, choice == 0);
        result[at + CO] = select(0.0, g, choice == 1);
        result[at + down] = select(0.0, g, choice == 2);
        result[at + down + CO] = select(0.0, g, choice == 3);
      }
    `;
  }
}

/**
 * `maxPool2x2(relu(conv2d(x, w) + bias))`, `[batch, OH/2, OW/2, CO]`, with the window positions it chose in
 * the values' lowest bits. `c` must satisfy {@linkcode convReluPoolApplies}.
 */
export function convReluPoolForward(
  backend: WebGPUBackendLike,
  x: tf.TensorInfo,
  w: tf.TensorInfo,
  bias: tf.TensorInfo,
  c: ConvInfo,
): tf.TensorInfo {
  const { px, groups } = block(c);
  return runFlat(backend, new ConvReluPoolProgram(c, px, groups), [x, w, bias]);
}

/** The conv output's gradient from the pooled output's `dy` and {@linkcode convReluPoolForward}'s output. */
export function unpoolGrad(
  backend: WebGPUBackendLike,
  dy: tf.TensorInfo,
  pooled: tf.TensorInfo,
): tf.TensorInfo {
  return runFlat(backend, new UnpoolGradProgram(dy.shape), [dy, pooled]);
}
