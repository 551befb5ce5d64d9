/**
 * `deno task bench`: speed of the hans paths against plain tfjs on the default CNN, measured in one run.
 * @module
 */
import { initBackend } from "../src/backend.ts";
import { methodRates, runBench } from "../src/pipeline/bench.ts";
import { versions } from "../src/deps.ts";
import { defaultResultsPath, ResultsDir } from "../src/report/results_dir.ts";
import { parseFlags } from "./cli.ts";

/** The help text of the task. */
export const BENCH_HELP = `deno task bench [flags]

Runs fixed workloads on the default CNN (28x28x1) with the hans path and the plain tfjs path in one process
and prints both rates and their ratio (hans / reference). Writes results/bench-<UTC time>/bench.json.

  --quick   smaller workloads (for tests)
  --json    print only the JSON
  --out DIR results folder (must not exist)
  --help    this text
`;

/** Runs the bench; returns the JSON document. */
export async function benchTask(args: string[]): Promise<unknown> {
  const flags = parseFlags(args, {
    quick: { type: "boolean" },
    json: { type: "boolean" },
    out: { type: "string" },
    help: { type: "boolean" },
  }, "bench");
  if (flags.help) {
    console.log(BENCH_HELP);
    return undefined;
  }
  const out = await ResultsDir.create(flags.out ?? defaultResultsPath("bench"));
  try {
    const info = await initBackend();
    const header = {
      adapter: info.adapter,
      backend: info.backend,
      kernels: info.kernels,
      deno: Deno.version.deno,
      tfjs: versions.tfjs,
    };
    const log = flags.json ? () => {} : (line: string) => console.log(line);
    log(
      `adapter ${header.adapter} | backend ${header.backend} | kernels ${header.kernels} | ` +
        `deno ${header.deno} | tfjs ${header.tfjs}`,
    );
    log(
      `${"workload".padEnd(22)} ${"hans".padStart(10)} ${"reference".padStart(10)} ${
        "unit".padEnd(10)
      } ratio`,
    );
    const workloads = await runBench(flags.quick ?? false, log);
    log(`every method, batched, on ${flags.quick ? 8 : 32} images:`);
    const methods = await methodRates(flags.quick ? 8 : 32, log);
    const doc = { ...header, workloads, methods };
    await out.writeJson("bench.json", doc);
    const path = await out.commit();
    if (flags.json) console.log(JSON.stringify(doc));
    else log(`written to ${path}/bench.json`);
    return doc;
  } catch (e) {
    await out.abort();
    throw e;
  }
}
