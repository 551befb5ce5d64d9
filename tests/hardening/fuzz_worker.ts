/**
 * The worker of `fuzz_test.ts`: runs one fuzz target for a time budget and reports every error that is not a
 * HansError. Before each call it writes the case number, the input length and the start time into the
 * shared `state` buffer, so the test can stop a call that hangs and name the case that did.
 * @module
 */
/// <reference lib="deno.worker" />
import { HansError } from "../../src/errors.ts";
import { Rng } from "../../src/rng.ts";
import { TARGETS } from "./fuzz_targets.ts";

/** What the test sends to start a worker. */
export interface FuzzRequest {
  /** Name of the target in TARGETS. */
  target: string;
  /** Seed of the whole run; case `k` uses the seed `seed + k`. */
  seed: number;
  /** How long to keep feeding inputs, in milliseconds. */
  budgetMs: number;
  /** Growth of the process's resident memory over its start that counts as a failure, in bytes. */
  rssLimit: number;
  /** Shared state: Float64 [case, input length, call start (Date.now()), busy (1) or idle (0)]. */
  state: SharedArrayBuffer;
}

/** What the worker sends back once: the cases it ran, the slowest call, and the first failure if any. */
export interface FuzzReport {
  /** Cases run. */
  cases: number;
  /** Cases that the parser accepted (no error). */
  accepted: number;
  /** Longest single call, in milliseconds. */
  slowestMs: number;
  /** The first input that made the parser throw something other than a HansError, or grow memory. */
  failure?: { caseSeed: number; length: number; error: string };
}

self.onmessage = async (event: MessageEvent<FuzzRequest>) => {
  const { target: name, seed, budgetMs, rssLimit } = event.data;
  const state = new Float64Array(event.data.state);
  const target = TARGETS.find((t) => t.name === name);
  if (!target) throw new Error(`unknown fuzz target ${name}`);
  const seeds = await target.seeds();
  const rssStart = Deno.memoryUsage().rss;
  const report: FuzzReport = { cases: 0, accepted: 0, slowestMs: 0 };
  const end = Date.now() + budgetMs;
  for (let k = 0; Date.now() < end; k++) {
    const caseSeed = seed + k;
    const input = target.input(new Rng(caseSeed), seeds);
    state[0] = caseSeed;
    state[1] = input.length;
    state[2] = Date.now();
    state[3] = 1;
    try {
      await target.run(input);
      report.accepted++;
    } catch (error) {
      if (!(error instanceof HansError)) {
        const text = error instanceof Error ? error.stack ?? String(error) : `non-Error thrown: ${error}`;
        report.failure = { caseSeed, length: input.length, error: text };
      }
    }
    state[3] = 0;
    report.cases++;
    report.slowestMs = Math.max(report.slowestMs, Date.now() - state[2]);
    const grown = Deno.memoryUsage().rss - rssStart;
    if (!report.failure && grown > rssLimit) {
      report.failure = {
        caseSeed,
        length: input.length,
        error: `resident memory grew by ${Math.round(grown / 2 ** 20)} MiB (limit ${rssLimit / 2 ** 20} MiB)`,
      };
    }
    if (report.failure) break;
  }
  self.postMessage(report);
};
