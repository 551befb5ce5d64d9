/**
 * Plots as self-contained inline SVG strings for the HTML report: line plots (deletion/insertion curves,
 * training loss), scatter plots (SpRAy embeddings) and bar plots (per-class scores). Every text is escaped;
 * axes get readable tick numbers; colours come from the colour-blind-safe Okabe–Ito palette.
 * @module
 */
import { formatNumber } from "./format.ts";
import { escapeHtml } from "./html.ts";

/** Series colours, in order (Okabe–Ito, reordered so the first ones differ most; yellow last). */
export const PALETTE: readonly string[] = [
  "#0072B2",
  "#D55E00",
  "#009E73",
  "#CC79A7",
  "#E69F00",
  "#56B4E9",
  "#000000",
  "#F0E442",
];

/** Size shared by all plots. */
export interface PlotSize {
  /** Width in pixels. Default 640. */
  width?: number;
  /** Height in pixels (bar plots grow with the number of bars instead). Default 400. */
  height?: number;
}

/** One line of a {@linkcode linePlot}: `x[i]` pairs with `y[i]`; a NaN breaks the line. */
export interface Series {
  /** Shown in the legend. */
  name: string;
  /** X values. */
  x: number[];
  /** Y values, as many as `x`. */
  y: number[];
}

/** What {@linkcode linePlot} draws. */
export interface LinePlot extends PlotSize {
  /** Title above the plot. */
  title: string;
  /** X axis label. */
  xLabel: string;
  /** Y axis label. */
  yLabel: string;
  /** The lines; the legend lists them in this order. */
  series: Series[];
  /** Fixed x range `[min, max]`, widened to round ticks; points outside are not clipped. Default: data's. */
  xRange?: [number, number];
  /** Fixed y range `[min, max]`, widened to round ticks; points outside are not clipped. Default: data's. */
  yRange?: [number, number];
}

/** One point of a {@linkcode scatterPlot}; `group` (an integer from 0) picks its colour. */
export interface ScatterPoint {
  /** X coordinate. */
  x: number;
  /** Y coordinate. */
  y: number;
  /** Group index; colour `PALETTE[group % 8]`. */
  group: number;
}

/** What {@linkcode scatterPlot} draws. */
export interface ScatterPlot extends PlotSize {
  /** Title above the plot. */
  title: string;
  /** The points. */
  points: ScatterPoint[];
  /** Legend names by group index. Default `group 0`, `group 1`, …. */
  groupNames?: string[];
  /** X axis label. Default none. */
  xLabel?: string;
  /** Y axis label. Default none. */
  yLabel?: string;
}

/** One bar of a {@linkcode barPlot}. */
export interface Bar {
  /** Shown left of the bar. */
  label: string;
  /** Bar length; negative values extend left of zero. */
  value: number;
}

/** What {@linkcode barPlot} draws: horizontal bars, one per row, with their values printed. */
export interface BarPlot extends Omit<PlotSize, "height"> {
  /** Title above the plot. */
  title: string;
  /** The bars, top to bottom. */
  bars: Bar[];
  /** Label under the value axis. Default none. */
  valueLabel?: string;
}

/** Round ticks covering a range. */
export interface Ticks {
  /** Tick values, ascending, evenly spaced; the first and last enclose the data. */
  values: number[];
  /** The tick labels, formatted with as many digits as the spacing needs. */
  labels: string[];
}

const FONT = `font-family="system-ui, -apple-system, 'Segoe UI', Roboto, Arial, sans-serif"`;
const CHAR_WIDTH = 6.6; // rough width of a 12px character, for layout
const AXIS = "#444";
const GRIDLINE = "#e5e5e5";

/** Coordinates rounded to 0.01 px keep the SVG short. */
function n(v: number): string {
  return String(Math.round(v * 100) / 100);
}

/**
 * Round tick values (steps of 1, 2 or 5 times a power of ten) spanning `[min, max]` with about `count`
 * ticks (default 5). An empty or single-value range is widened so there is something to draw.
 *
 * @example
 * ```ts
 * niceTicks(0.03, 0.97).labels; // ["0", "0.2", "0.4", "0.6", "0.8", "1"]
 * ```
 */
export function niceTicks(min: number, max: number, count = 5): Ticks {
  if (!Number.isFinite(min) || !Number.isFinite(max)) {
    min = 0;
    max = 1;
  }
  if (min > max) [min, max] = [max, min];
  if (min === max) {
    const pad = min === 0 ? 1 : Math.abs(min) * 0.5;
    min -= pad;
    max += pad;
  }
  const raw = (max - min) / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(raw));
  const fraction = raw / power;
  const step = (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10) * power;
  const first = Math.floor(min / step + 1e-9);
  const last = Math.ceil(max / step - 1e-9);
  const largest = Math.max(Math.abs(first), Math.abs(last)) * step;
  const digits = Math.min(
    15,
    Math.max(1, Math.floor(Math.log10(largest)) - Math.floor(Math.log10(step)) + 1),
  );
  const values: number[] = [];
  for (let k = first; k <= last; k++) values.push(Number((k * step).toPrecision(15)));
  return { values, labels: values.map((v) => formatNumber(v, digits)) };
}

interface Frame {
  width: number;
  height: number;
  left: number;
  right: number;
  top: number;
  bottom: number;
  x: Ticks;
  y: Ticks;
}

function scaleX(f: Frame, v: number): number {
  const lo = f.x.values[0];
  const hi = f.x.values[f.x.values.length - 1];
  return f.left + (v - lo) / (hi - lo) * (f.width - f.left - f.right);
}

function scaleY(f: Frame, v: number): number {
  const lo = f.y.values[0];
  const hi = f.y.values[f.y.values.length - 1];
  return f.height - f.bottom - (v - lo) / (hi - lo) * (f.height - f.top - f.bottom);
}

function finiteRange(values: Iterable<number>): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo > hi ? [0, 1] : [lo, hi];
}

/** Widens a range by 3% on each side so dots on the extremes do not sit on the frame. */
function padded([lo, hi]: [number, number]): [number, number] {
  const pad = (hi - lo) * 0.03;
  return [lo - pad, hi + pad];
}

function text(x: number, y: number, content: string, attributes = ""): string {
  return `<text x="${n(x)}" y="${n(y)}"${attributes ? " " + attributes : ""}>${escapeHtml(content)}</text>`;
}

function open(width: number, height: number, title: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${n(width)}" height="${n(height)}" ` +
    `viewBox="0 0 ${n(width)} ${n(height)}" role="img" aria-label="${
      escapeHtml(title)
    }" ${FONT} font-size="12">` +
    `<title>${escapeHtml(title)}</title>` +
    `<rect x="0" y="0" width="${n(width)}" height="${n(height)}" fill="#ffffff"/>` +
    text(width / 2, 20, title, `text-anchor="middle" font-size="15" font-weight="600" fill="#222"`);
}

/** Grid lines, tick marks, tick labels and axis labels of an x–y frame. */
function axes(f: Frame, xLabel: string, yLabel: string): string {
  const parts: string[] = [];
  const x0 = f.left;
  const x1 = f.width - f.right;
  const y0 = f.height - f.bottom;
  const y1 = f.top;
  f.x.values.forEach((v, i) => {
    const x = scaleX(f, v);
    parts.push(`<line x1="${n(x)}" y1="${n(y1)}" x2="${n(x)}" y2="${n(y0)}" stroke="${GRIDLINE}"/>`);
    parts.push(`<line x1="${n(x)}" y1="${n(y0)}" x2="${n(x)}" y2="${n(y0 + 5)}" stroke="${AXIS}"/>`);
    parts.push(text(x, y0 + 18, f.x.labels[i], `text-anchor="middle" fill="${AXIS}"`));
  });
  f.y.values.forEach((v, i) => {
    const y = scaleY(f, v);
    parts.push(`<line x1="${n(x0)}" y1="${n(y)}" x2="${n(x1)}" y2="${n(y)}" stroke="${GRIDLINE}"/>`);
    parts.push(`<line x1="${n(x0 - 5)}" y1="${n(y)}" x2="${n(x0)}" y2="${n(y)}" stroke="${AXIS}"/>`);
    parts.push(text(x0 - 8, y + 4, f.y.labels[i], `text-anchor="end" fill="${AXIS}"`));
  });
  parts.push(
    `<rect x="${n(x0)}" y="${n(y1)}" width="${n(x1 - x0)}" height="${n(y0 - y1)}" ` +
      `fill="none" stroke="${AXIS}"/>`,
  );
  if (xLabel) parts.push(text((x0 + x1) / 2, f.height - 10, xLabel, `text-anchor="middle" fill="#222"`));
  if (yLabel) {
    const cy = (y0 + y1) / 2;
    parts.push(text(16, cy, yLabel, `text-anchor="middle" fill="#222" transform="rotate(-90 16 ${n(cy)})"`));
  }
  return parts.join("");
}

/** Legend entries stacked in the right margin; `mark` draws the swatch for entry `i` at (x, y). */
function legend(f: Frame, names: string[], mark: (i: number, x: number, y: number) => string): string {
  const x = f.width - f.right + 12;
  return names.map((name, i) => {
    const y = f.top + 8 + i * 18;
    return mark(i, x, y) + text(x + 24, y + 4, name, `fill="#222"`);
  }).join("");
}

function legendWidth(names: string[]): number {
  return names.length === 0 ? 16 : 12 + 24 + Math.max(...names.map((s) => s.length)) * CHAR_WIDTH + 12;
}

function leftMargin(y: Ticks, hasLabel: boolean): number {
  return 14 + Math.max(...y.labels.map((s) => s.length)) * CHAR_WIDTH + (hasLabel ? 24 : 4);
}

function color(i: number): string {
  return PALETTE[((i % PALETTE.length) + PALETTE.length) % PALETTE.length];
}

/**
 * A line plot: one coloured line per series (dashed from the ninth on, when colours repeat), dots on
 * series with 40 points or fewer, round ticks, and a legend on the right.
 *
 * @example
 * ```ts
 * linePlot({ title: "Deletion", xLabel: "fraction removed", yLabel: "p(class)",
 *   series: [{ name: "gradient", x: [0, 0.5, 1], y: [0.9, 0.4, 0.1] }] });
 * ```
 */
export function linePlot(plot: LinePlot): string {
  const width = plot.width ?? 640;
  const height = plot.height ?? 400;
  for (const s of plot.series) {
    if (s.x.length !== s.y.length) {
      throw new Error(`linePlot: series "${s.name}" has ${s.x.length} x values and ${s.y.length} y values`);
    }
  }
  const xr = plot.xRange ?? finiteRange(plot.series.flatMap((s) => s.x));
  const yr = plot.yRange ?? finiteRange(plot.series.flatMap((s) => s.y));
  const x = niceTicks(xr[0], xr[1], 6);
  const y = niceTicks(yr[0], yr[1], 5);
  const names = plot.series.map((s) => s.name);
  const f: Frame = {
    width,
    height,
    x,
    y,
    top: 36,
    bottom: plot.xLabel ? 48 : 30,
    left: leftMargin(y, plot.yLabel !== ""),
    right: legendWidth(names),
  };
  const lines = plot.series.map((s, i) => {
    const dash = i >= PALETTE.length ? ` stroke-dasharray="6 3"` : "";
    let d = "";
    let pen = false;
    const dots: string[] = [];
    for (let k = 0; k < s.x.length; k++) {
      if (!Number.isFinite(s.x[k]) || !Number.isFinite(s.y[k])) {
        pen = false;
        continue;
      }
      const px = n(scaleX(f, s.x[k]));
      const py = n(scaleY(f, s.y[k]));
      d += `${pen ? "L" : "M"}${px} ${py}`;
      pen = true;
      if (s.x.length <= 40) dots.push(`<circle cx="${px}" cy="${py}" r="2.5" fill="${color(i)}"/>`);
    }
    const path = d ? `<path d="${d}" fill="none" stroke="${color(i)}" stroke-width="2"${dash}/>` : "";
    return `<g>${path}${dots.join("")}</g>`;
  });
  const marks = legend(f, names, (i, lx, ly) => {
    const dash = i >= PALETTE.length ? ` stroke-dasharray="6 3"` : "";
    return `<line x1="${n(lx)}" y1="${n(ly)}" x2="${n(lx + 18)}" y2="${n(ly)}" stroke="${color(i)}" ` +
      `stroke-width="2"${dash}/>`;
  });
  return `${open(width, height, plot.title)}${axes(f, plot.xLabel, plot.yLabel)}` +
    `<g>${lines.join("")}</g>${marks}</svg>`;
}

/**
 * A scatter plot: one dot per point, coloured by group, with a legend naming each group that occurs.
 */
export function scatterPlot(plot: ScatterPlot): string {
  const width = plot.width ?? 640;
  const height = plot.height ?? 400;
  const x = niceTicks(...padded(finiteRange(plot.points.map((p) => p.x))), 6);
  const y = niceTicks(...padded(finiteRange(plot.points.map((p) => p.y))), 5);
  const groups = [...new Set(plot.points.map((p) => p.group))].sort((a, b) => a - b);
  const names = groups.map((g) => plot.groupNames?.[g] ?? `group ${g}`);
  const f: Frame = {
    width,
    height,
    x,
    y,
    top: 36,
    bottom: plot.xLabel ? 48 : 30,
    left: leftMargin(y, Boolean(plot.yLabel)),
    right: legendWidth(names),
  };
  const dots = plot.points
    .filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y))
    .map((p) =>
      `<circle cx="${n(scaleX(f, p.x))}" cy="${n(scaleY(f, p.y))}" r="3" fill="${color(p.group)}" ` +
      `fill-opacity="0.75"/>`
    );
  const marks = legend(
    f,
    names,
    (i, lx, ly) => `<circle cx="${n(lx + 9)}" cy="${n(ly)}" r="4" fill="${color(groups[i])}"/>`,
  );
  return `${open(width, height, plot.title)}${axes(f, plot.xLabel ?? "", plot.yLabel ?? "")}` +
    `<g>${dots.join("")}</g>${marks}</svg>`;
}

/**
 * A horizontal bar plot: labels on the left, one bar per row from zero (negative values go left), the
 * value printed beside each bar, and a value axis with round ticks below. The height grows with the number
 * of bars (22 px each).
 */
export function barPlot(plot: BarPlot): string {
  const width = plot.width ?? 640;
  const rowHeight = 22;
  const values = plot.bars.map((b) => b.value);
  const [lo, hi] = finiteRange([0, ...values]);
  const x = niceTicks(lo, hi, 5);
  const labelRight = 8 + Math.max(0, ...plot.bars.map((b) => b.label.length)) * CHAR_WIDTH;
  const valueWidth = Math.max(0, ...values.map((v) => formatNumber(v).length)) * CHAR_WIDTH + 12;
  const top = 36;
  const bottom = plot.valueLabel ? 48 : 30;
  const height = top + Math.max(1, plot.bars.length) * rowHeight + bottom;
  const f: Frame = {
    width,
    height,
    x,
    y: { values: [0, 1], labels: ["", ""] },
    top,
    bottom,
    left: labelRight + 8 + (lo < 0 ? valueWidth : 0),
    right: valueWidth,
  };
  const zero = scaleX(f, 0);
  const parts: string[] = [];
  f.x.values.forEach((v, i) => {
    const gx = scaleX(f, v);
    parts.push(
      `<line x1="${n(gx)}" y1="${n(top)}" x2="${n(gx)}" y2="${n(height - bottom)}" stroke="${GRIDLINE}"/>`,
    );
    parts.push(text(gx, height - bottom + 18, f.x.labels[i], `text-anchor="middle" fill="${AXIS}"`));
  });
  plot.bars.forEach((b, i) => {
    const cy = top + i * rowHeight + rowHeight / 2;
    parts.push(text(labelRight, cy + 4, b.label, `text-anchor="end" fill="#222"`));
    if (!Number.isFinite(b.value)) {
      parts.push(text(zero + 4, cy + 4, formatNumber(b.value), `fill="${AXIS}"`));
      return;
    }
    const end = scaleX(f, b.value);
    const x0 = Math.min(zero, end);
    parts.push(
      `<rect x="${n(x0)}" y="${n(cy - 7)}" width="${n(Math.abs(end - zero))}" height="14" ` +
        `fill="${b.value < 0 ? PALETTE[1] : PALETTE[0]}"/>`,
    );
    const anchor = b.value < 0 ? `text-anchor="end"` : "";
    const tx = b.value < 0 ? x0 - 4 : end + 4;
    parts.push(text(tx, cy + 4, formatNumber(b.value), `${anchor} fill="${AXIS}"`.trim()));
  });
  parts.push(
    `<line x1="${n(zero)}" y1="${n(top)}" x2="${n(zero)}" y2="${n(height - bottom)}" stroke="${AXIS}"/>`,
  );
  parts.push(
    `<line x1="${n(f.left)}" y1="${n(height - bottom)}" x2="${n(width - f.right)}" ` +
      `y2="${n(height - bottom)}" stroke="${AXIS}"/>`,
  );
  if (plot.valueLabel) {
    parts.push(
      text((f.left + width - f.right) / 2, height - 10, plot.valueLabel, `text-anchor="middle" fill="#222"`),
    );
  }
  return `${open(width, height, plot.title)}${parts.join("")}</svg>`;
}
