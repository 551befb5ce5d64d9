/**
 * The fuzz targets of `fuzz_test.ts`: for each parser, valid seed inputs, and a generator that turns a case
 * seed into one input (random bytes, or a seed input with bit flips, truncations, extensions and header
 * fields overwritten with huge or zero values), plus the call that feeds the input to the parser.
 * @module
 */
import { parseCifarBatch } from "../../src/data/cifar10.ts";
import { decodeImageBytes } from "../../src/data/decode_image.ts";
import { parseFashionClassFile } from "../../src/data/fashion_mnist.ts";
import { parseIdx } from "../../src/data/idx.ts";
import { gunzip, readTar } from "../../src/data/tar.ts";
import { encodePngPixels } from "../../src/deps.ts";
import { parseModelJson, readWeights, weightsByteLength } from "../../src/model/io.ts";
import type { Rng } from "../../src/rng.ts";
import { cifarBatch, gzip, tarBytes } from "../data/helpers.ts";

/** One parser under fuzz. */
export interface FuzzTarget {
  /** Name of the target, as in the test step. */
  name: string;
  /** Builds the valid seed inputs (once per worker). */
  seeds(): Promise<Uint8Array[]>;
  /** The input of one case: deterministic in `rng` and the seeds. */
  input(rng: Rng, seeds: Uint8Array[]): Uint8Array;
  /** Feeds the input to the parser; may throw only a HansError. */
  run(input: Uint8Array): Promise<unknown>;
}

/** Values that break size arithmetic when written into a header field. */
const HUGE_U32 = [0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0xfffffffe, 16384, 16385, 65535, 0x10000];

function pick<T>(rng: Rng, items: readonly T[]): T {
  return items[rng.int(items.length)];
}

function randomBytes(rng: Rng, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = rng.int(256);
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

function writeU32(bytes: Uint8Array, offset: number, value: number, littleEndian = false): void {
  if (offset < 0 || offset + 4 > bytes.length) return;
  new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).setUint32(offset, value >>> 0, littleEndian);
}

function writeU16(bytes: Uint8Array, offset: number, value: number): void {
  if (offset < 0 || offset + 2 > bytes.length) return;
  new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).setUint16(offset, value & 0xffff);
}

/**
 * A generic byte mutation of `seed`: bit flips, byte overwrites, truncation, extension (random bytes or a
 * repeat of the seed), a removed or duplicated slice; 1 to 3 of them stacked.
 */
export function mutateBytes(rng: Rng, seed: Uint8Array): Uint8Array {
  let bytes: Uint8Array = seed.slice();
  const rounds = 1 + rng.int(3);
  for (let r = 0; r < rounds; r++) {
    const n = bytes.length;
    switch (rng.int(7)) {
      case 0: { // bit flips
        const flips = 1 + rng.int(8);
        for (let i = 0; i < flips && n > 0; i++) bytes[rng.int(n)] ^= 1 << rng.int(8);
        break;
      }
      case 1: // byte overwrites with extreme values
        for (let i = 0; i < 1 + rng.int(4) && n > 0; i++) {
          bytes[rng.int(n)] = pick(rng, [0, 0xff, 0x7f, 0x80]);
        }
        break;
      case 2: // truncation
        bytes = bytes.subarray(0, rng.int(n + 1)).slice();
        break;
      case 3: // extension with random bytes
        bytes = concat(bytes, randomBytes(rng, 1 + rng.int(64)));
        break;
      case 4: // extension with zeros or a repeat
        bytes = concat(bytes, rng.next() < 0.5 ? new Uint8Array(1 + rng.int(1024)) : bytes);
        break;
      case 5: { // a slice removed
        const a = rng.int(n + 1);
        const b = a + rng.int(n - a + 1);
        bytes = concat(bytes.subarray(0, a), bytes.subarray(b));
        break;
      }
      default: { // a slice duplicated
        const a = rng.int(n + 1);
        const b = a + rng.int(Math.min(64, n - a) + 1);
        bytes = concat(bytes.subarray(0, b), bytes.subarray(a, b), bytes.subarray(b));
      }
    }
  }
  return bytes;
}

/** Overwrites a 32-bit field at one of `offsets` (big-endian) with a huge, zero or boundary value. */
function overwriteU32(rng: Rng, seed: Uint8Array, offsets: number[], littleEndian = false): Uint8Array {
  const bytes = seed.slice();
  writeU32(bytes, pick(rng, offsets), pick(rng, HUGE_U32), littleEndian);
  return bytes;
}

/** Random bytes, mostly short, sometimes starting with `prefix` so that they pass the first check. */
function randomInput(rng: Rng, prefix: Uint8Array): Uint8Array {
  const body = randomBytes(rng, rng.int(rng.next() < 0.8 ? 256 : 8192));
  return rng.next() < 0.5 ? concat(prefix, body) : body;
}

/** Picks one strategy: random bytes, a generic mutation, or a target-specific one (`special`). */
function choose(
  rng: Rng,
  seeds: Uint8Array[],
  prefix: Uint8Array,
  special: (seed: Uint8Array) => Uint8Array,
): Uint8Array {
  const seed = pick(rng, seeds);
  const u = rng.next();
  if (u < 0.15) return randomInput(rng, prefix);
  if (u < 0.2) return seed.slice();
  if (u < 0.6) return mutateBytes(rng, seed);
  const out = special(seed);
  return rng.next() < 0.3 ? mutateBytes(rng, out) : out;
}

// ---------------------------------------------------------------------------------------------- IDX

function idxFile(dims: number[]): Uint8Array {
  const size = dims.reduce((a, b) => a * b, 1);
  const out = new Uint8Array(4 + 4 * dims.length + size);
  out[2] = 0x08;
  out[3] = dims.length;
  dims.forEach((d, i) => writeU32(out, 4 + 4 * i, d));
  for (let i = 0; i < size; i++) out[4 + 4 * dims.length + i] = (i * 7) & 0xff;
  return out;
}

const idx: FuzzTarget = {
  name: "parseIdx",
  seeds: () => Promise.resolve([idxFile([5]), idxFile([3, 28, 28]), idxFile([2, 3, 4, 5])]),
  input: (rng, seeds) =>
    choose(rng, seeds, Uint8Array.of(0, 0, 8, 1 + rng.int(4)), (seed) => {
      if (rng.next() < 0.2) {
        const bytes = seed.slice();
        bytes[3] = pick(rng, [0, 1, 4, 0x7f, 0xff]);
        return bytes;
      }
      return overwriteU32(rng, seed, [4, 8, 12, 16]);
    }),
  run: (input) => Promise.resolve(parseIdx(input, "fuzz.idx")),
};

// ---------------------------------------------------------------------------------------------- CIFAR-10

const RECORD = 3073;

const cifar: FuzzTarget = {
  name: "parseCifarBatch",
  seeds: () => Promise.resolve([cifarBatch([3]), cifarBatch([0, 9, 5])]),
  input: (rng, seeds) =>
    choose(rng, seeds, new Uint8Array(0), (seed) => {
      const bytes = rng.next() < 0.5 ? concat(seed, randomBytes(rng, RECORD)) : seed.slice();
      // a label byte of some record set out of range, or to its edge
      bytes[RECORD * rng.int(bytes.length / RECORD)] = pick(rng, [9, 10, 0xff, 0x80]);
      return bytes;
    }),
  run: (input) => Promise.resolve(parseCifarBatch(input, "fuzz.bin")),
};

// ---------------------------------------------------------------------------------------------- PNG and JPEG

function pngSeed(width: number, height: number, channels: 1 | 2 | 3 | 4, level: number): Uint8Array {
  const pixels = new Uint8Array(width * height * channels);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 37 + (i >> 3)) & 0xff;
  return encodePngPixels(pixels, { width, height, channels, level });
}

/** Byte offsets of the length field of every chunk of a PNG (stops at a broken one). */
function pngChunkOffsets(bytes: Uint8Array): number[] {
  const offsets: number[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let offset = 8; offset + 12 <= bytes.length;) {
    offsets.push(offset);
    offset += 12 + view.getUint32(offset);
  }
  return offsets;
}

/** A PNG chunk with its CRC computed, so that only its content is wrong. */
function pngChunk(type: string, data: Uint8Array, declaredLength = data.length): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  writeU32(out, 0, declaredLength);
  out.set(new TextEncoder().encode(type), 4);
  out.set(data, 8);
  return out;
}

function mutatePng(rng: Rng, seed: Uint8Array): Uint8Array {
  const bytes = seed.slice();
  switch (rng.int(5)) {
    case 0: // width or height
      writeU32(bytes, pick(rng, [16, 20]), pick(rng, HUGE_U32));
      if (rng.next() < 0.5) writeU32(bytes, pick(rng, [16, 20]), pick(rng, HUGE_U32));
      return bytes;
    case 1: // depth, colour type, compression, filter, interlace
      bytes[24 + rng.int(5)] = pick(rng, [0, 1, 2, 3, 4, 6, 7, 8, 16, 0xff]);
      return bytes;
    case 2: // some chunk's length field
      return overwriteU32(rng, bytes, pngChunkOffsets(bytes));
    case 3: { // a palette or transparency chunk after IHDR, maybe claiming a huge length
      const type = pick(rng, ["PLTE", "tRNS", "IDAT", "IEND", "zzzz"]);
      const data = randomBytes(rng, rng.int(64));
      const declared = rng.next() < 0.5 ? data.length : pick(rng, HUGE_U32);
      if (rng.next() < 0.5) bytes[25] = 3; // indexed colour
      return concat(bytes.subarray(0, 33), pngChunk(type, data, declared), bytes.subarray(33));
    }
    default: { // the image data chunk cut or padded
      const idat = bytes.length - 12 - 12; // seeds hold IHDR, one IDAT, IEND
      return concat(bytes.subarray(0, 33 + rng.int(idat + 12)), randomBytes(rng, rng.int(32)));
    }
  }
}

const png: FuzzTarget = {
  name: "decodeImageBytes (PNG)",
  seeds: () =>
    Promise.resolve([
      pngSeed(5, 4, 1, 0),
      pngSeed(6, 3, 2, 9),
      pngSeed(8, 8, 3, 6),
      pngSeed(7, 5, 4, 9),
      pngSeed(32, 32, 4, 0),
    ]),
  input: (rng, seeds) => choose(rng, seeds, seeds[0].subarray(0, 33), (seed) => mutatePng(rng, seed)),
  run: (input) => decodeImageBytes(input, "fuzz.png"),
};

/** Offsets of the markers (the 0xFF byte) of a JPEG's header segments, up to the scan. */
function jpegSegments(bytes: Uint8Array): { offset: number; marker: number }[] {
  const out: { offset: number; marker: number }[] = [];
  for (let offset = 2; offset + 4 <= bytes.length && bytes[offset] === 0xff;) {
    const marker = bytes[offset + 1];
    out.push({ offset, marker });
    if (marker === 0xda) break;
    offset += 2 + ((bytes[offset + 2] << 8) | bytes[offset + 3]);
  }
  return out;
}

function mutateJpeg(rng: Rng, seed: Uint8Array): Uint8Array {
  const bytes = seed.slice();
  const segments = jpegSegments(bytes);
  const sof = segments.find((s) => s.marker === 0xc0 || s.marker === 0xc2);
  switch (rng.int(4)) {
    case 0: // height and width of the frame
      if (sof) {
        writeU16(bytes, sof.offset + 5, pick(rng, [0, 1, 0xffff, 0x7fff, 16384, 16385, 8192]));
        if (rng.next() < 0.7) writeU16(bytes, sof.offset + 7, pick(rng, [0, 1, 0xffff, 0x7fff, 16384, 8192]));
      }
      return bytes;
    case 1: // components, precision, sampling factors
      if (sof) bytes[sof.offset + 4 + pick(rng, [0, 5, 7, 8, 10])] = pick(rng, [0, 1, 3, 4, 12, 0x44, 0xff]);
      return bytes;
    case 2: { // some segment's length
      const s = pick(rng, segments);
      if (s) writeU16(bytes, s.offset + 2, pick(rng, [0, 1, 2, 0xffff, 0x8000]));
      return bytes;
    }
    default: { // cut inside the entropy-coded data, maybe without the end marker
      const scan = segments.find((s) => s.marker === 0xda)?.offset ?? 2;
      return bytes.subarray(0, scan + rng.int(bytes.length - scan + 1)).slice();
    }
  }
}

const jpeg: FuzzTarget = {
  name: "decodeImageBytes (JPEG)",
  seeds: async () => {
    const fixture = await Deno.readFile(new URL("../fixtures/blue_8x6.jpg", import.meta.url));
    return [fixture];
  },
  input: (rng, seeds) => choose(rng, seeds, Uint8Array.of(0xff, 0xd8, 0xff), (seed) => mutateJpeg(rng, seed)),
  run: (input) => decodeImageBytes(input, "fuzz.jpg"),
};

// ---------------------------------------------------------------------------------------------- tar and gzip

/** Rewrites a tar header's checksum so that the header passes that check and its other fields are parsed. */
function fixChecksum(bytes: Uint8Array, offset: number): void {
  if (offset + 512 > bytes.length) return;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : bytes[offset + i];
  bytes.set(new TextEncoder().encode(sum.toString(8).padStart(6, "0") + "\0 "), offset + 148);
}

function mutateTar(rng: Rng, seed: Uint8Array): Uint8Array {
  const bytes = seed.slice();
  const header = 512 * rng.int(Math.max(1, Math.floor(bytes.length / 512) - 2));
  if (header + 512 > bytes.length) return bytes;
  const put = (offset: number, text: string) => bytes.set(new TextEncoder().encode(text), header + offset);
  switch (rng.int(4)) {
    case 0: // size: huge octal, garbage, empty
      put(124, pick(rng, ["77777777777\0", "99999999999\0", "           \0", "\0\0\0\0", "-1\0", "0\0"]));
      break;
    case 1: // size in base-256, huge
      bytes[header + 124] = 0x80;
      for (let i = 125; i < 136; i++) bytes[header + i] = pick(rng, [0, 0xff, 0x7f]);
      break;
    case 2: // type: long name, pax, directory, unknown
      bytes[header + 156] = pick(rng, ["L", "x", "g", "5", "7", "\0", "K"]).charCodeAt(0);
      break;
    default: // name and prefix without terminator, or with broken UTF-8
      for (let i = 0; i < 100; i++) bytes[header + i] = 0xc3;
      for (let i = 345; i < 500; i++) bytes[header + i] = rng.next() < 0.5 ? 0xff : 0x41;
  }
  fixChecksum(bytes, header);
  return bytes;
}

function tarSeeds(): Uint8Array[] {
  const small = new Uint8Array(700).map((_, i) => i & 0xff);
  return [
    tarBytes([{ path: "a.bin", data: small }, { path: "dir/b.bin", data: new Uint8Array(3) }]),
    tarBytes([
      { path: "././@LongLink", data: new TextEncoder().encode("very/long/name.bin\0"), type: "L" },
      { path: "short", data: small.subarray(0, 10) },
      { path: "pax", data: new TextEncoder().encode("27 path=cifar/test_batch.bin\n"), type: "x" },
      { path: "x", data: new Uint8Array(0) },
    ]),
  ];
}

const tar: FuzzTarget = {
  name: "readTar and gunzip",
  seeds: async () => {
    const tars = tarSeeds();
    return [...tars, ...await Promise.all(tars.map(gzip))];
  },
  input: (rng, seeds) =>
    choose(rng, seeds, Uint8Array.of(0x1f, 0x8b, 8, 0), (seed) => {
      if (seed[0] === 0x1f) return overwriteU32(rng, seed, [seed.length - 4, seed.length - 8, 4], true);
      return mutateTar(rng, seed);
    }),
  run: async (input) => {
    const bytes = input[0] === 0x1f && input[1] === 0x8b ? await gunzip(input, "fuzz.tar.gz") : input;
    return readTar(bytes, "fuzz.tar");
  },
};

// ---------------------------------------------------------------------------------------------- JSON

/** Values that a JSON field should not hold. */
const ODD_JSON: unknown[] = [
  null,
  -1,
  0,
  1.5,
  1e308,
  -1e308,
  2 ** 32,
  "",
  "x",
  "constructor",
  "__proto__",
  "toString",
  [],
  [null],
  [[]],
  {},
  { length: 1e9 },
  true,
];

/** Replaces, removes or duplicates one value somewhere inside `value` (a parsed JSON tree). */
function mutateJson(rng: Rng, value: unknown): unknown {
  if (value === null || typeof value !== "object" || rng.next() < 0.15) return pick(rng, ODD_JSON);
  if (Array.isArray(value)) {
    const copy = [...value];
    if (copy.length === 0 || rng.next() < 0.1) copy.push(pick(rng, ODD_JSON));
    else {
      const i = rng.int(copy.length);
      const u = rng.next();
      if (u < 0.1) copy.splice(i, 1);
      else if (u < 0.2) copy.splice(i, 0, copy[i]);
      else copy[i] = mutateJson(rng, copy[i]);
    }
    return copy;
  }
  const copy: Record<string, unknown> = { ...value as Record<string, unknown> };
  const keys = Object.keys(copy);
  if (keys.length === 0 || rng.next() < 0.1) {
    // defineProperty: a plain assignment to "__proto__" would set the prototype, not a key
    Object.defineProperty(copy, pick(rng, ["__proto__", "constructor", "extra"]), {
      value: pick(rng, ODD_JSON),
      enumerable: true,
      writable: true,
      configurable: true,
    });
    return copy;
  }
  const key = pick(rng, keys);
  if (rng.next() < 0.15) delete copy[key];
  else copy[key] = mutateJson(rng, copy[key]);
  return copy;
}

/** JSON text: a structural mutation, a byte mutation of the text, or random bytes. */
function jsonInput(rng: Rng, seeds: Uint8Array[]): Uint8Array {
  const seed = pick(rng, seeds);
  const u = rng.next();
  if (u < 0.1) return randomBytes(rng, rng.int(300));
  if (u < 0.15) return seed.slice();
  if (u < 0.45) return mutateBytes(rng, seed);
  let value = JSON.parse(new TextDecoder().decode(seed));
  for (let k = 0; k < 1 + rng.int(3); k++) value = mutateJson(rng, value);
  return new TextEncoder().encode(JSON.stringify(value) ?? "undefined");
}

const fashion: FuzzTarget = {
  name: "parseFashionClassFile",
  seeds: () => {
    const row = Array.from({ length: 784 }, (_, i) => (i * 13) & 0xff);
    return Promise.resolve([
      new TextEncoder().encode(JSON.stringify({ data: [row, [], row.map((v) => 255 - v)] })),
      new TextEncoder().encode(JSON.stringify({ data: [row] })),
    ]);
  },
  input: jsonInput,
  run: (input) => Promise.resolve(parseFashionClassFile(new TextDecoder().decode(input), "fuzz.json")),
};

/** A small LayersModel model.json (dense 4 → 2, weights in two files) and its weight bytes. */
function modelSeed(): { json: unknown; files: Record<string, number> } {
  return {
    json: {
      format: "layers-model",
      generatedBy: "fuzz",
      convertedBy: null,
      modelTopology: {
        class_name: "Sequential",
        config: {
          name: "fuzz",
          layers: [{ class_name: "Dense", config: { units: 2, batch_input_shape: [null, 4] } }],
        },
      },
      weightsManifest: [
        { paths: ["weights.bin"], weights: [{ name: "dense/kernel", shape: [4, 2], dtype: "float32" }] },
        {
          paths: ["bias.bin", "bias2.bin"],
          weights: [
            { name: "dense/bias", shape: [2], dtype: "float32" },
            { name: "q", shape: [3], dtype: "float32", quantization: { dtype: "uint8", scale: 1, min: 0 } },
          ],
        },
      ],
    },
    files: { "weights.bin": 32, "bias.bin": 8, "bias2.bin": 3 },
  };
}

const modelJson: FuzzTarget = {
  name: "parseModelJson and readWeights",
  seeds: () => Promise.resolve([new TextEncoder().encode(JSON.stringify(modelSeed().json))]),
  input: (rng, seeds) => {
    // one byte of weight-file length jitter ahead of the JSON text, so the weights are fuzzed too
    const jitter = Uint8Array.of(rng.int(8));
    return concat(jitter, jsonInput(rng, seeds));
  },
  run: async (input) => {
    const files = modelSeed().files;
    const jitter = input[0] ?? 0;
    const json = parseModelJson(new TextDecoder().decode(input.subarray(1)), "fuzz/model.json");
    weightsByteLength(json.weightsManifest.flatMap((g) => g.weights));
    return await readWeights(json, (path) => {
      const size = files[path];
      if (typeof size !== "number" || !Object.hasOwn(files, path)) {
        return Promise.reject(new Deno.errors.NotFound(`no such file ${path}`));
      }
      // jitter 1..3 shortens or lengthens the first file, 0 and 4..7 keep the sizes
      const delta = path === "weights.bin" && jitter >= 1 && jitter <= 3 ? jitter - 2 : 0;
      return Promise.resolve(new Uint8Array(size + delta));
    }, "fuzz/model.json");
  },
};

/** Every target, by name. */
export const TARGETS: FuzzTarget[] = [idx, cifar, png, jpeg, tar, fashion, modelJson];
