/**
 * Reading a report.html back as a user reads it: its sections, paragraphs, captions and tables as plain text,
 * and numbers in that text checked against the raw values of metrics.json (not against the report's own
 * formatting functions).
 * @module
 */
import assert from "node:assert/strict";

/** Text of an HTML fragment: tags dropped, entities undone, white space collapsed. */
export function htmlText(fragment: string): string {
  return fragment.replace(/<[^>]*>/g, " ").replace(/&lt;/g, "<").replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, "&").replace(/\s+/g, " ").trim();
}

/** The answer section's HTML (above the contents). */
export function answerHtml(html: string): string {
  const start = html.indexOf('<section class="answer" id="answer">');
  assert.ok(start >= 0, "the report has an answer");
  return html.slice(start, html.indexOf("</section>", start));
}

/** The HTML of the section under `<h2>heading</h2>` (heading as plain text). */
export function sectionHtml(html: string, heading: string): string {
  const sections = html.split(/<section id="section-\d+">/).slice(1);
  const found = sections.find((s) => htmlText(s.slice(0, s.indexOf("</h2>"))) === heading);
  assert.ok(found !== undefined, `a section "${heading}"`);
  return found.slice(0, found.lastIndexOf("</section>"));
}

function inner(fragment: string, tag: string, attrs = ""): string[] {
  const re = new RegExp(`<${tag}${attrs}[^>]*>([\\s\\S]*?)</${tag}>`, "g");
  return [...fragment.matchAll(re)].map((m) => htmlText(m[1]));
}

/** The text of every `<p>`. */
export function paragraphs(fragment: string): string[] {
  return inner(fragment, "p");
}

/** The text of every `<figcaption>`. */
export function figcaptions(fragment: string): string[] {
  return inner(fragment, "figcaption");
}

/** Every table: its column headers and, per row, its cells' text (row headers included). */
export function tables(fragment: string): { head: string[]; rows: string[][] }[] {
  return [...fragment.matchAll(/<table[^>]*>([\s\S]*?)<\/table>/g)].map(([, body]) => ({
    head: inner(body.match(/<thead>([\s\S]*?)<\/thead>/)?.[1] ?? "", "th"),
    rows: [...(body.match(/<tbody>([\s\S]*?)<\/tbody>/)?.[1] ?? "").matchAll(/<tr>([\s\S]*?)<\/tr>/g)]
      .map(([, row]) => [...row.matchAll(/<t[hd][^>]*>([\s\S]*?)<\/t[hd]>/g)].map((c) => htmlText(c[1]))),
  }));
}

/** The table whose column headers start with `first`. */
export function tableWith(fragment: string, ...first: string[]): { head: string[]; rows: string[][] } {
  const found = tables(fragment).find((t) => first.every((h, i) => t.head[i] === h));
  assert.ok(found, `a table with columns ${first.join(", ")}`);
  return found;
}

/** A value of metrics.json that was not measured: JSON writes NaN as null. */
function missing(value: number | null | undefined): boolean {
  return value === null || value === undefined || Number.isNaN(value);
}

/**
 * `text` shows the share `value` as a percentage: `n/a` when not measured, else its value rounded to a whole
 * percent, or to a tenth below 10%.
 */
export function assertPercent(text: string, value: number | null, what: string): void {
  if (missing(value)) return assert.equal(text, "n/a", what);
  const m = text.match(/^(\d+)(?:\.(\d))?%$/);
  assert.ok(m, `${what}: "${text}" is a percentage`);
  const v = value as number;
  const decimals = v > 0 && v < 0.1 ? 1 : 0;
  assert.equal(m[2] === undefined ? 0 : 1, decimals, `${what}: "${text}" for ${v} has ${decimals} decimals`);
  const shown = Number(text.slice(0, -1));
  assert.ok(Math.abs(shown - 100 * v) <= 0.5 * 10 ** -decimals + 1e-9, `${what}: "${text}" for ${v}`);
}

/**
 * `text` shows `value` to `digits` significant digits: `n/a` when not measured, an exact integer when it is
 * one, else within half a unit of its last significant digit.
 */
export function assertNumber(text: string, value: number | null, what: string, digits = 3): void {
  if (missing(value)) return assert.equal(text, "n/a", what);
  const v = value as number;
  const shown = Number(text);
  assert.ok(Number.isFinite(shown), `${what}: "${text}" is a number`);
  if (Number.isInteger(v) && Math.abs(v) < 1e5) return assert.equal(shown, v, what);
  const unit = 10 ** (Math.floor(Math.log10(Math.abs(v))) - digits + 1);
  assert.ok(Math.abs(shown - v) <= unit / 2 + 1e-12 * Math.abs(v), `${what}: "${text}" for ${v}`);
}

/** A table cell shows `value`: an integer exactly, `–` for null, yes/no for a boolean, else 3 digits. */
export function assertCell(text: string, value: number | boolean | null, what: string): void {
  if (value === null) return assert.equal(text, "–", what);
  if (typeof value === "boolean") return assert.equal(text, value ? "yes" : "no", what);
  assertNumber(text, value, what);
}

/** `text` matches `pattern` (anchored by the caller), and its groups. */
export function groups(text: string, pattern: RegExp, what: string): string[] {
  const m = text.match(pattern);
  assert.ok(m, `${what}: "${text}" does not read as ${pattern}`);
  return m.slice(1);
}

/** The rows of the answer's picture table (`<table class="images">`): label, then each cell's caption; none
 * when it has no such table. */
export function imageRows(fragment: string): string[][] {
  const body = fragment.match(/<table class="images">([\s\S]*?)<\/table>/)?.[1];
  return body === undefined ? [] : tables(`<table>${body}</table>`)[0].rows;
}
