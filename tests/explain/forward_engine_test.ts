/**
 * Forward-only work on tfjs's wasm backend: the same maps and curves as on the active backend, for hans's CNN
 * (fused kernels on WebGPU) and a MobileNetV2-like GraphModel (BatchNorm folded, depthwise convs, residual
 * adds); the models keep working on WebGPU afterwards; the choice is measured and recorded.
 */
import assert from "node:assert/strict";
import { importWasmBackend, tf } from "../../src/deps.ts";
import { HansError } from "../../src/errors.ts";
import {
  forwardEngineOf,
  type ForwardEnginePolicy,
  gradientEngineOf,
  setForwardEnginePolicy,
} from "../../src/model/forward_engine.ts";
import { disposeLoaded, loadModel } from "../../src/explain/load.ts";
import { type ExplainableModel, fromLayersModel } from "../../src/explain/explainable_model.ts";
import { inputGradients } from "../../src/explain/batching.ts";
import { explainTargets, METHODS } from "../../src/explain/registry.ts";
import { riseMasks } from "../../src/explain/rise.ts";
import { targetWeights } from "../../src/explain/target.ts";
import { deletion, insertion } from "../../src/measure/faithfulness.ts";
import { createCnn } from "../../src/model/cnn.ts";
import { asClassifier, type Classifier, predictLogits } from "../../src/model/predict.ts";
import { Rng } from "../../src/rng.ts";
import { mobileNetV2Like, toGraphModel, writeModelFolder } from "../fixtures/real_models.ts";
import { maxAbsDiff, take, webgpuTest } from "../gpu.ts";

function images(n: number, h: number, w: number, c: number, seed: number): tf.Tensor4D {
  const rng = new Rng(seed);
  return tf.tensor4d(Float32Array.from({ length: n * h * w * c }, () => rng.next()), [n, h, w, c]);
}

const scale = (a: ArrayLike<number>) => Math.max(1e-6, ...Array.from(a, Math.abs));

/** Occlusion and RISE maps, deletion and insertion curves, with the engine `policy` picks for a new model. */
async function forwardOnlyResults(make: () => ExplainableModel, policy: ForwardEnginePolicy, x: tf.Tensor4D) {
  setForwardEnginePolicy(policy);
  try {
    const model = make();
    const target = Array.from({ length: x.shape[0] }, (_, i) => i % model.classes);
    const explain = (name: string, options: Record<string, unknown>) =>
      METHODS.find((m) => m.name === name)!.explain(model, x, target, options);
    const occlusion = await take(await explain("occlusion", { patch: 4, stride: 4 }));
    const rise = await take(await explain("rise", { masks: 24, seed: 2 }));
    const maps = Array.from(occlusion);
    const del = await deletion(model, x, { maps, target, steps: 4 });
    const ins = await insertion(model, x, { maps, target, steps: 4, start: "blur" });
    return { model, occlusion, rise, curves: [...del.curves.flat(), ...ins.curves.flat()] };
  } finally {
    setForwardEnginePolicy("auto");
  }
}

webgpuTest(
  "forward-only work on wasm equals the active backend's: hans's CNN and a MobileNetV2-like GraphModel",
  async () => {
    const dir = await Deno.makeTempDir();
    const cnn = createCnn({ height: 16, width: 16, channels: 1, classes: 4, seed: 2 });
    const net = mobileNetV2Like({ height: 16, width: 16, channels: 3, classes: 4, seed: 3 });
    await writeModelFolder(dir, await toGraphModel(net, { fused: true }));
    const loaded = await loadModel(dir);
    try {
      for (
        const [name, make, x] of [
          ["hans's CNN", () => fromLayersModel(cnn), images(3, 16, 16, 1, 1)],
          // A new object each time: the engine is chosen per model object.
          ["a MobileNetV2-like GraphModel", () => ({ ...loaded.explainable }), images(3, 16, 16, 3, 2)],
        ] as const
      ) {
        const here = await forwardOnlyResults(make, "active", x);
        const weights = targetWeights([0, 1, 2], 4);
        const before = tf.memory().numTensors;
        const gradientBefore = await take(inputGradients(here.model, x, weights));
        const wasm = await forwardOnlyResults(make, "wasm", x);
        assert.equal(forwardEngineOf(here.model)?.engine, "webgpu", name);
        assert.equal(
          forwardEngineOf(wasm.model)?.engine,
          "wasm",
          `${name}: ${forwardEngineOf(wasm.model)?.reason}`,
        );
        for (const k of ["occlusion", "rise", "curves"] as const) {
          const d = maxAbsDiff(wasm[k], here[k]);
          assert.ok(d <= 1e-4 * scale(here[k]), `${name}, ${k}: ${d} (scale ${scale(here[k])})`);
        }
        // The weights moved to wasm and come back: the model's gradient on WebGPU is what it was.
        const gradientAfter = await take(inputGradients(here.model, x, weights));
        assert.equal(tf.getBackend(), "webgpu");
        assert.ok(maxAbsDiff(gradientAfter, gradientBefore) <= 1e-6 * scale(gradientBefore), name);
        assert.equal(tf.memory().numTensors - before, 0, `${name}: no tensor left behind`);
        tf.dispose([x, weights]);
      }
    } finally {
      disposeLoaded(loaded);
      cnn.dispose();
      net.dispose();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

webgpuTest(
  "gradient methods on wasm equal the active backend's (MobileNetV2-like GraphModel and LayersModel), maps back on WebGPU",
  async () => {
    const dir = await Deno.makeTempDir();
    const net = mobileNetV2Like({ height: 16, width: 16, channels: 3, classes: 4, seed: 5 });
    await writeModelFolder(dir, await toGraphModel(net, { fused: true }));
    const loaded = await loadModel(dir);
    const x = images(2, 16, 16, 3, 6);
    const methods = [
      "gradient",
      "integrated_gradients",
      "guided_backprop",
      "grad_cam",
      "lrp_epsilon",
    ] as const;
    try {
      for (
        const [name, make] of [
          ["GraphModel", () => ({ ...loaded.explainable })],
          ["LayersModel", () => fromLayersModel(net)],
        ] as const
      ) {
        const results: Record<string, Float32Array[]> = {};
        for (const policy of ["active", "wasm"] as const) {
          setForwardEnginePolicy(policy);
          const model = make();
          try {
            for (const m of methods) {
              const options = m === "integrated_gradients" ? { steps: 8, maxSteps: 8 } : undefined;
              const out = await explainTargets(m, model, x, [[0, 1], [2, 3]], options);
              assert.equal(tf.getBackend(), "webgpu");
              (results[m] ??= []).push(...await Promise.all(out.maps.map(take)));
            }
          } finally {
            setForwardEnginePolicy("auto");
          }
          assert.equal(gradientEngineOf(model)?.engine, policy === "wasm" ? "wasm" : "webgpu", name);
        }
        for (const m of methods) {
          const [p, q, pw, qw] = results[m];
          for (const [a, b] of [[p, pw], [q, qw]]) {
            assert.ok(a.some((v) => v !== 0), `${name} ${m}: all-zero maps`);
            const d = maxAbsDiff(b, a);
            assert.ok(d <= 1e-4 * scale(a), `${name} ${m}: ${d} (scale ${scale(a)})`);
          }
        }
      }
    } finally {
      x.dispose();
      disposeLoaded(loaded);
      net.dispose();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

webgpuTest("the engine is measured: both rates recorded, the faster one runs", async () => {
  const cnn = createCnn({ height: 16, width: 16, channels: 1, classes: 4, seed: 2 });
  const model = fromLayersModel(cnn);
  const x = images(2, 16, 16, 1, 3);
  const maps = await METHODS.find((m) => m.name === "occlusion")!.explain(model, x, [0, 1]);
  const choice = forwardEngineOf(model)!;
  assert.deepEqual(Object.keys(choice.imagesPerSecond).sort(), ["wasm", "webgpu"]);
  const [faster] = Object.entries(choice.imagesPerSecond).sort((a, b) => b[1] - a[1]);
  assert.equal(choice.engine, faster[0]);
  assert.match(choice.reason, /ran a forward pass faster than/);
  tf.dispose([x, maps]);
  cnn.dispose();
});

webgpuTest("a model given as a plain function stays on the active backend, and says why", async () => {
  const w = tf.randomNormal([16, 3], 0, 1, "float32", 1);
  const model: ExplainableModel = {
    classes: 3,
    logits: (x) => tf.matMul(x.reshape([x.shape[0], 16]), w) as tf.Tensor2D,
  };
  const x = images(2, 4, 4, 1, 4);
  const maps = await METHODS.find((m) => m.name === "rise")!.explain(model, x, [0, 2], { masks: 8 });
  assert.equal(forwardEngineOf(model)?.engine, "webgpu");
  assert.match(forwardEngineOf(model)!.reason, /plain function/);
  tf.dispose([w, x, maps]);
});

webgpuTest("a caller's mistake on the wasm engine is the caller's error, and the engine stays", async () => {
  const cnn = createCnn({ height: 8, width: 8, channels: 1, classes: 2, seed: 1 });
  const model = fromLayersModel(cnn);
  const x = images(2, 8, 8, 1, 5);
  const maps = Array.from({ length: 2 * 64 }, (_, i) => i % 64);
  setForwardEnginePolicy("wasm");
  await deletion(model, x, { maps, target: [0, 1], steps: 2 }); // the engine is chosen here
  setForwardEnginePolicy("auto");
  assert.equal(forwardEngineOf(model)?.engine, "wasm");
  await assert.rejects(() => deletion(model, x, { maps, target: [0, 1], steps: 0 }), HansError);
  assert.equal(forwardEngineOf(model)?.engine, "wasm");
  assert.equal(tf.getBackend(), "webgpu");
  x.dispose();
  cnn.dispose();
});

Deno.test({
  name:
    "RISE's masks are the same on wasm as on the cpu backend (tfjs's wasm cropAndResize drops column shifts)",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const active = tf.getBackend();
    await importWasmBackend();
    try {
      const masks: Float32Array[] = [];
      for (const backend of ["cpu", "wasm"]) {
        assert.ok(await tf.setBackend(backend), backend);
        masks.push(await take(riseMasks(20, 12, { masks: 40, grid: 4, seed: 7 })));
      }
      assert.ok(maxAbsDiff(masks[0], masks[1]) <= 1e-6);
    } finally {
      await tf.setBackend(active);
    }
  },
});

webgpuTest(
  "predictions on wasm equal WebGPU's, and run there where the classifier lists its tensors",
  async () => {
    const cnn = createCnn({ height: 12, width: 12, channels: 1, classes: 3, seed: 4 });
    const rng = new Rng(6);
    const data = {
      name: "random",
      images: Float32Array.from({ length: 70 * 144 }, () => rng.next()),
      labels: new Int32Array(70),
      count: 70,
      height: 12,
      width: 12,
      channels: 1,
      classNames: ["a", "b", "c"],
    };
    const logits: Float32Array[] = [];
    for (const policy of ["active", "wasm"] as const) {
      setForwardEnginePolicy(policy);
      const seen = new Set<string>();
      const plain = asClassifier(cnn);
      const classifier: Classifier = {
        predict: (x) => {
          seen.add(tf.getBackend());
          return plain.predict(x);
        },
        tensors: plain.tensors,
      };
      try {
        logits.push((await predictLogits(classifier, data, { batchSize: 32 })).logits);
      } finally {
        setForwardEnginePolicy("auto");
      }
      // The probe runs on both engines under `auto` only; `wasm` runs every batch there.
      assert.deepEqual([...seen], policy === "wasm" ? ["wasm"] : ["webgpu"], policy);
    }
    assert.ok(maxAbsDiff(logits[1], logits[0]) <= 1e-5 * scale(logits[0]));
    assert.equal(tf.getBackend(), "webgpu");
    cnn.dispose();
  },
);
