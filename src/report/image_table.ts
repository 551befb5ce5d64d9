/**
 * Pictures with their words as HTML text: a table whose rows are labelled in text (class names, in full) and
 * whose cells are small images upscaled by nearest neighbour (crisp pixels) with a text caption, and a colour
 * bar with numbers drawn in CSS. Used by the answer at the top of each report.
 * @module
 */
import { colorize, type ColormapName, mapColor } from "./colormap.ts";
import { mapScale } from "./format.ts";
import { escapeHtml, pngImage } from "./html.ts";
import { encodePng, upscale } from "./png.ts";

/** One image cell: RGBA pixels of `width`×`height` and a caption under it. */
export interface ImageCell {
  /** RGBA, 4 bytes per pixel, row-major; absent for a cell that holds only its caption. */
  rgba?: Uint8ClampedArray;
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** Text under the image (HTML-escaped here). */
  caption: string;
}

/** One row: a label in text and its cells. */
export interface ImageRow {
  /** Row label (HTML-escaped here). */
  label: string;
  /** The cells, left to right. */
  cells: ImageCell[];
}

/** The largest |value| of a map (0 for an all-zero map). */
export function maxAbs(values: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < values.length; i++) m = Math.max(m, Math.abs(values[i]));
  return m;
}

/** Divides a map by its largest |value| (a zero map stays zero). */
export function normalizeByMaxAbs(map: Float32Array): Float32Array {
  const max = maxAbs(map);
  return max > 0 ? map.map((v) => v / max) : map.slice();
}

/**
 * A map as an image cell, coloured on its own scale: signed maps on the diverging map over ±max|value|,
 * unsigned ones on the heat map over [0, max]; the caption gets the scale, so the colours can be read.
 */
export function mapCell(
  map: Float32Array,
  width: number,
  height: number,
  caption: string,
  signed: boolean,
): ImageCell {
  const rgba = colorize(
    normalizeByMaxAbs(map),
    signed ? { map: "diverging", min: -1, max: 1 } : { map: "heat", min: 0, max: 1 },
  );
  return { rgba, width, height, caption: `${caption} (${mapScale(maxAbs(map), signed)})` };
}

/**
 * The table as HTML: each image upscaled `zoom` times (default 4) by nearest neighbour, as an inline PNG.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * const cell = mapCell(Float32Array.of(0, 1, -2, 0.5), 2, 2, "gradient", true); // a 2×2 signed map
 * assert.equal(cell.caption, "gradient (±2.0)"); // the scale: the largest |value|
 * const html = await imageTable([{ label: "T-shirt/top → Pullover", cells: [cell] }]);
 * assert.ok(html.includes("data:image/png;base64,")); // the map as an inline PNG
 * ```
 */
export async function imageTable(rows: ImageRow[], zoom = 4): Promise<string> {
  const body: string[] = [];
  for (const row of rows) {
    const cells: string[] = [];
    for (const cell of row.cells) {
      if (!cell.rgba) {
        cells.push(
          `<td><figure class="cell"><figcaption>${escapeHtml(cell.caption)}</figcaption></figure></td>`,
        );
        continue;
      }
      const png = await encodePng(
        upscale(cell.rgba, cell.width, cell.height, zoom),
        cell.width * zoom,
        cell.height * zoom,
      );
      cells.push(
        `<td><figure class="cell">${pngImage(png, cell.caption)}<figcaption>${
          escapeHtml(cell.caption)
        }</figcaption></figure></td>`,
      );
    }
    body.push(`<tr><th scope="row">${escapeHtml(row.label)}</th>${cells.join("")}</tr>`);
  }
  return `<table class="images"><tbody>\n${body.join("\n")}\n</tbody></table>`;
}

/** A colour bar in CSS with its end and middle values as text, e.g. for a signed map: −1, 0, +1 of the scale. */
export function colorBar(map: ColormapName, labels: [string, string, string], title: string): string {
  const stops = Array.from({ length: 11 }, (_, i) => {
    const [r, g, b] = mapColor(map, i / 10);
    return `rgb(${r},${g},${b}) ${i * 10}%`;
  }).join(", ");
  return `<div class="colorbar" role="img" aria-label="${escapeHtml(title)}">` +
    `<div class="bar" style="background: linear-gradient(to right, ${stops})"></div>` +
    `<div class="ticks"><span>${escapeHtml(labels[0])}</span><span>${escapeHtml(labels[1])}</span>` +
    `<span>${escapeHtml(labels[2])}</span></div><div class="title">${escapeHtml(title)}</div></div>`;
}
