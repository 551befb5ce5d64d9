/**
 * `deno task counterfactual`: for a classifier's mistakes, the smallest change that makes it predict the true
 * class (input optimization), what had to change, and whether the change transfers to another model.
 * @module
 */
import { forwardEngineOf, withEnginePolicy } from "../src/model/forward_engine.ts";
import { initBackend } from "../src/backend.ts";
import { loadDataset, parseDatasetSpec } from "../src/data/mod.ts";
import { displayUrl, redactUrls } from "../src/data/fetch.ts";

import { DEFAULT_PRIOR_WEIGHT } from "../src/counterfactual/optimize.ts";
import { CHANGE_SALIENCY_METHODS } from "../src/counterfactual/saliency.ts";
import { HansError, say } from "../src/errors.ts";
import { parseInputRange, withInputRange } from "../src/explain/input_range.ts";
import { checkInputFits, loadModel } from "../src/explain/load.ts";
import { checkModelSource } from "../src/explain/model_source.ts";
import { printAutoencoderProgress } from "../src/model/autoencoder.ts";
import { shippedModel } from "../src/model/shipped.ts";
import { printProgress } from "../src/model/train.ts";
import { runCounterfactual, trainingCount } from "../src/pipeline/counterfactual.ts";
import { counterfactualMetrics, type CounterfactualSummary } from "../src/pipeline/counterfactual_metrics.ts";
import { counterfactualFigure, counterfactualHtml } from "../src/report/counterfactual_report.ts";
import { defaultResultsPath, withResultsDir } from "../src/report/results_dir.ts";
import { parseTaskFlags, taskHelp } from "../src/cli/args.ts";
import { COUNTERFACTUAL_FLAGS } from "../src/cli/task_flags.ts";

/** The help text of the task. */
export const COUNTERFACTUAL_HELP: string = taskHelp(COUNTERFACTUAL_FLAGS);

/** Runs the task; returns the results folder. */
export async function counterfactualTask(args: string[]): Promise<string | undefined> {
  const flags = parseTaskFlags(COUNTERFACTUAL_FLAGS, args);
  if (flags.help) return void console.log(COUNTERFACTUAL_HELP);
  const { quick, seed, examples, steps, rounds } = flags;
  const testSize = flags["test-size"];
  if (flags.prior && flags["no-prior"]) throw new HansError("give either --prior or --no-prior, not both.");
  const usePrior = !flags["no-prior"];
  if (!usePrior && flags["prior-weight"] !== undefined) {
    throw new HansError("--prior-weight sets the prior's weight, but --no-prior turns the prior off.");
  }
  const gamma = flags["prior-weight"] ?? DEFAULT_PRIOR_WEIGHT;
  const range = parseInputRange(flags["input-range"]);
  const datasetText = flags.dataset;
  const started = performance.now();
  const { path, value: metrics } = await withEnginePolicy(flags.engine, () =>
    withResultsDir(
      flags.out ?? defaultResultsPath("counterfactual"),
      async (out) => {
        const info = await initBackend({ backend: flags.backend });
        const modelSource = flags.model ?? shippedModel().source;
        // An image folder is fitted to the model (any image size); other data sets are checked against it.
        const folder = parseDatasetSpec(datasetText).kind === "folder";
        // Mistyped model paths are answered before a data set is loaded.
        await checkModelSource(modelSource);
        if (flags["transfer-model"]) await checkModelSource(flags["transfer-model"]);
        const first = folder ? await loadModel(modelSource) : undefined;
        const fit = first &&
          { height: first.inputShape[0], width: first.inputShape[1], channels: first.inputShape[2] as 1 | 3 };
        const data = await loadDataset(datasetText, { seed, testSize, fit });
        const loaded = first ?? await loadModel(modelSource, { expect: data.test });
        checkInputFits(loaded, data.test);
        if (data.test.classNames.length !== loaded.classes) {
          throw new HansError(
            `the model has ${loaded.classes} outputs but ${
              redactUrls(datasetText)
            } has ${data.test.classNames.length} classes.`,
          );
        }
        // The transfer model is loaded (and checked) before any optimization, so a bad path fails at once.
        const transfer = flags["transfer-model"]
          ? await loadModel(flags["transfer-model"], { expect: data.test })
          : undefined;
        const model = withInputRange(loaded.explainable, range);
        const result = await runCounterfactual({
          model,
          data,
          transferModel: transfer ? withInputRange(transfer.explainable, range) : undefined,
          examples,
          steps,
          rounds,
          priorWeight: usePrior ? gamma : undefined,
          quick,
          seed,
          log: say,
          onTrainProgress: printProgress,
          onAutoencoderProgress: printAutoencoderProgress,
        });
        const metrics = counterfactualMetrics(result, {
          // Recorded and shown without a user name or password a URL may carry.
          model: flags.model === undefined ? "shipped fashion-mnist-cnn" : displayUrl(flags.model),
          dataset: redactUrls(datasetText),
          backend: info.backend,
          adapter: info.adapter,
          forwardEngine: forwardEngineOf(model) ?? null,
          seed,
          transferModel: (flags["transfer-model"] && displayUrl(flags["transfer-model"])) ??
            `trained here: same CNN, seed + 1, 1 epoch on ${
              trainingCount(data.train.count, quick).toLocaleString("en-US")
            } images`,
          seconds: (performance.now() - started) / 1000,
          settings: {
            inputRange: range,
            quick,
            examples,
            steps,
            rounds,
            testSize: testSize ?? null,
            priorWeight: usePrior ? gamma : null,
          },
        });
        const differences = await counterfactualFigure(result);
        await out.writeJson("metrics.json", metrics);
        await out.writeFile(differences.file, differences.svg);
        await out.writeFile("report.html", await counterfactualHtml(result, metrics, differences));
        return metrics;
      },
    ));
  // Medians over no success are not figures: "n/a", never NaN.
  const fixed = (x: number, digits: number) => Number.isFinite(x) ? x.toFixed(digits) : "n/a";
  const line = (m: CounterfactualSummary) =>
    `success ${fixed(m.successRate, 3)}, median L1 ${fixed(m.medianL1, 2)}, median L0 ${
      fixed(m.medianL0, 0)
    }, ` +
    `transfer ${fixed(m.transferRate, 3)}, median ρ(|x′ − x|, saliency) ` +
    CHANGE_SALIENCY_METHODS.map((name) =>
      `${name} ${fixed(m.medianSaliencyCorrelation[name], 3)} ` +
      `(baseline ${fixed(m.medianSaliencyCorrelationBaseline[name], 3)})`
    ).join(", ");
  say(`without the prior: ${line(metrics)}`);
  if (metrics.withPrior) say(`with the prior (γ = ${gamma}): ${line(metrics.withPrior)}`);
  say(`results in ${path}`);
  return path;
}
