/**
 * The HTML report: escaping, tables, inline images, and one self-contained page (inline CSS, no scripts, no
 * network; images as data URIs) that opens from disk.
 * @module
 */
import { formatNumber } from "./format.ts";

/** A standalone SVG figure: its file name in the results folder, its caption and its document. */
export interface Figure {
  /** File name inside the results folder (`….svg`). */
  file: string;
  /** One sentence under the figure. */
  caption: string;
  /** The SVG document (no XML prolog), written as the file and inlined into the page. */
  svg: string;
}

/** A table cell value: numbers are formatted, `null` shows as a dash. */
export type Cell = string | number | boolean | null;

/** Options for {@linkcode table}. */
export interface TableOptions {
  /** A caption shown above the table. Default none. */
  caption?: string;
  /** Significant digits for non-integer numbers. Default 3. */
  digits?: number;
}

/** A section of the report: a heading (plain text, escaped) and its HTML body (trusted, inserted as is). */
export interface ReportSection {
  /** Section heading, plain text; it also names the entry in the table of contents. */
  heading: string;
  /** The section's body: HTML built with this module's helpers, where every user string is escaped. */
  html: string;
}

/** What {@linkcode renderReport} puts on the page. */
export interface Report {
  /** Page title and main heading, plain text. */
  title: string;
  /** A line under the title (for example the task and date), plain text. Default none. */
  subtitle?: string;
  /**
   * The answer: what the run shows, in words and pictures (trusted HTML), shown first, above the contents,
   * so that it is on the first screen. Default none.
   */
  answer?: string;
  /** The sections, in order. */
  sections: ReportSection[];
  /** A line at the bottom of the page, plain text. Default none. */
  footer?: string;
}

const ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/**
 * Escapes text for HTML (and SVG/XML) element content and quoted attribute values: `& < > " '` become
 * entities.
 *
 * @example
 * ```ts
 * escapeHtml(`<script>&"'`); // "&lt;script&gt;&amp;&quot;&#39;"
 * ```
 */
export function escapeHtml(s: string): string {
  return String(s).replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

/** Base64 of bytes, without a size limit on the input. */
function base64(bytes: Uint8Array): string {
  let binary = "";
  const chunk = 0x8000;
  for (let i = 0; i < bytes.length; i += chunk) {
    binary += String.fromCharCode(...bytes.subarray(i, i + chunk));
  }
  return btoa(binary);
}

/** A `data:image/png;base64,…` URI for PNG bytes, to inline an image in the page. */
export function pngDataUri(bytes: Uint8Array): string {
  return `data:image/png;base64,${base64(bytes)}`;
}

/** Options for {@linkcode pngImage}. */
export interface ImageOptions {
  /** Displayed width in CSS pixels. Default: the image's own width. */
  width?: number;
  /** Keep pixels square when the browser scales (for small images such as 28×28 digits). Default true. */
  pixelated?: boolean;
}

/** An `<img>` tag showing PNG bytes inline, with `alt` text (escaped). */
export function pngImage(bytes: Uint8Array, alt: string, options: ImageOptions = {}): string {
  const width = options.width === undefined ? "" : ` width="${Math.round(options.width)}"`;
  const cls = options.pixelated === false ? "" : ` class="pixelated"`;
  return `<img src="${pngDataUri(bytes)}" alt="${escapeHtml(alt)}"${width}${cls}>`;
}

/** A `<figure>` around trusted HTML (an image or an SVG plot) with a plain-text caption (escaped). */
export function figure(html: string, caption: string): string {
  return `<figure>${html}<figcaption>${escapeHtml(caption)}</figcaption></figure>`;
}

/** A {@linkcode Figure} inlined into the page: its SVG with its caption. */
export function svgFigure(f: Figure): string {
  return figure(f.svg, f.caption);
}

/** A paragraph of plain text (escaped). */
export function paragraph(text: string): string {
  return `<p>${escapeHtml(text)}</p>`;
}

function formatCell(value: Cell, digits: number): { text: string; numeric: boolean } {
  if (value === null) return { text: "–", numeric: false };
  if (typeof value === "number") {
    const text = Number.isInteger(value) ? String(value) : formatNumber(value, digits);
    return { text, numeric: true };
  }
  if (typeof value === "boolean") return { text: value ? "yes" : "no", numeric: false };
  return { text: String(value), numeric: false };
}

/**
 * An HTML table. Every header and cell is escaped; integers are shown exactly, other numbers to 3
 * significant digits (see `formatNumber`), right-aligned; booleans as yes/no; `null` as a dash.
 *
 * @example
 * ```ts
 * table(["class", "flip rate"], [["7", 0.91234], ["1", null]]); // 0.912 and –
 * ```
 */
export function table(columns: string[], rows: Cell[][], options: TableOptions = {}): string {
  const digits = options.digits ?? 3;
  const caption = options.caption === undefined ? "" : `<caption>${escapeHtml(options.caption)}</caption>`;
  const head = columns.map((c) => `<th scope="col">${escapeHtml(c)}</th>`).join("");
  const body = rows.map((row) => {
    const cells = row.map((value) => {
      const { text, numeric } = formatCell(value, digits);
      return numeric ? `<td class="num">${escapeHtml(text)}</td>` : `<td>${escapeHtml(text)}</td>`;
    });
    return `<tr>${cells.join("")}</tr>`;
  });
  return `<table>${caption}<thead><tr>${head}</tr></thead><tbody>\n${body.join("\n")}\n</tbody></table>`;
}

/** Forbids scripts, network and outside resources: the page only shows inline styles and data: images. */
const CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'";

const CSS = `
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #fafafa; color: #222;
  font: 16px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 980px; margin: 0 auto; padding: 2rem 1.5rem 4rem; background: #fff; min-height: 100vh; }
header h1 { margin: 0 0 .25rem; font-size: 1.9rem; line-height: 1.2; }
header p.subtitle { margin: 0 0 1.5rem; color: #666; }
nav.toc { border: 1px solid #e3e3e3; border-radius: 6px; padding: .75rem 1.25rem; margin-bottom: 2rem;
  background: #f7f7f9; }
nav.toc h2 { font-size: 1rem; margin: 0 0 .35rem; border: 0; padding: 0; }
nav.toc ol { margin: 0; padding-left: 1.4rem; }
section { margin-top: 2.5rem; }
h2 { font-size: 1.35rem; border-bottom: 1px solid #e3e3e3; padding-bottom: .3rem; }
a { color: #0b5cad; }
table { border-collapse: collapse; margin: 1rem 0; font-size: .92rem; font-variant-numeric: tabular-nums; }
caption { caption-side: top; text-align: left; font-weight: 600; padding-bottom: .35rem; }
th, td { padding: .3rem .75rem; border-bottom: 1px solid #e6e6e6; text-align: left; vertical-align: top; }
th { background: #f2f2f4; font-weight: 600; }
td.num { text-align: right; }
tbody tr:nth-child(even) { background: #fbfbfc; }
figure { margin: 1.25rem 0; }
figcaption { color: #555; font-size: .9rem; margin-top: .35rem; }
img, svg { max-width: 100%; height: auto; }
img.pixelated { image-rendering: pixelated; image-rendering: crisp-edges; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .9em; }
pre { background: #f5f5f7; padding: .75rem 1rem; overflow-x: auto; border-radius: 4px; }
footer { margin-top: 3rem; color: #888; font-size: .85rem; }
section.answer { margin-top: 0; }
section.answer p { margin: .4rem 0; }
table.images { margin: .5rem 0; }
table.images th { background: none; vertical-align: middle; white-space: nowrap; }
table.images td { border: 0; padding: .15rem .3rem; }
table.images img { image-rendering: pixelated; image-rendering: crisp-edges; display: block; }
figure.cell { margin: 0; }
figure.cell figcaption { font-size: .78rem; margin-top: .1rem; max-width: 9rem; }
.colorbar { display: inline-block; width: 16rem; margin: .25rem 1.5rem .5rem 0; font-size: .8rem; }
.colorbar .bar { height: .8rem; border: 1px solid #ccc; }
.colorbar .ticks { display: flex; justify-content: space-between; }
.colorbar .title { color: #555; }
`;

/**
 * Renders the whole report as one self-contained HTML page: inline CSS, no scripts, no external links or
 * fonts (its Content-Security-Policy forbids them too); a table of contents links to every section. Title,
 * subtitle, headings and footer are escaped; section bodies are inserted as they are (build them with this
 * module's helpers).
 */
export function renderReport(report: Report): string {
  const ids = report.sections.map((_, i) => `section-${i + 1}`);
  const toc = report.sections.length === 0
    ? ""
    : `<nav class="toc" aria-label="Contents"><h2>Contents</h2><ol>\n${
      report.sections.map((s, i) => `<li><a href="#${ids[i]}">${escapeHtml(s.heading)}</a></li>`).join("\n")
    }\n</ol></nav>`;
  const sections = report.sections.map((s, i) =>
    `<section id="${ids[i]}">\n<h2>${escapeHtml(s.heading)}</h2>\n${s.html}\n</section>`
  );
  const subtitle = report.subtitle === undefined
    ? ""
    : `<p class="subtitle">${escapeHtml(report.subtitle)}</p>`;
  const footer = report.footer === undefined ? "" : `<footer>${escapeHtml(report.footer)}</footer>`;
  const answer = report.answer === undefined
    ? ""
    : `<section class="answer" id="answer">\n${report.answer}\n</section>`;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${CSP}">
<title>${escapeHtml(report.title)}</title>
<style>${CSS}</style>
</head>
<body>
<main>
<header><h1>${escapeHtml(report.title)}</h1>${subtitle}</header>
${answer}
${toc}
${sections.join("\n")}
${footer}
</main>
</body>
</html>
`;
}
