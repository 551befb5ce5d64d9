import assert from "node:assert/strict";
import { loadDataset, parseDatasetSpec } from "../../src/data/mod.ts";
import { HansError } from "../../src/errors.ts";
import { cifarBatch, withTempDir } from "./helpers.ts";

Deno.test("parseDatasetSpec reads every form", () => {
  assert.deepEqual(parseDatasetSpec("mnist"), { kind: "mnist" });
  assert.deepEqual(parseDatasetSpec(" fashion-mnist "), { kind: "fashion-mnist" });
  assert.deepEqual(parseDatasetSpec("cifar10:data/cifar-10-batches-bin"), {
    kind: "cifar10",
    source: "data/cifar-10-batches-bin",
  });
  assert.deepEqual(parseDatasetSpec("cifar10:https://host/x.tar.gz"), {
    kind: "cifar10",
    source: "https://host/x.tar.gz",
  });
  assert.deepEqual(parseDatasetSpec("folder:C:/pets"), { kind: "folder", path: "C:/pets" });
});

Deno.test("parseDatasetSpec lists the valid forms on errors", () => {
  for (const spec of ["imagenet", "cifar10", "folder:", "MNIST", "cifar100:x", ""]) {
    assert.throws(() => parseDatasetSpec(spec), (e: Error) => {
      assert.ok(e instanceof HansError);
      assert.match(e.message, /valid forms: mnist, fashion-mnist, cifar10:.*folder:<path>/);
      return true;
    });
  }
});

Deno.test("loadDataset samples seeded sizes and validates", async () => {
  const a = await loadDataset("mnist", { seed: 3, trainSize: 100, testSize: 20 });
  const b = await loadDataset({ kind: "mnist" }, { seed: 3, trainSize: 100, testSize: 20 });
  assert.equal(a.train.count, 100);
  assert.equal(a.test.count, 20);
  assert.deepEqual(a.train.labels, b.train.labels);
  assert.deepEqual(a.test.images, b.test.images);
  const c = await loadDataset("mnist", { seed: 4, trainSize: 100 });
  assert.notDeepEqual(c.train.labels, a.train.labels);
  assert.equal(c.test.count, 10000);
  await assert.rejects(loadDataset("mnist", { seed: 1, trainSize: 0 }), /trainSize 0/);
  await assert.rejects(loadDataset("mnist", { seed: 1, testSize: 2.5 }), /testSize 2\.5/);
});

Deno.test("loadDataset loads cifar10 from a path", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeFile(`${dir}/one.bin`, cifarBatch(Array.from({ length: 30 }, (_, i) => i % 10)));
    const { train, test } = await loadDataset(`cifar10:${dir}/one.bin`, { seed: 2, testSize: 5 });
    assert.equal(train.count, 20);
    assert.equal(test.count, 5);
    assert.equal(train.name, "cifar10");
  });
});
