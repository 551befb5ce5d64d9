/**
 * Decoding PNG and JPEG bytes to RGBA without native code (imagescript's JavaScript PNG and WebAssembly JPEG
 * decoders), with the checks those decoders leave out.
 * @module
 */
import { decodeJpegRgba, decodePngPixels } from "../deps.ts";
import { HansError } from "../errors.ts";

/** A decoded image: RGBA bytes, rows top to bottom. */
export interface DecodedImage {
  width: number;
  height: number;
  rgba: Uint8Array;
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Decodes a PNG or JPEG file's bytes; `name` appears in the error when the bytes are not a usable image. */
export async function decodeImageBytes(bytes: Uint8Array, name: string): Promise<DecodedImage> {
  const isPng = bytes.length > 33 && PNG_SIGNATURE.every((b, i) => bytes[i] === b);
  const isJpeg = bytes.length > 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
  if (!isPng && !isJpeg) throw new HansError(`${name} is neither a PNG nor a JPEG file; convert it to PNG.`);
  try {
    if (isJpeg) return await decodeJpegRgba(bytes);
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

function decodePng(bytes: Uint8Array, name: string): DecodedImage {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const width = view.getUint32(16);
  const height = view.getUint32(20);
  const depth = bytes[24];
  const interlace = bytes[28];
  if (width === 0 || height === 0 || width > 16384 || height > 16384) {
    throw new HansError(`${name} says it is ${width}x${height} pixels; that is not a usable image.`);
  }
  if (depth !== 8 || interlace !== 0) {
    throw new HansError(
      `${name} is a ${depth}-bit${interlace ? " interlaced" : ""} PNG; save it as 8-bit, not interlaced.`,
    );
  }
  const { pixels } = decodePngPixels(bytes);
  if (pixels.length !== width * height * 4) {
    throw new HansError(`${name} is truncated: ${pixels.length} bytes of pixels for ${width}x${height}.`);
  }
  return { width, height, rgba: pixels };
}
