/**
 * Benchmark workloads: each runs the hans path and the plain tfjs path on the same model and data in one
 * process, and reports both rates and their ratio.
 * @module
 */
import { forwardEngineOf } from "../model/forward_engine.ts";
import { tf } from "../deps.ts";
import {
  counterfactualStepFused,
  counterfactualStepReference,
  type StepSettings,
} from "../kernels/counterfactual_step.ts";
import { findCounterfactuals } from "../counterfactual/optimize.ts";
import { fromLayersModel, settled } from "../explain/explainable_model.ts";
import { method, METHODS } from "../explain/registry.ts";
import { occlusion } from "../explain/occlusion.ts";
import { occlusionReference } from "../explain/occlusion_reference.ts";
import { hansKernelsActive, useHansKernels } from "../kernels/register.ts";
import { createCnn } from "../model/cnn.ts";
import { fusedForward } from "../model/cnn_fused.ts";
import { FusedAdam } from "../kernels/adam.ts";
import { trainModel } from "../model/train.ts";
import { Rng } from "../rng.ts";
import type { Dataset } from "../data/dataset.ts";
import { type AdapterCeiling, adapterCeiling, type Profile, profileWorkload } from "./profile.ts";

/** One workload's result: rates in `unit`, the hans path over the plain tfjs path. */
export interface WorkloadResult {
  unit: string;
  hans: number;
  reference: number;
  ratio: number;
  /** What each path is. */
  note: string;
}

/** Sizes of the workloads; `quick` shrinks them for tests. */
export function benchSizes(quick: boolean) {
  return quick
    ? {
      train: 256,
      gradient: 32,
      ig: 8,
      igSteps: 8,
      occlusion: 4,
      occlusionReference: 1,
      smooth: 8,
      smoothSamples: 8,
      gradCam: 32,
      cf: 8,
      cfSteps: 20,
    }
    : {
      train: 4096,
      gradient: 256,
      ig: 64,
      igSteps: 32,
      occlusion: 64,
      occlusionReference: 4,
      smooth: 64,
      smoothSamples: 32,
      gradCam: 256,
      cf: 64,
      cfSteps: 200,
    };
}

function randomData(n: number, seed: number): Dataset {
  const rng = new Rng(seed);
  return {
    name: "bench",
    images: Float32Array.from({ length: n * 784 }, () => rng.next()),
    labels: Int32Array.from({ length: n }, () => rng.int(10)),
    count: n,
    height: 28,
    width: 28,
    channels: 1,
    classNames: [..."0123456789"],
  };
}

/** `n` seeded noise images of the bench's 28×28×1 shape. */
const images = (n: number) => tf.tensor4d(randomData(n, 5).images, [n, 28, 28, 1]);
/** Targets 0, 1, …, 9, 0, … for `n` images. */
const targets = (n: number) => Array.from({ length: n }, (_, i) => i % 10);

/** Timed runs of hans's side of each workload, of which the median counts (the PyTorch peer's protocol). */
const HANS_RUNS = 3;

/** Seconds of `fn` after one untimed run (shader compilation): the median of `runs` timed runs. */
async function timed(fn: () => Promise<unknown>, runs = 1): Promise<number> {
  await fn();
  const seconds: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await fn();
    seconds.push((performance.now() - start) / 1000);
  }
  return seconds.sort((a, b) => a - b)[Math.floor(runs / 2)];
}

async function sync(t: tf.Tensor | Promise<tf.Tensor>): Promise<void> {
  const tensor = await t;
  await tensor.data();
  tensor.dispose();
}

/**
 * Maps/s of every registered method (batched, the method's defaults; a forward-only method its light settings,
 * RISE's 200 masks, since its default 1000 would take the bench minutes) on `n` images.
 */
export async function methodRates(n: number, log: (line: string) => void): Promise<Record<string, number>> {
  const cnn = createCnn({ height: 28, width: 28, channels: 1, classes: 10, seed: 3 });
  const model = await settled(fromLayersModel(cnn));
  const x = tf.tensor4d(randomData(n, 9).images, [n, 28, 28, 1]);
  const target = Array.from({ length: n }, (_, i) => i % 10);
  const out: Record<string, number> = {};
  for (const m of METHODS) {
    const options = m.usesGradient === false ? m.presets?.light : undefined;
    out[m.name] = n / await timed(() => sync(m.explain(model, x, target, options)));
    log(`${m.name.padEnd(22)} ${out[m.name].toFixed(2).padStart(10)} maps/s`);
  }
  x.dispose();
  cnn.dispose();
  return out;
}

/** Runs every workload and returns them by name; `log` gets a line per workload. */
export async function runBench(
  quick: boolean,
  log: (line: string) => void,
): Promise<Record<string, WorkloadResult>> {
  const s = benchSizes(quick);
  const out: Record<string, WorkloadResult> = {};
  const add = (name: string, unit: string, hans: number, reference: number, note: string) => {
    out[name] = { unit, hans, reference, ratio: hans / reference, note };
    log(
      `${name.padEnd(22)} ${hans.toFixed(2).padStart(10)} ${reference.toFixed(2).padStart(10)} ${
        unit.padEnd(10)
      } ` +
        `${(hans / reference).toFixed(2)}x  ${note}`,
    );
  };
  // Training: hans's kernels (the software-adapter choice) against tfjs's own with its default settings.
  const data = randomData(s.train, 1);
  const isWebgpu = tf.getBackend() === "webgpu";
  const kernelsBefore = hansKernelsActive();
  const im2colBefore = tf.env().getBool("WEBGPU_CONV_SEPARATE_IM2COL_SHADER");
  const trainRate = async (hans: boolean) => {
    useHansKernels(hans && isWebgpu);
    tf.env().set("WEBGPU_CONV_SEPARATE_IM2COL_SHADER", hans && im2colBefore);
    const model = createCnn({ height: 28, width: 28, channels: 1, classes: 10, seed: 1 });
    await trainModel(model, randomData(128, 2), { epochs: 1, onProgress: () => {} }); // warm-up
    const rates: number[] = [];
    for (let i = 0; i < (hans ? HANS_RUNS : 1); i++) {
      rates.push((await trainModel(model, data, { epochs: 1, onProgress: () => {} })).samplesPerSecond);
    }
    model.dispose();
    return rates.sort((a, b) => a - b)[Math.floor(rates.length / 2)];
  };
  const trainHans = await trainRate(true);
  const trainRef = await trainRate(false);
  useHansKernels(kernelsBefore);
  tf.env().set("WEBGPU_CONV_SEPARATE_IM2COL_SHADER", im2colBefore);
  add(
    "train",
    "samples/s",
    trainHans,
    trainRef,
    "hans's WGSL kernels vs tfjs's default kernels (Adam, batch 64)",
  );

  const cnn = createCnn({ height: 28, width: 28, channels: 1, classes: 10, seed: 3 });
  const model = await settled(fromLayersModel(cnn));
  const perImage = async (name: string, x: tf.Tensor4D, options?: Record<string, unknown>) => {
    const n = x.shape[0];
    const m = method(name);
    for (let i = 0; i < n; i++) {
      const xi = x.slice([i, 0, 0, 0], [1, -1, -1, -1]);
      await sync(m.explain(model, xi, [i % 10], options));
      xi.dispose();
    }
  };
  const batched = async (name: string, x: tf.Tensor4D, options?: Record<string, unknown>) => {
    await sync(method(name).explain(model, x, targets(x.shape[0]), options));
  };
  for (
    const [name, n, options] of [
      ["gradient", s.gradient, {}],
      ["integrated_gradients", s.ig, { steps: s.igSteps, maxSteps: s.igSteps, method: "riemann_middle" }],
      ["smoothgrad", s.smooth, { samples: s.smoothSamples }],
      ["grad_cam", s.gradCam, {}],
    ] as const
  ) {
    const x = images(n);
    const hans = n / await timed(() => batched(name, x, options), HANS_RUNS);
    const ref = n / await timed(() => perImage(name, x, options));
    add(name, "maps/s", hans, ref, "batched vs one image at a time");
    x.dispose();
  }
  {
    const x = images(s.occlusion);
    const xr = images(s.occlusionReference);
    const ref = s.occlusionReference /
      await timed(() => sync(occlusionReference(model, xr, targets(s.occlusionReference))));
    // As users get it: on the forward-only engine measured faster for this model (wasm or the active one),
    // chosen in the untimed first run.
    const occlusionMethod = method("occlusion");
    const auto = s.occlusion /
      await timed(() => sync(occlusionMethod.explain(model, x, targets(s.occlusion))), HANS_RUNS);
    const engine = forwardEngineOf(model);
    add(
      "occlusion",
      "maps/s",
      auto,
      ref,
      `4x4 patch, stride 2: batched on the forward-only engine (${engine?.engine}: ${engine?.reason}) vs ` +
        "the per-patch loop",
    );
    const hans = s.occlusion / await timed(() => sync(occlusion(model, x, targets(s.occlusion))), HANS_RUNS);
    add(
      "occlusion_active_backend",
      "maps/s",
      hans,
      ref,
      `the same, batched on ${tf.getBackend()}, vs the per-patch loop`,
    );
    x.dispose();
    xr.dispose();
  }
  if (isWebgpu) {
    const n = s.cf;
    const total = n * 784;
    const x0 = images(n);
    const state = tf.concat([x0.reshape([1, total]), tf.zeros([2, total])]) as tf.Tensor2D;
    const grad = tf.randomNormal([n, 28, 28, 1], 0, 0.1, "float32", 7);
    const params = tf.tensor2d(Array.from({ length: n }, () => [0.01, 0.01, 1]).flat(), [n, 3]);
    const steps = s.cfSteps;
    const run = (fn: typeof counterfactualStepFused) => async () => {
      let st = state.clone();
      for (let t = 1; t <= steps; t++) {
        const settings: StepSettings = {
          t,
          learningRate: 0.02,
          beta1: 0.9,
          beta2: 0.999,
          epsilon: 1e-8,
          range: [0, 1],
        };
        const next = fn({ original: x0, state: st, grad, params }, settings);
        st.dispose();
        st = next;
      }
      await sync(st);
    };
    const hans = steps / await timed(run(counterfactualStepFused), HANS_RUNS);
    const ref = steps / await timed(run(counterfactualStepReference));
    add(
      "counterfactual_step",
      "steps/s",
      hans,
      ref,
      `update step alone, ${n} images: fused WGSL vs plain tfjs ops`,
    );
    const labels = targets(n);
    const loop = (reference: boolean) => () =>
      findCounterfactuals(model, x0, labels, { steps, rounds: 1, reference, kappa: 1e9 });
    const hansLoop = n / await timed(loop(false), HANS_RUNS);
    const refLoop = n / await timed(loop(true));
    add("counterfactual", "images/s", hansLoop, refLoop, `${steps} Adam steps incl. the model's gradient`);
    [x0, state, grad, params].forEach((t) => t.dispose());
  }
  cnn.dispose();
  return out;
}

/** What `deno task bench --profile` measures: the adapter's ceiling and each workload kernel by kernel. */
export interface BenchProfile {
  ceiling: AdapterCeiling;
  /** Per workload: one training step of 64, or one batch of each explanation workload at the bench's sizes. */
  workloads: Record<string, Profile>;
}

/**
 * Profiles one training step (Adam, batch 64) and one batch of each explanation workload of {@linkcode runBench}
 * (the same sizes), kernel by kernel, with the kernels the backend has active, and measures the adapter's
 * ceiling. `log` gets the ceiling and each workload's five slowest rows.
 */
export async function profileBench(quick: boolean, log: (line: string) => void): Promise<BenchProfile> {
  const s = benchSizes(quick);
  const ceiling = await adapterCeiling(3, quick);
  log(
    `ceiling: matrix product ${ceiling.matmulGflops.toFixed(1)} GFLOP/s (${ceiling.matmulBest}), ` +
      `copy ${ceiling.copyGbps.toFixed(1)} GB/s (${ceiling.copyBest})`,
  );
  const cnn = createCnn({ height: 28, width: 28, channels: 1, classes: 10, seed: 3 });
  const model = await settled(fromLayersModel(cnn));
  const explain = (name: string, n: number, options: Record<string, unknown> = {}) => {
    const x = images(n);
    // Occlusion on the active backend: the profile is of its kernels, not of the wasm engine's.
    const fn = name === "occlusion" ? occlusion : method(name).explain;
    return { run: () => fn(model, x, targets(n), options), done: () => x.dispose() };
  };
  const fused = fusedForward(cnn);
  const optimizer = fused ? new FusedAdam(1e-3) : tf.train.adam(1e-3);
  const batch = images(64);
  const y = tf.tidy(() => tf.oneHot(tf.tensor1d(targets(64), "int32"), 10));
  const workloads: [string, { run: () => unknown; done: () => void }][] = [
    ["train step (64)", {
      run: () =>
        tf.tidy(() =>
          optimizer.minimize(() => {
            const logits = fused
              ? fused(batch, { input: false, weights: true })
              : cnn.apply(batch, { training: true }) as tf.Tensor2D;
            return tf.losses.softmaxCrossEntropy(y, logits);
          }, true)!
        ),
      done: () => {},
    }],
    [`gradient (${s.gradient})`, explain("gradient", s.gradient)],
    [
      `integrated_gradients (${s.ig} × ${s.igSteps} steps)`,
      explain("integrated_gradients", s.ig, { steps: s.igSteps, maxSteps: s.igSteps }),
    ],
    [
      `smoothgrad (${s.smooth} × ${s.smoothSamples})`,
      explain("smoothgrad", s.smooth, { samples: s.smoothSamples }),
    ],
    [`grad_cam (${s.gradCam})`, explain("grad_cam", s.gradCam)],
    [`occlusion (${s.occlusion})`, explain("occlusion", s.occlusion)],
  ];
  const out: Record<string, Profile> = {};
  for (const [name, w] of workloads) {
    const p = await profileWorkload(w.run, quick ? 1 : 3);
    w.done();
    out[name] = p;
    log(
      `${name}: ${p.workloadMs.toFixed(1)} ms whole, ${p.kernelMs.toFixed(1)} ms as the sum of ${p.calls} ` +
        `kernel calls replayed alone`,
    );
    for (const r of p.rows.slice(0, 5)) {
      log(
        `  ${r.kernel.padEnd(22)} ${r.ms.toFixed(2).padStart(8)} ms ${String(r.calls).padStart(4)}× ` +
          `${r.gflops.toFixed(1).padStart(6)} GFLOP/s ${r.gbps.toFixed(2).padStart(6)} GB/s  ${r.shapes}`,
      );
    }
  }
  tf.dispose([batch, y]);
  optimizer.dispose();
  cnn.dispose();
  return { ceiling, workloads: out };
}
