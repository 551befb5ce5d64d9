/**
 * Shared command-line plumbing: flag parsing with clear errors, and the wrapper that turns a `HansError` into
 * one line on stderr and exit code 2.
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { errorLine, HansError, say } from "../src/errors.ts";

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
    const message = (e as Error).message;
    const first = message.split("\n")[0].replace(/\.? To specify.*$/s, "").replace(/\.$/, "");
    const hint = /ambiguous/.test(message) ? " (write a value that starts with a dash as --flag=-1)" : "";
    throw new HansError(`${task}: ${first}${hint}; see --help.`);
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

/**
 * Runs a task's main function; any error ends it with one line on stderr (control characters escaped) and
 * exit code 2: a HansError's message, or the error said in one line by {@link errorLine}.
 */
export async function runTask(main: () => Promise<void>): Promise<void> {
  try {
    await main();
  } catch (e) {
    say(`hans: ${errorLine(e)}`);
    Deno.exit(2);
  }
}
