/**
 * Image grids: rows of same-sized cells (images, heatmaps, overlays) with column titles, row labels and
 * optional colorbars, drawn into one RGBA image with the pixel font and saved as PNG.
 * @module
 */
import { colorbar, type ColormapName } from "./colormap.ts";
import { formatNumber } from "./format.ts";
import { drawText, fitText, textHeight, textWidth } from "./pixel_font.ts";
import { encodePng, upscale } from "./png.ts";

/** One row of a grid: a label drawn to its left and its cells, left to right. */
export interface GridRow {
  /** Drawn left of the row; `""` for none. */
  label: string;
  /** RGBA cells, each `cellWidth` × `cellHeight`; at most one per column, missing ones stay blank. */
  cells: Uint8ClampedArray[];
}

/** A colorbar drawn under the grid, spanning the cell columns, with its numbers printed below it. */
export interface GridColorbar {
  /** What the colours mean, printed above the bar (say signed or absolute, raw or normalized). */
  label: string;
  /** Value of the bar's left end. */
  min: number;
  /** Value of the bar's right end. */
  max: number;
  /** The colormap the cells used. */
  map: ColormapName;
}

/** What {@linkcode renderGrid} draws. */
export interface Grid {
  /** Column titles, drawn centred above the columns (shortened with `..` when wider than a cell). */
  columns: string[];
  /** The rows, top to bottom. */
  rows: GridRow[];
  /** Width of every cell in its own pixels (before scaling). */
  cellWidth: number;
  /** Height of every cell in its own pixels (before scaling). */
  cellHeight: number;
  /** Integer enlargement of every cell (nearest neighbour). Default 4. */
  scale?: number;
  /** Integer size of the pixel font (a character is `5 * textScale` wide). Default 2. */
  textScale?: number;
  /** Colorbars under the grid, one below the other. Default none. */
  colorbars?: GridColorbar[];
}

/** An RGBA image: `width * height * 4` bytes, row by row. */
export interface RgbaImage {
  /** Pixel bytes, four per pixel. */
  rgba: Uint8ClampedArray;
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
}

/** Outer margin around the figure, in pixels. */
export const GRID_MARGIN = 8;
/** Gap between cells, and between labels and cells, in pixels. */
export const GRID_GAP = 4;

const BACKGROUND = 255;
const INK: readonly [number, number, number] = [34, 34, 34];

/**
 * Geometry of a grid figure, with `s = scale`, `t = textScale`, `M = GRID_MARGIN`, `G = GRID_GAP`,
 * `C` columns, `R` rows, `B` colorbars and `line = 7t`:
 * - `labelColumn` = widest row label + G (0 when every label is empty)
 * - `titleRow` = line + G (0 when every column title is empty)
 * - `cellsWidth` = C·cellWidth·s + (C−1)·G; `cellsHeight` = R·cellHeight·s + (R−1)·G (0 without rows)
 * - `colorbarBlock` = 2G + line + 2 + 3t + 2 + line (label, bar, numbers)
 * - `width` = 2M + labelColumn + cellsWidth; `height` = 2M + titleRow + cellsHeight + B·colorbarBlock
 */
export interface GridLayout {
  /** Figure width in pixels. */
  width: number;
  /** Figure height in pixels. */
  height: number;
  /** Width of the row-label column including its gap. */
  labelColumn: number;
  /** Height of the column-title row including its gap. */
  titleRow: number;
  /** Scaled cell width. */
  cellWidth: number;
  /** Scaled cell height. */
  cellHeight: number;
  /** Height of one colorbar block. */
  colorbarBlock: number;
  /** Height of the colour strip inside a colorbar block. */
  barHeight: number;
}

function positiveInteger(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new Error(`grid: ${name} must be a positive integer, got ${value}`);
  }
  return value;
}

/** Computes where everything in a grid figure goes; see {@linkcode GridLayout} for the formulas. */
export function gridLayout(grid: Grid): GridLayout {
  const s = positiveInteger(grid.scale ?? 4, "scale");
  const t = positiveInteger(grid.textScale ?? 2, "textScale");
  positiveInteger(grid.cellWidth, "cellWidth");
  positiveInteger(grid.cellHeight, "cellHeight");
  const columns = grid.columns.length;
  if (columns === 0) throw new Error("grid: needs at least one column");
  const line = textHeight(t);
  const labelWidth = Math.max(0, ...grid.rows.map((row) => textWidth(row.label, t)));
  const labelColumn = labelWidth > 0 ? labelWidth + GRID_GAP : 0;
  const titleRow = grid.columns.some((title) => title !== "") ? line + GRID_GAP : 0;
  const cellWidth = grid.cellWidth * s;
  const cellHeight = grid.cellHeight * s;
  const rows = grid.rows.length;
  const cellsWidth = columns * cellWidth + (columns - 1) * GRID_GAP;
  const cellsHeight = rows === 0 ? 0 : rows * cellHeight + (rows - 1) * GRID_GAP;
  const barHeight = 3 * t;
  const colorbarBlock = 2 * GRID_GAP + line + 2 + barHeight + 2 + line;
  const bars = grid.colorbars?.length ?? 0;
  return {
    width: 2 * GRID_MARGIN + labelColumn + cellsWidth,
    height: 2 * GRID_MARGIN + titleRow + cellsHeight + bars * colorbarBlock,
    labelColumn,
    titleRow,
    cellWidth,
    cellHeight,
    colorbarBlock,
    barHeight,
  };
}

/** Copies `src` (w × h RGBA) into `dst` at (x, y), blending it over what is there by its alpha. */
function paste(dst: RgbaImage, src: Uint8ClampedArray, w: number, h: number, x: number, y: number): void {
  for (let row = 0; row < h; row++) {
    for (let col = 0; col < w; col++) {
      const s = (row * w + col) * 4;
      const d = ((y + row) * dst.width + x + col) * 4;
      const a = src[s + 3] / 255;
      dst.rgba[d] = src[s] * a + dst.rgba[d] * (1 - a);
      dst.rgba[d + 1] = src[s + 1] * a + dst.rgba[d + 1] * (1 - a);
      dst.rgba[d + 2] = src[s + 2] * a + dst.rgba[d + 2] * (1 - a);
    }
  }
}

/**
 * Draws a grid figure: cells enlarged by `scale` with a gap between them, column titles above, row labels
 * to the left, and each colorbar below with its label above and its min, middle and max printed under it.
 * The background is white; transparent cell pixels show it. Size: see {@linkcode GridLayout}.
 *
 * @example
 * ```ts
 * const figure = renderGrid({
 *   columns: ["image", "saliency"],
 *   rows: [{ label: "7", cells: [imageRgba, heatRgba] }],
 *   cellWidth: 28,
 *   cellHeight: 28,
 *   colorbars: [{ label: "|gradient|", min: 0, max: 0.8, map: "heat" }],
 * });
 * ```
 */
export function renderGrid(grid: Grid): RgbaImage {
  const layout = gridLayout(grid);
  const s = grid.scale ?? 4;
  const t = grid.textScale ?? 2;
  const line = textHeight(t);
  const image: RgbaImage = {
    rgba: new Uint8ClampedArray(layout.width * layout.height * 4).fill(BACKGROUND),
    width: layout.width,
    height: layout.height,
  };
  const write = (text: string, x: number, y: number) =>
    drawText(image.rgba, image.width, image.height, text, x, y, INK, t);
  const left = GRID_MARGIN + layout.labelColumn;
  const columnX = (c: number) => left + c * (layout.cellWidth + GRID_GAP);

  grid.columns.forEach((title, c) => {
    const fitted = fitText(title, layout.cellWidth, t);
    write(fitted, columnX(c) + Math.floor((layout.cellWidth - textWidth(fitted, t)) / 2), GRID_MARGIN);
  });

  const cellPixels = grid.cellWidth * grid.cellHeight * 4;
  grid.rows.forEach((row, r) => {
    const top = GRID_MARGIN + layout.titleRow + r * (layout.cellHeight + GRID_GAP);
    if (row.cells.length > grid.columns.length) {
      throw new Error(
        `grid: row ${r} ("${row.label}") has ${row.cells.length} cells for ${grid.columns.length} columns`,
      );
    }
    write(row.label, GRID_MARGIN, top + Math.floor((layout.cellHeight - line) / 2));
    row.cells.forEach((cell, c) => {
      if (cell.length !== cellPixels) {
        throw new Error(
          `grid: cell ${c} of row ${r} has ${cell.length} bytes, expected ` +
            `${grid.cellWidth}×${grid.cellHeight}×4`,
        );
      }
      const big = upscale(cell, grid.cellWidth, grid.cellHeight, s);
      paste(image, big, layout.cellWidth, layout.cellHeight, columnX(c), top);
    });
  });

  const barWidth = layout.width - 2 * GRID_MARGIN - layout.labelColumn;
  let barTop = layout.height - GRID_MARGIN - (grid.colorbars?.length ?? 0) * layout.colorbarBlock;
  for (const bar of grid.colorbars ?? []) {
    const labelY = barTop + 2 * GRID_GAP;
    write(fitText(bar.label, barWidth, t), left, labelY);
    const barY = labelY + line + 2;
    paste(
      image,
      colorbar({ map: bar.map }, barWidth, layout.barHeight),
      barWidth,
      layout.barHeight,
      left,
      barY,
    );
    const numbersY = barY + layout.barHeight + 2;
    const low = formatNumber(bar.min);
    const high = formatNumber(bar.max);
    const mid = formatNumber((bar.min + bar.max) / 2);
    write(low, left, numbersY);
    write(high, left + barWidth - textWidth(high, t), numbersY);
    const midX = left + Math.floor((barWidth - textWidth(mid, t)) / 2);
    const room = textWidth("0", t);
    if (
      midX > left + textWidth(low, t) + room &&
      midX + textWidth(mid, t) + room < left + barWidth - textWidth(high, t)
    ) {
      write(mid, midX, numbersY);
    }
    barTop += layout.colorbarBlock;
  }
  return image;
}

/** Draws a grid with {@linkcode renderGrid} and encodes it as PNG bytes. */
export function gridPng(grid: Grid): Promise<Uint8Array> {
  const { rgba, width, height } = renderGrid(grid);
  return encodePng(rgba, width, height);
}
