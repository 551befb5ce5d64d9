/**
 * Bounded reading: regular files only (no FIFOs, devices or sockets; a symlink counts as what it points to),
 * checked before opening, and never more than {@link maxReadBytes} bytes, stopped as soon as it is passed.
 * @module
 */
import { HansError } from "../errors.ts";
import { maxReadBytes, megabytes, readLimitHint } from "../limits.ts";

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
  if (!info.isFile) {
    throw new HansError(`${what} ${path} is ${kindOf(info)}; hans reads regular files only.`);
  }
  if (info.size > maxReadBytes()) {
    throw new HansError(`${what} ${path} is ${megabytes(info.size)}; ${readLimitHint()}.`);
  }
  return info;
}

/**
 * The bytes of the regular file `path`, at most {@link maxReadBytes} of them (a file that grows past the limit
 * while being read stops at the limit with a HansError). `what` names the file in messages ("--labels").
 *
 * @example
 * ```ts
 * const bytes = await readFileBounded("model/weights.bin", "weights file");
 * ```
 */
export async function readFileBounded(path: string | URL, what = "file"): Promise<Uint8Array> {
  await checkRegularFile(path, what);
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (e) {
    throw new HansError(`${what} ${path} cannot be read (${(e as Error).message}).`);
  }
  try {
    return await collect(file.readable, `${what} ${path}`);
  } finally {
    try {
      file.close();
    } catch {
      // closed by the stream already
    }
  }
}

/** The text of the regular file `path` (UTF-8), bounded as {@link readFileBounded}. */
export async function readTextBounded(path: string | URL, what = "file"): Promise<string> {
  return new TextDecoder().decode(await readFileBounded(path, what));
}

/**
 * Reads a byte stream to its end, throwing a HansError naming `what` as soon as it passes
 * {@link maxReadBytes} (the stream is cancelled, so a download or decompression stops there).
 */
export async function collect(stream: ReadableStream<Uint8Array>, what: string): Promise<Uint8Array> {
  const limit = maxReadBytes();
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > limit) {
        await reader.cancel().catch(() => {});
        throw new HansError(`${what} holds more than ${megabytes(limit)}; ${readLimitHint()}.`);
      }
      chunks.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.length;
  }
  return out;
}
