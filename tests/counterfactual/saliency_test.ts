import assert from "node:assert/strict";
import { tf } from "../../src/deps.ts";
import { findCounterfactuals } from "../../src/counterfactual/optimize.ts";
import {
  changeMagnitude,
  changeSaliencyCorrelations,
  contrastiveSaliency,
} from "../../src/counterfactual/saliency.ts";
import { fromLayersModel } from "../../src/explain/explainable_model.ts";
import { Rng } from "../../src/rng.ts";
import { gpuTest, linearModel } from "../gpu.ts";

function close(actual: number, expected: number, message = "") {
  assert.ok(Math.abs(actual - expected) < 1e-9, `${message} ${actual} vs ${expected}`);
}

Deno.test("ρ is 1 when |x′ − x| equals the map (or ranks like it), −1 when its ranking is reversed", () => {
  const rng = new Rng(3);
  const pixels = 50;
  const map = Float32Array.from({ length: 2 * pixels }, () => rng.next());
  close(changeSaliencyCorrelations(map, map, { pixels })[0], 1, "equal");
  close(changeSaliencyCorrelations(map.map((v) => v * v * 3), map, { pixels })[1], 1, "monotone");
  const reversed = map.map((v) => 1 - v);
  assert.deepEqual(changeSaliencyCorrelations(reversed, map, { pixels }).map((r) => Math.round(r * 1e9)), [
    -1e9,
    -1e9,
  ]);
});

Deno.test("the baseline pairs each change with the next image's map, cyclically", () => {
  const up = [0, 1, 2, 3, 4];
  const down = [4, 3, 2, 1, 0];
  const change = Float32Array.from([...down, ...up]); // image 0 changes like map 1, image 1 like map 0
  const map = Float32Array.from([...up, ...down]);
  assert.deepEqual(changeSaliencyCorrelations(change, map, { pixels: 5 }), [-1, -1]);
  assert.deepEqual(changeSaliencyCorrelations(change, map, { pixels: 5, shift: 1 }), [1, 1]);
  const one = Float32Array.from(up);
  assert.ok(Number.isNaN(changeSaliencyCorrelations(one, one, { pixels: 5, shift: 1 })[0]), "no other map");
});

Deno.test("no change (a failed counterfactual keeps the original) has no ρ; sizes must match", () => {
  const map = Float32Array.from([0.1, 0.5, 0.2, 0.9]);
  assert.ok(Number.isNaN(changeSaliencyCorrelations(new Float32Array(4), map, { pixels: 4 })[0]));
  assert.throws(() => changeSaliencyCorrelations(new Float32Array(3), map, { pixels: 4 }), /4 pixels each/);
});

Deno.test("changeMagnitude sums |x′ − x| over channels per pixel", () => {
  const original = Float32Array.from([0, 0, 0, 0.5, 0.5, 0.5]);
  const changed = Float32Array.from([0.25, 0.5, 0, 0.5, 0, 1]);
  assert.deepEqual(Array.from(changeMagnitude(original, changed, { channels: 3 })), [0.75, 1]);
  assert.throws(() => changeMagnitude(original, changed.subarray(1), { channels: 3 }), /one size/);
});

gpuTest(
  "contrastiveSaliency of a linear model is |W_P − W_T| (gradient), |x·(W_P − W_T)| (× input)",
  async () => {
    const rng = new Rng(8);
    const shape: [number, number, number] = [2, 3, 2];
    const d = 12;
    const classes = 3;
    const kernel = Float32Array.from({ length: d * classes }, () => rng.normal());
    const layers = linearModel(shape, kernel, new Float32Array(classes));
    const model = fromLayersModel(layers);
    const values = Float32Array.from({ length: 2 * d }, () => rng.next());
    const x = tf.tensor4d(values, [2, ...shape]);
    const predicted = [2, 0];
    const truth = [1, 2];
    const gradient = await contrastiveSaliency(model, x, { predicted, truth });
    const times = await contrastiveSaliency(model, x, { predicted, truth, method: "gradient_input" });
    for (let i = 0; i < 2; i++) {
      for (let p = 0; p < 6; p++) {
        let g = 0;
        let gx = 0;
        for (let c = 0; c < 2; c++) {
          const j = p * 2 + c;
          const w = kernel[j * classes + predicted[i]] - kernel[j * classes + truth[i]];
          g = Math.max(g, Math.abs(w));
          gx = Math.max(gx, Math.abs(w * values[i * d + j]));
        }
        assert.ok(
          Math.abs(gradient[i * 6 + p] - g) < 1e-5,
          `gradient ${i},${p}: ${gradient[i * 6 + p]} vs ${g}`,
        );
        assert.ok(Math.abs(times[i * 6 + p] - gx) < 1e-5, `× input ${i},${p}: ${times[i * 6 + p]} vs ${gx}`);
      }
    }
    await assert.rejects(contrastiveSaliency(model, x, { predicted: [2], truth }), /one predicted/);
    x.dispose();
    layers.dispose();
  },
);

gpuTest("a counterfactual that moves only the pixel its gradient map singles out has ρ = 1", async () => {
  // logit0 = 0.5·Σx, logit1 = 0.5·Σx + 10·x[0] − 1 (the trap of optimize_test.ts): predicted 1, true 0. The map
  // |∂(logit1 − logit0)/∂x| is 10 at pixel 0 and 0 elsewhere; the counterfactual moves pixel 0 alone.
  const kernel = new Float32Array(20 * 2).fill(0.5);
  kernel[1] = 10.5;
  const layers = linearModel([4, 5, 1], kernel, new Float32Array([0, -1]));
  const model = fromLayersModel(layers);
  const img = new Float32Array(20).fill(0.5);
  const x = tf.tensor4d(img, [1, 4, 5, 1]);
  const result = await findCounterfactuals(model, x, [0], { steps: 200, rounds: 1 });
  assert.deepEqual(result.success, [true]);
  const map = await contrastiveSaliency(model, x, { predicted: [1], truth: [0] });
  const change = changeMagnitude(img, result.images, { channels: 1 });
  close(changeSaliencyCorrelations(change, map, { pixels: 20 })[0], 1);
  x.dispose();
  layers.dispose();
});
