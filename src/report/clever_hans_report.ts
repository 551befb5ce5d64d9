/**
 * The clever-hans report: figures (SVG) and the self-contained report.html. Draws only; computes nothing.
 * @module
 */
import type { CleverHansResult } from "../pipeline/clever_hans.ts";
import { type CleverHansMetrics, FINDS_CONCENTRATION } from "../pipeline/clever_hans_metrics.ts";
import { VERDICT } from "../measure/reliance.ts";
import { cleverHansAnswerHtml } from "./answers.ts";
import { mapExplorer } from "./explorer.ts";
import { mapCell } from "./image_table.ts";
import { imageToRgba } from "./png.ts";
import { engines } from "./format.ts";
import { gridSvg } from "./grid.ts";
import { type Figure, paragraph, renderReport, svgFigure, table } from "./html.ts";
import { saliencyGrid, shrinkNote } from "./saliency_figure.ts";
import { spraySection } from "./spray_report.ts";
import { cleverHansVerdict, controlSentence } from "./summary.ts";

export type { Figure } from "./html.ts";

/** One grid per poisoned class: clean | stamped | mask | one overlay per method, for a few test images. */
export async function cleverHansFigures(result: CleverHansResult): Promise<Figure[]> {
  const out: Figure[] = [];
  for (const s of result.shortcuts) {
    if (s.examples.stamped.length === 0) continue;
    const grid = saliencyGrid({
      ...result.shape,
      rowLabels: s.examples.stamped.map((_, i) => `example ${i + 1}`),
      images: [{ title: "clean", images: s.examples.clean }, {
        title: "stamped",
        images: s.examples.stamped,
      }],
      masks: { title: "mask", masks: s.examples.masks },
      maps: result.methods.map((m) => ({ title: m.label, signed: m.signed, maps: s.examples.maps[m.name] })),
    });
    grid.title = `Class ${s.class} (${s.className}) with its ${s.artifact}: maps for class ${s.class}`;
    out.push({
      file: `saliency-class${s.class}-${s.artifact}.svg`,
      caption:
        `Class ${s.class} (${s.className}) with its ${s.artifact}: test images, the artifact's mask, and ` +
        `each method's map for class ${s.class}, overlaid on the stamped image.` +
        shrinkNote(result.shape.height, result.shape.width),
      svg: await gridSvg(grid),
    });
  }
  return out;
}

/** A verdict in a table: yes, no, or "no verdict" (too few test images). */
function verdictCell(cheats: boolean | null): boolean | string {
  return cheats === null ? "no verdict" : cheats;
}

/** The report page. */
export async function cleverHansHtml(
  result: CleverHansResult,
  metrics: CleverHansMetrics,
  figures: Figure[],
): Promise<string> {
  const reliance = table(
    [
      "class",
      "artifact",
      "rate",
      "acc. with artifact",
      "acc. without",
      "flip rate",
      "base flip rate",
      "cheats",
    ],
    metrics.shortcuts.map((s) => [
      `${s.class} (${s.className})`,
      s.artifact,
      s.rate,
      s.accuracy.withArtifact,
      s.accuracy.withoutArtifact,
      s.flipRate,
      s.baseFlipRate,
      verdictCell(s.cheats),
    ]),
  );
  const relevanceRows = metrics.shortcuts.flatMap((s) =>
    result.methods.map((m) => {
      const r = s.relevance[m.name];
      return [
        `${s.class}: ${s.artifact}`,
        m.label,
        r?.massInArtifact ?? null,
        r?.areaFraction ?? null,
        r?.concentration ?? null,
        r?.rankAccuracy ?? null,
        r?.pointingGame ?? null,
        r?.mapsPerSecond ?? null,
      ];
    })
  );
  const findsRows = result.methods.map((m) => [
    m.label,
    ...metrics.shortcuts.map((s) => {
      const v = metrics.methodFindsArtifact[m.name][`${s.class}:${s.artifact}`];
      return v === null ? "n/a (covers the image)" : v;
    }),
  ]);
  return renderReport({
    answer: await cleverHansAnswerHtml(result, metrics),
    title: "hans: Clever Hans detection",
    subtitle: `${metrics.dataset}, seed ${metrics.seed}, ${
      engines(metrics.backend, metrics.adapter, metrics.forwardEngine)
    }`,
    sections: [
      {
        heading: "Explore the maps",
        html: await mapExplorer(
          "explore",
          result.shortcuts.filter((sc) => sc.examples.stamped.length > 0).map((sc) => ({
            label: `class ${sc.class}${sc.className !== String(sc.class) ? ` (${sc.className})` : ""}: ` +
              `${sc.artifact}`,
            image: {
              rgba: imageToRgba(
                sc.examples.stamped[0],
                result.shape.height,
                result.shape.width,
                result.shape.channels as 1 | 3,
              ),
              width: result.shape.width,
              height: result.shape.height,
              caption: "stamped image",
            },
            maps: result.methods.filter((m) => sc.examples.maps[m.name]).map((m) =>
              mapCell(sc.examples.maps[m.name][0], result.shape.width, result.shape.height, m.label, m.signed)
            ),
          })),
        ),
      },
      {
        heading: "Verdict",
        html: paragraph(cleverHansVerdict(metrics)) +
          paragraph(
            `Rule: a class cheats when pasting its artifact onto other classes' test images turns at least ` +
              `${
                VERDICT.flipGain * 100
              }% more of them into that class than without it (flip rate − base flip rate), ` +
              `or when removing the artifact costs the class at least ${
                VERDICT.accuracyDrop * 100
              } points of ` +
              `accuracy.`,
          ),
      },
      {
        heading: "Model and data",
        html: table(["quantity", "value"], [
          ["clean test accuracy (all classes, no artifacts)", metrics.accuracy.clean],
          ["training images", metrics.train.size],
          ["epochs", metrics.train.epochs],
          ["CNN head", metrics.train.head],
          [
            "input standardization",
            metrics.train.standardize === "pixel"
              ? `per pixel, clean-data statistics, std floored at ${metrics.train.stdFloor}`
              : "none",
          ],
          [
            "contrast normalization after the first conv layer",
            metrics.train.contrastNorm ? `power ${metrics.train.contrastNorm}` : "none",
          ],
          ["training seconds", metrics.train.seconds],
          ["training samples/s", metrics.train.samplesPerSecond],
          ["test images", metrics.test.size],
        ]) + table(
          ["class", "clean test accuracy"],
          Object.entries(metrics.accuracy.perClass).map(([k, v]) => [k, Number.isFinite(v) ? v : null]),
        ),
      },
      { heading: "Reliance tests", html: reliance },
      {
        heading: "Where the relevance goes",
        html: paragraph(
          "Per method, over stamped test images of the poisoned class, explained for that class: the share of " +
            "positive relevance inside the artifact's mask, the mask's share of the image, their ratio " +
            "(concentration; 1 is chance), relevance rank accuracy, and the pointing game.",
        ) +
          table(
            [
              "artifact",
              "method",
              "mass in artifact",
              "area fraction",
              "concentration",
              "rank acc.",
              "pointing",
              "maps/s",
            ],
            relevanceRows,
          ),
      },
      {
        heading: "Faithful, or only good-looking?",
        html: paragraph(
          "Deletion: the class probability as the most relevant pixels are removed first (area under the curve; " +
            "lower is more faithful). Insertion: the probability as they are added to a black image (higher is " +
            "more faithful). Randomization check (Adebayo et al. 2018): Spearman correlation of |map| before and " +
            "after every layer's weights are re-initialized; a method that explains the model should give a " +
            "correlation near 0, one that mostly draws the input (Guided Backprop) stays high.",
        ) +
          table(
            ["method", "deletion AUC", "insertion AUC", "randomization correlation"],
            result.methods.map((m) => {
              const c = metrics.methods[m.name];
              return [m.label, c?.deletionAuc ?? null, c?.insertionAuc ?? null, c?.sanity ?? null];
            }),
          ),
      },
      {
        heading: "Which methods find which artifact",
        html:
          paragraph(`A method finds an artifact when its concentration is at least ${FINDS_CONCENTRATION}.`) +
          table(["method", ...metrics.shortcuts.map((s) => `${s.class}: ${s.artifact}`)], findsRows),
      },
      ...(result.spray && metrics.spray
        ? [{
          heading: "Finding the cheat without knowing it (SpRAy)",
          html: spraySection(result.spray, metrics.spray.method, figures),
        }]
        : []),
      ...(metrics.control
        ? [{
          heading: "Control model",
          html: paragraph(controlSentence(metrics.control.accuracy.clean)) + table(
            ["class", "artifact", "model", "acc. with", "acc. without", "flip rate", "cheats"],
            metrics.shortcuts.flatMap((s, i) => {
              const c = metrics.control!.shortcuts[i];
              return [
                [
                  `${s.class}`,
                  s.artifact,
                  "poisoned",
                  s.accuracy.withArtifact,
                  s.accuracy.withoutArtifact,
                  s.flipRate,
                  verdictCell(s.cheats),
                ],
                [
                  `${c.class}`,
                  c.artifact,
                  "control",
                  c.accuracy.withArtifact,
                  c.accuracy.withoutArtifact,
                  c.flipRate,
                  verdictCell(c.cheats),
                ],
              ];
            }),
          ),
        }]
        : []),
      {
        heading: "Saliency maps",
        html: figures.filter((f) => f.file.startsWith("saliency-")).map(svgFigure).join("\n") +
          paragraph(
            result.methods.map((m) => `${m.label}: ${m.description}.`).join(" "),
          ),
      },
    ],
    footer: `hans · Deno ${metrics.hans.deno} · TensorFlow.js ${metrics.hans.tfjs}`,
  });
}
