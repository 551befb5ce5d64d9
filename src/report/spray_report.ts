/**
 * The SpRAy part of a report: a summary table, per class the eigenvalue spectrum and the spectral embedding
 * (coloured by cluster, and by the truth SpRAy was not told), and per cluster its mean map and sample images.
 * @module
 */
import type { SprayClassResult } from "../pipeline/spray_analysis.ts";
import { colorize } from "./colormap.ts";
import type { Figure } from "./html.ts";
import { gridSvg } from "./grid.ts";
import { escapeHtml, paragraph, svgFigure, table } from "./html.ts";
import { imageToRgba } from "./png.ts";
import { normalizeByMaxAbs } from "./image_table.ts";
import { linePlot, scatterPlot } from "./svg.ts";

/** One SVG figure per class worth a look (flagged, or holding an artifact): a row per cluster. */
export async function sprayFigures(
  classes: SprayClassResult[],
  shape: { height: number; width: number; channels: number },
): Promise<Figure[]> {
  const out: Figure[] = [];
  for (const c of classes.filter(worthShowing)) {
    const rows = c.result.meanMaps.map((mean, k) => ({
      label: `cluster ${k} (${c.result.clusterSizes[k]})`,
      cells: [
        colorize(normalizeByMaxAbs(mean), { map: "diverging", min: -1, max: 1 }),
        ...c.samples[k].map((img) => imageToRgba(img, shape.height, shape.width, shape.channels as 1 | 3)),
      ],
    }));
    const svg = await gridSvg({
      title: `SpRAy on class ${c.class} (${c.className}): one row per cluster`,
      columns: ["mean map", "sample", "sample", "sample", "sample"],
      rows,
      cellWidth: shape.width,
      cellHeight: shape.height,
      scale: Math.max(1, Math.round(84 / Math.max(shape.height, shape.width))),
      colorbars: [{ label: "mean map / its max |value|", min: -1, max: 1, map: "diverging" }],
    });
    out.push({
      file: `spray-class${c.class}.svg`,
      caption:
        `SpRAy on class ${c.class} (${c.className}): per cluster (cluster 0 the largest, its size in ` +
        `brackets), the mean of its normalized relevance maps and up to four of its images.`,
      svg,
    });
  }
  return out;
}

/** The report section's HTML. */
export function spraySection(classes: SprayClassResult[], method: string, figures: Figure[]): string {
  const summary = table(
    [
      "class",
      "maps",
      "stamped",
      "clusters",
      "eigengap",
      "split conductance",
      "split share",
      "flagged",
      "artifact purity",
      "artifact recall",
    ],
    classes.map((c) => [
      `${c.class} (${c.className})`,
      c.count,
      c.stamped,
      c.clusters,
      c.eigengap,
      c.result.split.conductance,
      c.result.split.share,
      c.flagged === null ? `no verdict: ${c.flagNote}` : c.flagged,
      c.artifactPurity,
      c.artifactRecall,
    ]),
  );
  const details = classes.filter(worthShowing).map((c) => {
    const spectrum = linePlot({
      title: `class ${c.class}: eigenvalues of the normalized Laplacian`,
      xLabel: "index",
      yLabel: "eigenvalue",
      series: [{ name: "eigenvalue", x: c.result.eigenvalues.map((_, i) => i + 1), y: c.result.eigenvalues }],
      width: 420,
      height: 300,
    });
    const byCluster = scatterPlot({
      title: `class ${c.class}: spectral embedding by cluster`,
      points: c.result.embedding2d.map(([x, y], i) => ({ x, y, group: c.result.assignments[i] })),
      groupNames: c.result.clusterSizes.map((n, k) => `cluster ${k} (${n})`),
      width: 420,
      height: 300,
    });
    const byTruth = scatterPlot({
      title: `class ${c.class}: the same, by truth (not shown to SpRAy)`,
      points: c.result.embedding2d.map(([x, y], i) => ({ x, y, group: c.isStamped[i] ? 1 : 0 })),
      groupNames: ["clean", "stamped"],
      width: 420,
      height: 300,
    });
    const fig = figures.find((f) => f.file === `spray-class${c.class}.svg`);
    return `<h3>Class ${c.class} (${escapeHtml(c.className)})${c.flagged ? ": flagged" : ""}</h3>` +
      `<div class="plots">${spectrum}${byCluster}${byTruth}</div>` +
      (fig ? svgFigure(fig) : "");
  }).join("\n");
  return paragraph(
    `Spectral relevance analysis (Lapuschkin et al. 2019) clusters each class's ${method} maps of stamped ` +
      `test images (stamped at the training rates) without knowing where or whether an artifact is; the ` +
      `eigengap picks the number of clusters. A class is flagged when its best two-way split cuts off at ` +
      `least 5% of its maps with a conductance at most 0.4 times the median over all classes (a group far ` +
      `more cleanly separated than honest classes' groups are). Purity and recall score the cluster holding ` +
      `most stamped images.`,
  ) + summary + details;
}

function worthShowing(c: SprayClassResult): boolean {
  return c.flagged === true || c.stamped > 0;
}
