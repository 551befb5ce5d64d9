import assert from "node:assert/strict";
import {
  areaFraction,
  massInMask,
  meanLocalization,
  pointingGame,
  rankAccuracy,
} from "../../src/measure/localization.ts";

// A 2x3 image; the mask covers the left column.
const mask = new Uint8Array([1, 0, 0, 1, 0, 0]);

Deno.test("areaFraction is the share of masked pixels", () => {
  assert.equal(areaFraction(mask), 2 / 6);
  assert.equal(areaFraction(new Uint8Array(4)), 0);
});

Deno.test("massInMask counts positive relevance only", () => {
  // Inside: 3 and -1 (ignored); outside: 1, 2, -5 (ignored), 0.
  assert.equal(massInMask([3, 1, 2, -1, -5, 0], mask), 3 / 6);
  assert.equal(massInMask([-1, -1, -1, -1, -1, -1], mask), 0);
  assert.equal(massInMask([1, 0, 0, 1, 0, 0], mask), 1);
});

Deno.test("rankAccuracy is the share of the top-|mask| pixels inside the mask", () => {
  assert.equal(rankAccuracy([5, 9, 0, 4, 0, 0], mask), 1 / 2); // top two: 9 (out), 5 (in)
  assert.equal(rankAccuracy([5, 1, 0, 4, 0, 0], mask), 1);
  assert.equal(rankAccuracy([0, 1, 2, 0, 3, 4], mask), 0);
  // Ties break by index: all equal means the first |mask| pixels (0 in, 1 out).
  assert.equal(rankAccuracy([1, 1, 1, 1, 1, 1], mask), 1 / 2);
});

Deno.test("pointingGame hits when the arg-max lies in the mask", () => {
  assert.equal(pointingGame([0, 0, 0, 7, 0, 0], mask), 1);
  assert.equal(pointingGame([0, 0, 8, 7, 0, 0], mask), 0);
});

Deno.test("meanLocalization averages per map", () => {
  const maps = new Float32Array([3, 1, 2, -1, -5, 0, 0, 0, 8, 7, 0, 0]);
  const m = meanLocalization(maps, [mask, mask]);
  assert.ok(Math.abs(m.massInArtifact - (0.5 + 7 / 15) / 2) < 1e-7);
  assert.equal(m.areaFraction, 1 / 3);
  assert.equal(m.pointingGame, 0.5);
  assert.equal(m.rankAccuracy, (0.5 + 0.5) / 2);
});
