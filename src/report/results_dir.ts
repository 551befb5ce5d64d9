/**
 * The results folder of one run, written atomically: everything goes into a hidden temporary sibling folder
 * that is renamed to its final name only at the end, so an interrupted or failed run never leaves a
 * half-written folder under the final name; a run killed outright (SIGKILL) leaves its temporary folder,
 * which the next run in the same place removes.
 * @module
 */
import { basename, dirname, isAbsolute, join, normalize } from "node:path";
import { checkWebgpuErrors, webgpuErrors } from "../backend.ts";
import { HansError } from "../errors.ts";

/**
 * The default results folder for a task: `results/<task>-<UTC time>`, with the time written as
 * `2026-11-25T19-30-05Z` (colons replaced so the name works on every file system).
 */
export function defaultResultsPath(task: string, now: Date = new Date()): string {
  const stamp = now.toISOString().slice(0, 19).replaceAll(":", "-");
  return `results/${task}-${stamp}Z`;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) return false;
    throw error;
  }
}

function randomSuffix(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** The temporary folders' names: `.<name>.partial-<12 hex>`. */
const PARTIAL = /^\..+\.partial-[0-9a-f]{12}$/;
/**
 * The file in a temporary folder that the run writing it holds locked (removed before the rename). The
 * operating system drops the lock when the process ends, however it ends, SIGKILL included.
 */
const OWNER = ".owner";

/**
 * Removes the temporary folders in `parent` that a killed run left behind (SIGKILL gives no chance to clean
 * up): those whose owner file nobody holds locked any more. A folder without an owner file, or whose file
 * cannot be opened, is left alone.
 */
async function removeStalePartials(parent: string): Promise<void> {
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(parent));
  } catch {
    return; // an unreadable parent: nothing to sweep
  }
  for (const entry of entries) {
    if (!entry.isDirectory || !PARTIAL.test(entry.name)) continue;
    const folder = join(parent, entry.name);
    let owner: Deno.FsFile;
    try {
      owner = await Deno.open(join(folder, OWNER), { read: true });
    } catch {
      continue;
    }
    let stale = false;
    try {
      stale = await owner.tryLock(true);
    } catch {
      // locks unsupported here: leave it
    } finally {
      owner.close();
    }
    if (stale) await Deno.remove(folder, { recursive: true }).catch(() => {});
  }
}

/** The folders `mkdir -p parent` would create, deepest first. */
async function missingFolders(parent: string): Promise<string[]> {
  const missing: string[] = [];
  for (let dir = parent; !(await exists(dir)); dir = dirname(dir)) {
    missing.push(dir);
    if (dirname(dir) === dir) break;
  }
  return missing;
}

/** Removes `folders` (deepest first) while they are empty: the parents a failed run created for nothing. */
function removeEmptyFolders(folders: string[]): void {
  for (const dir of folders) {
    try {
      Deno.removeSync(dir);
    } catch {
      return; // not empty (another run's results), or gone
    }
  }
}

function reason(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * A results folder being written. Create it with {@linkcode ResultsDir.create}, write files, then
 * {@linkcode ResultsDir.commit} (rename to the final name) or {@linkcode ResultsDir.abort} (delete). While it
 * is open, Ctrl-C (SIGINT) deletes the temporary folder and exits with code 130.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { join } from "node:path";
 *
 * const results = await Deno.makeTempDir(); // a task writes under results/ instead
 * const out = await ResultsDir.create(join(results, "clever-hans"));
 * try {
 *   await out.writeJson("metrics.json", { accuracy: 0.9 });
 *   await out.writeFile("report.html", "<!doctype html><title>report</title>");
 *   assert.equal(await out.commit(), join(results, "clever-hans"));
 * } catch (error) {
 *   await out.abort();
 *   throw error;
 * }
 * assert.deepEqual(JSON.parse(await Deno.readTextFile(join(results, "clever-hans", "metrics.json"))), {
 *   accuracy: 0.9,
 * });
 * ```
 */
export class ResultsDir {
  /** The folder the results will have once committed. */
  readonly finalPath: string;
  /** The hidden temporary folder files are written to until commit. */
  readonly tempPath: string;
  #state: "open" | "committed" | "aborted" = "open";
  #onInterrupt: () => void;
  #onTerminate: () => void;
  #onHangup: () => void;
  /** The parent folders this run created (deepest first), removed again if it fails and they are empty. */
  #createdParents: string[];
  /** The owner file, held locked while the folder is open. */
  #owner: Deno.FsFile;

  private constructor(finalPath: string, tempPath: string, createdParents: string[], owner: Deno.FsFile) {
    this.finalPath = finalPath;
    this.tempPath = tempPath;
    this.#createdParents = createdParents;
    this.#owner = owner;
    const cleanUpAndExit = (code: number) => () => {
      try {
        Deno.removeSync(tempPath, { recursive: true });
      } catch {
        // Exiting anyway; nothing more to do.
      }
      removeEmptyFolders(createdParents);
      Deno.exit(code);
    };
    // The shell's codes for death by a signal: 128 + its number.
    this.#onInterrupt = cleanUpAndExit(130);
    this.#onTerminate = cleanUpAndExit(143);
    this.#onHangup = cleanUpAndExit(129);
    Deno.addSignalListener("SIGINT", this.#onInterrupt);
    Deno.addSignalListener("SIGTERM", this.#onTerminate);
    Deno.addSignalListener("SIGHUP", this.#onHangup);
  }

  /**
   * Starts a results folder for `finalPath`: creates the parent folder if missing and a temporary sibling
   * `.<name>.partial-<random>` to write into (with a file naming this process, so that a later run can
   * remove the folder once this process is gone: a SIGKILL leaves it behind). Throws a
   * {@linkcode HansError} when `finalPath` already exists or its parent cannot be written.
   */
  static async create(finalPath: string): Promise<ResultsDir> {
    const target = normalize(finalPath).replace(/[\\/]+$/, "");
    // The temporary sibling adds ".", ".partial-" and 12 characters to the name; names stop at 255 bytes.
    const longest = 255 - ".".length - ".partial-".length - 12;
    const nameBytes = new TextEncoder().encode(basename(target)).length;
    if (nameBytes > longest) {
      throw new HansError(
        `--out ${finalPath}: the folder name is ${nameBytes} bytes long; give one of at most ${longest}.`,
      );
    }
    if (await exists(target)) {
      throw new HansError(`results folder ${finalPath} exists; pass another --out or remove it`);
    }
    const parent = dirname(target);
    const tempPath = join(parent, `.${basename(target)}.partial-${randomSuffix()}`);
    const created = await missingFolders(parent).catch(() => []);
    let owner: Deno.FsFile | undefined;
    try {
      await Deno.mkdir(parent, { recursive: true });
      await removeStalePartials(parent);
      await Deno.mkdir(tempPath);
      // Locked under another name, then renamed: a sweeping run never sees an owner file nobody holds.
      owner = await Deno.open(join(tempPath, `${OWNER}-new`), { write: true, createNew: true });
      await owner.lock(true);
      await Deno.rename(join(tempPath, `${OWNER}-new`), join(tempPath, OWNER));
    } catch (error) {
      owner?.close();
      await Deno.remove(tempPath, { recursive: true }).catch(() => {});
      removeEmptyFolders(created);
      throw new HansError(
        `cannot write the results folder in ${parent} (${
          reason(error)
        }); pass --out with a folder you can write`,
        { cause: error },
      );
    }
    return new ResultsDir(target, tempPath, created, owner);
  }

  /** Whether files can still be written (neither committed nor aborted). */
  get isOpen(): boolean {
    return this.#state === "open";
  }

  /**
   * The full path of `name` inside the results folder: inside the temporary folder while open, inside the
   * final folder after commit. `name` is relative and may contain sub-folders (`maps/7.png`), but no `..`.
   */
  path(name: string): string {
    const clean = normalize(name);
    if (
      isAbsolute(clean) || clean === ".." || clean.startsWith("../") || clean.startsWith("..\\") ||
      clean === "."
    ) {
      throw new Error(`results file name must be relative and stay inside the folder, got "${name}"`);
    }
    return join(this.#state === "committed" ? this.finalPath : this.tempPath, clean);
  }

  /** Writes `value` as pretty-printed JSON (2-space indent, trailing newline) to `name`. */
  async writeJson(name: string, value: unknown): Promise<void> {
    await this.writeFile(name, JSON.stringify(value, null, 2) + "\n");
  }

  /** Writes bytes or UTF-8 text to `name`, creating sub-folders as needed; replaces an existing file. */
  async writeFile(name: string, data: Uint8Array | string): Promise<void> {
    if (this.#state !== "open") {
      throw new Error(`results folder is already ${this.#state}; cannot write ${name}`);
    }
    const path = this.path(name);
    await Deno.mkdir(dirname(path), { recursive: true });
    if (typeof data === "string") await Deno.writeTextFile(path, data);
    else await Deno.writeFile(path, data);
  }

  /**
   * Renames the temporary folder to the final path and returns that path. When something appeared at the
   * final path meanwhile, throws a {@linkcode HansError} naming the temporary folder, which is then kept (a
   * later `abort()` does not delete it), so the run's results are not lost.
   */
  async commit(): Promise<string> {
    if (this.#state !== "open") throw new Error(`results folder is already ${this.#state}`);
    if (await exists(this.finalPath)) {
      this.#close("aborted"); // keep the temporary folder: the run's results are still in it
      throw new HansError(
        `results folder ${this.finalPath} appeared while the run was writing; ` +
          `its results are in ${this.tempPath}`,
      );
    }
    // Renamed while still locked (a sweeping run only looks at temporary names), then the lock goes.
    await Deno.rename(this.tempPath, this.finalPath);
    await Deno.remove(join(this.finalPath, OWNER)).catch(() => {});
    this.#close("committed");
    return this.finalPath;
  }

  /** Deletes the temporary folder and everything in it. Safe to call more than once, and after commit. */
  async abort(): Promise<void> {
    if (this.#state !== "open") return;
    this.#close("aborted");
    await Deno.remove(this.tempPath, { recursive: true }).catch((error) => {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    });
    removeEmptyFolders(this.#createdParents);
  }

  #releaseOwner(): void {
    try {
      this.#owner.close(); // closing drops the lock
    } catch {
      // closed already
    }
  }

  #close(state: "committed" | "aborted"): void {
    this.#releaseOwner();
    this.#state = state;
    Deno.removeSignalListener("SIGINT", this.#onInterrupt);
    Deno.removeSignalListener("SIGTERM", this.#onTerminate);
    Deno.removeSignalListener("SIGHUP", this.#onHangup);
  }
}

/**
 * Runs `write` with a fresh results folder for `finalPath` and commits it when `write` returns, or deletes it
 * when `write` throws (the error goes on): the one place the tasks' try/commit/abort lives. A run during which
 * the WebGPU device reported an error (a shader that did not compile, a lost device: tfjs raises neither and
 * goes on with wrong numbers) is refused too, with a `HansError`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { join } from "node:path";
 *
 * const results = await Deno.makeTempDir();
 * const { path } = await withResultsDir(join(results, "run"), (out) => out.writeJson("metrics.json", { ok: true }));
 * assert.equal(await Deno.readTextFile(join(path, "metrics.json")), '{\n  "ok": true\n}\n');
 * ```
 */
export async function withResultsDir<T>(
  finalPath: string,
  write: (out: ResultsDir) => Promise<T>,
): Promise<{ path: string; value: T }> {
  const out = await ResultsDir.create(finalPath);
  const before = (await webgpuErrors()).count;
  try {
    const value = await write(out);
    await checkWebgpuErrors(before, "the run", " and no results were kept");
    return { path: await out.commit(), value };
  } catch (e) {
    await out.abort();
    throw e;
  }
}
