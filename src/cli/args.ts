/**
 * Shared command-line plumbing of the tasks: flag parsing with clear errors, the declarative flag spec from
 * which a task's parser, checks and --help are generated, and the wrapper that turns any error into one line
 * on stderr and exit code 2.
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { errorLine, HansError, say } from "../errors.ts";

/** Parses `args` with node:util's parseArgs (strict), turning its errors into a HansError. */
export function parseFlags<T extends ParseArgsConfig["options"]>(
  args: string[],
  options: T,
  task: string,
): ReturnType<
  typeof parseArgs<{ args: string[]; options: T; strict: true; allowPositionals: false }>
>["values"] {
  // A value that starts with a dash and a digit (`--input-range -1,1`) is a value, not a flag.
  const joined = args.flatMap((arg, i) => {
    const name = /^--([^=]+)$/.exec(arg)?.[1];
    const next = args[i + 1];
    if (name && options?.[name]?.type === "string" && next !== undefined && /^-\.?\d/.test(next)) {
      return [`${arg}=${next}`];
    }
    return i > 0 && /^-\.?\d/.test(arg) && /^--[^=]+$/.exec(args[i - 1]) &&
        options?.[args[i - 1].slice(2)]?.type === "string"
      ? []
      : [arg];
  });
  try {
    return parseArgs({ args: joined, options, strict: true, allowPositionals: false }).values;
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

/** Fields every flag has. */
interface FlagBase {
  /** One line (or a few) for --help. */
  help: string;
  /** The value's name in --help, e.g. `N` or `PATH|URL`. */
  metavar?: string;
}

/** A switch. */
export interface BooleanFlag extends FlagBase {
  /** Kind. */
  type: "boolean";
}

/** A number, checked against its range. */
export interface NumberFlag extends FlagBase {
  /** Kind. */
  type: "number";
  /** Value when the flag is not given (absent: undefined). */
  default?: number;
  /** Value under --quick when the flag is not given. */
  quick?: number;
  /** Smallest value. */
  min: number;
  /** Largest value. */
  max?: number;
  /** Whole numbers only. */
  integer?: boolean;
  /** How --help states the default when it is not a plain number. */
  defaultText?: string;
}

/** A string, optionally one of `choices`, optionally repeated. */
export interface StringFlag extends FlagBase {
  /** Kind. */
  type: "string";
  /** Value when the flag is not given. */
  default?: string;
  /** Value under --quick when the flag is not given. */
  quick?: string;
  /** The values allowed, in the order the error message lists them. */
  choices?: readonly string[];
  /** The flag may be given several times (the values come as a list). */
  multiple?: boolean;
  /** How --help states the default when it is not the plain default. */
  defaultText?: string;
}

/** One flag of a task: its type, default, --quick default, range or choices, and help line. */
export type FlagSpec = BooleanFlag | NumberFlag | StringFlag;

/** A task's command line: what --help says, and its flags. */
export interface TaskSpec<F extends Record<string, FlagSpec>> {
  /** Task name, as `deno task <name>`. */
  name: string;
  /** What the task does, a few lines for --help. */
  summary: string;
  /** The flags by name (without the dashes). */
  flags: F;
}

type FlagValue<S> = S extends BooleanFlag ? boolean
  : S extends NumberFlag ? (S extends { default: number } ? number : number | undefined)
  : S extends { multiple: true } ? string[]
  : S extends { choices: readonly (infer C)[] } ? (S extends { default: string } ? C : C | undefined)
  : S extends { default: string } ? string
  : string | undefined;

/** The parsed values of a task's flags, typed by the spec. */
export type FlagValues<F extends Record<string, FlagSpec>> = { [K in keyof F]: FlagValue<F[K]> };

/**
 * Parses and checks `args` against a task's flag spec: the parser, the checks (ranges, choices, a --quick
 * default where the flag is not given) and {@link taskHelp} all come from the one spec. A bad value is a
 * HansError naming the flag and what it takes.
 *
 * @example
 * ```ts
 * const spec = { name: "demo", summary: "…", flags: { n: { type: "number", min: 1, default: 4, help: "count" } } } as const;
 * parseTaskFlags(spec, ["--n", "3"]).n; // 3
 * ```
 */
export function parseTaskFlags<F extends Record<string, FlagSpec>>(
  spec: TaskSpec<F>,
  args: string[],
): FlagValues<F> {
  const options: NonNullable<ParseArgsConfig["options"]> = {};
  for (const [name, flag] of Object.entries(spec.flags)) {
    options[name] = flag.type === "boolean"
      ? { type: "boolean" }
      : { type: "string", multiple: flag.type === "string" && flag.multiple === true };
  }
  const raw = parseFlags(args, options, spec.name) as Record<string, string | string[] | boolean | undefined>;
  const quick = raw.quick === true;
  const values: Record<string, unknown> = {};
  for (const [name, flag] of Object.entries(spec.flags)) {
    const given = raw[name];
    if (flag.type === "boolean") {
      values[name] = given === true;
    } else if (flag.type === "number") {
      const fallback = quick && flag.quick !== undefined ? flag.quick : flag.default;
      values[name] = given === undefined && fallback === undefined
        ? undefined
        : numberFlag(name, given as string | undefined, fallback ?? NaN, flag);
    } else if (flag.multiple) {
      values[name] = (given as string[] | undefined) ?? [];
    } else {
      const value = (given as string | undefined) ??
        (quick && flag.quick !== undefined ? flag.quick : flag.default);
      if (value !== undefined && flag.choices && !flag.choices.includes(value)) {
        const list = flag.choices.length > 1
          ? `${flag.choices.slice(0, -1).join(", ")} or ${flag.choices.at(-1)}`
          : flag.choices[0];
        throw new HansError(`--${name} ${value}: use ${list}.`);
      }
      values[name] = value;
    }
  }
  return values as FlagValues<F>;
}

/** The --help text of a task, generated from its spec: usage, summary, one entry per flag with its defaults. */
export function taskHelp<F extends Record<string, FlagSpec>>(spec: TaskSpec<F>): string {
  const entries = Object.entries(spec.flags).map(([name, flag]) => {
    const left = `--${name}${
      flag.type === "boolean" ? "" : ` ${flag.metavar ?? (flag.type === "number" ? "N" : "X")}`
    }`;
    let defaults = "";
    if (flag.type !== "boolean") {
      const text = flag.defaultText ?? (flag.default === undefined ? undefined : String(flag.default));
      const quick = flag.quick === undefined ? "" : `; --quick ${flag.quick}`;
      if (text !== undefined || quick) defaults = ` (default ${text ?? "none"}${quick})`;
    }
    return { left, text: `${flag.help}${defaults}` };
  });
  const width = Math.max(...entries.map((e) => e.left.length)) + 2;
  const lines = entries.flatMap(({ left, text }) =>
    wrap(text, 110 - width - 2).map((line, i) => `  ${(i === 0 ? left : "").padEnd(width)}${line}`)
  );
  return `deno task ${spec.name} [flags]\n\n${spec.summary.trim()}\n\n${lines.join("\n")}\n`;
}

function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/)) {
    if (line && line.length + 1 + word.length > width) {
      out.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) out.push(line);
  return out;
}
