/**
 * Image grids as standalone SVG figures: rows of same-sized cells (images, heatmaps, overlays) with column
 * titles, row labels, per-cell captions and colour bars with numbers. Every word is SVG text (Unicode, class
 * and method names in full, selectable, searchable, scalable); every cell is a PNG embedded as a data URI,
 * enlarged by nearest neighbour (`scale`, default 4×) so it stays crisp in print and on slides. The same SVG
 * is written beside the report as a file and inlined into report.html.
 * @module
 */
import { colorbar, type ColormapName } from "./colormap.ts";
import { formatNumber } from "./format.ts";
import { escapeHtml, pngDataUri } from "./html.ts";
import { encodePng, upscale } from "./png.ts";

/** One row of a grid: a label left of it, its cells and an optional caption under each cell. */
export interface GridRow {
  /** Written left of the row; `""` for none. May hold any Unicode (`T-shirt/top → Pullover`). */
  label: string;
  /** RGBA cells, each `cellWidth` × `cellHeight`; at most one per column, missing ones stay blank. */
  cells: Uint8ClampedArray[];
  /** A short text under each cell (say, the colour scale of that map: `±0.31`). Default none. */
  captions?: string[];
}

/** A colour bar drawn under the grid, spanning the cell columns, with its numbers written below it. */
export interface GridColorbar {
  /** What the colours mean, written above the bar (say signed or absolute, raw or normalized). */
  label: string;
  /** Value of the bar's left end. */
  min: number;
  /** Value of the bar's right end. */
  max: number;
  /** The colormap the cells used. */
  map: ColormapName;
}

/** What {@linkcode gridSvg} draws. */
export interface Grid {
  /** A title above the figure. Default none. */
  title?: string;
  /** Column titles, written centred above the columns; a column is widened to fit its title. */
  columns: string[];
  /** The rows, top to bottom. */
  rows: GridRow[];
  /** Width of every cell in its own pixels (before scaling). */
  cellWidth: number;
  /** Height of every cell in its own pixels (before scaling). */
  cellHeight: number;
  /** Integer enlargement of every cell (nearest neighbour). Default 4. */
  scale?: number;
  /** Colour bars under the grid, one below the other. Default none. */
  colorbars?: GridColorbar[];
}

/** Outer margin around the figure, in pixels. */
export const GRID_MARGIN = 12;
/** Gap between cells, and between labels and cells, in pixels. */
export const GRID_GAP = 6;
/** Font size of titles, labels and colour-bar numbers, in pixels. */
export const GRID_FONT = 14;
/** Font size of the captions under cells, in pixels. */
export const GRID_CAPTION_FONT = 11;

/**
 * A generous estimate of a text's width in a sans-serif font of `size` pixels (0.62 em per character), used
 * to make room for it. Text is never cut: a column or label column grows to fit.
 */
export function textWidthEstimate(text: string, size: number): number {
  return Math.ceil([...text].length * 0.62 * size);
}

/**
 * Geometry of a grid figure, with `s = scale`, `M = GRID_MARGIN`, `G = GRID_GAP`, `F = GRID_FONT`,
 * `f = GRID_CAPTION_FONT`:
 * - `columnWidth[c]` = max(cellWidth·s, estimated width of column c's title)
 * - `labelColumn` = widest row label + G (0 when every label is empty)
 * - `titleRow` = 1.5F + G (0 when every column title is empty); `figureTitle` = 1.6F + G (0 without a title)
 * - `rowHeight` = cellHeight·s + (1.4f + 2 when any row has captions, else 0)
 * - `colorbarBlock` = 2G + 1.4F + barHeight + 1.4F, with `barHeight` = 12
 * - `width` = 2M + max(labelColumn + max(Σ columnWidth + (C−1)·G, widest colour-bar label), title width);
 *   `height` = 2M + figureTitle + titleRow + R·rowHeight + (R−1)·G + B·colorbarBlock
 */
export interface GridLayout {
  /** Figure width in pixels. */
  width: number;
  /** Figure height in pixels. */
  height: number;
  /** Height of the figure's title line including its gap. */
  figureTitle: number;
  /** Width of the row-label column including its gap. */
  labelColumn: number;
  /** Height of the column-title row including its gap. */
  titleRow: number;
  /** Scaled cell width. */
  cellWidth: number;
  /** Scaled cell height. */
  cellHeight: number;
  /** Width of each column (at least the scaled cell). */
  columnWidths: number[];
  /** Height of one row: the scaled cell and its caption line. */
  rowHeight: number;
  /** Height of one colour-bar block. */
  colorbarBlock: number;
  /** Height of the colour strip inside a colour-bar block. */
  barHeight: number;
}

function positiveInteger(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new Error(`grid: ${name} must be a positive integer, got ${value}`);
  }
  return value;
}

const BAR_HEIGHT = 12;

/** Computes where everything in a grid figure goes; see {@linkcode GridLayout} for the formulas. */
export function gridLayout(grid: Grid): GridLayout {
  const s = positiveInteger(grid.scale ?? 4, "scale");
  positiveInteger(grid.cellWidth, "cellWidth");
  positiveInteger(grid.cellHeight, "cellHeight");
  if (grid.columns.length === 0) throw new Error("grid: needs at least one column");
  const cellWidth = grid.cellWidth * s;
  const cellHeight = grid.cellHeight * s;
  const columnWidths = grid.columns.map((t) => Math.max(cellWidth, textWidthEstimate(t, GRID_FONT)));
  const labelWidth = Math.max(0, ...grid.rows.map((row) => textWidthEstimate(row.label, GRID_FONT)));
  const labelColumn = labelWidth > 0 ? labelWidth + GRID_GAP : 0;
  const titleRow = grid.columns.some((title) => title !== "") ? Math.ceil(1.5 * GRID_FONT) + GRID_GAP : 0;
  const figureTitle = grid.title ? Math.ceil(1.6 * GRID_FONT) + GRID_GAP : 0;
  const captions = grid.rows.some((row) => (row.captions ?? []).some((c) => c !== ""));
  const rowHeight = cellHeight + (captions ? Math.ceil(1.4 * GRID_CAPTION_FONT) + 2 : 0);
  const rows = grid.rows.length;
  const cellsWidth = columnWidths.reduce((a, b) => a + b, 0) + (columnWidths.length - 1) * GRID_GAP;
  const cellsHeight = rows === 0 ? 0 : rows * rowHeight + (rows - 1) * GRID_GAP;
  const colorbarBlock = 2 * GRID_GAP + 2 * Math.ceil(1.4 * GRID_FONT) + BAR_HEIGHT;
  const bars = grid.colorbars?.length ?? 0;
  const titleWidth = grid.title ? textWidthEstimate(grid.title, GRID_FONT) : 0;
  const barLabelWidth = Math.max(
    0,
    ...(grid.colorbars ?? []).map((b) => textWidthEstimate(b.label, GRID_FONT)),
  );
  return {
    width: 2 * GRID_MARGIN + Math.max(labelColumn + Math.max(cellsWidth, barLabelWidth), titleWidth),
    height: 2 * GRID_MARGIN + figureTitle + titleRow + cellsHeight + bars * colorbarBlock,
    figureTitle,
    labelColumn,
    titleRow,
    cellWidth,
    cellHeight,
    columnWidths,
    rowHeight,
    colorbarBlock,
    barHeight: BAR_HEIGHT,
  };
}

const INK = "#222";
const MUTED = "#555";
const FONT = `font-family="Helvetica, Arial, 'DejaVu Sans', sans-serif"`;

function text(
  x: number,
  y: number,
  content: string,
  options: { size?: number; anchor?: "start" | "middle" | "end"; fill?: string; weight?: string } = {},
): string {
  const anchor = options.anchor && options.anchor !== "start" ? ` text-anchor="${options.anchor}"` : "";
  const weight = options.weight ? ` font-weight="${options.weight}"` : "";
  return `<text x="${x}" y="${y}" font-size="${options.size ?? GRID_FONT}" fill="${options.fill ?? INK}"` +
    `${anchor}${weight}>${escapeHtml(content)}</text>`;
}

/** An RGBA image as an SVG `<image>`, enlarged `s` times by nearest neighbour; `shownHeight` stretches it. */
async function image(
  rgba: Uint8ClampedArray,
  w: number,
  h: number,
  s: number,
  x: number,
  y: number,
  shownHeight = h * s,
): Promise<string> {
  const png = await encodePng(s === 1 ? rgba : upscale(rgba, w, h, s), w * s, h * s);
  return `<image x="${x}" y="${y}" width="${w * s}" height="${shownHeight}" preserveAspectRatio="none" ` +
    `style="image-rendering:pixelated" href="${pngDataUri(png)}"/>`;
}

/**
 * Draws a grid figure as a standalone SVG document (no XML prolog, so it can also be inlined into HTML):
 * cells enlarged `scale` times by nearest neighbour with a gap between them, column titles above, row labels
 * to the left, captions under cells, and each colour bar below with its label above and its min, middle and
 * max written under it. The background is white. Size: see {@linkcode GridLayout}.
 *
 * @example
 * ```ts
 * import { colorize } from "./colormap.ts";
 * const heat = colorize(new Float32Array(28 * 28).fill(0.5), { map: "heat" });
 * const svg = await gridSvg({
 *   columns: ["saliency"],
 *   rows: [{ label: "T-shirt/top → Pullover", cells: [heat], captions: ["0…0.5"] }],
 *   cellWidth: 28,
 *   cellHeight: 28,
 *   colorbars: [{ label: "|gradient| / its max", min: 0, max: 1, map: "heat" }],
 * });
 * if (!svg.startsWith("<svg")) throw new Error("not an SVG");
 * ```
 */
export async function gridSvg(grid: Grid): Promise<string> {
  const layout = gridLayout(grid);
  const s = grid.scale ?? 4;
  const parts: string[] = [`<rect width="${layout.width}" height="${layout.height}" fill="#fff"/>`];
  const left = GRID_MARGIN + layout.labelColumn;
  const columnX: number[] = [];
  let x = left;
  for (const w of layout.columnWidths) {
    columnX.push(x);
    x += w + GRID_GAP;
  }
  const top = GRID_MARGIN + layout.figureTitle;
  if (grid.title) parts.push(text(GRID_MARGIN, GRID_MARGIN + GRID_FONT, grid.title, { weight: "600" }));
  grid.columns.forEach((title, c) => {
    if (title) {
      parts.push(text(columnX[c] + layout.columnWidths[c] / 2, top + GRID_FONT, title, { anchor: "middle" }));
    }
  });

  const cellPixels = grid.cellWidth * grid.cellHeight * 4;
  for (let r = 0; r < grid.rows.length; r++) {
    const row = grid.rows[r];
    const y = top + layout.titleRow + r * (layout.rowHeight + GRID_GAP);
    if (row.cells.length > grid.columns.length) {
      throw new Error(
        `grid: row ${r} ("${row.label}") has ${row.cells.length} cells for ${grid.columns.length} columns`,
      );
    }
    if (row.label) {
      parts.push(
        text(left - GRID_GAP, y + layout.cellHeight / 2 + GRID_FONT * 0.35, row.label, { anchor: "end" }),
      );
    }
    for (let c = 0; c < row.cells.length; c++) {
      const cell = row.cells[c];
      if (cell.length !== cellPixels) {
        throw new Error(
          `grid: cell ${c} of row ${r} has ${cell.length} bytes, expected ` +
            `${grid.cellWidth}×${grid.cellHeight}×4`,
        );
      }
      const cx = columnX[c] + Math.floor((layout.columnWidths[c] - layout.cellWidth) / 2);
      parts.push(await image(cell, grid.cellWidth, grid.cellHeight, s, cx, y));
      const caption = row.captions?.[c];
      if (caption) {
        parts.push(
          text(
            columnX[c] + layout.columnWidths[c] / 2,
            y + layout.cellHeight + GRID_CAPTION_FONT + 1,
            caption,
            {
              size: GRID_CAPTION_FONT,
              anchor: "middle",
              fill: MUTED,
            },
          ),
        );
      }
    }
  }

  const barWidth = layout.width - GRID_MARGIN - left;
  let barTop = layout.height - GRID_MARGIN - (grid.colorbars?.length ?? 0) * layout.colorbarBlock;
  const line = Math.ceil(1.4 * GRID_FONT);
  for (const bar of grid.colorbars ?? []) {
    const labelY = barTop + 2 * GRID_GAP;
    parts.push(text(left, labelY + GRID_FONT, bar.label, { fill: MUTED }));
    const barY = labelY + line;
    parts.push(
      await image(colorbar({ map: bar.map }, barWidth, 1), barWidth, 1, 1, left, barY, layout.barHeight),
    );
    const numbersY = barY + layout.barHeight + GRID_FONT + 1;
    parts.push(
      text(left, numbersY, formatNumber(bar.min)),
      text(left + barWidth / 2, numbersY, formatNumber((bar.min + bar.max) / 2), { anchor: "middle" }),
      text(left + barWidth, numbersY, formatNumber(bar.max), { anchor: "end" }),
    );
    barTop += layout.colorbarBlock;
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${layout.width}" height="${layout.height}" ` +
    `viewBox="0 0 ${layout.width} ${layout.height}" ${FONT}>\n${parts.join("\n")}\n</svg>\n`;
}
