/**
 * The answer each report opens with: the sentences of `summary.ts` and the pictures that show them, labelled
 * in HTML text (class names and method names in full).
 * @module
 */
import type { CleverHansMetrics } from "../pipeline/clever_hans_metrics.ts";
import type { CleverHansResult } from "../pipeline/clever_hans.ts";
import type { ContrastiveResult } from "../pipeline/contrastive.ts";
import type { CounterfactualResult } from "../pipeline/counterfactual.ts";
import type { CounterfactualMetrics } from "../pipeline/counterfactual_metrics.ts";
import { paragraph } from "./html.ts";
import { colorBar, type ImageCell, imageTable, mapCell } from "./image_table.ts";
import { imageToRgba } from "./png.ts";
import {
  cleverHansAnswer,
  concentrationText,
  contrastiveAnswer,
  counterfactualAnswer,
  mostConcentrated,
  rankedByConcentration,
  verdictWords,
} from "./summary.ts";

function imageCell(
  pixels: Float32Array,
  shape: { height: number; width: number; channels: number },
  caption: string,
) {
  return {
    rgba: imageToRgba(pixels, shape.height, shape.width, shape.channels as 1 | 3),
    width: shape.width,
    height: shape.height,
    caption,
  } satisfies ImageCell;
}

function maskCell(mask: Uint8Array, shape: { height: number; width: number }): ImageCell {
  const rgba = new Uint8ClampedArray(mask.length * 4);
  mask.forEach((m, i) => rgba.set(m ? [255, 196, 0, 255] : [40, 40, 40, 255], i * 4));
  return { rgba, width: shape.width, height: shape.height, caption: "artifact mask" };
}

/** "a shirt", "an ankle boot". */
function article(noun: string): string {
  return `${/^[aeiou]/i.test(noun) ? "an" : "a"} ${noun}`;
}

const SCALE_NOTE =
  "Each map is coloured on its own scale, printed under it: diverging maps from −max to +max " +
  "(blue negative, red positive), heat maps from 0 to max.";

/** clever-hans: the verdict per planted artifact in words, and per class a clean and stamped image, the
 * artifact's mask and the two maps that concentrate most on it (their concentrations read from `metrics`). */
export async function cleverHansAnswerHtml(
  result: CleverHansResult,
  metrics: CleverHansMetrics,
): Promise<string> {
  const labels = Object.fromEntries(result.methods.map((m) => [m.name, m.label]));
  const sentences = cleverHansAnswer(metrics, labels);
  const rows = [];
  for (const s of result.shortcuts) {
    if (s.examples.stamped.length === 0) continue;
    const written = metrics.shortcuts.find((w) => w.class === s.class && w.artifact === s.artifact)!;
    const ranked = rankedByConcentration(written.relevance, labels).slice(0, 2);
    const cells: ImageCell[] = [
      imageCell(s.examples.clean[0], result.shape, "clean"),
      imageCell(s.examples.stamped[0], result.shape, "stamped"),
      maskCell(s.examples.masks[0], result.shape),
      ...ranked.map((r) => {
        const info = result.methods.find((m) => m.name === r.name)!;
        return mapCell(
          s.examples.maps[r.name][0],
          result.shape.width,
          result.shape.height,
          `${info.label}, ${concentrationText(r.concentration)} on the artifact`,
          info.signed,
        );
      }),
    ];
    rows.push({
      label: `class ${written.class}${
        written.className !== String(written.class) ? ` (${written.className})` : ""
      }: ${written.artifact}, ${verdictWords(written.cheats)}`,
      cells,
    });
  }
  const best = metrics.shortcuts.map((s) => mostConcentrated(s.relevance, labels)).filter((b) => b);
  return `<h2>Answer</h2>${sentences.map((t) => paragraph(t)).join("")}${await imageTable(rows)}` +
    paragraph(
      `Per planted artifact: an image of its class, the same with the artifact, where the artifact is, and ` +
        `the ${
          best.length ? "two maps that put the most relevance on it" : "maps"
        } (concentration: the map's ` +
        `share of relevance on the artifact over the artifact's share of the image; 1 is chance). ${SCALE_NOTE}`,
    ) + colorBar("diverging", ["−max", "0", "+max"], "signed maps") +
    colorBar("heat", ["0", "", "max"], "unsigned maps");
}

/** contrastive: the best method in words; per confusion pair an example, its map and the pair's mean map. */
export async function contrastiveAnswerHtml(
  result: ContrastiveResult,
  meta: { classNames: string[]; shape: { height: number; width: number; channels: number } },
): Promise<string> {
  const labels = Object.fromEntries(result.methodInfo.map((m) => [m.name, m.label]));
  const name = (k: number) => meta.classNames[k] ?? String(k);
  const best = result.ranking[0];
  const info = result.methodInfo.find((m) => m.name === best);
  const rows = [];
  if (best && info) {
    const pairs = result.pairMaps.length > 0
      ? result.pairMaps.slice(0, 4)
      : result.examples.slice(0, 3).map((e) => ({
        true: e.true,
        predicted: e.predicted,
        count: 1,
        map: undefined,
      }));
    for (const pair of pairs) {
      const i = result.examples.findIndex((e, k) =>
        k < result.images.length && e.true === pair.true && e.predicted === pair.predicted
      );
      const cells: ImageCell[] = [];
      if (i >= 0) {
        cells.push(
          imageCell(
            result.images[i],
            meta.shape,
            `${article(name(pair.true))} taken for ${article(name(pair.predicted))}`,
          ),
        );
        const own = result.maps[best]?.contrast[i];
        if (own) {
          cells.push(
            mapCell(
              own,
              meta.shape.width,
              meta.shape.height,
              `${info.label}: why ${name(pair.predicted)}, not ${name(pair.true)}`,
              info.signed,
            ),
          );
        }
      } else {
        const none = "no example of this pair among the images kept for the figures";
        cells.push({ width: meta.shape.width, height: meta.shape.height, caption: none }, {
          width: meta.shape.width,
          height: meta.shape.height,
          caption: "",
        });
      }
      if (pair.map) {
        cells.push(
          mapCell(
            pair.map,
            meta.shape.width,
            meta.shape.height,
            `mean over the ${pair.count} of this pair`,
            info.signed,
          ),
        );
      }
      if (cells.length) rows.push({ label: `${name(pair.true)} → ${name(pair.predicted)}`, cells });
    }
  }
  return `<h2>Answer</h2>${paragraph(contrastiveAnswer(result, labels))}${await imageTable(rows)}` +
    paragraph(`Rows: true class → predicted class. ${SCALE_NOTE}`) +
    (info?.signed ? colorBar("diverging", ["−max", "0", "+max"], `${info.label} (signed)`) : "") +
    (info && !info.signed ? colorBar("heat", ["0", "", "max"], `${info.label}`) : "");
}

/** counterfactual: the result in words; per example the original, the counterfactual and the change. */
export async function counterfactualAnswerHtml(
  result: CounterfactualResult,
  metrics: CounterfactualMetrics,
): Promise<string> {
  const data = result.mistakes;
  const shape = { height: data.height, width: data.width, channels: data.channels };
  const size = data.height * data.width * data.channels;
  const pixels = data.height * data.width;
  const name = (k: number) => data.classNames[k] ?? String(k);
  const shown = result.plain.rows.map((r, i) => ({ r, i })).filter(({ r }) => r.success).slice(0, 6);
  const rows = shown.map(({ r, i }) => {
    const a = data.images.subarray(i * size, (i + 1) * size);
    const b = result.plain.result.images.subarray(i * size, (i + 1) * size);
    const change = new Float32Array(pixels);
    for (let p = 0; p < pixels; p++) {
      for (let c = 0; c < data.channels; c++) {
        change[p] += (b[p * data.channels + c] - a[p * data.channels + c]) / data.channels;
      }
    }
    return {
      label: `${name(r.true)}, taken for ${name(r.predicted)}`,
      cells: [
        imageCell(a, shape, "original"),
        imageCell(b, shape, `counterfactual: ${name(r.true)}`),
        mapCell(change, data.width, data.height, "x′ − x", true),
      ],
    };
  });
  return `<h2>Answer</h2>${paragraph(counterfactualAnswer(metrics))}${await imageTable(rows)}` +
    paragraph(
      `Successful counterfactuals without the prior, the most confident mistakes first: the change is what ` +
        `had to change for the model to see the true class. ${SCALE_NOTE}`,
    ) + colorBar("diverging", ["darker (−max)", "0", "lighter (+max)"], "change of pixel value") +
    (shown.length === 0 ? paragraph("No counterfactual succeeded.") : "");
}
