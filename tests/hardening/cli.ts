/**
 * Helpers of the hardening tests: run the command line in a child process, read its stderr without Mesa's
 * noise, and build small image-folder data sets.
 * @module
 */
import assert from "node:assert/strict";
import { encodePngPixels } from "../../src/deps.ts";

/** cli.ts (the command line) of this checkout, as a path. */
export const CLI_TS: string = new URL("../../cli.ts", import.meta.url).pathname;

/** The permissions the children run with (all of read, write, env and net, as `deno task` tests need). */
export const CHILD_PERMISSIONS = ["--allow-read", "--allow-write", "--allow-env", "--allow-net"];

/** The flags that keep a run that gets to training small. */
export const SMALL_RUN = [
  "--quick",
  "--train-size=40",
  "--test-size=20",
  "--maps=1",
  "--methods=gradient",
  "--spray-method=none",
];

/** Exit code and stderr of one command-line run. */
export interface CliResult {
  code: number;
  stderr: string;
}

/**
 * Runs `cli.ts <args>` in a child process (stdout dropped) and returns its exit code and stderr; `env` adds
 * environment variables (e.g. a small `HANS_MAX_READ_MB`).
 */
export async function cli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...CHILD_PERMISSIONS, CLI_TS, ...args],
    stdout: "null",
    stderr: "piped",
    env: { NO_COLOR: "1", ...env },
  });
  const { code, stderr } = await child.output();
  return { code, stderr: new TextDecoder().decode(stderr) };
}

/** The lines of `stderr`, without blank ones and Mesa's `error: XDG_RUNTIME_DIR ...` complaint. */
export function stderrLines(stderr: string): string[] {
  return stderr.split("\n").filter((line) => line.trim() !== "" && !/^error: XDG_RUNTIME_DIR/.test(line));
}

/** Names in `dir`, sorted. */
export function entries(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
}

/** Writes a gray PNG of `width x height` whose pixel values come from `value(x, y)`. */
export async function writeGrayPng(
  file: string,
  width: number,
  height: number,
  value: (x: number, y: number) => number,
): Promise<void> {
  const pixels = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) pixels[y * width + x] = value(x, y);
  // Level 6: imagescript's default (stored blocks) writes a broken stream past 64 KB.
  await Deno.writeFile(file, encodePngPixels(pixels, { width, height, channels: 1, level: 6 }));
}

/**
 * A folder data set of 16x16 gray images: one sub-folder per name in `classes` with `perClass` images each,
 * class k brighter towards the bottom when k is odd, else towards the right, plus a little per-image noise.
 */
export async function writeFolderDataset(dir: string, classes: string[], perClass: number): Promise<void> {
  for (const [k, name] of classes.entries()) {
    await Deno.mkdir(`${dir}/${name}`, { recursive: true });
    for (let i = 0; i < perClass; i++) {
      await writeGrayPng(`${dir}/${name}/${i}.png`, 16, 16, (x, y) => {
        const ramp = k % 2 === 1 ? y : x;
        return Math.min(255, ramp * 12 + ((x * 7 + y * 13 + i * 31) % 23));
      });
    }
  }
}

/** A run that must be refused: its arguments (given the --out folder), the message, extra environment. */
export interface RefusalCase {
  name: string;
  args: (out: string) => string[];
  message: RegExp;
  env?: Record<string, string>;
}

/**
 * Runs each case in a child process and checks that it ends with exit code 2, one `hans:` line matching its
 * message, no raw escape character, and nothing left in the parent of its --out folder. `env` is the
 * environment of cases that give none.
 */
export async function expectRefusals(cases: RefusalCase[], env: Record<string, string> = {}): Promise<void> {
  for (const c of cases) {
    const parent = await Deno.makeTempDir({ prefix: "hans-refused-out-" });
    try {
      const { code, stderr } = await cli(c.args(`${parent}/run`), c.env ?? env);
      assert.equal(code, 2, `${c.name}: exit code ${code}, stderr:\n${stderr}`);
      const lines = stderrLines(stderr);
      assert.equal(lines.length, 1, `${c.name}: expected one line, stderr:\n${stderr}`);
      assert.match(lines[0], /^hans: /, c.name);
      assert.match(lines[0], c.message, c.name);
      assert.ok(!stderr.includes("\x1b"), `${c.name}: no raw escape character reaches the terminal`);
      assert.deepEqual(entries(parent), [], `${c.name}: nothing is left in the --out folder's parent`);
    } finally {
      await Deno.remove(parent, { recursive: true });
    }
  }
}
