/**
 * The counterfactual experiment's report: the difference grid (what had to change) and report.html.
 * @module
 */
import type { Dataset } from "../data/dataset.ts";
import { CHANGE_SALIENCY_METHODS } from "../counterfactual/saliency.ts";
import { method } from "../explain/registry.ts";
import type { CounterfactualResult, ExampleRow } from "../pipeline/counterfactual.ts";
import type { CounterfactualMetrics } from "../pipeline/counterfactual_metrics.ts";
import { counterfactualAnswerHtml } from "./answers.ts";
import { priorSentence, saliencySentence } from "./summary.ts";
import { colorize } from "./colormap.ts";
import { engines, formatNumber, mapScale } from "./format.ts";
import { gridSvg } from "./grid.ts";
import { type Cell, type Figure, paragraph, renderReport, svgFigure, table } from "./html.ts";
import { maxAbs, normalizeByMaxAbs } from "./image_table.ts";
import { imageToRgba } from "./png.ts";

/**
 * The difference figure (`counterfactuals.svg`) of the first 12 mistakes: original, saliency, and per run the
 * counterfactual and its change, each change on its own colour scale (±max |change| written under it).
 */
export async function counterfactualFigure(result: CounterfactualResult): Promise<Figure> {
  const shown = result.plain.rows.slice(0, 12).map((_, i) => i);
  const svg = await differenceGrid(result.mistakes, shown, result.saliency[CHANGE_SALIENCY_METHODS[0]], [
    { title: "without prior", images: result.plain.result.images },
    ...(result.withPrior ? [{ title: "with AE prior", images: result.withPrior.result.images }] : []),
  ]);
  return {
    file: "counterfactuals.svg",
    svg,
    caption:
      "Per mistake (true class → predicted class): the original, its contrastive Gradient map (why the " +
      "predicted rather than the true class: max over channels of |∂(logit P − logit T)/∂x|, divided by its " +
      "maximum per image), the counterfactual without the prior and its signed change x′ − x (mean over " +
      "channels; blue darker, red lighter; each change divided by its own largest |change|, written under " +
      "it)" +
      (result.withPrior ? ", then the counterfactual with the autoencoder prior and its change." : "."),
  };
}

/** report.html: the summary table and sentences, the difference figure, and the per-example table. */
export async function counterfactualHtml(
  result: CounterfactualResult,
  metrics: CounterfactualMetrics,
  differences: Figure,
): Promise<string> {
  const rows = result.plain.rows;
  const priorRows = result.withPrior?.rows;
  const gamma = result.withPrior?.gamma;
  const datasetText = metrics.dataset;
  const info = { backend: metrics.backend, adapter: metrics.adapter };
  const p = metrics.withPrior;
  const saliencyLabels = Object.fromEntries(
    CHANGE_SALIENCY_METHODS.map((name) => [name, method(name).label]),
  );
  const summaryRows: Cell[][] = [
    ["mistakes optimized", rows.length, ...(p ? [rows.length] : [])],
    ["success rate", metrics.successRate, ...(p ? [p.successRate] : [])],
    ["median L1 of the change", metrics.medianL1, ...(p ? [p.medianL1] : [])],
    ["median L0 (pixels changed by more than 0.001)", metrics.medianL0, ...(p ? [p.medianL0] : [])],
    ["transfer rate to an independent model", metrics.transferRate, ...(p ? [p.transferRate] : [])],
    ...CHANGE_SALIENCY_METHODS.flatMap((name) => [
      [
        `median ρ of |x′ − x| with the ${method(name).label} map (P rather than T)`,
        metrics.medianSaliencyCorrelation[name],
        ...(p ? [p.medianSaliencyCorrelation[name]] : []),
      ],
      [
        `… with another mistake's ${method(name).label} map (baseline)`,
        metrics.medianSaliencyCorrelationBaseline[name],
        ...(p ? [p.medianSaliencyCorrelationBaseline[name]] : []),
      ],
    ]),
    ...(p
      ? [[
        "median ‖AE(x′) − x′‖² of the successes (originals: " +
        `${formatNumber(p.medianReconstructionError.original)})`,
        p.medianReconstructionError.withoutPrior,
        p.medianReconstructionError.withPrior,
      ]]
      : []),
  ];
  return renderReport({
    answer: await counterfactualAnswerHtml(result, metrics),
    title: "hans: counterfactuals",
    subtitle: `${metrics.model} on ${datasetText}; ${
      engines(info.backend, info.adapter, metrics.forwardEngine)
    }`,
    sections: [
      {
        heading: "Summary",
        html: table(
          ["quantity", "without the prior", ...(p ? [`with the autoencoder prior (γ = ${gamma})`] : [])],
          summaryRows,
        ) +
          paragraph(`Transfer model: ${metrics.transferModel}.`) +
          paragraph(priorSentence(metrics)) +
          paragraph(saliencySentence(metrics, saliencyLabels)),
      },
      {
        heading: "What had to change",
        html: svgFigure(differences),
      },
      {
        heading: "Per example",
        html: table(
          [
            "index",
            "true",
            "predicted",
            "success",
            "steps",
            "λ1",
            "L0",
            "L1",
            "L2",
            "p(true)",
            "transfers",
            ...CHANGE_SALIENCY_METHODS.map((name) => `ρ ${method(name).label}`),
            ...(p
              ? [
                "success (prior)",
                "L1 (prior)",
                "p(true) (prior)",
                "transfers (prior)",
                ...CHANGE_SALIENCY_METHODS.map((name) => `ρ ${method(name).label} (prior)`),
              ]
              : []),
          ],
          rows.map((r, i) => [
            r.index,
            r.true,
            r.predicted,
            r.success,
            r.steps,
            r.lambda1,
            r.l0,
            r.l1,
            r.l2,
            r.probTrue,
            r.transfers,
            ...correlationCells(r),
            ...(priorRows
              ? [
                priorRows[i].success,
                priorRows[i].l1,
                priorRows[i].probTrue,
                priorRows[i].transfers,
                ...correlationCells(priorRows[i]),
              ]
              : []),
          ]),
        ),
      },
    ],
  });
}

/** An example's ρ per saliency method for the report's table; no value (NaN) shows as a dash. */
function correlationCells(row: ExampleRow): Cell[] {
  return CHANGE_SALIENCY_METHODS.map((name) => {
    const r = row.saliencyCorrelation[name];
    return Number.isFinite(r) ? r : null;
  });
}

/**
 * Per shown image, a row: the original, its contrastive saliency map (divided by its maximum), then a
 * counterfactual and its signed change per set, the change divided by its own largest |value| so that a
 * change of a few hundredths is as visible as a large one; the scale is written under each cell.
 */
function differenceGrid(
  data: Dataset & { predicted: number[] },
  shown: number[],
  saliency: Float32Array,
  sets: { title: string; images: Float32Array }[],
): Promise<string> {
  const size = data.height * data.width * data.channels;
  const pixels = data.height * data.width;
  const channels = data.channels as 1 | 3;
  const name = (k: number) => data.classNames[k] ?? String(k);
  return gridSvg({
    title: "What had to change: counterfactuals of the model's mistakes",
    columns: ["original", "saliency", ...sets.flatMap((set) => [set.title, "change x′ − x"])],
    rows: shown.map((i) => {
      const a = data.images.subarray(i * size, (i + 1) * size);
      const map = saliency.slice(i * pixels, (i + 1) * pixels);
      const cells = [
        imageToRgba(a, data.height, data.width, channels),
        colorize(normalizeByMaxAbs(map), { map: "heat", min: 0, max: 1 }),
      ];
      const captions = ["", mapScale(maxAbs(map), false)];
      for (const set of sets) {
        const b = set.images.subarray(i * size, (i + 1) * size);
        const diff = new Float32Array(pixels);
        for (let p = 0; p < pixels; p++) {
          for (let c = 0; c < channels; c++) {
            diff[p] += (b[p * channels + c] - a[p * channels + c]) / channels;
          }
        }
        cells.push(
          imageToRgba(b, data.height, data.width, channels),
          colorize(normalizeByMaxAbs(diff), { map: "diverging", min: -1, max: 1 }),
        );
        captions.push("", mapScale(maxAbs(diff), true));
      }
      return { label: `${name(data.labels[i])} → ${name(data.predicted[i])}`, cells, captions };
    }),
    cellWidth: data.width,
    cellHeight: data.height,
    colorbars: [
      {
        label: "saliency: |∂(logit P − logit T)/∂x| / its max (written under it)",
        min: 0,
        max: 1,
        map: "heat",
      },
      {
        label: "change of pixel value / its largest |change| in that image (written under it)",
        min: -1,
        max: 1,
        map: "diverging",
      },
    ],
  });
}
