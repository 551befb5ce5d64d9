import assert from "node:assert/strict";
import { type Dataset, sample, subset, validateDataset } from "../../src/data/dataset.ts";
import { HansError } from "../../src/errors.ts";

function toy(images: number[], labels: number[]): Dataset {
  return {
    name: "toy",
    images: Float32Array.from(images),
    labels: Int32Array.from(labels),
    count: labels.length,
    height: 1,
    width: 2,
    channels: 1,
    classNames: ["a", "b"],
  };
}

Deno.test("validateDataset names NaN, infinite and out-of-range pixels, bad labels, and size mismatches", () => {
  validateDataset(toy([0, 1, 0.5, 0.25], [0, 1]));
  const bad: [Dataset, RegExp][] = [
    [toy([0, NaN, 0, 0], [0, 1]), /image 0 has pixel value NaN/],
    [toy([0, 0, Infinity, 0], [0, 1]), /image 1 has pixel value Infinity/],
    [toy([0, 0, 0, 1.5], [0, 1]), /pixel value 1.5/],
    [toy([0, 0, 0, 0], [0, 2]), /image 1 has label 2/],
    [toy([0, 0, 0], [0, 1]), /do not fit/],
    [toy([], []), /empty/],
  ];
  for (const [data, message] of bad) {
    assert.throws(
      () => validateDataset(data),
      (e: Error) => e instanceof HansError && message.test(e.message),
    );
  }
});

Deno.test("subset and sample copy the chosen images with their labels; sample is seeded", () => {
  const data = toy([0, 0.1, 0.2, 0.3, 0.4, 0.5], [0, 1, 0]);
  const s = subset(data, [2, 0]);
  assert.deepEqual(Array.from(s.images), Array.from(Float32Array.from([0.4, 0.5, 0, 0.1])));
  assert.deepEqual(Array.from(s.labels), [0, 0]);
  assert.deepEqual(sample(data, 2, 5).labels, sample(data, 2, 5).labels);
  assert.equal(sample(data, 10, 1).count, 3);
});
