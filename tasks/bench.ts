/**
 * `deno task bench`: speed of the hans paths against plain tfjs on the default CNN, measured in one run.
 * @module
 */
import { initBackend } from "../src/backend.ts";
import { versions } from "../src/deps.ts";
import { methodRates, profileBench, runBench } from "../src/pipeline/bench.ts";
import { runRealBench } from "../src/pipeline/bench_real.ts";
import { defaultResultsPath, withResultsDir } from "../src/report/results_dir.ts";
import { parseTaskFlags, taskHelp } from "../src/cli/args.ts";
import { BENCH_FLAGS } from "../src/cli/task_flags.ts";

/** The help text of the task. */
export const BENCH_HELP: string = taskHelp(BENCH_FLAGS);

/** Runs the bench; returns the JSON document. */
export async function benchTask(args: string[]): Promise<unknown> {
  const flags = parseTaskFlags(BENCH_FLAGS, args);
  if (flags.help) return console.log(BENCH_HELP);
  const log = flags.json ? () => {} : (line: string) => console.log(line);
  const { path, value: doc } = await withResultsDir(flags.out ?? defaultResultsPath("bench"), async (out) => {
    const info = await initBackend({ backend: flags.backend });
    const header = {
      adapter: info.adapter,
      backend: info.backend,
      kernels: info.kernels,
      deno: Deno.version.deno,
      tfjs: versions.tfjs,
    };
    log(
      `adapter ${header.adapter} | backend ${header.backend} | kernels ${header.kernels} | ` +
        `deno ${header.deno} | tfjs ${header.tfjs}`,
    );
    if (flags.profile) {
      const doc = { ...header, ...await profileBench(flags.quick, log) };
      await out.writeJson("profile.json", doc);
      return doc;
    }
    log(
      `${"workload".padEnd(22)} ${"hans".padStart(10)} ${"reference".padStart(10)} ${
        "unit".padEnd(10)
      } ratio`,
    );
    const workloads: Record<string, unknown> = await runBench(flags.quick, log);
    if (flags.real) {
      log("real size (MobileNetV2 224, the peer's R1–R6; rate, unit, id):");
      Object.assign(workloads, await runRealBench(log, flags.quick));
    }
    log(`every method, batched, on ${flags.quick ? 8 : 32} images:`);
    const methods = await methodRates(flags.quick ? 8 : 32, log);
    const doc = { ...header, workloads, methods };
    await out.writeJson("bench.json", doc);
    return doc;
  });
  if (flags.json) console.log(JSON.stringify(doc));
  else log(`written to ${path}/${flags.profile ? "profile" : "bench"}.json`);
  return doc;
}
