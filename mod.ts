/**
 * hans: catch image classifiers cheating and explain their mistakes.
 *
 * The public API re-exports the data loaders, shortcuts, models, saliency methods, metrics and report
 * helpers. Run as a script, it is the command line: `deno run <permissions> mod.ts <task> [flags]`.
 *
 * @example
 * ```ts
 * import { explain, fromLayersModel } from "./mod.ts";
 * const maps = await explain("integrated_gradients", fromLayersModel(model), images, labels);
 * ```
 * @module
 */
export * from "./src/backend.ts";
export * from "./src/errors.ts";
export * from "./src/rng.ts";
export * from "./src/data/mod.ts";
export * from "./src/shortcuts/mod.ts";
export * from "./src/explain/mod.ts";
export * from "./src/measure/localization.ts";
export * from "./src/measure/reliance.ts";
export * from "./src/model/cnn.ts";
export * from "./src/model/standardize.ts";
export * from "./src/model/contrast_norm.ts";
export * from "./src/model/train.ts";
export * from "./src/model/autoencoder.ts";
export * from "./src/model/predict.ts";
export * from "./src/model/io.ts";
export * from "./src/model/load.ts";
export * from "./src/model/input_range.ts";
export * from "./src/pipeline/contrastive.ts";
export * from "./src/counterfactual/optimize.ts";
export * from "./src/counterfactual/saliency.ts";
export * from "./src/pipeline/clever_hans.ts";
export * from "./src/pipeline/clever_hans_metrics.ts";
export { tf } from "./src/deps.ts";

import { cleverHansTask } from "./tasks/clever_hans.ts";
import { pretrainTask } from "./tasks/pretrain.ts";
import { contrastiveTask } from "./tasks/contrastive.ts";
import { benchTask } from "./tasks/bench.ts";
import { counterfactualTask } from "./tasks/counterfactual.ts";
import { runTask } from "./tasks/cli.ts";
import { HansError } from "./src/errors.ts";

/** The tasks the command line knows, by name. */
export const TASKS: Record<string, (args: string[]) => Promise<unknown>> = {
  "clever-hans": cleverHansTask,
  pretrain: pretrainTask,
  contrastive: contrastiveTask,
  bench: benchTask,
  counterfactual: counterfactualTask,
};

/** The command line: `mod.ts <task> [flags]`. */
export async function main(args: string[]): Promise<void> {
  await runTask(async () => {
    const [task, ...rest] = args;
    if (!task || task === "--help" || task === "-h") {
      console.log(
        `usage: mod.ts <task> [flags]; tasks: ${Object.keys(TASKS).join(", ")}; <task> --help for flags`,
      );
      return;
    }
    const run = TASKS[task];
    if (!run) throw new HansError(`unknown task "${task}"; use one of ${Object.keys(TASKS).join(", ")}.`);
    await run(rest);
  });
}

if (import.meta.main) {
  await main(Deno.args);
  // tfjs keeps the WebGPU device alive; end the process once the task is done.
  Deno.exit(0);
}
