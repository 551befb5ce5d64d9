import assert from "node:assert/strict";
import { stratifiedSplit } from "../../src/data/split.ts";

function countBy(labels: number[], indices: number[]): Map<number, number> {
  const counts = new Map<number, number>();
  for (const i of indices) counts.set(labels[i], (counts.get(labels[i]) ?? 0) + 1);
  return counts;
}

Deno.test("stratifiedSplit hits testCount exactly and shares it by class size", () => {
  const labels = [...Array(100).fill(0), ...Array(50).fill(1), ...Array(50).fill(2)];
  const { train, test } = stratifiedSplit(labels, { testCount: 40, seed: 3 });
  assert.equal(test.length, 40);
  assert.equal(train.length, 160);
  assert.deepEqual([...countBy(labels, test)].sort(), [[0, 20], [1, 10], [2, 10]]);
  assert.deepEqual([...train, ...test].sort((a, b) => a - b), [...labels.keys()]);
});

Deno.test("stratifiedSplit keeps a test and a training image per class with 2+, none for singletons", () => {
  const labels = [0, 0, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2];
  const { train, test } = stratifiedSplit(labels, { testCount: 1, seed: 1 });
  const testCounts = countBy(labels, test);
  const trainCounts = countBy(labels, train);
  assert.equal(testCounts.get(0), 1);
  assert.equal(trainCounts.get(0), 1);
  assert.equal(testCounts.get(1), undefined);
  assert.equal(trainCounts.get(1), 1);
  assert.ok((testCounts.get(2) ?? 0) >= 1);
});

Deno.test("stratifiedSplit is reproducible by seed and mixes classes", () => {
  const labels = Array.from({ length: 300 }, (_, i) => i % 3);
  const a = stratifiedSplit(labels, { testCount: 60, seed: 9 });
  const b = stratifiedSplit(labels, { testCount: 60, seed: 9 });
  const c = stratifiedSplit(labels, { testCount: 60, seed: 10 });
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.test, c.test);
  assert.notDeepEqual(a.test.slice(0, 20).map((i) => labels[i]), Array(20).fill(labels[a.test[0]]));
});
