/**
 * Just enough of gzip and tar to read the files out of a `.tar.gz` archive held in memory (ustar, GNU long
 * names and pax paths; regular files only).
 * @module
 */
import { HansError } from "../errors.ts";
import { collect, inflate } from "./read.ts";

/** One regular file of a tar archive. */
export interface TarEntry {
  /** Path inside the archive, e.g. `cifar-10-batches-bin/data_batch_1.bin`. */
  path: string;
  /** The file's bytes (a view into the archive). */
  data: Uint8Array;
}

/** True when `bytes` starts with the gzip magic number. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/**
 * Decompresses gzip data, streamed and stopped as soon as the output passes the read limit
 * (`HANS_MAX_READ_MB`); throws a `HansError` naming `name` when it is broken, cut short or too large.
 */
export async function gunzip(bytes: Uint8Array, name: string): Promise<Uint8Array> {
  try {
    return await collect(
      inflate(new Blob([bytes as Uint8Array<ArrayBuffer>]).stream(), "gzip"),
      `${name} (decompressed)`,
    );
  } catch (error) {
    if (error instanceof HansError) throw error;
    throw new HansError(
      `${name}: the gzip data is broken (${(error as Error).message}); download the archive again.`,
      { cause: error },
    );
  }
}

/** Lists the regular files of an uncompressed tar archive; throws a `HansError` on a broken header. */
export function readTar(bytes: Uint8Array, name: string): TarEntry[] {
  const entries: TarEntry[] = [];
  let longPath: string | undefined;
  for (let offset = 0; offset + 512 <= bytes.length;) {
    const header = bytes.subarray(offset, offset + 512);
    if (header.every((b) => b === 0)) break;
    if (checksum(header) !== octal(header.subarray(148, 156))) {
      throw new HansError(`${name}: not a tar archive (bad header checksum at byte ${offset}).`);
    }
    const size = header[124] & 0x80 ? base256(header.subarray(125, 136)) : octal(header.subarray(124, 136));
    if (!Number.isSafeInteger(size)) {
      throw new HansError(
        `${name}: not a tar archive (unreadable file size in the header at byte ${offset}).`,
      );
    }
    const start = offset + 512;
    if (start + size > bytes.length) {
      throw new HansError(`${name}: the archive is cut short; download it again.`);
    }
    const data = bytes.subarray(start, start + size);
    const type = String.fromCharCode(header[156]);
    if (type === "L") longPath = text(data);
    else if (type === "x") longPath = paxPath(data) ?? longPath;
    else if (type === "0" || type === "\0" || type === "7") {
      const prefix = text(header.subarray(345, 500));
      const path = longPath ?? (prefix ? `${prefix}/` : "") + text(header.subarray(0, 100));
      entries.push({ path, data });
      longPath = undefined;
    } else longPath = undefined;
    offset = start + Math.ceil(size / 512) * 512;
  }
  return entries;
}

function text(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return new TextDecoder().decode(end < 0 ? bytes : bytes.subarray(0, end));
}

function octal(bytes: Uint8Array): number {
  const digits = text(bytes).trim();
  return /^[0-7]+$/.test(digits) ? parseInt(digits, 8) : NaN;
}

function base256(bytes: Uint8Array): number {
  return bytes.reduce((value, b) => value * 256 + b, 0);
}

function checksum(header: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i];
  return sum;
}

/** The `path` record of a pax extended header ("<length> path=<value>\n"), if any. */
function paxPath(data: Uint8Array): string | undefined {
  for (const line of new TextDecoder().decode(data).split("\n")) {
    const match = /^\d+ path=(.*)$/.exec(line);
    if (match) return match[1];
  }
  return undefined;
}
