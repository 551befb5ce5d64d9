/**
 * The contrastive report: per method a grid of mistakes (image | map for P | map for Q | difference |
 * contrast P vs Q), the mean contrastive map per confusion pair, and the page. Draws only.
 * @module
 */
import type { ContrastiveResult } from "../pipeline/contrastive.ts";
import { colorize } from "./colormap.ts";
import type { Figure } from "./html.ts";
import { engines, mapScale } from "./format.ts";
import { gridSvg } from "./grid.ts";
import { maxAbs, normalizeByMaxAbs } from "./image_table.ts";
import { paragraph, renderReport, svgFigure, table } from "./html.ts";
import { blockMeans, figureCell, saliencyGrid, shrinkNote } from "./saliency_figure.ts";
import { barPlot } from "./svg.ts";
import { contrastiveAnswerHtml } from "./answers.ts";
import { completenessSentence, contrastiveRule, planSentence } from "./summary.ts";

/** What the page says about the run, besides the result. */
export interface ContrastiveMeta {
  model: string;
  dataset: string;
  backend: string;
  adapter: string;
  /** Where forward-only work ran, when it ran elsewhere (metrics.json's `forwardEngine`). */
  forwardEngine?: { engine: string } | null;
  /** Where the gradient methods ran, when they ran elsewhere (metrics.json's `gradientEngine`). */
  gradientEngine?: { engine: string } | null;
  shape: { height: number; width: number; channels: number };
  classNames: string[];
  /** What the maps explain: the model's logits, the input of its softmax, or log-probabilities. */
  outputs: string;
  /** The layer Grad-CAM and activations read, when they ran. */
  layer?: string;
  /** How the images were fitted to the model (crop, resize, channels), one sentence each. */
  imageNotes: string[];
}

/** One grid per method and one of the confusion pairs' mean maps. */
export async function contrastiveFigures(
  result: ContrastiveResult,
  meta: ContrastiveMeta,
): Promise<Figure[]> {
  const out: Figure[] = [];
  const name = (k: number) => meta.classNames[k] ?? String(k);
  const rows = result.images.map((_, i) => {
    const e = result.examples[i];
    return `${name(e.true)} → ${name(e.predicted)}`;
  });
  for (const m of result.methodInfo) {
    const maps = result.maps[m.name];
    // A method the time budget trimmed has maps for its first mistakes only.
    const shown = maps.p.length;
    const diff = maps.p.map((p, i) => {
      const a = normalizeByMaxAbs(p);
      const b = normalizeByMaxAbs(maps.q[i]);
      return a.map((v, j) => v - b[j]);
    });
    const grid = saliencyGrid({
      ...meta.shape,
      rowLabels: rows.slice(0, shown),
      images: [{ title: "image", images: result.images.slice(0, shown) }],
      maps: [
        { title: "predicted P", signed: m.signed, maps: maps.p },
        { title: "true Q", signed: m.signed, maps: maps.q },
        { title: "P − Q", signed: true, maps: diff },
        { title: "P rather than Q", signed: m.signed, maps: maps.contrast },
      ],
    });
    grid.title = `${m.label}: mistakes, true → predicted`;
    out.push({
      file: `contrastive-${m.name}.svg`,
      caption:
        `${m.label}: misclassified images (row: true class → predicted class), the map for the predicted ` +
        `class P, for the true class Q, their difference (each divided by its max |value| first), and the ` +
        `contrastive map for logit P − logit Q.${shrinkNote(meta.shape.height, meta.shape.width)}`,
      svg: await gridSvg(grid),
    });
  }
  if (result.pairMaps.length) {
    const best = result.methodInfo.find((m) => m.name === result.pairMaps[0].method)?.label ??
      result.pairMaps[0].method;
    const cell = figureCell(meta.shape.height, meta.shape.width);
    const svg = await gridSvg({
      title: `Mean contrastive map per confusion pair (${best})`,
      columns: ["P rather than Q"],
      rows: result.pairMaps.map((pm) => {
        const map = blockMeans(pm.map, meta.shape.height, meta.shape.width, 1, cell.factor);
        return {
          label: `${name(pm.true)} → ${name(pm.predicted)} (${pm.count})`,
          cells: [colorize(normalizeByMaxAbs(map), { map: "diverging", min: -1, max: 1 })],
          captions: [mapScale(maxAbs(map), true)],
        };
      }),
      cellWidth: cell.width,
      cellHeight: cell.height,
      scale: cell.scale,
      colorbars: [{
        label: "mean contrastive map / its max |value| (written under each map)",
        min: -1,
        max: 1,
        map: "diverging",
      }],
    });
    out.push({
      file: "confusion-pairs.svg",
      caption:
        `Per confusion pair (true → predicted, count): the mean of the normalized contrastive maps of the ` +
        `best-ranked method (${best}): what, on average, pulled the model toward the wrong class.` +
        shrinkNote(meta.shape.height, meta.shape.width),
      svg,
    });
  }
  return out;
}

/** The report page. */
export async function contrastiveHtml(
  result: ContrastiveResult,
  meta: ContrastiveMeta,
  figures: Figure[],
): Promise<string> {
  const name = (k: number) => `${k} ${meta.classNames[k] ?? ""}`.trim();
  const labels = Object.fromEntries(result.methodInfo.map((m) => [m.name, m.label]));
  const ranking = table(
    [
      "rank",
      "method",
      "flip to true @5%",
      "flip to true @10%",
      "random maps @10%, same mistakes",
      "margin drop",
      "mistakes",
      "P/Q correlation",
      "top-10% overlap",
      "maps/s",
    ],
    [
      ...result.ranking.map((n, i) => {
        const s = result.methods[n];
        const label = result.methodInfo.find((m) => m.name === n)?.label ?? n;
        return [
          i + 1,
          label,
          s.flipToTrueAt5,
          s.flipToTrueAt10,
          s.random.flipToTrueAt10,
          s.marginDrop,
          s.examples,
          s.meanCorrelation,
          s.meanTopOverlap,
          s.mapsPerSecond,
        ];
      }),
      [
        "-",
        "random maps",
        result.randomBaseline.flipToTrueAt5,
        result.randomBaseline.flipToTrueAt10,
        null,
        result.randomBaseline.marginDrop,
        result.examples.length,
        null,
        null,
        null,
      ],
    ],
  );
  const bars = barPlot({
    title: "Mistakes turned into the true class, top 10% removed",
    bars: [
      ...result.ranking.map((n) => ({
        label: result.methodInfo.find((m) => m.name === n)?.label ?? n,
        value: result.methods[n].flipToTrueAt10,
      })),
      { label: "random", value: result.randomBaseline.flipToTrueAt10 },
    ],
    valueLabel: "flip to true class",
  });
  return renderReport({
    answer: await contrastiveAnswerHtml(result, meta),
    title: "hans: why P rather than Q",
    subtitle: `${meta.model} on ${meta.dataset}; ${
      engines(meta.backend, meta.adapter, meta.forwardEngine, meta.gradientEngine)
    }`,
    sections: [
      {
        heading: "Mistakes",
        html: table(["quantity", "value"], [
          ["test accuracy", result.testAccuracy],
          ["misclassified", result.misclassified],
          ["studied (most confident mistakes first)", result.examples.length],
        ]) +
          table(
            ["true", "predicted", "count"],
            result.confusions.slice(0, 15).map((c) => [name(c.true), name(c.predicted), c.count]),
          ),
      },
      {
        heading: "Model and methods",
        html: table(["quantity", "value"], [
          [
            "explained on",
            meta.outputs === "pre-softmax"
              ? "the logits before the model's final softmax"
              : meta.outputs === "log-probabilities"
              ? "log-probabilities (the logits before the softmax could not be reached)"
              : "the model's output logits",
          ],
          ["layer of Grad-CAM and activations", meta.layer ?? "-"],
          ["methods run", result.methodInfo.map((m) => m.label).join(", ")],
        ]) +
          (result.methodsLeftOut.length > 0
            ? table(["method left out", "why"], result.methodsLeftOut.map((m) => [m.name, m.reason]))
            : paragraph(
              result.methodsAsked
                ? `Every method asked for (--methods ${result.methodsAsked.join(",")}) ran.`
                : "Every attribution method ran on this model.",
            )) +
          (result.plan ? paragraph(planSentence(result.plan)) : "") +
          (result.methodsFailed.length > 0
            ? table(
              ["method failed (not scored)", "why"],
              result.methodsFailed.map((m) => [m.name, m.reason]),
            )
            : "") +
          meta.imageNotes.map((n) => paragraph(n)).join(""),
      },
      {
        heading: "Which method explains the errors best",
        html: paragraph(contrastiveRule(result.verdict, labels)) + ranking + bars +
          (completenessSentence(result.methods) ? paragraph(completenessSentence(result.methods)) : ""),
      },
      {
        heading: "Maps",
        html: figures.map(svgFigure).join("\n"),
      },
    ],
  });
}
