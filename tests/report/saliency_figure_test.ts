import assert from "node:assert/strict";
import { blockMeans, figureCell, saliencyGrid } from "../../src/report/saliency_figure.ts";

Deno.test("a 224×224 figure shows 2×2 block means at 112 px: cells, means and captions follow the pixels", () => {
  const h = 224, w = 224;
  // A map that is 1 in the top-left pixel only, and an image whose red channel is its column / 223.
  const map = new Float32Array(h * w);
  map[0] = 1;
  const image = new Float32Array(h * w * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) image[(y * w + x) * 3] = x / (w - 1);
  const grid = saliencyGrid({
    height: h,
    width: w,
    channels: 3,
    rowLabels: ["a"],
    images: [{ title: "image", images: [image] }],
    maps: [{ title: "m", signed: false, maps: [map] }],
  });
  assert.equal(grid.cellWidth, 112);
  assert.equal(grid.cellHeight, 112);
  assert.equal(grid.scale, 1);
  assert.equal(grid.rows[0].cells[0].length, 112 * 112 * 4);
  // The one nonzero pixel's block mean is 1/4, and that is the map's largest value shown under it.
  assert.equal(grid.rows[0].captions?.[1], "0…0.25");
  // Block (0, 55): columns 110 and 111, mean red (110.5 / 223) as a byte.
  assert.equal(grid.rows[0].cells[0][55 * 4], Math.round((110.5 / 223) * 255));
});

Deno.test("block means of an odd size average the smaller edge blocks over their own pixels", () => {
  // 3×3 by 2: blocks of 4, 2, 2 and 1 pixels.
  const v = Float32Array.from({ length: 9 }, (_, i) => i);
  assert.deepEqual(Array.from(blockMeans(v, 3, 3, 1, 2)), [(0 + 1 + 3 + 4) / 4, (2 + 5) / 2, (6 + 7) / 2, 8]);
  assert.deepEqual(figureCell(299, 299), { height: 100, width: 100, factor: 3, scale: 1 });
  assert.deepEqual(figureCell(28, 28), { height: 28, width: 28, factor: 1, scale: 4 });
});
