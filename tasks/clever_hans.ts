/**
 * `deno task clever-hans`: stamp shortcuts into chosen classes, train a model, prove it cheats, and write the
 * results folder (metrics.json, PNG grids, report.html, the trained model).
 * @module
 */
import { withEnginePolicy } from "../src/model/forward_engine.ts";
import { initBackend } from "../src/backend.ts";
import { loadDataset, parseDatasetSpec } from "../src/data/mod.ts";
import { redactUrls } from "../src/data/fetch.ts";
import { versions } from "../src/deps.ts";
import { HansError, say } from "../src/errors.ts";
import { method, presetOptions } from "../src/explain/registry.ts";
import { serializeModel } from "../src/model/io.ts";
import { printProgress } from "../src/model/train.ts";
import { runCleverHans } from "../src/pipeline/clever_hans.ts";
import { cleverHansMetrics, cleverHansSummary } from "../src/pipeline/clever_hans_metrics.ts";
import { cleverHansFigures, cleverHansHtml } from "../src/report/clever_hans_report.ts";
import { defaultResultsPath, withResultsDir } from "../src/report/results_dir.ts";
import { sprayFigures } from "../src/report/spray_report.ts";
import { datasetTone, parsePlan } from "../src/shortcuts/plan.ts";
import { numberFlag, parseTaskFlags, taskHelp } from "../src/cli/args.ts";
import { CLEVER_HANS_FLAGS } from "../src/cli/task_flags.ts";

/** The help text of the task. */
export const CLEVER_HANS_HELP: string = taskHelp(CLEVER_HANS_FLAGS);

/** Runs the task with command-line `args`; returns the results folder. */
export async function cleverHansTask(args: string[]): Promise<string | undefined> {
  const flags = parseTaskFlags(CLEVER_HANS_FLAGS, args);
  if (flags.help) return void console.log(CLEVER_HANS_HELP);
  const { seed, quick } = flags;
  const methods = flags.methods ? flags.methods.split(",").map((m) => method(m.trim()).name) : undefined;
  const sprayMethod = flags["spray-method"] === "none" ? "none" : method(flags["spray-method"]).name;
  const spec = parseDatasetSpec(flags.dataset);
  const contrastNorm = flags["contrast-norm"] === "auto"
    ? "auto"
    : numberFlag("contrast-norm", flags["contrast-norm"], 0, { min: 0, max: 1 });
  const started = performance.now();
  const { path, value: metrics } = await withEnginePolicy(flags.engine, () =>
    withResultsDir(
      flags.out ?? defaultResultsPath("clever-hans"),
      async (out) => {
        await initBackend({ backend: flags.backend, kernels: flags.kernels });
        const data = await loadDataset(spec, {
          seed,
          trainSize: flags["train-size"],
          testSize: flags["test-size"],
        });
        if (data.train.classNames.length < 2) {
          throw new HansError(
            `${redactUrls(flags.dataset)} has one class (${
              data.train.classNames[0]
            }); a classifier needs two or more, so give ` +
              `a folder with one sub-folder per class.`,
          );
        }
        const plan = parsePlan(flags.shortcut, flags.rate, {
          classCount: data.train.classNames.length,
          tone: datasetTone(data.train),
        });
        const result = await runCleverHans({
          data,
          plan,
          seed,
          epochs: flags.epochs,
          head: flags.head,
          standardize: flags.standardize,
          stdFloor: flags["std-floor"],
          contrastNorm,
          mapsPerClass: flags.maps,
          methods,
          methodOptions: presetOptions(quick ? "quick" : "light"),
          spray: sprayMethod !== "none",
          sprayMethod: sprayMethod === "none" ? undefined : sprayMethod,
          control: flags.control,
          onTrainProgress: printProgress,
          log: say,
        });
        const metrics = cleverHansMetrics(result, {
          dataset: redactUrls(flags.dataset),
          seed,
          testSize: data.test.count,
          seconds: (performance.now() - started) / 1000,
          tfjs: versions.tfjs,
          sprayMethod,
        });
        const figures = [
          ...await cleverHansFigures(result),
          ...(result.spray ? await sprayFigures(result.spray, result.shape) : []),
        ];
        await out.writeJson("metrics.json", metrics);
        for (const f of figures) await out.writeFile(f.file, f.svg);
        await out.writeFile("report.html", await cleverHansHtml(result, metrics, figures));
        const saved = await serializeModel(result.model);
        await out.writeFile("model/model.json", saved.modelJson);
        await out.writeFile("model/weights.bin", saved.weights);
        result.model.dispose();
        return metrics;
      },
    ));
  cleverHansSummary(metrics).forEach((line) => say(line));
  say(`clean accuracy ${metrics.accuracy.clean.toFixed(3)}; results in ${path}`);
  return path;
}
