/**
 * The perturbed batches of occlusion and RISE in one WGSL dispatch: every image times every mask (plus a fill
 * where the mask removes the image), written once, with no intermediate tensor.
 * {@link maskedCopiesReference} is the same in tfjs ops (two broadcast ops).
 * @module
 */
import { tf } from "../deps.ts";
import { FlatProgram, runFlat, type WebGPUBackendLike } from "./program.ts";

class MaskedCopiesProgram extends FlatProgram {
  variableNames: string[];
  shaderKey: string;
  override uniforms = "threads : i32, channels : i32, pixels : i32, masks : i32,";

  constructor(outputShape: number[], private readonly hasFill: boolean) {
    super(outputShape, outputShape.reduce((a, b) => a * b, 1));
    this.variableNames = hasFill ? ["x", "keep", "fill"] : ["x", "keep"];
    this.shaderKey = `hans_masked_copies_${+hasFill}`;
  }

  getUserCode(): string {
    return `
      fn main(index : i32) {
        if (index >= uniforms.threads) { return; }
        let c = index % uniforms.channels;
        var r = index / uniforms.channels;
        let pixel = r % uniforms.pixels;
        r = r / uniforms.pixels;
        let mask = r % uniforms.masks;
        let image = r / uniforms.masks;
        let m = mask * uniforms.pixels + pixel;
        let v = x[(image * uniforms.pixels + pixel) * uniforms.channels + c] * keep[m];
        result[index] = ${this.hasFill ? "v + fill[m]" : "v"};
      }
    `;
  }
}

/**
 * `[m·k, H, W, C]`: image `i` times mask `p` at row `i·k + p`, i.e. `x[i] · keep[p] + fill[p]` per pixel
 * (every channel alike). `keep` and `fill` are `[k, H·W]`; without `fill` nothing is added. Runs as one WGSL
 * kernel on the WebGPU backend for float32 inputs, as {@link maskedCopiesReference} otherwise. Not
 * differentiable on the WebGPU path (the kernel is not recorded for gradients); occlusion and RISE need none.
 */
export function maskedCopies(x: tf.Tensor4D, keep: tf.Tensor2D, fill?: tf.Tensor2D): tf.Tensor4D {
  const [m, height, width, channels] = x.shape;
  const k = keep.shape[0];
  const outShape = [m * k, height, width, channels];
  const total = outShape.reduce((a, b) => a * b, 1);
  if (
    keep.shape[1] !== height * width || (fill && (fill.shape[0] !== k || fill.shape[1] !== height * width))
  ) {
    throw new RangeError(
      `masked copies: masks must be [k, ${height * width}], got keep ${keep.shape}` +
        (fill ? ` and fill ${fill.shape}` : ""),
    );
  }
  const float = [x, keep, ...(fill ? [fill] : [])].every((t) => t.dtype === "float32");
  if (tf.getBackend() !== "webgpu" || !float || total >= 2 ** 31) return maskedCopiesReference(x, keep, fill);
  const backend = tf.backend() as unknown as WebGPUBackendLike;
  const info = runFlat(
    backend,
    new MaskedCopiesProgram(outShape, !!fill),
    fill ? [x, keep, fill] : [x, keep],
    [
      { type: "int32", data: [channels] },
      { type: "int32", data: [height * width] },
      { type: "int32", data: [k] },
    ],
  );
  return tf.engine().makeTensorFromTensorInfo(info) as tf.Tensor4D;
}

/** {@link maskedCopies} in plain tfjs ops: one broadcast multiply, one broadcast add. */
export function maskedCopiesReference(x: tf.Tensor4D, keep: tf.Tensor2D, fill?: tf.Tensor2D): tf.Tensor4D {
  const [m, height, width, channels] = x.shape;
  const k = keep.shape[0];
  return tf.tidy(() => {
    const shape = [1, k, height, width, 1];
    const kept = tf.mul(tf.cast(x, "float32").expandDims(1), keep.reshape(shape));
    const out = fill ? tf.add(kept, fill.reshape(shape)) : kept;
    return out.reshape([m * k, height, width, channels]) as tf.Tensor4D;
  });
}
