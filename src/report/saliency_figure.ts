/**
 * Saliency grids: rows of examples, columns of images and one overlay per method, with labelled colorbars.
 * Every map is divided by its own largest |value| before colouring, so colours compare places within a map,
 * not maps with each other, and that largest value is written under the cell (`±0.31`, `0…0.8`); unsigned
 * maps use the heat colormap on [0, 1], signed ones the diverging one on [−1, 1].
 * @module
 */
import { colorize } from "./colormap.ts";
import { mapScale } from "./format.ts";
import { maxAbs, normalizeByMaxAbs } from "./image_table.ts";
import type { Grid, GridColorbar } from "./grid.ts";
import { imageToRgba, overlay } from "./png.ts";

/** One map column: its title, whether its values are signed, and one map per row. */
export interface MapColumn {
  title: string;
  signed: boolean;
  maps: Float32Array[];
}

/** One image column: its title and one image per row (`height*width*channels` values in [0, 1]). */
export interface ImageColumn {
  title: string;
  images: Float32Array[];
}

/** What {@link saliencyGrid} draws. */
export interface SaliencyFigure {
  height: number;
  width: number;
  channels: number;
  rowLabels: string[];
  /** Plain image columns (e.g. clean, stamped). */
  images: ImageColumn[];
  /** Optional mask column, drawn as white on black. */
  masks?: { title: string; masks: Uint8Array[] };
  /** Map columns, overlaid on the image of `overlayOn` (index into `images`, default the last). */
  maps: MapColumn[];
  overlayOn?: number;
  /** Opacity of the overlays (default 0.65). */
  alpha?: number;
}

/** Largest side of a figure cell in image pixels: larger images are shown as means of blocks. */
export const MAX_CELL_SIDE = 128;

/**
 * How a `height`×`width` image is shown in a figure cell: shrunk by an integer `factor` (block means) when its
 * longer side exceeds {@link MAX_CELL_SIDE}, and enlarged `scale` times by nearest neighbour when small, so a
 * 28×28 cell is drawn at 112 px, a 224×224 one at 112 and a 299×299 one at 100.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(figureCell(28, 28), { height: 28, width: 28, factor: 1, scale: 4 });
 * assert.deepEqual(figureCell(224, 224), { height: 112, width: 112, factor: 2, scale: 1 });
 * assert.deepEqual(figureCell(299, 299), { height: 100, width: 100, factor: 3, scale: 1 });
 * ```
 */
export function figureCell(
  height: number,
  width: number,
): { height: number; width: number; factor: number; scale: number } {
  const factor = Math.max(1, Math.ceil(Math.max(height, width) / MAX_CELL_SIDE));
  const h = Math.ceil(height / factor);
  const w = Math.ceil(width / factor);
  return { height: h, width: w, factor, scale: Math.max(1, Math.round(112 / Math.max(h, w))) };
}

/**
 * A sentence for a figure's caption when its cells are shrunk (see {@link figureCell}), else "".
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * assert.equal(shrinkNote(28, 28), "");
 * assert.match(shrinkNote(224, 224), /means of 2×2 pixel blocks/);
 * ```
 */
export function shrinkNote(height: number, width: number): string {
  const { factor } = figureCell(height, width);
  return factor === 1 ? "" : ` Images and maps are shown as means of ${factor}×${factor} pixel blocks; the ` +
    `value under a map is the largest |block mean|.`;
}

/**
 * Means of `factor`×`factor` blocks of a `height*width*channels` array (blocks at the right and bottom edges
 * may be smaller); the array itself when `factor` is 1.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * // 2×2 → 1×1: the mean of the four values.
 * assert.deepEqual(Array.from(blockMeans(Float32Array.of(1, 2, 3, 6), 2, 2, 1, 2)), [3]);
 * ```
 */
export function blockMeans(
  values: Float32Array,
  height: number,
  width: number,
  channels: number,
  factor: number,
): Float32Array {
  if (factor === 1) return values;
  const h = Math.ceil(height / factor);
  const w = Math.ceil(width / factor);
  const out = new Float32Array(h * w * channels);
  const counts = new Float32Array(h * w);
  for (let y = 0; y < height; y++) {
    const row = Math.floor(y / factor) * w;
    for (let x = 0; x < width; x++) {
      const cell = row + Math.floor(x / factor);
      counts[cell]++;
      for (let c = 0; c < channels; c++) out[cell * channels + c] += values[(y * width + x) * channels + c];
    }
  }
  for (let i = 0; i < h * w; i++) {
    for (let c = 0; c < channels; c++) out[i * channels + c] /= counts[i];
  }
  return out;
}

/**
 * Builds the grid (for `gridSvg`) of a saliency figure. Images larger than {@link MAX_CELL_SIDE} are shown as
 * block means (see {@link figureCell}); each map's caption is then the largest |value| of the block means.
 */
export function saliencyGrid(figure: SaliencyFigure): Grid {
  const { channels } = figure;
  const cell = figureCell(figure.height, figure.width);
  const { height, width } = cell;
  const shrink = (values: Float32Array, c: number) =>
    blockMeans(values, figure.height, figure.width, c, cell.factor);
  const base = figure.images[figure.overlayOn ?? figure.images.length - 1];
  const rows = figure.rowLabels.map((label, r) => {
    const cells: Uint8ClampedArray[] = figure.images.map((col) =>
      imageToRgba(shrink(col.images[r], channels), height, width, channels as 1 | 3)
    );
    if (figure.masks) {
      const m = figure.masks.masks[r];
      cells.push(imageToRgba(shrink(Float32Array.from(m, (v) => v ? 1 : 0), 1), height, width, 1));
    }
    const captions: string[] = cells.map(() => "");
    const under = imageToRgba(dim(shrink(base.images[r], channels)), height, width, channels as 1 | 3);
    for (const col of figure.maps) {
      const map = shrink(col.maps[r], 1);
      captions.push(mapScale(maxAbs(map), col.signed));
      const values = normalizeByMaxAbs(map);
      const heat = col.signed
        ? colorize(values, { map: "diverging", min: -1, max: 1 })
        : colorize(values, { map: "heat", min: 0, max: 1 });
      cells.push(overlay(under, heat, figure.alpha ?? 0.65));
    }
    return { label, cells, captions };
  });
  const colorbars: GridColorbar[] = [];
  if (figure.maps.some((m) => !m.signed)) {
    colorbars.push({
      label: "unsigned maps: value / max of that map (the max is written under each map)",
      min: 0,
      max: 1,
      map: "heat",
    });
  }
  if (figure.maps.some((m) => m.signed)) {
    colorbars.push({
      label: "signed maps: value / max |value| of that map (written under each map)",
      min: -1,
      max: 1,
      map: "diverging",
    });
  }
  return {
    columns: [
      ...figure.images.map((c) => c.title),
      ...(figure.masks ? [figure.masks.title] : []),
      ...figure.maps.map((c) => c.title),
    ],
    rows,
    cellWidth: width,
    cellHeight: height,
    scale: cell.scale,
    colorbars,
  };
}

/** The image at half brightness, so overlays stand out. */
function dim(image: Float32Array): Float32Array {
  return image.map((v) => 0.25 + 0.5 * v);
}
