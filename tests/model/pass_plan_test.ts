/**
 * The batch planner: passes sized by bytes against the device's buffer limits and the memory budget. With a
 * fake binding limit small enough that every method must split its work into many passes, the maps equal those
 * of one unsplit pass; a single image that cannot fit is one clear error naming the limit.
 */
import assert from "node:assert/strict";
import { heldBytes, overrideDeviceLimits, pooledBytes, releasePooledBuffers } from "../../src/backend.ts";
import { tf } from "../../src/deps.ts";
import { HansError } from "../../src/errors.ts";
import { fromLayersModel } from "../../src/explain/explainable_model.ts";
import { explain, type MethodName, METHODS } from "../../src/explain/registry.ts";
import { measurePassCost, planPass } from "../../src/model/pass_plan.ts";
import { Rng } from "../../src/rng.ts";
import { gpuTest, maxAbsDiff, take } from "../gpu.ts";

const [H, W, C, K] = [12, 12, 2, 3];

/** A small CNN with every kind of layer the methods look at. */
function cnn(): tf.Sequential {
  return tf.sequential({
    layers: [
      tf.layers.conv2d({
        inputShape: [H, W, C],
        filters: 6,
        kernelSize: 3,
        padding: "same",
        activation: "relu",
      }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: "same", activation: "relu" }),
      tf.layers.flatten(),
      tf.layers.dense({ units: K }),
    ],
  });
}

function images(n: number): tf.Tensor4D {
  const rng = new Rng(4);
  return tf.tensor4d(Float32Array.from({ length: n * H * W * C }, () => rng.next()), [n, H, W, C]);
}

/** Settings that make every method quick and deterministic (maps must not depend on the batching). */
const OPTIONS: Record<string, Record<string, unknown>> = {
  smoothgrad: { samples: 5 },
  smoothgrad_sq: { samples: 5 },
  vargrad: { samples: 5 },
  integrated_gradients: { steps: 4, tolerance: 0.01, maxSteps: 64 },
  occlusion: { patch: 3, stride: 2 },
  rise: { masks: 20 },
};

gpuTest("every method split into passes by a small binding limit gives the maps of one pass", async () => {
  const net = cnn();
  const model = fromLayersModel(net);
  const x = images(6);
  const target = { p: [0, 1, 2, 0, 1, 2], q: [1, 2, 0, 2, 0, 1] };
  try {
    const whole: Record<string, Float32Array> = {};
    for (const m of METHODS) {
      whole[m.name] = await take(await explain(m.name as MethodName, model, x, target, OPTIONS[m.name]));
    }
    // The largest buffer of a pass is the first conv's output (12·12·6 floats) or its im2col matrix (12·12·18):
    // at 16 KB a pass takes one or two images, or for occlusion and RISE a few masked copies.
    const perImage = (await measurePassCost(model, [H, W, C], "backward")).largestPerImage;
    overrideDeviceLimits({ maxBindingBytes: 16 * 1024 });
    const plan = await planPass(model, [H, W, C], { kind: "backward" });
    assert.equal(plan.boundBy, "binding");
    assert.equal(plan.inputs, Math.floor(16 * 1024 / perImage));
    assert.ok(plan.inputs < x.shape[0] && plan.inputs >= 1, `${plan.inputs} images a pass`);
    for (const m of METHODS) {
      const split = await take(await explain(m.name as MethodName, model, x, target, OPTIONS[m.name]));
      const scale = Math.max(...whole[m.name].map(Math.abs), 1e-6);
      assert.ok(
        maxAbsDiff(split, whole[m.name]) <= 1e-4 * scale,
        `${m.name}: ${maxAbsDiff(split, whole[m.name])} at scale ${scale}`,
      );
    }
  } finally {
    overrideDeviceLimits(undefined);
    x.dispose();
    net.dispose();
  }
});

gpuTest("an image whose largest buffer exceeds the binding limit is one error naming the limit", async () => {
  const net = cnn();
  const model = fromLayersModel(net);
  const x = images(2);
  try {
    overrideDeviceLimits({ maxBindingBytes: 1024 });
    for (const name of ["gradient", "occlusion", "grad_cam"] as const) {
      await assert.rejects(
        explain(name, model, x, [0, 1]),
        (e: Error) =>
          e instanceof HansError &&
          /needs a .* buffer .*maxStorageBufferBindingSize.*--backend cpu/.test(e.message),
        name,
      );
    }
  } finally {
    overrideDeviceLimits(undefined);
    x.dispose();
    net.dispose();
  }
});

gpuTest(
  "the memory budget bounds a pass: fewer images under a tighter budget, an error when none fits",
  async () => {
    const net = cnn();
    const model = fromLayersModel(net);
    const shape: [number, number, number] = [H, W, C];
    const saved = Deno.env.get("HANS_MAX_MEMORY_MB");
    try {
      const cost = await measurePassCost(model, shape, "backward");
      // The planner frees tfjs's pool when it stands in a pass's way: count without it.
      releasePooledBuffers();
      const held = heldBytes();
      // Room for about 10 images' passes above what the process holds (70% of the free budget is one pass's).
      const mb = (held + (10 * cost.bytesPerImage + cost.fixedBytes) / 0.7) / 2 ** 20;
      Deno.env.set("HANS_MAX_MEMORY_MB", String(mb));
      const plan = await planPass(model, shape, { kind: "backward", requested: 1000 });
      assert.equal(plan.boundBy, "memory");
      assert.ok(plan.inputs >= 9 && plan.inputs <= 10, `${plan.inputs} images a pass`);
      // One image fits all of the free budget but not 70% of it: one image a pass.
      Deno.env.set(
        "HANS_MAX_MEMORY_MB",
        String((held + (cost.bytesPerImage + cost.fixedBytes) / 0.85) / 2 ** 20),
      );
      const one = await planPass(model, shape, { kind: "backward", requested: 1000 });
      assert.equal(one.inputs, 1);
      Deno.env.set("HANS_MAX_MEMORY_MB", String(held / 2 ** 20));
      await assert.rejects(
        planPass(model, shape, { kind: "backward", label: "Gradient" }),
        /Gradient on one 12x12x2 image needs about .* memory budget; raise HANS_MAX_MEMORY_MB/,
      );
    } finally {
      if (saved === undefined) Deno.env.delete("HANS_MAX_MEMORY_MB");
      else Deno.env.set("HANS_MAX_MEMORY_MB", saved);
      net.dispose();
    }
  },
);

gpuTest(
  "the planner frees tfjs's pooled buffers when they stand in a pass's way, and only then",
  async () => {
    const net = cnn();
    const model = fromLayersModel(net);
    const shape: [number, number, number] = [H, W, C];
    const saved = Deno.env.get("HANS_MAX_MEMORY_MB");
    try {
      // Measured first (and cached), so planning runs no tensor work of its own.
      const cost = await measurePassCost(model, shape, "backward");
      // Fill the pool: tensors made and disposed leave their buffers there.
      const x = tf.randomUniform([64, H, W, C]) as tf.Tensor4D;
      await tf.tidy(() => model.logits(x)).data();
      x.dispose();
      await tf.tidy(() => tf.add(tf.zeros([1 << 16]), 1)).data();
      const pooled = pooledBytes();
      assert.ok(pooled > 0, "the pool holds buffers");
      // A generous budget: the pass fits what is asked for, and the pool stays.
      Deno.env.set("HANS_MAX_MEMORY_MB", "100000");
      await planPass(model, shape, { kind: "backward", requested: 4 });
      assert.equal(pooledBytes(), pooled);
      // A budget the pool crowds: it is freed.
      Deno.env.set("HANS_MAX_MEMORY_MB", String((heldBytes() - pooled + 3 * cost.bytesPerImage) / 2 ** 20));
      await planPass(model, shape, { kind: "backward", requested: 1000 });
      assert.equal(pooledBytes(), 0);
    } finally {
      if (saved === undefined) Deno.env.delete("HANS_MAX_MEMORY_MB");
      else Deno.env.set("HANS_MAX_MEMORY_MB", saved);
      net.dispose();
    }
  },
);
