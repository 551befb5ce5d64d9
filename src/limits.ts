/**
 * How much hans reads and decodes at most, so that a hostile or broken input (a gzip bomb, an endless
 * download, a huge image, a device file) stops with a clear message instead of filling memory. The defaults
 * keep a run under about 1 GB; a user raises them with environment variables:
 *
 * - `HANS_MAX_READ_MB` (default 256): bytes of any one file, download, or file inside an archive after
 *   decompression.
 * - `HANS_MAX_MEGAPIXELS` (default 64): pixels of one image, and of all images a folder keeps in memory (at
 *   their own size, or at the model's size when they are fitted to a model).
 * - `HANS_MAX_MEMORY_MB` (default a twelfth of the machine's memory, 1–16 GB): the memory of the whole run.
 *   Every batched pass of a model is sized to fit it (`src/model/pass_plan.ts`), and everything hans reads,
 *   parses, decodes or downloads is checked against it before it is allocated ({@link checkMemory}): from a
 *   file's size, a header's width and height, a manifest's declared total, a JSON text's element count.
 * @module
 */
import { HansError } from "./errors.ts";

/** Default of `HANS_MAX_READ_MB`. */
export const DEFAULT_MAX_READ_MB = 256;
/** Default of `HANS_MAX_MEGAPIXELS`. */
export const DEFAULT_MAX_MEGAPIXELS = 64;
/**
 * Nodes a GraphModel may have at most (its graph, the functions of its library and its initializer together).
 * TF.js reads a graph, plans its first run and runs it each in one step that nothing interrupts, not even
 * Ctrl-C, in time linear in the nodes; at this bound the longest such step stays under about 1 s (measured in
 * docs/hardening.md), and image classifiers have a few thousand nodes at most.
 */
export const MAX_GRAPH_NODES = 30_000;

/**
 * Input values per image (height · width · channels) of the largest model hans runs: 4096·4096 of one channel.
 * A model declaring more is refused when it is loaded.
 */
export const MAX_INPUT_VALUES = 4096 * 4096;

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

/** "256 MB", "1.5 MB", "12 KB", "300 bytes": a byte count in binary units for messages. */
export function megabytes(bytes: number): string {
  const mb = bytes / 2 ** 20;
  if (mb >= 10) return `${Math.round(mb)} MB`;
  if (bytes >= 2 ** 20) return `${mb.toPrecision(2)} MB`;
  if (bytes >= 2 ** 10) return `${Math.round(bytes / 2 ** 10)} KB`;
  return `${Math.max(0, Math.round(bytes))} bytes`;
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

let keptBytes = 0;
/** Takes an array's bytes off the count once the garbage collector has reclaimed it. */
const released = new FinalizationRegistry<number>((bytes) => keptBytes -= bytes);

/**
 * Records that the run keeps `array` on the JavaScript heap (a loaded data set's pixels), so that the data's
 * share of the budget and the batch planner count it as held (`heldBytes` in `src/backend.ts`) until it is
 * garbage-collected, or until the function it returns is called; tensors are counted by tfjs.
 *
 * @example
 * ```ts
 * keepMemory(new Float32Array(1000));
 * ```
 */
export function keepMemory(array: ArrayBufferView): () => void {
  keptBytes += array.byteLength;
  const token = {};
  released.register(array, array.byteLength, token);
  // To let go of it before the collector does (once): off the count and out of the registry.
  let live = true;
  return () => {
    if (live && released.unregister(token)) keptBytes -= array.byteLength;
    live = false;
  };
}

/** Bytes of the arrays recorded by {@link keepMemory} that are still alive (as far as the collector has said). */
export function keptMemory(): number {
  return keptBytes;
}

/** The process's resident bytes now (0 where Deno cannot tell). */
export function residentBytes(): number {
  try {
    return Deno.memoryUsage().rss;
  } catch {
    return 0;
  }
}

/**
 * Throws a HansError unless `bytes` more fit in the run's memory budget ({@link memoryBudget}) on top of
 * what the process holds now (its resident size). Called before an allocation whose size is known from a
 * header, a declared shape or a count: a decoded image, a data set, a parsed file, a manifest's weights.
 * `what` names the allocation ("the images of folder cats/"), `fix` says what to do besides raising the
 * budget; `kind` `data` is for data sets, which stay for the whole run: they may take at most
 * {@link dataBudget}.
 *
 * @example
 * ```ts
 * checkMemory(28 * 28 * 4 * 1000, "1000 MNIST images"); // fits any budget
 * ```
 */
export function checkMemory(bytes: number, what: string, fix = "", kind: "any" | "data" = "any"): void {
  const budget = memoryBudget();
  const or = fix ? `${fix}, or ` : "";
  const data = dataBudget(budget.bytes);
  if (kind === "data" && keptBytes + bytes > data) {
    const kept = keptBytes > 0 ? ` (with the ${megabytes(keptBytes)} of data the run keeps already)` : "";
    throw new HansError(
      `${what} would take ${megabytes(bytes)}${kept}, more than the ${
        megabytes(data)
      } that data may take of ` +
        `the run's ${megabytes(budget.bytes)} memory budget (the rest is for the process and the model's ` +
        `passes); ${or}raise HANS_MAX_MEMORY_MB.`,
    );
  }
  const held = residentBytes();
  if (held + bytes <= budget.bytes) return;
  throw new HansError(
    `${what} would take ${megabytes(bytes)}, and the run holds ${megabytes(held)} of its ${
      megabytes(budget.bytes)
    } memory budget; ${or}raise HANS_MAX_MEMORY_MB.`,
  );
}

/**
 * Bytes the batch planner takes the process to hold besides its tensors and data (compiled shaders, code,
 * the allocator's slack; see `heldBytes` in `src/backend.ts`).
 */
export const PROCESS_ALLOWANCE = 640 * 2 ** 20;

/**
 * Bytes a run's data sets may take of a memory budget of `budget` bytes: a third of what is left after
 * {@link PROCESS_ALLOWANCE}, so that the model's passes, tfjs's buffer pool and wasm's heap (which never
 * shrinks) have the rest (469 MB of 2 GB, 128 MB of 1 GB).
 *
 * @example
 * ```ts
 * dataBudget(2048 * 2 ** 20) / 2 ** 20; // 469.33…
 * ```
 */
export function dataBudget(budget: number = memoryBudget().bytes): number {
  return Math.max(0, budget - PROCESS_ALLOWANCE) / 3;
}
