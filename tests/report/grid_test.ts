import assert from "node:assert/strict";
import { decodeImageBytes } from "../../src/data/decode_image.ts";
import { colorize } from "../../src/report/colormap.ts";
import { GRID_GAP, GRID_MARGIN, gridLayout, gridPng, renderGrid } from "../../src/report/grid.ts";
import { textWidth } from "../../src/report/pixel_font.ts";

function solid(w: number, h: number, rgba: number[]): Uint8ClampedArray {
  const out = new Uint8ClampedArray(w * h * 4);
  for (let i = 0; i < w * h; i++) out.set(rgba, i * 4);
  return out;
}

function at(image: { rgba: Uint8ClampedArray; width: number }, x: number, y: number): number[] {
  const o = (y * image.width + x) * 4;
  return [...image.rgba.subarray(o, o + 4)];
}

const RED = [220, 0, 0, 255];

Deno.test("grid dimensions follow the documented formula", () => {
  const cell = solid(28, 28, RED);
  const grid = {
    columns: ["image", "saliency"],
    rows: [
      { label: "7", cells: [cell, cell] },
      { label: "1", cells: [cell, cell] },
      { label: "stamped", cells: [cell] },
    ],
    cellWidth: 28,
    cellHeight: 28,
    colorbars: [{ label: "|gradient|", min: 0, max: 0.8, map: "heat" as const }],
  };
  const figure = renderGrid(grid);
  // scale 4, textScale 2: label column = width("stamped") + gap = (7*6-1)*2 + 4 = 86; cells 2*112 + 4.
  assert.equal(textWidth("stamped", 2), 82);
  assert.equal(figure.width, 2 * 8 + 86 + 2 * 112 + 4);
  // title row 14 + 4; three rows 3*112 + 2*4; one colorbar block 2*4 + 14 + 2 + 6 + 2 + 14 = 46.
  assert.equal(figure.height, 2 * 8 + 18 + 3 * 112 + 2 * 4 + 46);
  assert.equal(figure.rgba.length, figure.width * figure.height * 4);
  assert.equal(GRID_MARGIN, 8);
  assert.equal(GRID_GAP, 4);
  const layout = gridLayout(grid);
  assert.equal(layout.width, figure.width);
  assert.equal(layout.height, figure.height);
});

Deno.test("grid without labels, titles or colorbars is just the cells with margins and gaps", () => {
  const cell = solid(3, 2, RED);
  const figure = renderGrid({
    columns: ["", "", ""],
    rows: [{ label: "", cells: [cell, cell, cell] }, { label: "", cells: [cell, cell, cell] }],
    cellWidth: 3,
    cellHeight: 2,
    scale: 5,
  });
  assert.equal(figure.width, 2 * 8 + 3 * 15 + 2 * 4);
  assert.equal(figure.height, 2 * 8 + 2 * 10 + 4);
  // Cells are where the layout says, gaps and margins stay white.
  assert.deepEqual(at(figure, 8, 8), RED);
  assert.deepEqual(at(figure, 8 + 14, 8 + 9), RED);
  assert.deepEqual(at(figure, 8 + 15, 8), [255, 255, 255, 255]);
  assert.deepEqual(at(figure, 8 + 19, 8 + 14), RED); // second column, second row
  assert.deepEqual(at(figure, 7, 7), [255, 255, 255, 255]);
});

Deno.test("grid draws cells below titles and right of labels, and a colorbar under them", () => {
  const heat = colorize(new Float32Array([0, 1, 1, 0]), { map: "heat" });
  const figure = renderGrid({
    columns: ["heat"],
    rows: [{ label: "a", cells: [heat] }],
    cellWidth: 2,
    cellHeight: 2,
    scale: 20,
    colorbars: [{ label: "relevance", min: -1, max: 1, map: "diverging" }],
  });
  const layout = gridLayout({
    columns: ["heat"],
    rows: [{ label: "a", cells: [heat] }],
    cellWidth: 2,
    cellHeight: 2,
    scale: 20,
    colorbars: [{ label: "relevance", min: -1, max: 1, map: "diverging" }],
  });
  const left = 8 + layout.labelColumn;
  const top = 8 + layout.titleRow;
  assert.deepEqual(at(figure, left, top), [0, 0, 4, 255]);
  assert.deepEqual(at(figure, left + 20, top), [252, 255, 164, 255]);
  // Some title ink above the cell, some label ink left of it.
  const inkIn = (x0: number, y0: number, x1: number, y1: number) => {
    for (let y = y0; y < y1; y++) {
      for (let x = x0; x < x1; x++) if (at(figure, x, y)[0] < 128) return true;
    }
    return false;
  };
  assert.ok(inkIn(left, 8, left + 40, 8 + 14), "column title drawn");
  assert.ok(inkIn(8, top, left, top + 40), "row label drawn");
  // The colorbar strip: its left end is the diverging map's first colour.
  const barY = figure.height - 8 - layout.colorbarBlock + 2 * 4 + 14 + 2;
  assert.deepEqual(at(figure, left, barY), [5, 48, 97, 255]);
  assert.deepEqual(at(figure, figure.width - 9, barY), [103, 0, 31, 255]);
  assert.ok(inkIn(left, barY + 8, left + 30, barY + 8 + 14), "min printed under the bar");
});

Deno.test("grid rejects cells of the wrong size and too many cells", () => {
  const base = { columns: ["a"], cellWidth: 2, cellHeight: 2 };
  assert.throws(
    () => renderGrid({ ...base, rows: [{ label: "", cells: [new Uint8ClampedArray(4)] }] }),
    /expected 2×2×4/,
  );
  const cell = new Uint8ClampedArray(16);
  assert.throws(
    () => renderGrid({ ...base, rows: [{ label: "x", cells: [cell, cell] }] }),
    /2 cells for 1 columns/,
  );
  assert.throws(() => renderGrid({ ...base, columns: [], rows: [] }), /at least one column/);
});

Deno.test("gridPng encodes the rendered grid", async () => {
  const grid = {
    columns: ["x"],
    rows: [{ label: "r", cells: [solid(4, 4, RED)] }],
    cellWidth: 4,
    cellHeight: 4,
  };
  const figure = renderGrid(grid);
  const image = await decodeImageBytes(await gridPng(grid), "figure.png");
  assert.equal(image.width, figure.width);
  assert.equal(image.height, figure.height);
  assert.deepEqual([...image.rgba], [...figure.rgba]);
});
