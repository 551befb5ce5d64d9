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

/** Builds the grid (for `gridSvg`) of a saliency figure. */
export function saliencyGrid(figure: SaliencyFigure): Grid {
  const { height, width, channels } = figure;
  const base = figure.images[figure.overlayOn ?? figure.images.length - 1];
  const rows = figure.rowLabels.map((label, r) => {
    const cells: Uint8ClampedArray[] = figure.images.map((col) =>
      imageToRgba(col.images[r], height, width, channels as 1 | 3)
    );
    if (figure.masks) {
      const m = figure.masks.masks[r];
      cells.push(imageToRgba(Float32Array.from(m, (v) => v ? 1 : 0), height, width, 1));
    }
    const captions: string[] = cells.map(() => "");
    const under = imageToRgba(dim(base.images[r]), height, width, channels as 1 | 3);
    for (const col of figure.maps) {
      captions.push(mapScale(maxAbs(col.maps[r]), col.signed));
      const values = normalizeByMaxAbs(col.maps[r]);
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
    scale: Math.max(1, Math.round(112 / Math.max(height, width))),
    colorbars,
  };
}

/** The image at half brightness, so overlays stand out. */
function dim(image: Float32Array): Float32Array {
  return image.map((v) => 0.25 + 0.5 * v);
}
