/** Shared builders for the data tests: temporary folders, CIFAR records, tar and gzip bytes, PNG files. */
import { encodePngPixels } from "../../src/deps.ts";

/** Runs `body` with a fresh temporary folder and removes the folder afterwards. */
export async function withTempDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "hans-data-test-" });
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The known byte of record `r`, channel `c`, pixel `p` in the CIFAR test batches. */
export function cifarByte(r: number, c: number, p: number): number {
  return (p * 3 + c * 101 + r * 17) % 256;
}

/** A CIFAR-10 binary batch with the given labels and pixel bytes from `cifarByte(first + i, ...)`. */
export function cifarBatch(labels: number[], first = 0): Uint8Array {
  const bytes = new Uint8Array(labels.length * 3073);
  labels.forEach((label, i) => {
    bytes[i * 3073] = label;
    for (let c = 0; c < 3; c++) {
      for (let p = 0; p < 1024; p++) bytes[i * 3073 + 1 + c * 1024 + p] = cifarByte(first + i, c, p);
    }
  });
  return bytes;
}

/** An uncompressed ustar archive of `files` (paths up to 100 bytes; `type` defaults to "0", a file). */
export function tarBytes(files: { path: string; data: Uint8Array; type?: string }[]): Uint8Array {
  const blocks: Uint8Array[] = [];
  const ascii = new TextEncoder();
  for (const { path, data, type = "0" } of files) {
    const header = new Uint8Array(512);
    const put = (offset: number, text: string) => header.set(ascii.encode(text), offset);
    put(0, path);
    put(100, "0000644\0");
    put(108, "0000000\0");
    put(116, "0000000\0");
    put(124, data.length.toString(8).padStart(11, "0") + "\0");
    put(136, "00000000000\0");
    put(148, "        ");
    put(156, type);
    put(257, "ustar\0");
    put(263, "00");
    const sum = header.reduce((a, b) => a + b, 0);
    put(148, sum.toString(8).padStart(6, "0") + "\0 ");
    blocks.push(header);
    const padded = new Uint8Array(Math.ceil(data.length / 512) * 512);
    padded.set(data);
    blocks.push(padded);
  }
  blocks.push(new Uint8Array(1024));
  const out = new Uint8Array(blocks.reduce((n, b) => n + b.length, 0));
  let offset = 0;
  for (const block of blocks) {
    out.set(block, offset);
    offset += block.length;
  }
  return out;
}

/** Gzip-compresses `bytes` with CompressionStream. */
export async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
    new CompressionStream("gzip"),
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/**
 * Writes a PNG of `width x height` whose pixel `(x, y)` has the RGBA value `color(x, y)` (at zlib level 6:
 * imagescript's encoder without a level writes image data that no decoder reads once it passes about 64 KB).
 */
export async function writePng(
  file: string,
  width: number,
  height: number,
  color: (x: number, y: number) => [number, number, number, number],
): Promise<void> {
  const rgba = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) rgba.set(color(x, y), (y * width + x) * 4);
  }
  await Deno.writeFile(file, encodePngPixels(rgba, { width, height, channels: 4, level: 6 }));
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

/** The CRC-32 of `bytes` (as PNG chunks and zip use it). */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** One PNG chunk: length, type, data, CRC. */
export function pngChunk(type: string, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  out.set(new TextEncoder().encode(type), 4);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/** The parts joined into one array. */
export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** zlib-compresses `bytes` (a PNG's image data) with CompressionStream. */
export async function zlibBytes(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
    new CompressionStream("deflate"),
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/**
 * An indexed-colour 4x2 PNG whose pixel i has palette index i, with `palette` as its PLTE chunk (none when
 * empty) and `extra` chunks between PLTE and the image data.
 */
export async function indexedPng(palette: Uint8Array, ...extra: Uint8Array[]): Promise<Uint8Array> {
  const ihdr = new Uint8Array(13);
  const view = new DataView(ihdr.buffer);
  view.setUint32(0, 4);
  view.setUint32(4, 2);
  ihdr.set([8, 3, 0, 0, 0], 8);
  const rows = Uint8Array.of(0, 0, 1, 2, 3, 0, 4, 5, 6, 7); // filter byte 0, then 4 indices per row
  return concatBytes(
    Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a),
    pngChunk("IHDR", ihdr),
    ...(palette.length ? [pngChunk("PLTE", palette)] : []),
    ...extra,
    pngChunk("IDAT", await zlibBytes(rows)),
    pngChunk("IEND"),
  );
}
