/**
 * An interactive map explorer inside the self-contained report, with no script (the report's Content Security
 * Policy allows none): radio buttons choose the method whose map is shown, in pure CSS (`:checked`), and
 * hovering the image lays the chosen map over it.
 * @module
 */
import { escapeHtml, pngDataUri } from "./html.ts";
import type { ImageCell } from "./image_table.ts";
import { encodePng, upscale } from "./png.ts";

/** One example to explore: its image, and one map cell per method (`caption` names the method). */
export interface ExplorerItem {
  /** A label in text, e.g. "class 8 (8): watermark". */
  label: string;
  /** The image the maps explain. */
  image: ImageCell;
  /** One map per method, in the order of the radio buttons. */
  maps: ImageCell[];
}

async function dataUri(cell: ImageCell, zoom: number): Promise<string> {
  const rgba = cell.rgba ?? new Uint8ClampedArray(cell.width * cell.height * 4).fill(255);
  return pngDataUri(
    await encodePng(upscale(rgba, cell.width, cell.height, zoom), cell.width * zoom, cell.height * zoom),
  );
}

/**
 * The explorer's HTML: per item, radio buttons (one per map, the first checked), the image with the chosen map
 * laid over it on hover, and the chosen map beside it with its caption. `id` keeps the radio groups apart.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * const gray = new Uint8ClampedArray(2 * 2 * 4).fill(128); // a 2×2 gray image, and a map of it per method
 * const image = { rgba: gray, width: 2, height: 2, caption: "image" };
 * const maps = ["Gradient", "Occlusion"].map((caption) => ({ rgba: gray, width: 2, height: 2, caption }));
 * const html = await mapExplorer("saliency", [{ label: "class 0", image, maps }]);
 * assert.equal(html.match(/type="radio"/g)?.length, 2); // one button per method
 * ```
 */
export async function mapExplorer(id: string, items: ExplorerItem[], zoom = 6): Promise<string> {
  const count = Math.max(0, ...items.map((i) => i.maps.length));
  // One rule per position: the k-th radio button shows the k-th map (beside the image, and over it on hover).
  const rules = Array.from(
    { length: count },
    (_, k) => `.explorer input:nth-of-type(${k + 1}):checked ~ .view .m${k} { display: block; }`,
  ).join("\n");
  const blocks: string[] = [];
  for (const [n, item] of items.entries()) {
    const group = `${id}-${n}`;
    const radios = item.maps.map((m, k) =>
      `<input type="radio" name="${group}" id="${group}-${k}"${k === 0 ? " checked" : ""}>` +
      `<label for="${group}-${k}">${escapeHtml(m.caption.replace(/ \(.*\)$/, ""))}</label>`
    ).join("");
    const image = await dataUri(item.image, zoom);
    const over: string[] = [];
    const beside: string[] = [];
    for (const [k, m] of item.maps.entries()) {
      const uri = await dataUri(m, zoom);
      over.push(`<img src="${uri}" alt="" class="over m${k}">`);
      beside.push(
        `<figure class="m${k}"><img src="${uri}" alt="${escapeHtml(m.caption)}">` +
          `<figcaption>${escapeHtml(m.caption)}</figcaption></figure>`,
      );
    }
    blocks.push(
      `<div class="explorer"><div class="label">${escapeHtml(item.label)}</div>${radios}` +
        `<div class="view"><div class="stack"><img src="${image}" alt="${escapeHtml(item.image.caption)}">` +
        `${over.join("")}</div><div class="beside">${beside.join("")}</div></div></div>`,
    );
  }
  return `<style>
.explorer { margin: .75rem 0 1.25rem; }
.explorer .label { font-weight: 600; margin-bottom: .25rem; }
.explorer input { margin: 0 .15rem 0 .6rem; }
.explorer label { font-size: .85rem; }
.explorer .view { display: flex; gap: 1rem; margin-top: .4rem; align-items: flex-start; }
.explorer .stack { position: relative; line-height: 0; }
.explorer .stack img { image-rendering: pixelated; display: block; }
.explorer .stack img.over { position: absolute; left: 0; top: 0; opacity: 0; transition: opacity .15s; }
.explorer .stack:hover img.over { opacity: .7; }
.explorer .beside figure { margin: 0; }
.explorer .beside img { image-rendering: pixelated; }
.explorer .view img.over, .explorer .beside figure { display: none; }
${rules}
</style>
<p>Choose a method; hover the image to see its map over it.</p>
${blocks.join("\n")}`;
}
