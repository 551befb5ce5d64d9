/**
 * The real-size benchmark (`deno task bench --real`): the workloads R1–R6 of the PyTorch + Captum peer
 * (`shared/peer/bench_torch_real.py`) on the same network, Keras applications' MobileNetV2 (width 1.0,
 * 224×224×3, 1,000 classes) with seeded weights, in the peer's units. Each workload picks its targets with a
 * forward pass (the predicted class), as the peer does, and counts a warm-up run out: its rate is the median of
 * three timed runs.
 * @module
 */
import { tf } from "../deps.ts";
import { fromLayersModel, settled } from "../explain/explainable_model.ts";
import { explain, type MethodName, type MethodOptionsByName } from "../explain/registry.ts";
import { forwardEngineOf, gradientEngineOf, onForwardEngine } from "../model/forward_engine.ts";
import { mobileNetV2 } from "../model/mobilenet_v2.ts";
import { Rng } from "../rng.ts";
import { predictWithConfidence } from "../explain/model_checks.ts";

/** One real-size workload: its rate in the peer's unit, and what it is. */
export interface RealWorkloadResult {
  /** The peer's workload id (R1–R6). */
  id: string;
  unit: string;
  /** Median rate of three timed runs. */
  rate: number;
  /** The three timed runs' seconds. */
  runs: number[];
  note: string;
}

/** Timed runs per workload after the warm-up; the median counts. */
const RUNS = 3;

/** `n` seeded uniform images 224×224×3 (the peer draws torch.rand). */
function images(n: number): tf.Tensor4D {
  const rng = new Rng(n);
  return tf.tensor4d(Float32Array.from({ length: n * 224 * 224 * 3 }, () => rng.next()), [n, 224, 224, 3]);
}

/** Seconds of each of `RUNS` runs of `fn` after one untimed run. */
async function timedRuns(fn: () => Promise<unknown>, runs: number): Promise<number[]> {
  await fn();
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await fn();
    out.push((performance.now() - start) / 1000);
  }
  return out;
}

/**
 * Runs R1–R6 and returns them by hans's name (`real_predict`, …); `log` gets a line per workload.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 *
 * await tf.setBackend("cpu");
 * // About a minute even with `quick` (one image of a narrow MobileNetV2, one timed run), so this example runs
 * // it only when asked; tests/tasks/bench_test.ts runs `bench --real --quick` every time.
 * if (Deno.env.get("HANS_RUN_BENCH_EXAMPLE") === "1") {
 *   const workloads = await runRealBench(console.log, true);
 *   assert.ok(workloads.real_gradient.rate > 0);
 *   console.log(workloads.real_gradient.rate, "maps/s");
 * }
 * ```
 */
export async function runRealBench(
  log: (line: string) => void,
  quick = false,
): Promise<Record<string, RealWorkloadResult>> {
  // `quick` (for tests): width 0.35, one image, few points, one timed run.
  const net = mobileNetV2({ alpha: quick ? 0.35 : 1, size: 224, classes: 1000, seed: 1 });
  const runs = quick ? 1 : RUNS;
  const count = (n: number) => (quick ? 1 : n);
  const model = await settled(fromLayersModel(net));
  const out: Record<string, RealWorkloadResult> = {};
  /**
   * The predicted class of each image: one forward pass, as the peer's `predicted(x)`, on the engine a run
   * predicts on (the forward engine, as `predictWithConfidence`).
   */
  const predicted = (x: tf.Tensor4D) =>
    onForwardEngine(model, x, async (xs) => {
      const arg = tf.tidy(() => tf.argMax(model.logits(xs), 1));
      const classes = Array.from(await arg.data());
      arg.dispose();
      return classes;
    });
  const record = async (
    name: string,
    id: string,
    n: number,
    unit: string,
    note: string,
    fn: () => Promise<void>,
  ) => {
    const seconds = await timedRuns(fn, runs);
    const median = [...seconds].sort((a, b) => a - b)[Math.floor(runs / 2)];
    out[name] = { id, unit, rate: n / median, runs: seconds, note };
    log(`${name.padEnd(28)} ${(n / median).toFixed(3).padStart(9)} ${unit.padEnd(9)} ${id}  ${note}`);
  };
  const maps =
    <N extends MethodName>(name: N, x: tf.Tensor4D, options?: MethodOptionsByName[N]) => async () => {
      const m = await explain(name, model, x, await predicted(x), options);
      await m.data();
      m.dispose();
    };
  {
    const n = count(8);
    const x = images(n);
    const data = {
      name: "bench",
      images: await x.data() as Float32Array,
      labels: new Int32Array(n),
      count: n,
      height: 224,
      width: 224,
      channels: 3,
      classNames: [],
    };
    await record("real_predict", "R1", n, "images/s", `predicted class of ${n} images`, async () => {
      await predictWithConfidence(model, data);
    });
    out.real_predict.note += ` (on ${forwardEngineOf(model)?.engine ?? tf.getBackend()})`;
    await record("real_gradient", "R2", n, "maps/s", `|∂score/∂x| of ${n} images`, maps("gradient", x));
    await record(
      "real_grad_cam",
      "R4",
      8,
      "maps/s",
      `Grad-CAM at out_relu (7×7) of ${n} images`,
      maps("grad_cam", x),
    );
    x.dispose();
  }
  {
    const [n, steps] = [count(4), quick ? 4 : 32];
    const x = images(n);
    await record(
      "real_integrated_gradients",
      "R3",
      n,
      "maps/s",
      `${steps} Gauss–Legendre points, no refinement, ${n} images`,
      maps("integrated_gradients", x, { steps, maxSteps: steps }),
    );
    x.dispose();
  }
  {
    const x = images(1);
    await record(
      "real_occlusion",
      "R5",
      1,
      "maps/s",
      quick
        ? "112×112 patch, stride 112 (4 positions), 1 image"
        : "16×16 patch, stride 8 (729 positions), 1 image",
      maps("occlusion", x, quick ? { patch: 112, stride: 112 } : { patch: 16, stride: 8 }),
    );
    x.dispose();
  }
  {
    const [n, samples] = [count(2), quick ? 2 : 16];
    const x = images(n);
    await record(
      "real_smoothgrad",
      "R6",
      n,
      "maps/s",
      `${samples} noisy copies, σ = 0.15, ${n} images`,
      maps("smoothgrad", x, { samples, noiseLevel: 0.15 }),
    );
    x.dispose();
  }
  const gradientEngine = gradientEngineOf(model)?.engine ?? tf.getBackend();
  for (const name of ["real_gradient", "real_grad_cam", "real_integrated_gradients", "real_smoothgrad"]) {
    out[name].note += ` (on ${gradientEngine})`;
  }
  out.real_occlusion.note += ` (on ${forwardEngineOf(model)?.engine ?? tf.getBackend()})`;
  net.dispose();
  return out;
}
