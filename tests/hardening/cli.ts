/**
 * Helpers of the hardening tests: run the command line in a child process, read its stderr without Mesa's
 * noise, and build small image-folder data sets.
 * @module
 */
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
  await Deno.writeFile(file, encodePngPixels(pixels, { width, height, channels: 1 }));
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
