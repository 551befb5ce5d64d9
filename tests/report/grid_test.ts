import assert from "node:assert/strict";
import { colorize, mapColor } from "../../src/report/colormap.ts";
import {
  GRID_CAPTION_FONT,
  GRID_FONT,
  GRID_GAP,
  GRID_MARGIN,
  gridLayout,
  gridSvg,
  textWidthEstimate,
} from "../../src/report/grid.ts";
import { svgImages as images, svgTexts as texts } from "./svg_figure.ts";
import { assertWellFormed } from "./well_formed.ts";

function solid(w: number, h: number, rgba: number[]): Uint8ClampedArray {
  const out = new Uint8ClampedArray(w * h * 4);
  for (let i = 0; i < w * h; i++) out.set(rgba, i * 4);
  return out;
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
  const layout = gridLayout(grid);
  // 0.62 em per character: "stamped" at 14 px is ceil(7 · 8.68) = 61 px.
  assert.equal(textWidthEstimate("stamped", 14), 61);
  assert.equal(layout.labelColumn, 61 + GRID_GAP);
  assert.deepEqual(layout.columnWidths, [112, 112]); // scale 4: 28 → 112, wider than both titles
  assert.equal(layout.width, 2 * GRID_MARGIN + 61 + GRID_GAP + 2 * 112 + GRID_GAP);
  // Title row 1.5·14 = 21 + gap; three rows without captions; one colour bar 2G + 2·ceil(1.4·14) + 12.
  assert.equal(layout.titleRow, 21 + GRID_GAP);
  assert.equal(layout.rowHeight, 112);
  assert.equal(layout.colorbarBlock, 2 * GRID_GAP + 2 * 20 + 12);
  assert.equal(
    layout.height,
    2 * GRID_MARGIN + 21 + GRID_GAP + 3 * 112 + 2 * GRID_GAP + 2 * GRID_GAP + 40 + 12,
  );
  assert.equal(GRID_FONT, 14);
});

Deno.test("a column grows to fit its title, a caption adds a line under the row, a title a line on top", () => {
  const cell = solid(4, 4, RED);
  const title = "Integrated Gradients"; // 20 characters at 14 px: 174 px, wider than a 16-px cell
  const layout = gridLayout({
    title: "figure",
    columns: [title, "x"],
    rows: [{ label: "", cells: [cell, cell], captions: ["", "±0.31"] }],
    cellWidth: 4,
    cellHeight: 4,
  });
  assert.deepEqual(layout.columnWidths, [textWidthEstimate(title, GRID_FONT), 16]);
  assert.equal(layout.rowHeight, 16 + Math.ceil(1.4 * GRID_CAPTION_FONT) + 2);
  assert.equal(layout.figureTitle, Math.ceil(1.6 * GRID_FONT) + GRID_GAP);
  assert.equal(layout.labelColumn, 0);
});

Deno.test("gridSvg embeds every cell as a PNG enlarged by nearest neighbour, where the layout puts it", async () => {
  const quarter = new Uint8ClampedArray([
    ...[255, 0, 0, 255],
    ...[0, 255, 0, 255],
    ...[0, 0, 255, 255],
    ...[10, 20, 30, 255],
  ]);
  const grid = {
    columns: ["a", "b"],
    rows: [{ label: "first", cells: [quarter, quarter] }, { label: "second", cells: [quarter] }],
    cellWidth: 2,
    cellHeight: 2,
    scale: 20,
  };
  const layout = gridLayout(grid);
  const svg = await gridSvg(grid);
  assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" width="(\d+)" height="(\d+)"/);
  assert.ok(svg.includes(`width="${layout.width}" height="${layout.height}"`));
  const cells = images(svg);
  assert.equal(cells.length, 3);
  const left = GRID_MARGIN + layout.labelColumn;
  const top = GRID_MARGIN + layout.titleRow;
  assert.deepEqual(cells.map((c) => [c.x, c.y]), [
    [left, top],
    [left + 40 + GRID_GAP, top],
    [left, top + 40 + GRID_GAP],
  ]);
  for (const c of cells) {
    assert.deepEqual([c.width, c.height, c.png.width, c.png.height], [40, 40, 40, 40]);
    // Nearest neighbour: every 20×20 block is one source pixel, exactly.
    for (const [x, y] of [[0, 0], [19, 19], [20, 0], [39, 19], [0, 20], [25, 39]]) {
      const o = (y * 40 + x) * 4;
      const s = (Math.floor(y / 20) * 2 + Math.floor(x / 20)) * 4;
      assert.deepEqual([...c.png.pixels.subarray(o, o + 4)], [...quarter.subarray(s, s + 4)]);
    }
  }
});

Deno.test("gridSvg writes titles, labels, captions and colour-bar numbers as text, escaped, in full", async () => {
  const heat = colorize(new Float32Array([0, 1, 1, 0]), { map: "heat" });
  const svg = await gridSvg({
    title: "Class 8 <watermark> & friends",
    columns: ["Integrated Gradients", "P − Q"],
    rows: [{ label: "T-shirt/top → Pullover", cells: [heat, heat], captions: ["0…0.8", "±0.031"] }],
    cellWidth: 2,
    cellHeight: 2,
    colorbars: [{ label: "change / its largest |change|", min: -0.25, max: 0.25, map: "diverging" }],
  });
  assertWellFormed(svg.trimEnd());
  const words = texts(svg).map((t) => t.content);
  for (
    const w of [
      "Class 8 <watermark> & friends",
      "Integrated Gradients",
      "P − Q",
      "T-shirt/top → Pullover",
      "0…0.8",
      "±0.031",
      "change / its largest |change|",
      "-0.25",
      "0",
      "0.25",
    ]
  ) assert.ok(words.includes(w), `"${w}" is written: ${JSON.stringify(words)}`);
  assert.ok(svg.includes("Class 8 &lt;watermark&gt; &amp; friends"), "text is XML-escaped");
  // The colour bar is a strip from the map's first colour to its last, the numbers under its ends.
  const bar = images(svg).at(-1)!;
  assert.deepEqual([...bar.png.pixels.subarray(0, 3)], [...mapColor("diverging", 0)]);
  const last = (bar.png.width - 1) * 4;
  assert.deepEqual([...bar.png.pixels.subarray(last, last + 3)], [...mapColor("diverging", 1)]);
  const low = texts(svg).find((t) => t.content === "-0.25")!;
  assert.equal(low.x, bar.x);
  assert.ok(low.y > bar.y + bar.height, "numbers under the bar");
});

Deno.test("grid rejects cells of the wrong size and too many cells", async () => {
  const base = { columns: ["a"], cellWidth: 2, cellHeight: 2 };
  await assert.rejects(
    () => gridSvg({ ...base, rows: [{ label: "", cells: [new Uint8ClampedArray(4)] }] }),
    /expected 2×2×4/,
  );
  const cell = new Uint8ClampedArray(16);
  await assert.rejects(
    () => gridSvg({ ...base, rows: [{ label: "x", cells: [cell, cell] }] }),
    /2 cells for 1 columns/,
  );
  assert.throws(() => gridLayout({ ...base, columns: [], rows: [] }), /at least one column/);
});
