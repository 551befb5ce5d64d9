/**
 * How much hans reads and decodes at most, so that a hostile or broken input (a gzip bomb, an endless
 * download, a huge image, a device file) stops with a clear message instead of filling memory. The defaults
 * keep a run under about 1 GB; a user raises them with environment variables:
 *
 * - `HANS_MAX_READ_MB` (default 256): bytes of any one file, download, or file inside an archive after
 *   decompression.
 * - `HANS_MAX_MEGAPIXELS` (default 64): pixels of one image, and of all images a folder keeps in memory (at
 *   their own size, or at the model's size when they are fitted to a model).
 * - `HANS_MAX_MEMORY_MB` (default a twelfth of the machine's memory, 1–16 GB): the memory a run plans its
 *   batches for; every batched pass of a model is sized to fit it (`src/model/pass_plan.ts`).
 * @module
 */

/** Default of `HANS_MAX_READ_MB`. */
export const DEFAULT_MAX_READ_MB = 256;
/** Default of `HANS_MAX_MEGAPIXELS`. */
export const DEFAULT_MAX_MEGAPIXELS = 64;

function fromEnv(name: string, fallback: number): number {
  let text: string | undefined;
  try {
    text = Deno.env.get(name);
  } catch {
    return fallback; // no permission to read it: the default holds
  }
  const n = Number(text);
  return text !== undefined && text.trim() !== "" && Number.isFinite(n) && n > 0 ? n : fallback;
}

/** Bytes hans reads at most from one file, download or archive member (`HANS_MAX_READ_MB`). */
export function maxReadBytes(): number {
  return Math.floor(fromEnv("HANS_MAX_READ_MB", DEFAULT_MAX_READ_MB) * 2 ** 20);
}

/** Pixels hans decodes at most per image, and keeps at most per folder (`HANS_MAX_MEGAPIXELS`). */
export function maxPixels(): number {
  return Math.floor(fromEnv("HANS_MAX_MEGAPIXELS", DEFAULT_MAX_MEGAPIXELS) * 1e6);
}

/** "256 MB": a byte count in binary megabytes for messages. */
export function megabytes(bytes: number): string {
  const mb = bytes / 2 ** 20;
  return `${mb >= 10 ? Math.round(mb) : mb.toPrecision(2)} MB`;
}

/** The message tail that says how to raise the read limit. */
export function readLimitHint(): string {
  return `hans reads at most ${
    megabytes(maxReadBytes())
  } from one source; raise HANS_MAX_READ_MB to allow more`;
}

/** The memory budget a run plans its batches for, and where it came from. */
export interface MemoryBudget {
  /** Bytes. */
  bytes: number;
  /** `HANS_MAX_MEMORY_MB`, `machine` (a twelfth of its memory) or `fallback` (its size unknown: 2 GB). */
  source: "HANS_MAX_MEMORY_MB" | "machine" | "fallback";
}

/** The budget when the machine's memory cannot be read (no `--allow-sys=systemMemoryInfo`). */
export const FALLBACK_MEMORY_MB = 2048;

/**
 * The memory budget of a run: `HANS_MAX_MEMORY_MB` when set, else a twelfth of the machine's memory between
 * 1 GB and 16 GB (2 GB on a 24 GB machine) when hans may read its size (`--allow-sys=systemMemoryInfo`, as
 * the tasks have it; no permission is asked for), else 2 GB. Batches are planned so that the process stays
 * within it (its resident memory; on a GPU, the device's buffers).
 *
 * @example
 * ```ts
 * const { bytes, source } = memoryBudget();
 * console.log(`${megabytes(bytes)} (${source})`);
 * ```
 */
export function memoryBudget(): MemoryBudget {
  const set = fromEnv("HANS_MAX_MEMORY_MB", NaN);
  if (Number.isFinite(set)) return { bytes: Math.floor(set * 2 ** 20), source: "HANS_MAX_MEMORY_MB" };
  try {
    if (Deno.permissions.querySync({ name: "sys", kind: "systemMemoryInfo" }).state === "granted") {
      const total = Deno.systemMemoryInfo().total;
      const bytes = Math.min(16 * 2 ** 30, Math.max(2 ** 30, Math.floor(total / 12)));
      return { bytes, source: "machine" };
    }
  } catch {
    // no way to read the machine's size: the fallback holds
  }
  return { bytes: FALLBACK_MEMORY_MB * 2 ** 20, source: "fallback" };
}
