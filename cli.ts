/**
 * The command line of hans: `deno run <permissions> cli.ts <task> [flags]`, locally or from a URL
 * (`deno run <permissions> https://…/cli.ts clever-hans`). The library is `mod.ts`.
 * @module
 */
import { HansError } from "./src/errors.ts";
import { benchTask } from "./tasks/bench.ts";
import { cleverHansTask } from "./tasks/clever_hans.ts";
import { runTask } from "./src/cli/args.ts";
import { contrastiveTask } from "./tasks/contrastive.ts";
import { counterfactualTask } from "./tasks/counterfactual.ts";
import { pretrainTask } from "./tasks/pretrain.ts";

/** The tasks the command line knows, by name. */
export const TASKS: Record<string, (args: string[]) => Promise<unknown>> = {
  "clever-hans": cleverHansTask,
  pretrain: pretrainTask,
  contrastive: contrastiveTask,
  bench: benchTask,
  counterfactual: counterfactualTask,
};

/** Runs `cli.ts <task> [flags]`: one `hans:` line and exit code 2 on any error. */
export async function main(args: string[]): Promise<void> {
  await runTask(async () => {
    const [task, ...rest] = args;
    if (!task || task === "--help" || task === "-h") {
      console.log(
        `usage: cli.ts <task> [flags]; tasks: ${Object.keys(TASKS).join(", ")}; <task> --help for flags`,
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
