import assert from "node:assert/strict";
import { gunzip, isGzip, readTar } from "../../src/data/tar.ts";
import { HansError } from "../../src/errors.ts";
import { gzip, tarBytes } from "./helpers.ts";

const text = (s: string) => new TextEncoder().encode(s);

Deno.test("readTar lists regular files with their bytes, skipping folders", () => {
  const entries = readTar(
    tarBytes([
      { path: "d/", data: new Uint8Array(0), type: "5" },
      { path: "d/a.bin", data: new Uint8Array(600).fill(7) },
      { path: "d/b.txt", data: text("hi") },
    ]),
    "t.tar",
  );
  assert.deepEqual(entries.map((e) => e.path), ["d/a.bin", "d/b.txt"]);
  assert.equal(entries[0].data.length, 600);
  assert.ok(entries[0].data.every((b) => b === 7));
  assert.equal(new TextDecoder().decode(entries[1].data), "hi");
});

Deno.test("readTar follows GNU long names and pax paths", () => {
  const long = `${"x".repeat(120)}/data_batch_1.bin`;
  const entries = readTar(
    tarBytes([
      { path: "././@LongLink", data: text(`${long}\0`), type: "L" },
      { path: "short1", data: text("1") },
      { path: "PaxHeader", data: text(`${13 + long.length} path=${long}\n`), type: "x" },
      { path: "short2", data: text("2") },
      { path: "plain", data: text("3") },
    ]),
    "t.tar",
  );
  assert.deepEqual(entries.map((e) => e.path), [long, long, "plain"]);
});

Deno.test("readTar rejects a bad checksum and a cut archive", () => {
  const bytes = tarBytes([{ path: "a", data: new Uint8Array(1000) }]);
  assert.throws(() => readTar(bytes.subarray(0, 700), "cut.tar"), /cut\.tar: the archive is cut short/);
  bytes[0] = 0x62;
  assert.throws(() => readTar(bytes, "bad.tar"), /bad\.tar: not a tar archive/);
});

Deno.test("gunzip round-trips and rejects broken data", async () => {
  const packed = await gzip(text("hello hans"));
  assert.ok(isGzip(packed));
  assert.ok(!isGzip(text("hello")));
  assert.equal(new TextDecoder().decode(await gunzip(packed, "g")), "hello hans");
  await assert.rejects(gunzip(packed.subarray(0, packed.length - 6), "cut.gz"), (e: Error) => {
    assert.ok(e instanceof HansError);
    assert.match(e.message, /cut\.gz: the gzip data is broken/);
    return true;
  });
});
