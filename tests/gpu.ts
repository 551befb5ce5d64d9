/**
 * Test helpers: start the backend once (WebGPU when there is an adapter) and register tests that use it.
 * @module
 */
import { initBackend, requestWebGpuAdapter } from "../src/backend.ts";
import { tf } from "../src/deps.ts";

/** True when this machine has a WebGPU adapter (a GPU or Mesa's software one). */
export const HAS_WEBGPU: boolean = (await requestWebGpuAdapter()) !== null;

/**
 * Registers a test of hans's WGSL code: it runs only on WebGPU and is reported as ignored (not passed) on a
 * machine without an adapter.
 */
export function webgpuTest(name: string, fn: () => Promise<void> | void): void {
  Deno.test({
    name,
    ignore: !HAS_WEBGPU,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      await initBackend({ warn: false });
      if (tf.getBackend() !== "webgpu") throw new Error(`WebGPU test ran on ${tf.getBackend()}`);
      await fn();
    },
  });
}

/** Registers a test that needs the tfjs backend; WebGPU keeps async work alive, so the op sanitizers are off. */
export function gpuTest(name: string, fn: () => Promise<void> | void): void {
  Deno.test({
    name,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      await initBackend({ warn: false });
      await fn();
    },
  });
}

/** Largest absolute difference between two arrays of the same length. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

/** Reads a tensor back and disposes it. */
export async function take(t: tf.Tensor): Promise<Float32Array> {
  const v = await t.data() as Float32Array;
  t.dispose();
  return v;
}

/** A linear classifier `flatten → dense(classes)` with the given kernel `[H*W*C, classes]` and bias. */
export function linearModel(
  shape: [number, number, number],
  kernel: Float32Array,
  bias: Float32Array,
): tf.Sequential {
  const classes = bias.length;
  const model = tf.sequential({
    layers: [tf.layers.flatten({ inputShape: shape }), tf.layers.dense({ units: classes })],
  });
  model.layers[1].setWeights([tf.tensor2d(kernel, [kernel.length / classes, classes]), tf.tensor1d(bias)]);
  return model;
}

/** Pearson's correlation of two arrays of the same length. */
export function pearson(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  let ma = 0, mb = 0;
  for (let i = 0; i < n; i++) (ma += a[i] / n), (mb += b[i] / n);
  let sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) ** 2;
    sbb += (b[i] - mb) ** 2;
  }
  return sab / Math.sqrt(saa * sbb);
}
