/**
 * Shared command-line plumbing: flag parsing with clear errors, and the wrapper that turns a `HansError` into
 * one line on stderr and exit code 2.
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { HansError } from "../src/errors.ts";

/** Parses `args` with node:util's parseArgs (strict), turning its errors into a HansError. */
export function parseFlags<T extends ParseArgsConfig["options"]>(
  args: string[],
  options: T,
  task: string,
): ReturnType<
  typeof parseArgs<{ args: string[]; options: T; strict: true; allowPositionals: false }>
>["values"] {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values;
  } catch (e) {
    throw new HansError(`${task}: ${(e as Error).message.replace(/\. To specify.*$/s, "")}; see --help.`);
  }
}

/** Reads a numeric flag: must be a finite number in [min, max] (and an integer when asked). */
export function numberFlag(
  name: string,
  value: string | undefined,
  fallback: number,
  range: { min: number; max?: number; integer?: boolean },
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  const ok = value.trim() !== "" && Number.isFinite(n) && n >= range.min && n <= (range.max ?? Infinity) &&
    (!range.integer || Number.isInteger(n));
  if (!ok) {
    const kind = range.integer ? "a whole number" : "a number";
    const bound = range.max === undefined ? `at least ${range.min}` : `from ${range.min} to ${range.max}`;
    throw new HansError(`--${name} ${value}: expected ${kind} ${bound}.`);
  }
  return n;
}

/** Runs a task's main function; a HansError prints one line and exits 2, anything else is a bug (exit 1). */
export async function runTask(main: () => Promise<void>): Promise<void> {
  try {
    await main();
  } catch (e) {
    if (e instanceof HansError) {
      console.error(`hans: ${e.message}`);
      Deno.exit(2);
    }
    throw e;
  }
}
