import assert from "node:assert/strict";
import { centreCropBox, fitImage } from "../../src/data/resize.ts";

function rgba(width: number, height: number, value: (x: number, y: number) => [number, number, number]) {
  const out = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      out.set([...value(x, y), 255], (y * width + x) * 4);
    }
  }
  return { width, height, rgba: out };
}

Deno.test("centreCropBox keeps the largest centred window of the target's aspect", () => {
  assert.deepEqual(centreCropBox(40, 30, 32, 32), { left: 5, top: 0, width: 30, height: 30 });
  assert.deepEqual(centreCropBox(30, 40, 32, 32), { left: 0, top: 5, width: 30, height: 30 });
  assert.deepEqual(centreCropBox(64, 64, 28, 28), { left: 0, top: 0, width: 64, height: 64 });
  assert.deepEqual(centreCropBox(100, 50, 20, 10), { left: 0, top: 0, width: 100, height: 50 });
});

Deno.test("fitImage: a flat image stays flat; a 2× shrink of a checkerboard averages it (antialiased)", () => {
  const flat = fitImage(rgba(37, 23, () => [51, 102, 204]), 8, 8, 3);
  for (let i = 0; i < flat.length; i += 3) {
    assert.ok(
      Math.abs(flat[i] - 0.2) < 1e-6 && Math.abs(flat[i + 1] - 0.4) < 1e-6 &&
        Math.abs(flat[i + 2] - 0.8) < 1e-6,
    );
  }
  // A 1-pixel checkerboard of 0 and 255 shrunk 4×: every output pixel is the mean, 0.5 (a filter without
  // antialiasing would sample single pixels and give 0 or 1).
  const board = fitImage(rgba(32, 32, (x, y) => ((x + y) % 2 ? [255, 255, 255] : [0, 0, 0])), 8, 8, 1);
  for (const v of board.slice(9, 55)) assert.ok(Math.abs(v - 0.5) < 0.02, `${v}`);
  // The same size is the identity; gray is the luma.
  const same = fitImage(rgba(3, 2, (x, y) => [10 * x, 20 * y, 30]), 3, 2, 1);
  const luma = (r: number, g: number, b: number) => (0.299 * r + 0.587 * g + 0.114 * b) / 255;
  assert.ok(Math.abs(same[1 * 3 + 2] - luma(20, 20, 30)) < 1e-6);
});

Deno.test("fitImage: the centre crop drops the sides of a wide image", () => {
  // Left and right quarters red, middle blue; a square crop of the 40x20 image keeps only the blue middle.
  const wide = rgba(40, 20, (x) => (x < 10 || x >= 30 ? [255, 0, 0] : [0, 0, 255]));
  const out = fitImage(wide, 10, 10, 3);
  for (let i = 0; i < out.length; i += 3) assert.deepEqual([out[i], out[i + 2]], [0, 1]);
});
