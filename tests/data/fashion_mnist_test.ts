import assert from "node:assert/strict";
import { loadFashionMnist, parseFashionClassFile } from "../../src/data/fashion_mnist.ts";
import { HansError } from "../../src/errors.ts";

/** Labels and a pixel checksum of the first images, small enough to keep across loads. */
function fingerprint(data: { labels: Int32Array; images: Float32Array }): string {
  let sum = 0;
  for (let i = 0; i < 784 * 50; i++) sum += data.images[i];
  return `${data.labels.slice(0, 50).join(",")}|${sum.toFixed(3)}`;
}

Deno.test("loadFashionMnist: 60000/10000 stratified, labels in range, seeded", async () => {
  const first = await loadFashionMnist({ seed: 1 });
  assert.equal(first.train.count, 60000);
  assert.equal(first.test.count, 10000);
  assert.equal(first.test.images.length, 10000 * 784);
  assert.equal(first.train.classNames[0], "T-shirt/top");
  assert.equal(first.train.classNames[9], "Ankle boot");
  assert.equal(first.test.channels, 1);
  const perClass = new Array(10).fill(0);
  for (const label of first.test.labels) perClass[label]++;
  assert.deepEqual(perClass, new Array(10).fill(1000));
  for (const label of first.train.labels) assert.ok(label >= 0 && label <= 9);
  let max = 0;
  for (let i = 0; i < 784 * 100; i++) max = Math.max(max, first.train.images[i]);
  assert.ok(max > 0.5 && max <= 1);
  const trainPrint = fingerprint(first.train);
  const testPrint = fingerprint(first.test);

  const again = await loadFashionMnist({ seed: 1 });
  assert.equal(fingerprint(again.train), trainPrint);
  assert.equal(fingerprint(again.test), testPrint);

  const other = await loadFashionMnist({ seed: 2, testCount: 7000 });
  assert.equal(other.test.count, 7000);
  assert.equal(other.train.count, 63000);
  assert.notEqual(fingerprint(other.test), testPrint);
});

Deno.test("loadFashionMnist rejects an impossible testCount", async () => {
  await assert.rejects(loadFashionMnist({ seed: 1, testCount: 70000 }), /testCount 70000/);
});

Deno.test("parseFashionClassFile checks row length, values and JSON", () => {
  const row = new Array(784).fill(0);
  row[3] = 255;
  const bytes = parseFashionClassFile(JSON.stringify({ data: [row, row] }), "c.json");
  assert.equal(bytes.length, 2 * 784);
  assert.equal(bytes[784 + 3], 255);
  assert.throws(
    () => parseFashionClassFile(JSON.stringify({ data: [row.slice(1)] }), "c.json"),
    /row 0 has 783/,
  );
  const bad = [...row];
  bad[10] = 256;
  assert.throws(() => parseFashionClassFile(JSON.stringify({ data: [row, bad] }), "c.json"), /row 1.*256/);
  assert.equal(parseFashionClassFile(JSON.stringify({ data: [row, [], row] }), "c.json").length, 2 * 784);
  assert.throws(() => parseFashionClassFile(JSON.stringify({ data: [[]] }), "c.json"), /no images/);
  assert.throws(() => parseFashionClassFile("{", "c.json"), HansError);
  assert.throws(() => parseFashionClassFile("{}", "c.json"), HansError);
});
