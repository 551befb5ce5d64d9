import assert from "node:assert/strict";
import { tf } from "../../src/deps.ts";
import { HansError } from "../../src/errors.ts";
import { fromLayersModel } from "../../src/explain/explainable_model.ts";
import { checkOptions } from "../../src/explain/descriptor.ts";
import {
  checkMethodOptions,
  explain,
  explainTargets,
  method,
  METHODS,
  noiseTunnel,
} from "../../src/explain/registry.ts";
import { Rng } from "../../src/rng.ts";
import { gpuTest, linearModel, maxAbsDiff, take } from "../gpu.ts";

Deno.test("every method's defaults pass its own option checks, and a value of the wrong kind fails each option", () => {
  for (const m of METHODS) {
    const defaults = m.defaults([224, 224, 3], {});
    assert.deepEqual(checkOptions(m, defaults), defaults, m.name);
    for (const key of Object.keys(m.options)) {
      assert.throws(
        () => checkOptions(m, { [key]: { wrong: true } }),
        (e: Error) => e instanceof HansError && e.message.startsWith(`${m.name} option ${key} must be`),
        `${m.name}.${key}`,
      );
    }
  }
});

Deno.test("presets and cheaper settings cost fewer passes than what they lighten, at 28×28 and at 224×224", () => {
  // A backward pass costs about five forward passes (the descriptors' own convention).
  const cost = (p: { forward: number; backward: number }) => p.forward + 5 * p.backward;
  for (const size of [[28, 28, 1], [224, 224, 3]] as [number, number, number][]) {
    for (const m of METHODS) {
      const at = (o: Record<string, unknown>) => cost(m.passes(o as never, size));
      const defaults = at({});
      const light = m.presets?.light ? at(m.presets.light) : defaults;
      const quick = m.presets?.quick ? at(m.presets.quick) : light;
      const where = `${m.name} at ${size[0]}×${size[1]}`;
      assert.ok(light <= defaults, `${where}: light ${light} > defaults ${defaults}`);
      assert.ok(quick <= light, `${where}: quick ${quick} > light ${light}`);
      for (const o of [{}, ...(m.presets?.quick ? [m.presets.quick] : [])]) {
        for (const cheaper of m.cheaper?.(o as never) ?? []) {
          assert.ok(at(cheaper) < at(o), `${where}: cheaper ${JSON.stringify(cheaper)} is not cheaper`);
        }
      }
    }
  }
  // What the quick preset saves at 224: occlusion tiles instead of overlapping (197 passes, not 730), and
  // Integrated Gradients refines to 64 points at most.
  assert.deepEqual(method("occlusion").passes({ overlap: false }, [224, 224, 3]), {
    forward: 197,
    backward: 0,
  });
  assert.deepEqual(method("occlusion").passes({}, [224, 224, 3]), { forward: 730, backward: 0 });
});

Deno.test("an unknown method option is an error that names it and the options there are", () => {
  assert.throws(
    () => checkMethodOptions("smoothgrad", { sample: 16 }),
    (e: Error) =>
      e instanceof HansError && /smoothgrad has no option "sample"; it takes samples,/.test(e.message),
  );
  checkMethodOptions("rise", { masks: 500, seed: 3 });
  // A misspelt method name among a run's method options is an error too, not ignored.
  assert.throws(
    () => checkMethodOptions("smoothgard", { samples: 4 }),
    /unknown saliency method "smoothgard"/,
  );
});

gpuTest(
  "the SmoothGrad family rejects a number of copies it cannot draw (it gave NaN and zero maps)",
  async () => {
    const net = linearModel([2, 2, 1], new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]), new Float32Array([0, 0]));
    const model = fromLayersModel(net);
    const x = tf.ones([1, 2, 2, 1]) as tf.Tensor4D;
    await assert.rejects(explain("smoothgrad", model, x, [0], { samples: 0 }), HansError);
    await assert.rejects(
      explain("vargrad", model, x, [0], { samples: -3 }),
      /vargrad option samples must be/,
    );
    await assert.rejects(explain("smoothgrad_sq", model, x, [0], { noiseLevel: NaN }), /noiseLevel must be/);
    x.dispose();
    net.dispose();
  },
);

Deno.test("Integrated Gradients' option values are checked: steps, maxSteps ≥ steps, tolerance > 0, the rule", () => {
  const ig = (options: Record<string, unknown>) => () => checkMethodOptions("integrated_gradients", options);
  ig({ steps: 8, method: "riemann_middle", tolerance: 0.01, maxSteps: 8 })();
  ig({ method: "gausslegendre", tolerance: 1e-6 })();
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ tolerance: 0 }, /tolerance must be a finite number > 0; got 0\./],
    [{ tolerance: -0.1 }, /tolerance must be a finite number > 0; got -0.1/],
    [{ tolerance: "0.01" }, /tolerance must be a finite number > 0; got "0.01"/],
    [{ tolerance: Infinity }, /tolerance must be .*got Infinity/],
    [{ method: "trapezoid" }, /method must be one of "gausslegendre", "riemann_middle"; got "trapezoid"/],
    [{ steps: 64, maxSteps: 32 }, /maxSteps must be a whole number ≥ steps \(64\); got 32/],
    [{ maxSteps: 12.5 }, /maxSteps must be a whole number ≥ 1; got 12.5/],
    [{ maxSteps: 0 }, /maxSteps must be a whole number ≥ 1; got 0/],
    [{ steps: 0 }, /steps must be a whole number ≥ 1; got 0/],
    [{ steps: 2.5 }, /steps must be a whole number ≥ 1; got 2.5/],
  ];
  for (const [options, message] of bad) {
    assert.throws(
      ig(options),
      (e: Error) => e instanceof HansError && message.test(e.message),
      String(message),
    );
  }
});

/** Never called: the compiler checks the option names by method (deno check fails if this stops erroring). */
function _typedOptions(model: Parameters<typeof explain>[1], x: tf.Tensor4D) {
  explain("rise", model, x, [0], { masks: 500 });
  // @ts-expect-error: "sample" is not an option of smoothgrad
  explain("smoothgrad", model, x, [0], { sample: 16 });
  // @ts-expect-error: "steps" belongs to integrated_gradients, not occlusion
  explain("occlusion", model, x, [0], { steps: 8 });
  explain("integrated_gradients", model, x, [0], { method: "riemann_middle", tolerance: 0.01, maxSteps: 64 });
  // @ts-expect-error: "trapezoid" is not one of the quadrature rules
  explain("integrated_gradients", model, x, [0], { method: "trapezoid" });
}

gpuTest(
  "the noise tunnel on a linear model: the mean of a constant map is that map, its variance 0",
  async () => {
    const rng = new Rng(2);
    const kernel = Float32Array.from({ length: 12 * 2 }, () => rng.normal());
    const net = linearModel([3, 4, 1], kernel, new Float32Array([0, 0]));
    const model = fromLayersModel(net);
    const x = tf.tensor4d(Float32Array.from({ length: 2 * 12 }, () => rng.next()), [2, 3, 4, 1]);
    // The signed gradient of a linear model is its weights, whatever the noise: the tunnel must give them back.
    const plain = await take(await explain("gradient", model, x, [1, 0], { absolute: false }));
    const options = { samples: 5, noiseLevel: 0.3, methodOptions: { absolute: false } };
    const mean = await take(await noiseTunnel("gradient", model, x, [1, 0], options));
    assert.ok(maxAbsDiff(mean, plain) < 1e-5, `mean ${maxAbsDiff(mean, plain)}`);
    const variance = await take(
      await noiseTunnel("gradient", model, x, [1, 0], { ...options, kind: "vargrad" }),
    );
    assert.ok(Math.max(...variance.map(Math.abs)) < 1e-5, "variance of a constant map");
    const squares = await take(
      await noiseTunnel("gradient", model, x, [1, 0], { ...options, kind: "smoothgrad_sq" }),
    );
    assert.ok(maxAbsDiff(squares, plain.map((v) => v * v)) < 1e-5);
    // Gradient × input is not constant under noise: its tunnel mean is x̄·w with x̄ the mean noisy input, and
    // the noise is seeded, so two calls agree and another seed differs.
    const a = await take(
      await noiseTunnel(method("gradient_input"), model, x, [1, 0], { samples: 4, seed: 1 }),
    );
    const b = await take(
      await noiseTunnel(method("gradient_input"), model, x, [1, 0], { samples: 4, seed: 1 }),
    );
    const c = await take(
      await noiseTunnel(method("gradient_input"), model, x, [1, 0], { samples: 4, seed: 2 }),
    );
    assert.deepEqual(a, b);
    assert.ok(maxAbsDiff(a, c) > 1e-4);
    x.dispose();
    net.dispose();
  },
);

gpuTest(
  "one noise tunnel: over the signed gradient it is SmoothGrad's signed map, whatever the batching",
  async () => {
    const net = tf.sequential({
      layers: [
        tf.layers.flatten({ inputShape: [3, 3, 2] }),
        tf.layers.dense({
          units: 6,
          activation: "relu",
          kernelInitializer: tf.initializers.randomNormal({ seed: 4 }),
        }),
        tf.layers.dense({ units: 3, kernelInitializer: tf.initializers.randomNormal({ seed: 5 }) }),
      ],
    });
    const model = fromLayersModel(net);
    const rng = new Rng(9);
    const x = tf.tensor4d(Float32Array.from({ length: 3 * 18 }, () => rng.next()), [3, 3, 3, 2]);
    const noise = { samples: 6, noiseLevel: 0.5, seed: 3 };
    const smooth = await take(
      await explain("smoothgrad", model, x, [0, 1, 2], { ...noise, absolute: false }),
    );
    const tunnelled = await take(
      await noiseTunnel("gradient", model, x, [0, 1, 2], {
        ...noise,
        methodOptions: { absolute: false },
      }),
    );
    assert.ok(maxAbsDiff(smooth, tunnelled) < 1e-5, `tunnel vs smoothgrad ${maxAbsDiff(smooth, tunnelled)}`);
    // The ReLU makes the gradient depend on the noise: the tunnel is not the plain gradient.
    const plain = await take(await explain("gradient", model, x, [0, 1, 2], { absolute: false }));
    assert.ok(maxAbsDiff(smooth, plain) > 1e-3, "noise changed nothing: the test model is too linear");
    // Two copies per pass instead of all six: the same noise per image and copy, so the same maps.
    const small = await take(
      await explain("smoothgrad", model, x, [0, 1, 2], { ...noise, absolute: false, batchSize: 2 }),
    );
    assert.ok(maxAbsDiff(smooth, small) < 1e-5, `batching changed the map ${maxAbsDiff(smooth, small)}`);
    x.dispose();
    net.dispose();
  },
);

gpuTest(
  "a method that says its maps are linear in the target gets P − Q equal to the contrast's own map",
  async () => {
    const net = tf.sequential({
      layers: [
        tf.layers.conv2d({
          inputShape: [6, 6, 2],
          filters: 3,
          kernelSize: 3,
          activation: "relu",
          kernelInitializer: tf.initializers.randomNormal({ seed: 21 }),
          biasInitializer: tf.initializers.randomNormal({ seed: 22 }),
        }),
        tf.layers.maxPooling2d({ poolSize: 2 }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 3, kernelInitializer: tf.initializers.randomNormal({ seed: 23 }) }),
      ],
    });
    const model = fromLayersModel(net);
    const rng = new Rng(4);
    const x = tf.tensor4d(Float32Array.from({ length: 2 * 72 }, () => rng.next()), [2, 6, 6, 2]);
    const [p, q] = [[0, 2], [1, 0]];
    // Integrated Gradients with fixed points, so P, Q and the contrast use the same nodes.
    const fixed: Record<string, Record<string, unknown>> = {
      integrated_gradients: { steps: 8, maxSteps: 8 },
    };
    const linear = METHODS.filter((m) => m.linearInTarget?.(fixed[m.name] ?? {}));
    assert.ok(linear.length >= 4, linear.map((m) => m.name).join());
    for (const m of linear) {
      const name = m.name as Parameters<typeof explainTargets>[0];
      const { maps, derived } = await explainTargets(name, model, x, [p, q, { p, q }], fixed[m.name] ?? {});
      assert.deepEqual(derived, [false, false, true], m.name);
      const difference = await take(maps[2]);
      tf.dispose(maps.slice(0, 2));
      const direct = await take(await explain(name, model, x, { p, q }, fixed[m.name] ?? {}));
      const scale = Math.max(...direct.map(Math.abs));
      assert.ok(
        maxAbsDiff(difference, direct) <= 1e-4 * scale,
        `${m.name}: ${maxAbsDiff(difference, direct)}`,
      );
    }
    x.dispose();
    net.dispose();
  },
);
