import assert from "node:assert/strict";
import { colorbar, colorize, colorRange, mapColor } from "../../src/report/colormap.ts";

function pixel(rgba: Uint8ClampedArray, i: number): number[] {
  return [...rgba.subarray(i * 4, i * 4 + 4)];
}

function assertClose(actual: number[], expected: number[], tolerance: number): void {
  assert.equal(actual.length, expected.length);
  actual.forEach((v, i) => assert.ok(Math.abs(v - expected[i]) <= tolerance, `${actual} vs ${expected}`));
}

Deno.test("heat: min is inferno's black, max its pale yellow, middle near inferno(0.5)", () => {
  const rgba = colorize(new Float32Array([0, 0.5, 1]), { map: "heat" });
  assert.deepEqual(pixel(rgba, 0), [0, 0, 4, 255]); // #000004
  assert.deepEqual(pixel(rgba, 2), [252, 255, 164, 255]); // #fcffa4
  // matplotlib's inferno(0.5) is #bc3754; the 10-entry table interpolates to within a few levels.
  assertClose(pixel(rgba, 1), [188, 55, 84, 255], 4);
});

Deno.test("heat: default range is the data's min and max; explicit min/max clamp", () => {
  const data = new Float32Array([-3, 7]);
  assert.deepEqual(colorRange(data, { map: "heat" }), { min: -3, max: 7 });
  const clamped = colorize(new Float32Array([-1, 0, 10, 20]), { map: "heat", min: 0, max: 10 });
  assert.deepEqual(pixel(clamped, 0), pixel(clamped, 1));
  assert.deepEqual(pixel(clamped, 2), [252, 255, 164, 255]);
  assert.deepEqual(pixel(clamped, 3), pixel(clamped, 2));
});

Deno.test("diverging: symmetric around 0 with max |v| by default, white at exactly 0", () => {
  const values = new Float32Array([-2, 0, 1, 2]);
  assert.deepEqual(colorRange(values, { map: "diverging" }), { min: -2, max: 2 });
  const rgba = colorize(values, { map: "diverging" });
  assert.deepEqual(pixel(rgba, 0), [5, 48, 97, 255]); // #053061, darkest blue
  assert.deepEqual(pixel(rgba, 1), [255, 255, 255, 255]);
  // 1 of 2 is t = 0.75: halfway between #f4a582 and #d6604d.
  assert.deepEqual(pixel(rgba, 2), [229, 131, 104, 255]);
  assert.deepEqual(pixel(rgba, 3), [103, 0, 31, 255]); // #67001f, darkest red
  const positiveOnly = colorize(new Float32Array([0.5, 1]), { map: "diverging" });
  assert.deepEqual(pixel(positiveOnly, 1), [103, 0, 31, 255]);
  assert.ok(pixel(positiveOnly, 0)[0] > pixel(positiveOnly, 0)[2], "positive values are red");
});

Deno.test("diverging: an explicit max sets the symmetric range", () => {
  assert.deepEqual(colorRange(new Float32Array([1]), { map: "diverging", max: 4 }), { min: -4, max: 4 });
  assert.deepEqual(colorRange(new Float32Array([1]), { map: "diverging", min: -5, max: 4 }), {
    min: -5,
    max: 5,
  });
  const rgba = colorize(new Float32Array([4, -4, 0]), { map: "diverging", max: 4 });
  assert.deepEqual(pixel(rgba, 0), [103, 0, 31, 255]);
  assert.deepEqual(pixel(rgba, 1), [5, 48, 97, 255]);
  assert.deepEqual(pixel(rgba, 2), [255, 255, 255, 255]);
});

Deno.test("gray: black to white, midpoint rounds to 128", () => {
  const rgba = colorize(new Float32Array([0, 5, 10]), { map: "gray", min: 0, max: 10 });
  assert.deepEqual(pixel(rgba, 0), [0, 0, 0, 255]);
  assert.deepEqual(pixel(rgba, 1), [128, 128, 128, 255]);
  assert.deepEqual(pixel(rgba, 2), [255, 255, 255, 255]);
});

Deno.test("colorize: non-finite values are transparent, constant maps use the first colour", () => {
  const rgba = colorize(new Float32Array([NaN, 1, Infinity]), { map: "gray" });
  assert.deepEqual(pixel(rgba, 0), [0, 0, 0, 0]);
  assert.deepEqual(pixel(rgba, 2), [0, 0, 0, 0]);
  assert.deepEqual(pixel(rgba, 1), [0, 0, 0, 255]);
  const zeros = colorize(new Float32Array(4), { map: "diverging" });
  assert.deepEqual(pixel(zeros, 3), [255, 255, 255, 255]);
  assert.equal(colorize(new Float32Array(0), { map: "heat" }).length, 0);
});

Deno.test("mapColor: clamps t and rejects unknown maps", () => {
  assert.deepEqual(mapColor("gray", -1), [0, 0, 0]);
  assert.deepEqual(mapColor("gray", 2), [255, 255, 255]);
  assert.throws(() => mapColor("jet" as "heat", 0.5), /unknown colormap/);
});

Deno.test("colorbar: horizontal runs left to right, vertical bottom to top", () => {
  const h = colorbar({ map: "heat" }, 50, 4);
  assert.equal(h.length, 50 * 4 * 4);
  for (let y = 0; y < 4; y++) {
    assert.deepEqual(pixel(h, y * 50), [0, 0, 4, 255]);
    assert.deepEqual(pixel(h, y * 50 + 49), [252, 255, 164, 255]);
  }
  const v = colorbar({ map: "diverging" }, 3, 21);
  assert.deepEqual(pixel(v, 20 * 3), [5, 48, 97, 255]); // bottom-left: first colour
  assert.deepEqual(pixel(v, 2), [103, 0, 31, 255]); // top-right: last colour
  assert.deepEqual(pixel(v, 10 * 3 + 1), [255, 255, 255, 255]); // middle row: white
});
