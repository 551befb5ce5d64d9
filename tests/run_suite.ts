/**
 * `deno task test`: the test files in two `deno test` processes side by side, then the doc examples.
 *
 * One `deno test` process keeps about one core busy (software WebGPU included), so on a 2-core machine two
 * processes take about half the wall time. Processes, not `--parallel`: several tests set environment
 * variables (`HANS_MAX_MEMORY_MB`, …) or read the process's resident memory, which workers in one process
 * would share. The slow files (real-size models, the browser, the bench, the tasks end to end) go to the first
 * process and everything else, new files included, to the second. The first streams its output; the second's
 * is printed when it ends, or when both are stopped after `HANS_TEST_LIMIT_MINUTES` (default 40), with what
 * they started (each leads a process group of its own). Arguments
 * are passed to both (`deno task test --filter lrp`).
 *
 * @module
 */

/** The test files that take longest (seconds each on lavapipe, 2 cores), run in the first process. */
export const SLOW_FILES: readonly string[] = [
  "web/page_test.ts", // 64
  "tasks/bench_test.ts", // 40
  "explain/real_models_test.ts", // 42
  "explain/real_size_test.ts", // 41
  "explain/converter_graph_model_test.ts", // 40
  "tasks/real_models_task_test.ts", // 25
  "tasks/clever_hans_test.ts", // 20
  "tasks/counterfactual_test.ts", // 19
  "tasks/remote_test.ts", // 19
  "fixtures/real_models_test.ts", // 11
  "tasks/contrastive_test.ts", // 11
];

const TEST_FLAGS = [
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-net=127.0.0.1,localhost",
  "--allow-run",
];
const DOC_FLAGS = ["--doc", "--parallel", "--allow-read", "--allow-write", "--allow-env"];

/** Every `*_test.ts` below `dir`, relative to it, sorted. */
async function testFiles(dir: URL): Promise<string[]> {
  const out: string[] = [];
  const walk = async (sub: string) => {
    for await (const entry of Deno.readDir(new URL(sub, dir))) {
      const path = `${sub}${entry.name}`;
      if (entry.isDirectory) await walk(`${path}/`);
      else if (entry.isFile && /_test\.ts$/.test(entry.name)) out.push(path);
    }
  };
  await walk("");
  return out.sort();
}

/** The process groups started here and not yet ended (see {@linkcode spawnGroup}). */
const running = new Set<Deno.ChildProcess>();

/**
 * Starts `command` as the leader of a process group of its own (`detached`), so that
 * {@linkcode stopGroup} reaches whatever it starts too: a test process's task runs and Chromium.
 */
export function spawnGroup(command: string, options: Deno.CommandOptions): Deno.ChildProcess {
  const child = new Deno.Command(command, { ...options, detached: true }).spawn();
  running.add(child);
  child.status.finally(() => running.delete(child));
  return child;
}

/** Sends `signal` to `child`'s process group; to `child` alone where groups cannot be signalled. */
export function stopGroup(child: Deno.ChildProcess, signal: Deno.Signal = "SIGTERM"): void {
  try {
    Deno.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch { /* already ended */ }
  }
}

function deno(args: string[], piped: boolean): Deno.ChildProcess {
  return spawnGroup(Deno.execPath(), {
    args,
    cwd: new URL("..", import.meta.url),
    stdout: piped ? "piped" : "inherit",
    stderr: piped ? "piped" : "inherit",
  });
}

/** Everything `child` writes to stdout and stderr, in the order it arrives. */
function collect(child: Deno.ChildProcess): { chunks: Uint8Array[]; done: Promise<void> } {
  const chunks: Uint8Array[] = [];
  const drain = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) chunks.push(chunk);
  };
  return { chunks, done: Promise.all([drain(child.stdout), drain(child.stderr)]).then(() => {}) };
}

async function write(chunks: Uint8Array[]): Promise<void> {
  for (const bytes of chunks) {
    for (let at = 0; at < bytes.length;) at += await Deno.stdout.write(bytes.subarray(at));
  }
}

/** Minutes the test files may take before both processes are stopped and what they printed is shown. */
const LIMIT_MINUTES = ((m) => Number.isFinite(m) && m > 0 ? m : 40)(
  Number(Deno.env.get("HANS_TEST_LIMIT_MINUTES") || NaN),
);

if (import.meta.main) {
  // The groups are detached from the terminal's: a Ctrl-C (or CI's own stop) is passed on to them.
  for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
    Deno.addSignalListener(signal, () => {
      for (const child of running) stopGroup(child, signal);
      Deno.exit(code);
    });
  }
  const tests = new URL("./", import.meta.url);
  const all = await testFiles(tests);
  const missing = SLOW_FILES.filter((f) => !all.includes(f));
  if (missing.length > 0) throw new Error(`tests/run_suite.ts: SLOW_FILES lists missing files: ${missing}`);
  const first = SLOW_FILES.map((f) => `tests/${f}`);
  const second = all.filter((f) => !SLOW_FILES.includes(f)).map((f) => `tests/${f}`);
  const extra = Deno.args;
  const streamed = deno(["test", ...TEST_FLAGS, ...extra, ...first], false);
  const buffered = deno(["test", ...TEST_FLAGS, ...extra, ...second], true);
  const output = collect(buffered);
  // A hung test would otherwise hide the second process's output until whoever runs this gives up.
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    for (const child of [streamed, buffered]) stopGroup(child);
  }, LIMIT_MINUTES * 60_000);
  const [a, b] = await Promise.all([streamed.status, buffered.status, output.done]);
  clearTimeout(timer);
  await write(output.chunks);
  if (timedOut || !a.success || !b.success) {
    console.error(
      timedOut
        ? `the test files ran past ${LIMIT_MINUTES} minutes (HANS_TEST_LIMIT_MINUTES) and were stopped`
        : `test files failed (slow files: exit ${a.code}, the others: exit ${b.code}); doc examples not run`,
    );
    Deno.exit(1);
  }
  const docs = await deno(["test", ...DOC_FLAGS, ...extra, "src/", "mod.ts"], false).status;
  Deno.exit(docs.code);
}
