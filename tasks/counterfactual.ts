/**
 * `deno task counterfactual`: for a classifier's mistakes, the smallest change that makes it predict the true
 * class (input optimization), what had to change, and whether the change transfers to another model.
 * @module
 */
import { initBackend } from "../src/backend.ts";
import { loadDataset } from "../src/data/mod.ts";
import { DEFAULT_PRIOR_WEIGHT } from "../src/counterfactual/optimize.ts";
import { CHANGE_SALIENCY_METHODS } from "../src/counterfactual/saliency.ts";
import { HansError, say } from "../src/errors.ts";
import { parseInputRange, withInputRange } from "../src/explain/input_range.ts";
import { loadModel } from "../src/explain/load.ts";
import { printAutoencoderProgress } from "../src/model/autoencoder.ts";
import { shippedModel } from "../src/model/shipped.ts";
import { printProgress } from "../src/model/train.ts";
import { runCounterfactual } from "../src/pipeline/counterfactual.ts";
import { counterfactualMetrics, type CounterfactualSummary } from "../src/pipeline/counterfactual_metrics.ts";
import { counterfactualFigure, counterfactualHtml } from "../src/report/counterfactual_report.ts";
import { defaultResultsPath, ResultsDir } from "../src/report/results_dir.ts";
import { numberFlag, parseFlags } from "./cli.ts";

/** The help text of the task. */
export const COUNTERFACTUAL_HELP = `deno task counterfactual [flags]

For a classifier's most confident mistakes, finds the smallest change (L1 + L2 penalty, searched per image)
that makes it predict the true class, and shows what had to change. The transfer rate says how often an
independently trained model of the same architecture also puts the counterfactual in the true class
(high: a meaningful edit; low: adversarial noise), and how well |x′ − x| follows the contrastive saliency map
"predicted rather than true" (Spearman ρ; against another mistake's map as a baseline). By default the search runs twice, without and with an
autoencoder prior (γ·‖AE(x′) − x′‖₂² added to the loss, the autoencoder trained here), and reports both.

  --model PATH|URL      TF.js model (default the shipped Fashion-MNIST CNN)
  --dataset SPEC        labelled data (default fashion-mnist: its seeded test split is searched)
  --transfer-model P    the independent model (default: one trained here, same CNN, another seed,
                        1 epoch on 12,000 training images; needs the training split of --dataset)
  --input-range LO,HI   pixel range the model expects (default 0,1)
  --examples N          mistakes optimized (default 64; --quick 8)
  --steps N             Adam steps per round (default 150; --quick 40)
  --rounds N            rounds of the λ1 search (default 3; --quick 2)
  --test-size N         test images searched for mistakes (default 2000)
  --prior               also run with the autoencoder prior (the default)
  --no-prior            run without the prior only (no autoencoder is trained; withPrior is null)
  --prior-weight G      γ, the weight of the squared reconstruction error (default ${DEFAULT_PRIOR_WEIGHT})
  --seed N              seed of the split and the models trained here (default 1)
  --out DIR             results folder (must not exist)
  --quick               a small run for tests
  --help                this text
`;

/** Runs the task; returns the results folder. */
export async function counterfactualTask(args: string[]): Promise<string | undefined> {
  const flags = parseFlags(args, {
    model: { type: "string" },
    dataset: { type: "string" },
    "transfer-model": { type: "string" },
    "input-range": { type: "string" },
    examples: { type: "string" },
    steps: { type: "string" },
    rounds: { type: "string" },
    "test-size": { type: "string" },
    prior: { type: "boolean" },
    "no-prior": { type: "boolean" },
    "prior-weight": { type: "string" },
    seed: { type: "string" },
    out: { type: "string" },
    quick: { type: "boolean" },
    help: { type: "boolean" },
  }, "counterfactual");
  if (flags.help) {
    console.log(COUNTERFACTUAL_HELP);
    return undefined;
  }
  const quick = flags.quick ?? false;
  const seed = numberFlag("seed", flags.seed, 1, { min: 0, max: 2 ** 31, integer: true });
  const examples = numberFlag("examples", flags.examples, quick ? 8 : 64, {
    min: 1,
    max: 10000,
    integer: true,
  });
  const steps = numberFlag("steps", flags.steps, quick ? 40 : 150, { min: 1, max: 100000, integer: true });
  const rounds = numberFlag("rounds", flags.rounds, quick ? 2 : 3, { min: 1, max: 20, integer: true });
  const testSize = numberFlag("test-size", flags["test-size"], quick ? 300 : 2000, {
    min: 10,
    integer: true,
  });
  if (flags.prior && flags["no-prior"]) throw new HansError("give either --prior or --no-prior, not both.");
  const usePrior = !flags["no-prior"];
  if (!usePrior && flags["prior-weight"] !== undefined) {
    throw new HansError("--prior-weight sets the prior's weight, but --no-prior turns the prior off.");
  }
  const gamma = numberFlag("prior-weight", flags["prior-weight"], DEFAULT_PRIOR_WEIGHT, { min: 0, max: 1e6 });
  const range = parseInputRange(flags["input-range"] ?? "0,1");
  const datasetText = flags.dataset ?? "fashion-mnist";
  const started = performance.now();
  const out = await ResultsDir.create(flags.out ?? defaultResultsPath("counterfactual"));
  try {
    const info = await initBackend();
    const data = await loadDataset(datasetText, { seed, testSize });
    const loaded = await loadModel(flags.model ?? shippedModel().source, { expect: data.test });
    // The transfer model is loaded (and checked) before any optimization, so a bad path fails at once.
    const transfer = flags["transfer-model"]
      ? await loadModel(flags["transfer-model"], { expect: data.test })
      : undefined;
    const result = await runCounterfactual({
      model: withInputRange(loaded.explainable, range),
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
      model: flags.model ?? "shipped fashion-mnist-cnn",
      dataset: datasetText,
      backend: info.backend,
      adapter: info.adapter,
      seed,
      transferModel: flags["transfer-model"] ?? "trained here: same CNN, seed + 1, 1 epoch on 12,000 images",
      seconds: (performance.now() - started) / 1000,
    });
    const png = await counterfactualFigure(result);
    await out.writeJson("metrics.json", metrics);
    await out.writeFile("counterfactuals.png", png);
    await out.writeFile("report.html", counterfactualHtml(result, metrics, png));
    const path = await out.commit();
    const line = (m: CounterfactualSummary) =>
      `success ${m.successRate.toFixed(3)}, median L1 ${m.medianL1.toFixed(2)}, median L0 ${m.medianL0}, ` +
      `transfer ${m.transferRate.toFixed(3)}, median ρ(|x′ − x|, saliency) ` +
      CHANGE_SALIENCY_METHODS.map((name) =>
        `${name} ${m.medianSaliencyCorrelation[name].toFixed(3)} ` +
        `(baseline ${m.medianSaliencyCorrelationBaseline[name].toFixed(3)})`
      ).join(", ");
    say(`without the prior: ${line(metrics)}`);
    if (metrics.withPrior) say(`with the prior (γ = ${gamma}): ${line(metrics.withPrior)}`);
    say(`results in ${path}`);
    return path;
  } catch (e) {
    await out.abort();
    throw e;
  }
}
