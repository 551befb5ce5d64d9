/**
 * Decoding PNG and JPEG bytes to RGBA without native code (imagescript's JavaScript PNG and WebAssembly JPEG
 * decoders), with the checks those decoders leave out.
 * @module
 */
import { decodeJpegRgba, decodePngPixels } from "../deps.ts";
import { HansError } from "../errors.ts";
import { maxPixels } from "../limits.ts";

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

/** Decodes a PNG or JPEG file's bytes; `name` appears in the error when the bytes are not a usable image. */
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

/**
 * Checks what imagescript's PNG decoder trusts before it runs: the header, that every chunk up to IEND
 * lies inside the file (a chunk length claiming gigabytes makes it allocate and loop that much), and that
 * the image data could inflate to the size the header claims (else it allocates that size for nothing).
 */
function decodePng(bytes: Uint8Array, name: string): DecodedImage {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const width = view.getUint32(16);
  const height = view.getUint32(20);
  const depth = bytes[24];
  const colorType = bytes[25];
  const interlace = bytes[28];
  if (view.getUint32(8) !== 13 || view.getUint32(12) !== 0x49484452) {
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
  let imageData = 0;
  let offset = 8;
  for (;;) {
    if (offset + 12 > bytes.length) throw truncated(name, "it ends before the IEND chunk");
    const length = view.getUint32(offset);
    const type = view.getUint32(offset + 4);
    if (offset + 12 + length > bytes.length) {
      throw truncated(name, `a chunk at byte ${offset} claims ${length} bytes, more than the file holds`);
    }
    if (type === 0x49444154) imageData += length; // IDAT
    if (type === 0x49454e44) break; // IEND
    offset += 12 + length;
  }
  const raw = height * (1 + width * channels);
  if (raw > MAX_INFLATE_RATIO * imageData + 1024) {
    throw truncated(
      name,
      `${imageData} bytes of image data cannot hold ${width}x${height} pixels`,
    );
  }
  const { pixels } = decodePngPixels(bytes);
  if (pixels.length !== width * height * 4) {
    throw new HansError(`${name} is truncated: ${pixels.length} bytes of pixels for ${width}x${height}.`);
  }
  return { width, height, rgba: pixels };
}

/** The frame's size from the JPEG's start-of-frame segment, or a HansError when there is none before the scan. */
function jpegFrame(bytes: Uint8Array, name: string): { width: number; height: number } {
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
    const isFrame = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isFrame) {
      if (marker >= 0xc9) {
        throw new HansError(`${name} is an arithmetic-coded JPEG, which hans cannot decode; save it as PNG.`);
      }
      if (length < 8) throw truncated(name, "the frame header is cut short");
      return {
        height: (bytes[offset + 5] << 8) | bytes[offset + 6],
        width: (bytes[offset + 7] << 8) | bytes[offset + 8],
      };
    }
    offset += 2 + length;
  }
  throw truncated(name, "no frame header before the image data");
}

/**
 * Checks the frame size before imagescript's JPEG decoder runs: it fills missing image data with gray, so
 * a tiny file that claims 65535x65535 pixels would make it allocate gigabytes.
 */
async function decodeJpeg(bytes: Uint8Array, name: string): Promise<DecodedImage> {
  const { width, height } = jpegFrame(bytes, name);
  checkSize(name, width, height);
  if (width * height > MAX_JPEG_PIXELS_PER_BYTE * bytes.length + 4096) {
    throw truncated(name, `${bytes.length} bytes cannot hold ${width}x${height} pixels`);
  }
  const image = await decodeJpegRgba(bytes);
  if (image.width !== width || image.height !== height || image.rgba.length !== width * height * 4) {
    throw truncated(name, `decoded ${image.width}x${image.height} pixels for a ${width}x${height} frame`);
  }
  return image;
}
