/**
 * Bounded reading: regular files only (no FIFOs, devices or sockets; a symlink counts as what it points to),
 * checked before opening, and never more than {@link maxReadBytes} bytes, stopped as soon as it is passed.
 * @module
 */
import { HansError } from "../errors.ts";
import { checkMemory, maxReadBytes, megabytes, readLimitHint } from "../limits.ts";

function kindOf(info: Deno.FileInfo): string {
  if (info.isDirectory) return "a folder";
  if (info.isFifo) return "a FIFO";
  if (info.isCharDevice || info.isBlockDevice) return "a device";
  if (info.isSocket) return "a socket";
  return "not a regular file";
}

/** Throws a HansError unless `path` is a regular file (after following symlinks) within the read limit. */
export async function checkRegularFile(path: string | URL, what = "file"): Promise<Deno.FileInfo> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new HansError(`${what} ${path} does not exist.`);
    throw new HansError(`${what} ${path} cannot be read (${(e as Error).message}).`);
  }
  return checkInfo(info, path, what);
}

/** `info` when it is a regular file within the read limit; a HansError naming `what` otherwise. */
function checkInfo(info: Deno.FileInfo, path: string | URL, what: string): Deno.FileInfo {
  if (!info.isFile) {
    throw new HansError(`${what} ${path} is ${kindOf(info)}; hans reads regular files only.`);
  }
  if (info.size > maxReadBytes()) {
    throw new HansError(`${what} ${path} is ${megabytes(info.size)}; ${readLimitHint()}.`);
  }
  return info;
}

/**
 * The bytes of the regular file `path`, at most {@link maxReadBytes} of them (a file that grows while being
 * read is refused with a HansError), and only when its size fits the run's memory budget
 * (`checkMemory`). `what` names the file in messages ("--labels"). The opened file is checked again: a path
 * swapped for a FIFO or a device between the check and the open is refused, and an open that blocks (a FIFO
 * waits for a writer) gives up after {@link OPEN_TIMEOUT_MS}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { join } from "node:path";
 *
 * const path = join(await Deno.makeTempDir(), "weights.bin");
 * await Deno.writeFile(path, Uint8Array.of(1, 2, 3));
 * const bytes = await readFileBounded(path, "weights file");
 * assert.deepEqual(Array.from(bytes), [1, 2, 3]);
 * ```
 */
export async function readFileBounded(path: string | URL, what = "file"): Promise<Uint8Array> {
  const checked = await checkRegularFile(path, what);
  checkMemory(checked.size, `reading ${what} ${path}`);
  const file = await openRegularFile(path, what);
  try {
    // The opened file itself, whatever the path names by now.
    const info = checkInfo(await file.stat(), path, what);
    // Straight into one buffer of the file's size (a stream would leave 64 KB of garbage per file).
    const bytes = new Uint8Array(info.size);
    let total = 0;
    while (total < bytes.length) {
      const n = await file.read(bytes.subarray(total));
      if (n === null) break;
      total += n;
    }
    if (total < bytes.length) return bytes.subarray(0, total); // it shrank meanwhile
    if (await file.read(new Uint8Array(1)) !== null) {
      throw new HansError(`${what} ${path} grew while hans read it; read it once it is complete.`);
    }
    return bytes;
  } finally {
    try {
      file.close();
    } catch {
      // closed already
    }
  }
}

/** How long opening a checked regular file may take before hans gives up (it became a FIFO, say). */
export const OPEN_TIMEOUT_MS = 10_000;

/**
 * Opens `path` for reading, giving up with a HansError when the open blocks for `timeoutMs` (default
 * {@link OPEN_TIMEOUT_MS}), as opening a FIFO does until something writes to it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { join } from "node:path";
 *
 * const path = join(await Deno.makeTempDir(), "weights.bin");
 * await Deno.writeFile(path, Uint8Array.of(1, 2, 3));
 * using file = await openRegularFile(path, "weights file");
 * assert.equal((await file.stat()).size, 3);
 * ```
 */
export async function openRegularFile(
  path: string | URL,
  what: string,
  timeoutMs: number = OPEN_TIMEOUT_MS,
): Promise<Deno.FsFile> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const opening = Deno.open(path, { read: true });
  const blocked = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new HansError(
            `${what} ${path} did not open within ${timeoutMs / 1000} s (was it replaced by a FIFO?); ` +
              `hans reads regular files only.`,
          ),
        ),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([opening, blocked]);
  } catch (e) {
    if (e instanceof HansError) {
      opening.then((f) => f.close(), () => {}); // should it open after all
      throw e;
    }
    throw new HansError(`${what} ${path} cannot be read (${(e as Error).message}).`);
  } finally {
    clearTimeout(timer);
  }
}

/** Bytes {@link collect} starts with when it is not told the size to expect. */
const FIRST_CAPACITY = 64 * 1024;

/**
 * Reads a byte stream to its end, throwing a HansError naming `what` as soon as it passes
 * {@link maxReadBytes} (the stream is cancelled, so a download or decompression stops there).
 *
 * The bytes are copied into one buffer as they come (a stream's chunks are often small views of larger
 * buffers, and keeping them would hold several times the data): `expectedSize` (a Content-Length, a file's
 * size), when given, is allocated at once; otherwise, or when the stream turns out longer, the buffer doubles,
 * never past the limit. The result is a view of that buffer, exactly as long as the data.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const bytes = await collect(new Blob(["abc", "def"]).stream(), "example", 6);
 * assert.equal(new TextDecoder().decode(bytes), "abcdef");
 * ```
 */
export async function collect(
  stream: ReadableStream<Uint8Array>,
  what: string,
  expectedSize?: number,
): Promise<Uint8Array> {
  const limit = maxReadBytes();
  const expected = expectedSize !== undefined && Number.isFinite(expectedSize) && expectedSize >= 0
    ? Math.floor(expectedSize)
    : undefined;
  if (expected !== undefined) {
    try {
      checkMemory(Math.min(limit, expected), `reading ${what}`);
    } catch (e) {
      await stream.cancel().catch(() => {});
      throw e;
    }
  }
  let buffer = new Uint8Array(Math.min(limit, expected ?? FIRST_CAPACITY));
  let total = 0;
  const reader = stream.getReader();
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      const end = total + value.length;
      if (end > limit) {
        await reader.cancel().catch(() => {});
        throw new HansError(`${what} holds more than ${megabytes(limit)}; ${readLimitHint()}.`);
      }
      if (end > buffer.length) {
        // Doubling from a power of two keeps the last copy at half the limit plus the limit.
        let capacity = Math.max(FIRST_CAPACITY, 2 * buffer.length);
        while (capacity < end) capacity *= 2;
        const grown = new Uint8Array(Math.min(limit, capacity));
        grown.set(buffer.subarray(0, total));
        // The outgrown buffer is collect's own: freed now rather than whenever the garbage collector runs.
        (buffer.buffer as ArrayBuffer).transfer?.(0);
        buffer = grown;
      }
      buffer.set(value, total);
      total = end;
    }
  } finally {
    reader.releaseLock();
  }
  return total === buffer.length ? buffer : buffer.subarray(0, total);
}

/**
 * Compressed bytes fed to the decompressor at once: a slice of 16 KB inflates to at most about 16 MB, so the
 * read limit stops a gzip bomb within one slice of it.
 */
const INFLATE_SLICE = 16384;

/**
 * `body` decompressed, fed to the decompressor in slices of at most {@link INFLATE_SLICE} bytes. Each
 * decompressed chunk (up to about 16 MB) is freed as soon as the next one is asked for: `collect` has copied
 * it by then (why: docs/hardening.md, "Bounded reads"). Read it with {@link collect}, which stops at the read
 * limit.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * const gz = await new Response(new Blob(["hello"]).stream().pipeThrough(new CompressionStream("gzip"))).bytes();
 * const bytes = await collect(inflate(new Blob([gz]).stream(), "gzip"), "data.gz (decompressed)");
 * assert.equal(new TextDecoder().decode(bytes), "hello");
 * ```
 */
export function inflate(
  body: ReadableStream<Uint8Array>,
  format: "gzip" | "deflate",
): ReadableStream<Uint8Array> {
  const slices = new TransformStream<Uint8Array, Uint8Array<ArrayBuffer>>({
    transform(chunk, controller) {
      for (let offset = 0; offset < chunk.length; offset += INFLATE_SLICE) {
        controller.enqueue(chunk.slice(offset, offset + INFLATE_SLICE) as Uint8Array<ArrayBuffer>);
      }
    },
  });
  const reader = body.pipeThrough(slices).pipeThrough(new DecompressionStream(format)).getReader();
  let given: Uint8Array | undefined;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      // The decompressor's chunks are fresh buffers of their own: freeing one touches nothing else.
      if (given && given.byteOffset === 0 && given.byteLength === given.buffer.byteLength) {
        (given.buffer as ArrayBuffer).transfer?.(0);
      }
      given = undefined;
      const { done, value } = await reader.read();
      if (done) return controller.close();
      given = value;
      controller.enqueue(value);
    },
    cancel: (reason) => reader.cancel(reason),
  }, { highWaterMark: 0 });
}
