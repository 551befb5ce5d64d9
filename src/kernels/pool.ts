/**
 * WGSL max pooling and its gradient (NHWC, any window, stride and padding, dilation 1), one thread per value
 * and no workgroup memory. Ties go to the last maximum in scan order, as in tfjs's WebGPU kernels.
 * @module
 */
import type { tf } from "../deps.ts";
import { geometryKey } from "./conv2d_geometry.ts";
import { FlatProgram, runFlat, type WebGPUBackendLike } from "./program.ts";

type PoolInfo = tf.backend_util.Conv2DInfo;

function geometry(c: PoolInfo): string {
  return `
    const FH = ${c.filterHeight}; const FW = ${c.filterWidth}; const CH = ${c.inChannels};
    const IH = ${c.inHeight}; const IW = ${c.inWidth}; const OH = ${c.outHeight}; const OW = ${c.outWidth};
    const SH = ${c.strideHeight}; const SW = ${c.strideWidth};
    const PT = ${c.padInfo.top}; const PL = ${c.padInfo.left};`;
}

/**
 * WGSL that bounds the thread index and splits it into channel `ch`, column `x`, row `y` and image `b` of a
 * `[batch, H, W, CH]` position (`W` and `H` name the width and height constants).
 */
function decodePosition(x: string, y: string, W: string, H: string): string {
  return `if (index >= uniforms.threads) { return; }
        let ch = index % CH;
        var r = index / CH;
        let ${x} = r % ${W};
        r = r / ${W};
        let ${y} = r % ${H};
        let b = r / ${H};`;
}

/** The flat index of the window's maximum (last one on ties) for output (b, oy, ox, ch). */
const ARGMAX = `
  fn windowArgmax(b : i32, oy : i32, ox : i32, ch : i32) -> i32 {
    var best = -1;
    var bestValue = 0.0;
    for (var fy = 0; fy < FH; fy++) {
      let iy = oy * SH - PT + fy;
      if (iy < 0 || iy >= IH) { continue; }
      for (var fx = 0; fx < FW; fx++) {
        let ix = ox * SW - PL + fx;
        if (ix < 0 || ix >= IW) { continue; }
        let at = ((b * IH + iy) * IW + ix) * CH + ch;
        let v = x[at];
        if (best < 0 || v >= bestValue) { best = at; bestValue = v; }
      }
    }
    return best;
  }`;

class MaxPoolProgram extends FlatProgram {
  variableNames = ["x"];
  shaderKey: string;

  constructor(private readonly c: PoolInfo) {
    super(
      [c.batchSize, c.outHeight, c.outWidth, c.inChannels],
      c.batchSize * c.outHeight * c.outWidth * c.inChannels,
    );
    this.shaderKey = `hans_maxpool_${geometryKey(c)}`;
  }

  getUserCode(): string {
    return `
      ${geometry(this.c)}
      ${ARGMAX}
      fn main(index : i32) {
        ${decodePosition("ox", "oy", "OW", "OH")}
        let best = windowArgmax(b, oy, ox, ch);
        // A window lying wholly in the padding has no maximum: -infinity, as tfjs's cpu kernel gives. The bits
        // sit in a var: a constant bitcast to -inf is a shader-creation error in Chrome's compiler (Tint).
        var negativeInfinity = 0xff800000u;
        result[index] = select(bitcast<f32>(negativeInfinity), x[max(best, 0)], best >= 0);
      }
    `;
  }
}

/** dx: each input value gets the dy of every window whose maximum it is. */
class MaxPoolGradProgram extends FlatProgram {
  variableNames = ["dy", "x"];
  shaderKey: string;

  constructor(private readonly c: PoolInfo) {
    super(
      [c.batchSize, c.inHeight, c.inWidth, c.inChannels],
      c.batchSize * c.inHeight * c.inWidth * c.inChannels,
    );
    this.shaderKey = `hans_maxpool_grad_${geometryKey(c)}`;
  }

  getUserCode(): string {
    return `
      ${geometry(this.c)}
      ${ARGMAX}
      fn main(index : i32) {
        ${decodePosition("ix", "iy", "IW", "IH")}
        // Windows oy with oy·SH − PT ≤ iy < oy·SH − PT + FH, likewise along x.
        let oyFirst = max(0, (iy + PT - FH + SH) / SH);
        let oyLast = min(OH - 1, (iy + PT) / SH);
        let oxFirst = max(0, (ix + PL - FW + SW) / SW);
        let oxLast = min(OW - 1, (ix + PL) / SW);
        var sum = 0.0;
        for (var oy = oyFirst; oy <= oyLast; oy++) {
          for (var ox = oxFirst; ox <= oxLast; ox++) {
            if (windowArgmax(b, oy, ox, ch) == index) { sum += dy[((b * OH + oy) * OW + ox) * CH + ch]; }
          }
        }
        result[index] = sum;
      }
    `;
  }
}

/**
 * dx when the windows tile the input exactly (stride = window, no padding, input = output × stride): one
 * thread per window finds its maximum once and writes the whole window, dy at the maximum (with `relu`, only
 * when that maximum is above 0) and 0 elsewhere.
 */
class MaxPoolGradTiledProgram extends FlatProgram {
  variableNames = ["dy", "x"];
  shaderKey: string;

  constructor(private readonly c: PoolInfo, private readonly relu: boolean) {
    super(
      [c.batchSize, c.inHeight, c.inWidth, c.inChannels],
      c.batchSize * c.outHeight * c.outWidth * c.inChannels,
    );
    this.shaderKey = `hans_maxpool_grad_tiled_${+relu}_${geometryKey(c)}`;
  }

  getUserCode(): string {
    return `
      ${geometry(this.c)}
      ${ARGMAX}
      fn main(index : i32) {
        ${decodePosition("ox", "oy", "OW", "OH")}
        let best = windowArgmax(b, oy, ox, ch);
        let g = ${this.relu ? "select(0.0, dy[index], x[best] > 0.0)" : "dy[index]"};
        for (var fy = 0; fy < FH; fy++) {
          for (var fx = 0; fx < FW; fx++) {
            let at = ((b * IH + oy * SH + fy) * IW + ox * SW + fx) * CH + ch;
            result[at] = select(0.0, g, at == best);
          }
        }
      }
    `;
  }
}

function tilesExactly(c: PoolInfo): boolean {
  return c.strideHeight === c.filterHeight && c.strideWidth === c.filterWidth && c.padInfo.top === 0 &&
    c.padInfo.left === 0 && c.inHeight === c.outHeight * c.strideHeight &&
    c.inWidth === c.outWidth * c.strideWidth;
}

/** Max pooling of NHWC `x`. */
export function maxPool(backend: WebGPUBackendLike, x: tf.TensorInfo, c: PoolInfo): tf.TensorInfo {
  return runFlat(backend, new MaxPoolProgram(c), [x]);
}

/**
 * The gradient of max pooling with respect to its input `x`, given dy; with `relu`, of `pool(relu(·))` taken
 * from the ReLU's output `x` (zero where the window's maximum is 0), so the two gradients take one pass. The
 * `relu` form needs windows that tile the input exactly.
 */
export function maxPoolGrad(
  backend: WebGPUBackendLike,
  dy: tf.TensorInfo,
  x: tf.TensorInfo,
  c: PoolInfo,
  relu = false,
): tf.TensorInfo {
  if (relu && !tilesExactly(c)) {
    throw new Error("maxPoolGrad: the ReLU form needs windows that tile the input");
  }
  const program = tilesExactly(c) ? new MaxPoolGradTiledProgram(c, relu) : new MaxPoolGradProgram(c);
  return runFlat(backend, program, [dy, x]);
}
