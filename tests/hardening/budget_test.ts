/**
 * One memory budget for the run (issue #23): reads, parses and decodes are checked against
 * `HANS_MAX_MEMORY_MB` before they allocate, from sizes known in advance (a file's size, a manifest's
 * declared total, a JSON text's element count); a weights manifest cannot name a file twice or more bytes
 * than it declares; a path that became a FIFO is not waited on forever; CIFAR-10 decodes only its sample.
 */
import assert from "node:assert/strict";
import { parseCifarBatch } from "../../src/data/cifar10.ts";
import { sample } from "../../src/data/dataset.ts";
import { jsonShape, MAX_JSON_DEPTH, parseJsonBounded } from "../../src/data/json.ts";
import { loadDataset } from "../../src/data/mod.ts";
import { openRegularFile, readFileBounded } from "../../src/data/read.ts";
import { HansError } from "../../src/errors.ts";
import { checkMemory, dataBudget, megabytes, residentBytes } from "../../src/limits.ts";
import { type ModelJson, readWeights } from "../../src/model/io.ts";
import { Rng } from "../../src/rng.ts";
import { cifarBatch, withTempDir, writePng } from "../data/helpers.ts";

/** Runs `body` with `HANS_MAX_MEMORY_MB` set to what the process holds now plus `headroomMb`. */
async function withHeadroom(headroomMb: number, body: () => Promise<void> | void): Promise<void> {
  const before = Deno.env.get("HANS_MAX_MEMORY_MB");
  Deno.env.set("HANS_MAX_MEMORY_MB", String(Math.ceil(residentBytes() / 2 ** 20) + headroomMb));
  try {
    await body();
  } finally {
    if (before === undefined) Deno.env.delete("HANS_MAX_MEMORY_MB");
    else Deno.env.set("HANS_MAX_MEMORY_MB", before);
  }
}

function manifest(paths: string[], shape: number[]): ModelJson {
  return {
    modelTopology: {},
    weightsManifest: [{ paths, weights: [{ name: "w", shape, dtype: "float32" }] }],
  } as unknown as ModelJson;
}

Deno.test("checkMemory: an allocation passes when it fits the budget on top of what the process holds", async () => {
  await withHeadroom(64, () => {
    checkMemory(8 * 2 ** 20, "8 MB");
    assert.throws(
      () => checkMemory(512 * 2 ** 20, "the weights of m.json"),
      (e) =>
        e instanceof HansError &&
        /^the weights of m\.json would take 512 MB, and the run holds \d+ MB of its \d+ MB memory budget; raise HANS_MAX_MEMORY_MB\.$/
          .test(e.message),
    );
  });
});

Deno.test("checkMemory: data sets may take a third of the budget after the process's allowance", () => {
  assert.equal(dataBudget(2048 * 2 ** 20), 1408 * 2 ** 20 / 3);
  assert.equal(dataBudget(512 * 2 ** 20), 0);
  const before = Deno.env.get("HANS_MAX_MEMORY_MB");
  Deno.env.set("HANS_MAX_MEMORY_MB", "150640");
  try {
    checkMemory(40_000 * 2 ** 20, "40,000 MB of images", "use fewer", "data");
    assert.throws(
      () => checkMemory(60_000 * 2 ** 20, "60,000 MB of images", "use fewer", "data"),
      /60,000 MB of images would take 60000 MB, more than the 50000 MB that data may take of the run's 150640 MB memory budget \(the rest is for the process and the model's passes\); use fewer, or raise HANS_MAX_MEMORY_MB\.$/,
    );
  } finally {
    if (before === undefined) Deno.env.delete("HANS_MAX_MEMORY_MB");
    else Deno.env.set("HANS_MAX_MEMORY_MB", before);
  }
});

Deno.test("megabytes: limits below a megabyte read in KB or bytes, never 0.0 MB", () => {
  assert.deepEqual(
    [300 * 2 ** 20, 1.5 * 2 ** 20, 12 * 2 ** 10, 300, 0.4].map(megabytes),
    ["300 MB", "1.5 MB", "12 KB", "300 bytes", "0 bytes"],
  );
});

Deno.test("readWeights: the declared total is checked before any file is read", async () => {
  let reads = 0;
  const read = () => {
    reads++;
    return Promise.resolve(new Uint8Array(4));
  };
  await withHeadroom(64, async () => {
    // 2^28 floats: 1 GB of bytes and 1 GB of tensors.
    await assert.rejects(
      readWeights(manifest(["a.bin"], [2 ** 28]), read, "m.json"),
      /the weights of m\.json \(1024 MB declared\) would take 2048 MB/,
    );
  });
  assert.equal(reads, 0);
});

Deno.test("readWeights: a file named twice is refused; a group stops once it holds more than declared", async () => {
  const reads: string[] = [];
  const read = (path: string) => {
    reads.push(path);
    return Promise.resolve(new Uint8Array(16));
  };
  await assert.rejects(
    readWeights(manifest(["a.bin", "b.bin", "a.bin"], [4]), read, "m.json"),
    /m\.json lists the weights file "a\.bin" twice/,
  );
  assert.deepEqual(reads, [], "refused from the manifest alone");
  // 200 files for 4 floats: the second file already passes the 16 declared bytes.
  const many = Array.from({ length: 200 }, (_, i) => `w${i}.bin`);
  await assert.rejects(
    readWeights(manifest(many, [4]), read, "m.json"),
    /hold more bytes than the manifest needs 16/,
  );
  assert.deepEqual(reads, ["w0.bin", "w1.bin"]);
  // The honest case: one file, exactly the declared bytes, in one buffer.
  const ok = await readWeights(
    manifest(["w.bin"], [4]),
    () => Promise.resolve(new Uint8Array(16).fill(7)),
    "m",
  );
  assert.deepEqual([...ok.data], new Array(16).fill(7));
});

Deno.test("parseJsonBounded: deep nesting and texts that grow past the budget once parsed are refused", async () => {
  assert.deepEqual(parseJsonBounded('{"a": [1, "x]", {"b": null}]}', "t.json"), {
    a: [1, "x]", { b: null }],
  });
  assert.equal(jsonShape('"[[[[" ').depth, 0, "brackets inside strings do not count");
  const deep = "[".repeat(MAX_JSON_DEPTH + 1) + "]".repeat(MAX_JSON_DEPTH + 1);
  assert.throws(
    () => parseJsonBounded(deep, "deep.json"),
    /deep\.json nests arrays or objects 513 levels deep/,
  );
  // 4 MB of empty arrays become about 64 MB of objects: over a 32 MB headroom, refused before parsing.
  const wide = "[" + "[],".repeat(4 * 2 ** 20 / 3) + "[]]";
  await withHeadroom(32, () => {
    assert.throws(() => parseJsonBounded(wide, "wide.json"), /parsing wide\.json would take \d+ MB/);
  });
  assert.throws(() => parseJsonBounded("{nope", "bad.json"), /bad\.json is not valid JSON \(at position 1/);
});

Deno.test("readFileBounded: a file larger than the memory budget leaves is refused before it is read", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeFile(`${dir}/big.bin`, new Uint8Array(48 * 2 ** 20));
    await withHeadroom(16, async () => {
      await assert.rejects(
        readFileBounded(`${dir}/big.bin`, "image"),
        /reading image .*big\.bin would take 48 MB/,
      );
    });
  });
});

Deno.test({
  name: "openRegularFile: an open that blocks (a FIFO without a writer) gives up with one line",
  ignore: Deno.build.os === "windows",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await withTempDir(async (dir) => {
      const fifo = `${dir}/pipe`;
      const made = await new Deno.Command("mkfifo", { args: [fifo] }).output();
      assert.equal(made.code, 0);
      await assert.rejects(
        openRegularFile(fifo, "image", 200),
        /image .*pipe did not open within 0\.2 s \(was it replaced by a FIFO\?\); hans reads regular files only\.$/,
      );
      // Let the pending open finish (a writer arrives), so the test leaves nothing blocked.
      const writer = await Deno.open(fifo, { write: true });
      writer.close();
    });
  },
});

Deno.test("loadDataset: CIFAR-10 decodes only the sampled images, the same ones sampling all would keep", async () => {
  await withTempDir(async (dir) => {
    const labels = (n: number, k: number) => Array.from({ length: n }, (_, i) => (i * 7 + k) % 10);
    // Batches of different sizes, as a user's own subset may have.
    const b1 = cifarBatch(labels(13, 1), 0);
    const b2 = cifarBatch(labels(5, 2), 13);
    const t = cifarBatch(labels(11, 3), 100);
    await Deno.writeFile(`${dir}/data_batch_1.bin`, b1);
    await Deno.writeFile(`${dir}/data_batch_2.bin`, b2);
    await Deno.writeFile(`${dir}/test_batch.bin`, t);
    const got = await loadDataset(`cifar10:${dir}`, { seed: 5, trainSize: 6, testSize: 4 });
    const all = new Uint8Array(b1.length + b2.length);
    all.set(b1);
    all.set(b2, b1.length);
    // loadDataset's seeds: one for the split, then one per part.
    const rng = new Rng(5);
    rng.fork();
    const trainSeed = rng.fork();
    const testSeed = rng.fork();
    const train = sample(parseCifarBatch(all, "train"), 6, trainSeed);
    const test = sample(parseCifarBatch(t, "test"), 4, testSeed);
    assert.deepEqual([...got.train.labels], [...train.labels]);
    assert.deepEqual(got.train.images, train.images);
    assert.deepEqual(got.test.images, test.images);
    assert.equal(got.train.count, 6);
  });
});

Deno.test("loadDataset: a folder: data set decodes only the sampled images, the same ones sampling all would keep", async () => {
  await withTempDir(async (dir) => {
    for (const [k, name] of ["a", "b", "c"].entries()) {
      await Deno.mkdir(`${dir}/${name}`);
      for (let i = 0; i < 7; i++) {
        await writePng(`${dir}/${name}/${i}.png`, 5, 4, (x, y) => {
          const v = (x * 31 + y * 17 + i * 11 + k * 50) % 256;
          return [v, v, v, 255];
        });
      }
    }
    const all = await loadDataset(`folder:${dir}`, { seed: 9 });
    const got = await loadDataset(`folder:${dir}`, { seed: 9, trainSize: 4, testSize: 3 });
    const rng = new Rng(9);
    rng.fork();
    const trainSeed = rng.fork();
    const testSeed = rng.fork();
    const train = sample(all.train, 4, trainSeed);
    const test = sample(all.test, 3, testSeed);
    assert.deepEqual([...got.train.labels], [...train.labels]);
    assert.deepEqual(got.train.images, train.images);
    assert.deepEqual([...got.test.labels], [...test.labels]);
    assert.deepEqual(got.test.images, test.images);
  });
});
