import assert from "node:assert/strict";
import { engines, formatNumber, mapScale } from "../../src/report/format.ts";

Deno.test("engines names where forward-only work ran only when it left the active backend", () => {
  assert.equal(engines("webgpu", "llvmpipe", null), "webgpu on llvmpipe");
  assert.equal(engines("webgpu", "llvmpipe", { engine: "webgpu" }), "webgpu on llvmpipe");
  assert.equal(
    engines("webgpu", "llvmpipe", { engine: "wasm" }),
    "webgpu on llvmpipe; gradient-free work (predictions, occlusion, RISE, perturbation curves) on wasm, measured faster",
  );
});

Deno.test("mapScale: two significant digits, exponents outside 0.01…100", () => {
  assert.equal(mapScale(0.0312, true), "±0.031");
  assert.equal(mapScale(250, false), "0…2.5e+2");
  assert.equal(mapScale(0, true), "±0");
});

Deno.test("formatNumber: significant digits, plain decimals in 0.001…1e5, exponents outside, non-finite", () => {
  assert.deepEqual(
    [0.123456, -2e-7, 12345.6, 1e5, 0, NaN, -Infinity].map((v) => formatNumber(v)),
    ["0.123", "-2e-7", "12300", "1e+5", "0", "n/a", "-inf"],
  );
});
