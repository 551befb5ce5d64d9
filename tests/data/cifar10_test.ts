import assert from "node:assert/strict";
import { loadCifar10, parseCifarBatch } from "../../src/data/cifar10.ts";
import { HansError } from "../../src/errors.ts";
import { cifarBatch, cifarByte, gzip, tarBytes, withTempDir } from "./helpers.ts";

/** Checks that image `i` of `images` is record `r` of the test batches, transposed to NHWC. */
function assertRecord(images: Float32Array, i: number, r: number): void {
  for (let p = 0; p < 1024; p++) {
    for (let c = 0; c < 3; c++) {
      const got = images[(i * 1024 + p) * 3 + c];
      const want = Math.fround(cifarByte(r, c, p) / 255);
      if (got !== want) assert.fail(`image ${i} pixel ${p} channel ${c}: ${got}, expected ${want}`);
    }
  }
}

Deno.test("parseCifarBatch transposes planar RGB to NHWC exactly", () => {
  const data = parseCifarBatch(cifarBatch([3, 9]), "b.bin");
  assert.equal(data.count, 2);
  assert.equal(data.channels, 3);
  assert.equal(data.height, 32);
  assert.deepEqual([...data.labels], [3, 9]);
  assert.equal(data.classNames[3], "cat");
  assertRecord(data.images, 0, 0);
  assertRecord(data.images, 1, 1);
  // Pixel (row 1, column 2) is plane index 34; its green value comes from byte 1 + 1024 + 34.
  const bytes = cifarBatch([0]);
  bytes[1 + 1024 + 34] = 255;
  assert.equal(parseCifarBatch(bytes, "b").images[34 * 3 + 1], 1);
});

Deno.test("parseCifarBatch rejects truncated files and labels above 9", () => {
  const bytes = cifarBatch([1, 2]);
  assert.throws(() => parseCifarBatch(bytes.subarray(0, 3073 + 100), "cut.bin"), (e: Error) => {
    assert.ok(e instanceof HansError);
    assert.match(e.message, /cut\.bin: 3173 bytes.*multiple of 3073/);
    return true;
  });
  assert.throws(() => parseCifarBatch(new Uint8Array(0), "empty.bin"), HansError);
  bytes[3073] = 10;
  assert.throws(() => parseCifarBatch(bytes, "x.bin"), /record 1 has label 10/);
});

Deno.test("loadCifar10 reads the batch folder layout", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeFile(`${dir}/data_batch_1.bin`, cifarBatch([0, 1], 0));
    await Deno.writeFile(`${dir}/data_batch_2.bin`, cifarBatch([2], 2));
    await Deno.writeFile(`${dir}/test_batch.bin`, cifarBatch([5, 6, 7], 10));
    await Deno.writeFile(`${dir}/batches.meta.txt`, new TextEncoder().encode("airplane\n"));
    const { train, test } = await loadCifar10(dir, { seed: 1 });
    assert.deepEqual([...train.labels], [0, 1, 2]);
    assert.deepEqual([...test.labels], [5, 6, 7]);
    assertRecord(train.images, 2, 2);
    assertRecord(test.images, 1, 11);
    // The parent of cifar-10-batches-bin works too.
    await Deno.mkdir(`${dir}/outer/cifar-10-batches-bin`, { recursive: true });
    await Deno.rename(`${dir}/data_batch_1.bin`, `${dir}/outer/cifar-10-batches-bin/data_batch_1.bin`);
    await Deno.rename(`${dir}/test_batch.bin`, `${dir}/outer/cifar-10-batches-bin/test_batch.bin`);
    assert.equal((await loadCifar10(`${dir}/outer`, { seed: 1 })).train.count, 2);
    // Only data_batch_2.bin is left: no test batch.
    await assert.rejects(loadCifar10(dir, { seed: 1 }), /test_batch\.bin.*found data_batch_2\.bin/);
  });
});

Deno.test("loadCifar10 splits a single .bin file 5:1 by class, seeded", async () => {
  await withTempDir(async (dir) => {
    const labels = Array.from({ length: 60 }, (_, i) => i % 10);
    await Deno.writeFile(`${dir}/all.bin`, cifarBatch(labels));
    const a = await loadCifar10(`${dir}/all.bin`, { seed: 4 });
    const b = await loadCifar10(`${dir}/all.bin`, { seed: 4 });
    assert.equal(a.train.count, 50);
    assert.equal(a.test.count, 10);
    assert.deepEqual([...a.test.labels].sort((x, y) => x - y), [...Array(10).keys()]);
    assert.deepEqual(a.test.images, b.test.images);
    await Deno.writeFile(`${dir}/cut.bin`, cifarBatch([1, 2]).subarray(0, 5000));
    await assert.rejects(loadCifar10(`${dir}/cut.bin`, { seed: 1 }), /cut\.bin: 5000 bytes/);
    await assert.rejects(loadCifar10(`${dir}/missing.bin`, { seed: 1 }), /does not exist/);
  });
});

Deno.test("loadCifar10 reads the official .tar.gz layout", async () => {
  await withTempDir(async (dir) => {
    const archive = await gzip(tarBytes([
      { path: "cifar-10-batches-bin/batches.meta.txt", data: new TextEncoder().encode("airplane\n") },
      { path: "cifar-10-batches-bin/data_batch_1.bin", data: cifarBatch([4, 8], 0) },
      { path: "cifar-10-batches-bin/test_batch.bin", data: cifarBatch([9], 2) },
    ]));
    await Deno.writeFile(`${dir}/cifar-10-binary.tar.gz`, archive);
    const { train, test } = await loadCifar10(`${dir}/cifar-10-binary.tar.gz`, { seed: 1 });
    assert.deepEqual([...train.labels], [4, 8]);
    assert.deepEqual([...test.labels], [9]);
    assertRecord(train.images, 1, 1);
    assertRecord(test.images, 0, 2);
    await Deno.writeFile(`${dir}/cut.tar.gz`, archive.subarray(0, archive.length - 40));
    await assert.rejects(loadCifar10(`${dir}/cut.tar.gz`, { seed: 1 }), HansError);
    const python = await gzip(
      tarBytes([{ path: "cifar-10-batches-py/data_batch_1", data: new Uint8Array(9) }]),
    );
    await Deno.writeFile(`${dir}/py.tar.gz`, python);
    await assert.rejects(loadCifar10(`${dir}/py.tar.gz`, { seed: 1 }), /binary version/);
  });
});

Deno.test("loadCifar10 loads a .bin and a .tar.gz by URL; 404 and unreachable give HansError", async () => {
  const bin = cifarBatch(Array.from({ length: 12 }, (_, i) => i % 3));
  const archive = await gzip(tarBytes([
    { path: "cifar-10-batches-bin/data_batch_1.bin", data: cifarBatch([1]) },
    { path: "cifar-10-batches-bin/test_batch.bin", data: cifarBatch([2]) },
  ]));
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const path = new URL(request.url).pathname;
    if (path === "/batch.bin") return new Response(bin as Uint8Array<ArrayBuffer>);
    if (path === "/cifar.tar.gz") return new Response(archive as Uint8Array<ArrayBuffer>);
    return new Response("no", { status: 404 });
  });
  const base = `http://127.0.0.1:${server.addr.port}`;
  try {
    const split = await loadCifar10(`${base}/batch.bin`, { seed: 1 });
    assert.equal(split.train.count + split.test.count, 12);
    assert.equal(split.test.count, 3); // 12/6 = 2, but each of the 3 classes keeps one test image
    const fromArchive = await loadCifar10(`${base}/cifar.tar.gz`, { seed: 1 });
    assert.deepEqual([...fromArchive.test.labels], [2]);
    await assert.rejects(loadCifar10(`${base}/nothing.bin`, { seed: 1 }), (e: Error) => {
      assert.ok(e instanceof HansError);
      assert.match(e.message, /nothing\.bin: the server answered 404/);
      return true;
    });
  } finally {
    await server.shutdown();
  }
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = closed.addr.port;
  closed.close();
  await assert.rejects(loadCifar10(`http://127.0.0.1:${port}/x.bin`, { seed: 1 }), /cannot be reached/);
});
