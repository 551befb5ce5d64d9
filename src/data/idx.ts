/**
 * The IDX file format of MNIST: a 4-byte magic (0, 0, type, number of dimensions), big-endian uint32
 * dimensions, then the values. Only unsigned bytes (type 0x08) are read.
 * @module
 */
import { HansError } from "../errors.ts";

/** Dimensions and values of one IDX file. */
export interface IdxArray {
  /** Size of each dimension, outermost first, e.g. `[60000, 28, 28]`. */
  dims: number[];
  /** The values, row-major; a view into the input bytes, not a copy. */
  data: Uint8Array;
}

/**
 * Parses an IDX file of unsigned bytes; throws a `HansError` naming `name` when the magic, the type, a
 * dimension or the length is wrong.
 */
export function parseIdx(bytes: Uint8Array, name: string): IdxArray {
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0) {
    throw new HansError(
      `${name}: not an IDX file (expected the first two bytes to be 0x00 0x00); ` +
        `download the file again or check its path.`,
    );
  }
  if (bytes[2] !== 0x08) {
    throw new HansError(
      `${name}: IDX value type 0x${hex(bytes[2])} is not supported; expected 0x08 (unsigned bytes).`,
    );
  }
  const ndim = bytes[3];
  const headerLength = 4 + 4 * ndim;
  if (ndim === 0 || bytes.length < headerLength) {
    throw new HansError(
      `${name}: IDX header is broken (${ndim} dimensions in ${bytes.length} bytes); expected at least one ` +
        `dimension and ${Math.max(headerLength, 8)} header bytes.`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  for (let i = 0; i < ndim; i++) dims.push(view.getUint32(4 + 4 * i, false));
  if (dims.some((d) => d === 0)) {
    throw new HansError(`${name}: IDX dimensions ${dims.join("x")} contain a zero; every one must be > 0.`);
  }
  const expected = headerLength + dims.reduce((a, b) => a * b, 1);
  if (bytes.length !== expected) {
    throw new HansError(
      `${name}: expected ${expected} bytes for IDX dimensions ${dims.join("x")}, found ${bytes.length} ` +
        `(${bytes.length < expected ? "truncated" : "trailing bytes"}); download the file again.`,
    );
  }
  return { dims, data: bytes.subarray(headerLength) };
}

function hex(value: number): string {
  return value.toString(16).padStart(2, "0");
}
