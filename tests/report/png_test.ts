import assert from "node:assert/strict";
import { decodeImageBytes } from "../../src/data/decode_image.ts";
import { encodePng, imageToRgba, overlay, upscale } from "../../src/report/png.ts";

Deno.test("encodePng round-trips through decodeImage with exact pixel values", async () => {
  const [width, height] = [7, 5];
  const rgba = new Uint8ClampedArray(width * height * 4);
  for (let i = 0; i < rgba.length; i++) rgba[i] = (i * 37 + 11) % 256;
  for (let p = 0; p < width * height; p++) rgba[p * 4 + 3] = p === 3 ? 0 : 255 - p; // include transparent
  const bytes = await encodePng(rgba, width, height);
  assert.deepEqual([...bytes.subarray(0, 8)], [137, 80, 78, 71, 13, 10, 26, 10]);
  const image = await decodeImageBytes(bytes, "figure.png");
  assert.equal(image.width, width);
  assert.equal(image.height, height);
  assert.deepEqual([...image.rgba], [...rgba]);
  assert.deepEqual(await encodePng(rgba, width, height), bytes, "same pixels give the same bytes");
});

Deno.test("encodePng rejects a buffer of the wrong size", () => {
  assert.throws(() => encodePng(new Uint8ClampedArray(15), 2, 2), /do not make a 2×2 RGBA image/);
});

Deno.test("imageToRgba maps [0,1] to 0..255, gray to three channels, opaque", () => {
  const gray = imageToRgba(new Float32Array([0, 0.5, 1, 2, -1, NaN]), 2, 3, 1);
  assert.deepEqual([...gray.filter((_, i) => i % 4 === 0)], [0, 128, 255, 255, 0, 0]);
  assert.deepEqual([...gray.subarray(4, 8)], [128, 128, 128, 255]);
  const rgb = imageToRgba(new Float32Array([1, 0, 0.2, 0, 1, 0]), 1, 2, 3);
  assert.deepEqual([...rgb], [255, 0, 51, 255, 0, 255, 0, 255]);
  assert.throws(() => imageToRgba(new Float32Array(8), 2, 2, 2), /1 \(gray\) or 3 \(RGB\)/);
  assert.throws(() => imageToRgba(new Float32Array(5), 2, 2, 1), /do not make/);
});

Deno.test("overlay blends by alpha and leaves transparent heat pixels alone", () => {
  const image = new Uint8ClampedArray([0, 0, 0, 255, 100, 100, 100, 255]);
  const heat = new Uint8ClampedArray([255, 255, 255, 255, 255, 0, 0, 0]);
  const out = overlay(image, heat, 0.25);
  assert.deepEqual([...out.subarray(0, 4)], [64, 64, 64, 255]); // 255 * 0.25 = 63.75
  assert.deepEqual([...out.subarray(4, 8)], [100, 100, 100, 255]);
  assert.deepEqual([...overlay(image, heat, 1).subarray(0, 4)], [255, 255, 255, 255]);
  assert.throws(() => overlay(image, heat, 1.5), /alpha/);
});

Deno.test("upscale repeats each pixel as a factor x factor block", () => {
  // 2x1 image: red, blue.
  const rgba = new Uint8ClampedArray([255, 0, 0, 255, 0, 0, 255, 255]);
  const big = upscale(rgba, 2, 1, 3);
  assert.equal(big.length, 6 * 3 * 4);
  for (let y = 0; y < 3; y++) {
    for (let x = 0; x < 6; x++) {
      const o = (y * 6 + x) * 4;
      assert.deepEqual([...big.subarray(o, o + 4)], x < 3 ? [255, 0, 0, 255] : [0, 0, 255, 255]);
    }
  }
  assert.deepEqual(upscale(rgba, 2, 1, 1), rgba);
  assert.throws(() => upscale(rgba, 2, 1, 1.5), /positive integer/);
});
