import assert from "node:assert/strict";
import { loadMnist, mnistFromIdx } from "../../src/data/mnist.ts";
import { HansError } from "../../src/errors.ts";

function idx(dims: number[], values: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(4 + 4 * dims.length + values.length);
  bytes.set([0, 0, 8, dims.length]);
  dims.forEach((d, i) => new DataView(bytes.buffer).setUint32(4 + 4 * i, d, false));
  bytes.set(values, 4 + 4 * dims.length);
  return bytes;
}

Deno.test("mnistFromIdx scales pixels to [0, 1]", () => {
  const pixels = new Uint8Array(2 * 784);
  pixels[0] = 255;
  pixels[784 + 5] = 51;
  const data = mnistFromIdx(idx([2, 28, 28], pixels), idx([2], new Uint8Array([3, 9])), "tiny");
  assert.equal(data.count, 2);
  assert.equal(data.images[0], 1);
  assert.equal(data.images[784 + 5], Math.fround(51 / 255));
  assert.deepEqual([...data.labels], [3, 9]);
  assert.equal(data.name, "mnist");
});

Deno.test("mnistFromIdx rejects count mismatch, wrong image size and bad labels", () => {
  const images = idx([2, 28, 28], new Uint8Array(2 * 784));
  assert.throws(() => mnistFromIdx(images, idx([3], new Uint8Array(3)), "m"), /2 images but 3 labels/);
  const small = idx([2, 14, 14], new Uint8Array(2 * 196));
  assert.throws(() => mnistFromIdx(small, idx([2], new Uint8Array(2)), "m"), /2x14x14, expected Nx28x28/);
  assert.throws(() => mnistFromIdx(images, idx([2], new Uint8Array([1, 10])), "m"), HansError);
});

Deno.test("loadMnist reads the package: 60000/10000 images, known first labels", async () => {
  const { train, test } = await loadMnist();
  assert.equal(train.count, 60000);
  assert.equal(test.count, 10000);
  assert.equal(train.images.length, 60000 * 784);
  assert.equal(train.labels[0], 5);
  assert.equal(test.labels[0], 7);
  assert.deepEqual(train.classNames, ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);
  assert.equal(train.channels, 1);
  let max = 0;
  for (let i = 0; i < 784; i++) max = Math.max(max, train.images[i]);
  assert.equal(max, 1);
});
