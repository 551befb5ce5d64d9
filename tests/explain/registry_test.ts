import assert from "node:assert/strict";
import { tf } from "../../src/deps.ts";
import { HansError } from "../../src/errors.ts";
import { fromLayersModel } from "../../src/explain/explainable_model.ts";
import { noiseTunnel } from "../../src/explain/noise_tunnel.ts";
import { checkMethodOptions, explain, METHOD_OPTION_KEYS, METHODS } from "../../src/explain/registry.ts";
import { Rng } from "../../src/rng.ts";
import { gpuTest, linearModel, maxAbsDiff, take } from "../gpu.ts";

Deno.test("every registered method has its option names for the run-time check, and no other", () => {
  assert.deepEqual(Object.keys(METHOD_OPTION_KEYS).sort(), METHODS.map((m) => m.name).sort());
});

Deno.test("an unknown method option is an error that names it and the options there are", () => {
  assert.throws(
    () => checkMethodOptions("smoothgrad", { sample: 16 }),
    (e: Error) =>
      e instanceof HansError && /smoothgrad has no option "sample"; it takes samples,/.test(e.message),
  );
  checkMethodOptions("rise", { masks: 500, seed: 3 });
});

Deno.test("Integrated Gradients' option values are checked: steps, maxSteps ≥ steps, tolerance > 0, the rule", () => {
  const ig = (options: Record<string, unknown>) => () => checkMethodOptions("integrated_gradients", options);
  ig({ steps: 8, method: "riemann_middle", tolerance: 0.01, maxSteps: 8 })();
  ig({ method: "gausslegendre", tolerance: 1e-6 })();
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ tolerance: 0 }, /tolerance 0 must be a positive number/],
    [{ tolerance: -0.1 }, /tolerance -0.1 must be a positive number/],
    [{ tolerance: "0.01" }, /tolerance 0.01 must be a positive number/],
    [{ tolerance: Infinity }, /tolerance Infinity/],
    [
      { method: "trapezoid" },
      /method "trapezoid" is not a quadrature rule; use gausslegendre or riemann_middle/,
    ],
    [{ steps: 64, maxSteps: 32 }, /maxSteps 32 must be a whole number ≥ steps \(64\)/],
    [{ maxSteps: 12.5 }, /maxSteps 12.5 must be a whole number/],
    [{ maxSteps: 0 }, /maxSteps 0 must be a whole number/],
    [{ steps: 0 }, /steps 0 must be a whole number ≥ 1/],
    [{ steps: 2.5 }, /steps 2.5 must be a whole number ≥ 1/],
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
    const a = await take(await noiseTunnel("gradient_input", model, x, [1, 0], { samples: 4, seed: 1 }));
    const b = await take(await noiseTunnel("gradient_input", model, x, [1, 0], { samples: 4, seed: 1 }));
    const c = await take(await noiseTunnel("gradient_input", model, x, [1, 0], { samples: 4, seed: 2 }));
    assert.deepEqual(a, b);
    assert.ok(maxAbsDiff(a, c) > 1e-4);
    x.dispose();
    net.dispose();
  },
);
