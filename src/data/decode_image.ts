/**
 * Decoding PNG and JPEG bytes to RGBA without native code (imagescript's JavaScript PNG and WebAssembly JPEG
 * decoders), with the checks those decoders leave out: a PNG's chunk structure (counts and sizes per chunk
 * type, the image data against what the header's size needs) and the memory a decode takes
 * ({@link checkMemory}) before anything is allocated; a JPEG's frame size, its CMYK or YCCK colours converted
 * to RGB (the decoder gives the ink values, and imagescript's own conversion got them wrong); and the EXIF
 * orientation of either (a JPEG's APP1 segment, a PNG's eXIf chunk) applied, so that the pixels are upright as
 * image viewers show them.
 * @module
 */
import { decodePngPixels, type JpegCodec, newJpegCodec } from "../deps.ts";
import { HansError } from "../errors.ts";
import { checkMemory, maxPixels, megabytes } from "../limits.ts";

/** A decoded image: RGBA bytes, rows top to bottom. */
export interface DecodedImage {
  width: number;
  height: number;
  rgba: Uint8Array;
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
/** Largest width and height accepted, in pixels. */
const MAX_SIDE = 16384;
/** Deflate expands one byte to at most 1032 bytes (a 258-byte match coded in two bits). */
const MAX_INFLATE_RATIO = 1032;
/**
 * A complete Huffman-coded JPEG spends at least one bit per 8x8 block of its full-resolution component, so
 * it holds at most 512 pixels per byte.
 */
const MAX_JPEG_PIXELS_PER_BYTE = 512;
/** Samples per pixel of each PNG colour type (gray, RGB, palette, gray+alpha, RGBA). */
const PNG_CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

/**
 * Chunks a PNG may hold in all, at least: imagescript keeps an object per image-data chunk, and a file of
 * millions of empty ones (229 MB of 20 M chunks) took gigabytes. Encoders write image data in chunks of 8 KB
 * (libpng) or more, so a file may also hold one chunk per {@link PNG_BYTES_PER_CHUNK} of its size.
 */
export const MAX_PNG_CHUNKS = 65536;
/** See {@link MAX_PNG_CHUNKS}. */
const PNG_BYTES_PER_CHUNK = 4096;
/** A palette (PLTE) holds at most 256 colours of 3 bytes. */
export const MAX_PNG_PALETTE_BYTES = 768;
/** A transparency chunk (tRNS) holds at most one alpha byte per palette colour. */
export const MAX_PNG_TRNS_BYTES = 256;
/** Ancillary chunks (text, colour profiles, EXIF, time, …) a PNG may hold: their number and their bytes. */
export const MAX_PNG_ANCILLARY_CHUNKS = 4096;
/** See {@link MAX_PNG_ANCILLARY_CHUNKS}. */
export const MAX_PNG_ANCILLARY_BYTES = 16 * 2 ** 20;
/**
 * Deflate stores incompressible data with at most 5 bytes of overhead per 65535-byte block, and a poor
 * encoder's fixed Huffman codes spend at most 9 bits on a byte: image data beyond 5/4 of the raw size (plus
 * 64 KB) holds something other than the image.
 */
const MAX_DEFLATE_EXPANSION = 1.25;
const DEFLATE_SLACK = 65536;

/** Chunk types, as the 4 ASCII bytes read big-endian. */
const IHDR = 0x49484452, PLTE = 0x504c5445, IDAT = 0x49444154, IEND = 0x49454e44, TRNS = 0x74524e53;
/** The EXIF chunk (PNG 1.2 extensions, PNG third edition): a TIFF header and its directories, as in JPEG. */
const EXIF = 0x65584966;

/**
 * Decodes a PNG or JPEG file's bytes to upright RGBA; `name` appears in the error when the bytes are not a
 * usable image, or when decoding them would pass the limits (`HANS_MAX_MEGAPIXELS`, `HANS_MAX_MEMORY_MB`).
 */
export async function decodeImageBytes(bytes: Uint8Array, name: string): Promise<DecodedImage> {
  const isPng = bytes.length > 33 && PNG_SIGNATURE.every((b, i) => bytes[i] === b);
  const isJpeg = bytes.length > 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
  if (!isPng && !isJpeg) throw new HansError(`${name} is neither a PNG nor a JPEG file; convert it to PNG.`);
  try {
    if (isJpeg) return await decodeJpeg(bytes, name);
    return decodePng(bytes, name);
  } catch (e) {
    if (e instanceof HansError) throw e;
    throw new HansError(
      `${name} cannot be decoded (${(e as Error)?.message ?? e}); is it a valid PNG or JPEG?`,
      {
        cause: e,
      },
    );
  }
}

function checkSize(name: string, width: number, height: number): void {
  if (width === 0 || height === 0 || width > MAX_SIDE || height > MAX_SIDE) {
    throw new HansError(`${name} says it is ${width}x${height} pixels; that is not a usable image.`);
  }
  if (width * height > maxPixels()) {
    throw new HansError(
      `${name} is ${width}x${height} pixels, more than the ${
        maxPixels() / 1e6
      } megapixels hans decodes per ` +
        `image; make it smaller, or raise HANS_MAX_MEGAPIXELS.`,
    );
  }
}

function truncated(name: string, detail: string): HansError {
  return new HansError(`${name} is truncated or broken (${detail}); save or download it again.`);
}

/** "1,234,567": a count for messages. */
function count(n: number): string {
  return n.toLocaleString("en-US");
}

/** The 4-letter name of a chunk type, for messages (non-letters escaped by the caller's `printable`). */
function chunkName(type: number): string {
  return String.fromCharCode(type >>> 24, (type >>> 16) & 0xff, (type >>> 8) & 0xff, type & 0xff);
}

/** What a PNG's chunks hold, from {@link pngChunks}. */
interface PngChunks {
  /** Bytes of image data (IDAT) in all. */
  imageData: number;
  /** The EXIF orientation of its eXIf chunk (1–8; 1 when there is none or it is unreadable). */
  orientation: number;
}

/**
 * Walks a PNG's chunks up to IEND and checks what imagescript's decoder trusts: that every chunk lies inside
 * the file (a length claiming gigabytes makes it allocate and loop that much), how many chunks there are (it
 * keeps an object per image-data chunk), the palette and transparency chunks' sizes (it allocates a palette
 * entry of 4 bytes per byte the chunk claims: a 200 MB PLTE took 1.4 GB), and the ancillary chunks' number and
 * size. Each broken rule is a HansError naming it.
 */
function pngChunks(bytes: Uint8Array, name: string, colorType: number): PngChunks {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const maxChunks = Math.max(MAX_PNG_CHUNKS, Math.ceil(bytes.length / PNG_BYTES_PER_CHUNK));
  let imageData = 0;
  let chunks = 0;
  let ancillary = 0;
  let ancillaryBytes = 0;
  let palette = -1;
  let transparency = -1;
  let orientation = 0;
  let offset = 8;
  for (;;) {
    if (offset + 12 > bytes.length) throw truncated(name, "it ends before the IEND chunk");
    const length = view.getUint32(offset);
    const type = view.getUint32(offset + 4);
    if (offset + 12 + length > bytes.length) {
      throw truncated(name, `a chunk at byte ${offset} claims ${length} bytes, more than the file holds`);
    }
    if (++chunks > maxChunks) {
      throw new HansError(
        `${name} holds more than ${count(maxChunks)} PNG chunks (the image data is normally split into ` +
          `chunks of 8 KB or more); save it again with an ordinary encoder.`,
      );
    }
    if (type === IEND) break;
    if (type === IDAT) imageData += length;
    else if (type === IHDR && offset !== 8) throw truncated(name, "a second IHDR chunk");
    else if (type === PLTE) {
      if (palette >= 0) throw truncated(name, "two palette (PLTE) chunks");
      if (imageData > 0) throw truncated(name, "the palette (PLTE) comes after the image data");
      if (length === 0 || length % 3 !== 0 || length > MAX_PNG_PALETTE_BYTES) {
        throw new HansError(
          `${name} has a palette (PLTE chunk) of ${megabytes(length)}; a PNG palette holds 1 to 256 ` +
            `colours of 3 bytes (at most ${MAX_PNG_PALETTE_BYTES} bytes), so the file is broken or forged; ` +
            `save it again.`,
        );
      }
      palette = length / 3;
    } else if (type === TRNS) {
      if (transparency >= 0) throw truncated(name, "two transparency (tRNS) chunks");
      if (length > MAX_PNG_TRNS_BYTES) {
        throw new HansError(
          `${name} has a transparency chunk (tRNS) of ${megabytes(length)}; it holds at most one byte ` +
            `per palette colour (${MAX_PNG_TRNS_BYTES} bytes), so the file is broken or forged; save it again.`,
        );
      }
      transparency = length;
    } else if ((type >>> 24) & 0x20) { // a lower-case first letter: ancillary
      // The first eXIf chunk's orientation, as viewers apply it (one chunk is allowed; a second is ignored).
      if (type === EXIF && orientation === 0) {
        orientation = exifOrientation(bytes.subarray(offset + 8, offset + 8 + length)) || 1;
      }
      ancillary++;
      ancillaryBytes += length;
      if (ancillary > MAX_PNG_ANCILLARY_CHUNKS || ancillaryBytes > MAX_PNG_ANCILLARY_BYTES) {
        throw new HansError(
          `${name} holds more than ${
            ancillary > MAX_PNG_ANCILLARY_CHUNKS
              ? `${count(MAX_PNG_ANCILLARY_CHUNKS)} ancillary chunks`
              : `${megabytes(MAX_PNG_ANCILLARY_BYTES)} of ancillary chunks`
          } (text, colour profile, EXIF and other metadata; the last one is ${
            JSON.stringify(chunkName(type))
          }); save the image again without its metadata.`,
        );
      }
    }
    offset += 12 + length;
  }
  if (colorType === 3 && palette < 0) {
    throw truncated(name, "an indexed-colour PNG without its palette (PLTE chunk)");
  }
  return { imageData, orientation: orientation || 1 };
}

/**
 * Checks the header and the chunks ({@link pngChunks}), that the image data could inflate to the size the
 * header claims (else imagescript allocates that size for nothing) and is not much larger than that size
 * needs, and the memory the decode takes, then decodes.
 */
function decodePng(bytes: Uint8Array, name: string): DecodedImage {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const width = view.getUint32(16);
  const height = view.getUint32(20);
  const depth = bytes[24];
  const colorType = bytes[25];
  const interlace = bytes[28];
  if (view.getUint32(8) !== 13 || view.getUint32(12) !== IHDR) {
    throw truncated(name, "the first chunk is not a 13-byte IHDR");
  }
  checkSize(name, width, height);
  if (depth !== 8 || interlace !== 0) {
    throw new HansError(
      `${name} is a ${depth}-bit${interlace ? " interlaced" : ""} PNG; save it as 8-bit, not interlaced.`,
    );
  }
  const channels = PNG_CHANNELS[colorType];
  if (channels === undefined) throw truncated(name, `colour type ${colorType} does not exist`);
  const { imageData, orientation } = pngChunks(bytes, name, colorType);
  const raw = height * (1 + width * channels);
  if (raw > MAX_INFLATE_RATIO * imageData + 1024) {
    throw truncated(
      name,
      `${imageData} bytes of image data cannot hold ${width}x${height} pixels`,
    );
  }
  if (imageData > MAX_DEFLATE_EXPANSION * raw + DEFLATE_SLACK) {
    throw new HansError(
      `${name} holds ${
        megabytes(imageData)
      } of image data (IDAT chunks), far more than its ${width}x${height} ` +
        `pixels need (${megabytes(raw)} uncompressed); the file is broken or forged, so save it again.`,
    );
  }
  // imagescript holds the joined image data, the inflated rows, the unfiltered samples and the RGBA pixels,
  // and a turned image its turned copy.
  checkMemory(
    imageData + 2 * raw + (orientation === 1 ? 4 : 8) * width * height,
    `decoding ${name} (${width}x${height})`,
    "make it smaller",
  );
  const { pixels } = decodePngPixels(bytes);
  if (pixels.length !== width * height * 4) {
    throw new HansError(`${name} is truncated: ${pixels.length} bytes of pixels for ${width}x${height}.`);
  }
  return applyOrientation({ width, height, rgba: pixels }, orientation);
}

/** What the JPEG's header segments say, up to the scan. */
interface JpegHeader {
  width: number;
  height: number;
  /** Colour components of the frame (1 gray, 3 YCbCr or RGB, 4 CMYK or YCCK). */
  components: number;
  /** The Adobe APP14 segment's colour transform (0 none, 1 YCbCr, 2 YCCK), or -1 without one. */
  adobeTransform: number;
  /** The EXIF orientation (1–8; 1 when there is none). */
  orientation: number;
}

/** The frame's size and colours from the JPEG's header segments, or a HansError when there is no frame. */
function jpegHeader(bytes: Uint8Array, name: string): JpegHeader {
  let adobeTransform = -1;
  let orientation = 0;
  let offset = 2;
  while (offset + 4 <= bytes.length) {
    if (bytes[offset] !== 0xff) { // stray bytes between segments, which decoders skip
      offset++;
      continue;
    }
    const marker = bytes[offset + 1];
    if (marker === 0xff) { // fill byte
      offset++;
      continue;
    }
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd8)) { // markers without a length
      offset += 2;
      continue;
    }
    const length = (bytes[offset + 2] << 8) | bytes[offset + 3];
    if (length < 2 || offset + 2 + length > bytes.length) {
      throw truncated(name, `a segment at byte ${offset} claims ${length} bytes`);
    }
    if (marker === 0xda || marker === 0xd9) break; // start of scan, end of image
    const data = bytes.subarray(offset + 4, offset + 2 + length);
    if (marker === 0xee && length >= 14 && ascii(data, 0, 5) === "Adobe") adobeTransform = data[11];
    if (marker === 0xe1 && orientation === 0 && ascii(data, 0, 6) === "Exif\0\0") {
      orientation = exifOrientation(data.subarray(6));
    }
    const isFrame = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isFrame) {
      if (marker >= 0xc9) {
        throw new HansError(`${name} is an arithmetic-coded JPEG, which hans cannot decode; save it as PNG.`);
      }
      if (length < 8) throw truncated(name, "the frame header is cut short");
      const height = (bytes[offset + 5] << 8) | bytes[offset + 6];
      const width = (bytes[offset + 7] << 8) | bytes[offset + 8];
      const components = bytes[offset + 9];
      return { width, height, components, adobeTransform, orientation: orientation || 1 };
    }
    offset += 2 + length;
  }
  throw truncated(name, "no frame header before the image data");
}

function ascii(bytes: Uint8Array, from: number, length: number): string {
  return String.fromCharCode(...bytes.subarray(from, from + length));
}

/**
 * The Orientation tag (0x0112) of an EXIF block's first image directory (`tiff` starts at the TIFF header),
 * 1–8; 0 when there is none or it is unreadable.
 */
export function exifOrientation(tiff: Uint8Array): number {
  if (tiff.length < 8) return 0;
  const view = new DataView(tiff.buffer, tiff.byteOffset, tiff.byteLength);
  const order = ascii(tiff, 0, 2);
  if (order !== "II" && order !== "MM") return 0;
  const little = order === "II";
  if (view.getUint16(2, little) !== 42) return 0;
  const ifd = view.getUint32(4, little);
  if (ifd < 8 || ifd + 2 > tiff.length) return 0;
  const entries = view.getUint16(ifd, little);
  for (let i = 0; i < entries; i++) {
    const entry = ifd + 2 + 12 * i;
    if (entry + 12 > tiff.length) return 0;
    if (view.getUint16(entry, little) !== 0x0112) continue;
    // SHORT, one value, held in the first two bytes of the value field.
    if (view.getUint16(entry + 2, little) !== 3 || view.getUint32(entry + 4, little) < 1) return 0;
    const value = view.getUint16(entry + 8, little);
    return value >= 1 && value <= 8 ? value : 0;
  }
  return 0;
}

/**
 * The image as viewers show it for EXIF orientation `orientation` (1: as stored; 2: mirrored; 3: turned
 * 180°; 4: flipped upside down; 5: transposed; 6: turned 90° clockwise; 7: transversed; 8: turned 90°
 * anticlockwise). Orientations 5–8 swap width and height.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * // A 2x1 image, red then blue, turned clockwise: red on top of blue.
 * const turned = applyOrientation({ width: 2, height: 1, rgba: Uint8Array.of(255, 0, 0, 255, 0, 0, 255, 255) }, 6);
 * assert.deepEqual([turned.width, turned.height, ...turned.rgba], [1, 2, 255, 0, 0, 255, 0, 0, 255, 255]);
 * ```
 */
export function applyOrientation(image: DecodedImage, orientation: number): DecodedImage {
  if (!(orientation >= 2 && orientation <= 8)) return image;
  const { width: w, height: h } = image;
  // Whole pixels are moved as 32-bit words, which need an aligned view.
  const rgba = image.rgba.byteOffset % 4 === 0 ? image.rgba : image.rgba.slice();
  const swap = orientation >= 5;
  const width = swap ? h : w;
  const height = swap ? w : h;
  const out = new Uint8Array(rgba.length);
  const source = new Uint32Array(rgba.buffer, rgba.byteOffset, w * h);
  const target = new Uint32Array(out.buffer, out.byteOffset, w * h);
  // The stored pixel (sx, sy) shown at (x, y): sx = x0 + xx x + xy y, sy = y0 + yx x + yy y.
  const [x0, xx, xy, y0, yx, yy] = {
    2: [w - 1, -1, 0, 0, 0, 1],
    3: [w - 1, -1, 0, h - 1, 0, -1],
    4: [0, 1, 0, h - 1, 0, -1],
    5: [0, 0, 1, 0, 1, 0],
    6: [0, 0, 1, h - 1, -1, 0],
    7: [w - 1, 0, -1, h - 1, -1, 0],
    8: [w - 1, 0, -1, 0, 1, 0],
  }[orientation]!;
  // So its index is linear in x and y.
  const stepX = yx * w + xx;
  const stepY = yy * w + xy;
  let row = y0 * w + x0;
  for (let y = 0, k = 0; y < height; y++, row += stepY) {
    for (let x = 0, i = row; x < width; x++, i += stepX) target[k++] = source[i];
  }
  return { width, height, rgba: out };
}

/** An Adobe APP14 segment saying "CMYK, no transform", for 4-component files that have none. */
const ADOBE_CMYK = Uint8Array.of(
  0xff,
  0xee,
  0x00,
  0x0e,
  ...[0x41, 0x64, 0x6f, 0x62, 0x65], // "Adobe"
  0x00,
  0x64, // version 100
  0x00,
  0x00,
  0x00,
  0x00,
  0x00, // transform 0
);

/** `bytes` with {@link ADOBE_CMYK} after the start-of-image marker. */
function withAdobeSegment(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length + ADOBE_CMYK.length);
  out.set(bytes.subarray(0, 2));
  out.set(ADOBE_CMYK, 2);
  out.set(bytes.subarray(2), 2 + ADOBE_CMYK.length);
  return out;
}

/**
 * The decoder instance kept from one JPEG to the next: a new instance per image leaves its WebAssembly memory as garbage, 300 MB for 20,000 small JPEGs, against 30 MB
 * for 100,000 decodes by one instance. An instance's memory grows to its largest image and never shrinks,
 * so it is dropped after an image of more than {@link KEEP_CODEC_PIXELS}.
 */
let keptJpegCodec: JpegCodec | undefined;
/** Pixels of the largest JPEG after which the decoder instance is kept (1 megapixel). */
const KEEP_CODEC_PIXELS = 2 ** 20;

/** The raw formats of imagescript's JPEG decoder: gray, RGB, CMYK (ink, 0 = none). */
const JPEG_GRAY = 0, JPEG_RGB = 1, JPEG_CMYK = 2;

/**
 * Checks the frame size before imagescript's JPEG decoder runs (it fills missing image data with gray, so a
 * tiny file that claims 65535x65535 pixels would make it allocate gigabytes) and the memory the decode takes,
 * then decodes, converts gray, RGB and CMYK (also Adobe's inverted CMYK and YCCK, which the decoder turns
 * into ink values) to RGBA, and applies the EXIF orientation.
 */
async function decodeJpeg(bytes: Uint8Array, name: string): Promise<DecodedImage> {
  const { width, height, components, adobeTransform, orientation } = jpegHeader(bytes, name);
  checkSize(name, width, height);
  if (width * height > MAX_JPEG_PIXELS_PER_BYTE * bytes.length + 4096) {
    throw truncated(name, `${bytes.length} bytes cannot hold ${width}x${height} pixels`);
  }
  const samples = Math.max(1, Math.min(components, 4));
  // The decoder's copy of the file, its planes and output, the copy out of WebAssembly, the RGBA pixels and,
  // when turned, the turned copy.
  checkMemory(
    2 * bytes.length + width * height * (3 * samples + (orientation === 1 ? 4 : 8)),
    `decoding ${name} (${width}x${height})`,
    "make it smaller",
  );
  // The decoder refuses 4 components without Adobe's segment; files without one are CMYK stored inverted as
  // Photoshop writes it, which is how browsers and Pillow read them too.
  const input = components === 4 && adobeTransform < 0 ? withAdobeSegment(bytes) : bytes;
  const codec = keptJpegCodec ?? await newJpegCodec();
  keptJpegCodec = undefined; // in use; kept again below unless the image was large or broken
  const frame = codec.decode(input);
  if (width * height <= KEEP_CODEC_PIXELS) keptJpegCodec = codec;
  if (frame.width !== width || frame.height !== height) {
    throw truncated(name, `decoded ${frame.width}x${frame.height} pixels for a ${width}x${height} frame`);
  }
  const perPixel = frame.format === JPEG_GRAY
    ? 1
    : frame.format === JPEG_RGB
    ? 3
    : frame.format === JPEG_CMYK
    ? 4
    : 0;
  if (perPixel === 0) {
    throw new HansError(
      `${name} is a JPEG of a colour format hans does not know (decoder format ${frame.format}, ${components} ` +
        `components); save it as an 8-bit RGB JPEG or PNG.`,
    );
  }
  const pixels = width * height;
  const raw = frame.buffer;
  if (raw.length < pixels * perPixel) {
    throw truncated(name, `decoded ${raw.length} bytes for ${width}x${height} pixels`);
  }
  const rgba = new Uint8Array(pixels * 4);
  if (frame.format === JPEG_GRAY) {
    for (let p = 0; p < pixels; p++) {
      const v = raw[p];
      rgba[4 * p] = v;
      rgba[4 * p + 1] = v;
      rgba[4 * p + 2] = v;
      rgba[4 * p + 3] = 255;
    }
  } else if (frame.format === JPEG_RGB) {
    for (let p = 0; p < pixels; p++) {
      rgba[4 * p] = raw[3 * p];
      rgba[4 * p + 1] = raw[3 * p + 1];
      rgba[4 * p + 2] = raw[3 * p + 2];
      rgba[4 * p + 3] = 255;
    }
  } else {
    // Ink to light: each colour is what its ink and black leave, R = (255 - C)(255 - K) / 255.
    for (let p = 0; p < pixels; p++) {
      const white = 255 - raw[4 * p + 3];
      rgba[4 * p] = Math.round(((255 - raw[4 * p]) * white) / 255);
      rgba[4 * p + 1] = Math.round(((255 - raw[4 * p + 1]) * white) / 255);
      rgba[4 * p + 2] = Math.round(((255 - raw[4 * p + 2]) * white) / 255);
      rgba[4 * p + 3] = 255;
    }
  }
  return applyOrientation({ width, height, rgba }, orientation);
}
