import assert from "node:assert/strict";
import { parseIdx } from "../../src/data/idx.ts";
import { HansError } from "../../src/errors.ts";

function idx(type: number, dims: number[], values: number[]): Uint8Array {
  const bytes = new Uint8Array(4 + 4 * dims.length + values.length);
  bytes.set([0, 0, type, dims.length]);
  const view = new DataView(bytes.buffer);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  bytes.set(values, 4 + 4 * dims.length);
  return bytes;
}

Deno.test("parseIdx reads dims big-endian and the values", () => {
  const { dims, data } = parseIdx(idx(0x08, [2, 3], [1, 2, 3, 4, 5, 6]), "t");
  assert.deepEqual(dims, [2, 3]);
  assert.deepEqual([...data], [1, 2, 3, 4, 5, 6]);
  const big = idx(0x08, [300], new Array(300).fill(7));
  assert.deepEqual(parseIdx(big, "big").dims, [300]);
});

Deno.test("parseIdx rejects a corrupt magic and names the file", () => {
  const bytes = idx(0x08, [1], [0]);
  bytes[1] = 3;
  assert.throws(() => parseIdx(bytes, "labels.idx"), (e: Error) => {
    assert.ok(e instanceof HansError);
    assert.match(e.message, /labels\.idx.*0x00 0x00/);
    return true;
  });
  assert.throws(() => parseIdx(new Uint8Array([0, 0]), "short"), HansError);
});

Deno.test("parseIdx rejects value types other than unsigned bytes", () => {
  assert.throws(() => parseIdx(idx(0x0d, [1], [0, 0, 0, 0]), "floats"), /floats.*0x0d.*expected 0x08/);
});

Deno.test("parseIdx rejects zero dimensions and a header without dims", () => {
  assert.throws(() => parseIdx(idx(0x08, [2, 0], []), "z"), /zero/);
  assert.throws(() => parseIdx(new Uint8Array([0, 0, 8, 0]), "nodims"), /nodims.*at least one dimension/);
  assert.throws(() => parseIdx(new Uint8Array([0, 0, 8, 3, 0, 0, 0, 1]), "hdr"), HansError);
});

Deno.test("parseIdx says expected and actual length when truncated or with trailing bytes", () => {
  const good = idx(0x08, [2, 2], [1, 2, 3, 4]);
  assert.throws(
    () => parseIdx(good.subarray(0, good.length - 1), "cut"),
    /cut: expected 16 bytes.*found 15.*truncated/,
  );
  const long = new Uint8Array(good.length + 2);
  long.set(good);
  assert.throws(() => parseIdx(long, "long"), /long: expected 16 bytes.*found 18.*trailing/);
});
