import assert from "node:assert/strict";
import { artifactPurityRecall, flagClasses, sprayClass, type SprayResult } from "../../src/measure/spray.ts";
import { HansError } from "../../src/errors.ts";
import { Rng } from "../../src/rng.ts";

const SIDE = 28;
const PIXELS = SIDE * SIDE;

/** One group of synthetic relevance maps: `count` maps with a Gaussian blob (sigma 3) centred near (row, col). */
interface Group {
  row: number;
  col: number;
  count: number;
}

/**
 * Synthetic 28x28 relevance maps: each map is a Gaussian blob (centre jittered by up to 1 px, amplitude
 * 0.8–1.2) plus Gaussian pixel noise of standard deviation 0.3, group after group.
 */
function blobMaps(groups: Group[], seed: number): { maps: Float32Array; count: number; truth: Int32Array } {
  const rng = new Rng(seed);
  const count = groups.reduce((sum, g) => sum + g.count, 0);
  const maps = new Float32Array(count * PIXELS);
  const truth = new Int32Array(count);
  let n = 0;
  groups.forEach((group, g) => {
    for (let k = 0; k < group.count; k++, n++) {
      const y0 = group.row + (rng.next() * 2 - 1);
      const x0 = group.col + (rng.next() * 2 - 1);
      const amplitude = 0.8 + 0.4 * rng.next();
      for (let y = 0; y < SIDE; y++) {
        for (let x = 0; x < SIDE; x++) {
          const blob = amplitude * Math.exp(-((y - y0) ** 2 + (x - x0) ** 2) / 18);
          maps[n * PIXELS + y * SIDE + x] = blob + 0.3 * rng.normal();
        }
      }
      truth[n] = g;
    }
  });
  return { maps, count, truth };
}

/** Asserts that `run` throws a HansError whose message contains `part`. */
function throwsHans(run: () => unknown, part: string): void {
  assert.throws(run, (error: unknown) => error instanceof HansError && error.message.includes(part));
}

function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

/** Distance in pixels from the brightest pixel of a 28x28 map to (row, col). */
function peakDistance(map: Float32Array, row: number, col: number): number {
  const peak = argmax(map);
  return Math.hypot(Math.floor(peak / SIDE) - row, (peak % SIDE) - col);
}

const TWO: Group[] = [{ row: 7, col: 7, count: 30 }, { row: 14, col: 14, count: 60 }];
const THREE: Group[] = [
  { row: 7, col: 7, count: 30 },
  { row: 14, col: 14, count: 60 },
  { row: 21, col: 21, count: 40 },
];

Deno.test("sprayClass finds two strategies and recovers them exactly", () => {
  const { maps, count, truth } = blobMaps(TWO, 1);
  const result = sprayClass(maps, count, SIDE, SIDE, { seed: 7 });
  assert.deepEqual(result.clusters, 2);
  assert.deepEqual(result.clusterSizes, [60, 30]);
  // Clusters are numbered by size: the centred group (60) is 0, the top-left group (30) is 1.
  assert.deepEqual(Array.from(result.assignments), Array.from(truth, (g) => (g === 1 ? 0 : 1)));
  const stamped = Array.from(truth, (g) => g === 0);
  assert.deepEqual(artifactPurityRecall(result.assignments, stamped), { purity: 1, recall: 1, cluster: 1 });
  assert(result.eigengap > 0.2, `eigengap ${result.eigengap}`);
  // Two separate groups: few kNN edges cross between them; one cluster alone would have conductance 1.
  for (const c of result.conductance) assert(c >= 0 && c < 0.1, `conductance ${result.conductance}`);
  // The two-way split is this clustering: the 30 maps of the smaller group, cut off as cleanly.
  assert.deepEqual(result.split.share, 30 / 90);
  assert.deepEqual(result.split.conductance, result.conductance[1]);
  // Mean maps are at full resolution and peak where their group's blob is.
  assert.deepEqual(result.meanMaps.length, 2);
  assert.deepEqual(result.meanMaps[0].length, PIXELS);
  assert(peakDistance(result.meanMaps[0], 14, 14) <= 1.5);
  assert(peakDistance(result.meanMaps[1], 7, 7) <= 1.5);
  assert.deepEqual(result.embedding2d.length, count);
  assert(result.embedding2d.every(([a, b]) => Number.isFinite(a) && Number.isFinite(b)));
});

Deno.test("sprayClass finds three strategies and recovers them exactly", () => {
  const { maps, count, truth } = blobMaps(THREE, 2);
  const result = sprayClass(maps, count, SIDE, SIDE, { seed: 7 });
  assert.deepEqual(result.clusters, 3);
  assert.deepEqual(result.clusterSizes, [60, 40, 30]);
  const label = [2, 0, 1]; // group index -> cluster index (by decreasing size)
  assert.deepEqual(Array.from(result.assignments), Array.from(truth, (g) => label[g]));
});

Deno.test("sprayClass keeps one strategy as one cluster, and its forced two-way split is not clean", () => {
  const { maps, count } = blobMaps([{ row: 14, col: 14, count: 90 }], 3);
  const result = sprayClass(maps, count, SIDE, SIDE, { seed: 7 });
  assert.deepEqual(result.clusters, 1);
  assert.deepEqual(result.clusterSizes, [90]);
  assert(result.assignments.every((c) => c === 0));
  // Forced into two, one group splits through its middle: a cut far less clean than between two groups.
  assert(result.split.conductance > 0.2, `split conductance ${result.split.conductance}`);
});

Deno.test("sprayClass eigenvalues are ascending, start at 0 and lie in [0, 2]", () => {
  for (const [groups, seed] of [[TWO, 4], [THREE, 5]] as const) {
    const { maps, count } = blobMaps(groups, seed);
    const { eigenvalues } = sprayClass(maps, count, SIDE, SIDE, { maxClusters: 6 });
    assert.deepEqual(eigenvalues.length, 12);
    assert(Math.abs(eigenvalues[0]) <= 1e-9, `${eigenvalues[0]}`);
    for (let i = 0; i < eigenvalues.length; i++) {
      assert(eigenvalues[i] >= 0 && eigenvalues[i] <= 2, `eigenvalue ${eigenvalues[i]}`);
      if (i > 0) assert(eigenvalues[i] >= eigenvalues[i - 1]);
    }
  }
});

Deno.test("sprayClass is deterministic for a seed", () => {
  const { maps, count } = blobMaps(THREE, 6);
  const a = sprayClass(maps, count, SIDE, SIDE, { seed: 11 });
  const b = sprayClass(maps, count, SIDE, SIDE, { seed: 11 });
  assert.deepEqual(Array.from(a.assignments), Array.from(b.assignments));
  assert.deepEqual(a.eigenvalues, b.eigenvalues);
  assert.deepEqual(a.embedding2d, b.embedding2d);
});

Deno.test("sprayClass handles few maps with one cluster and a short spectrum", () => {
  const one = new Float32Array([1, -3, 0, 4]);
  const single = sprayClass(one, 1, 2, 2);
  assert.deepEqual(single.clusters, 1);
  assert.deepEqual(single.eigenvalues, [0]);
  assert.deepEqual(single.eigengap, 0);
  assert.deepEqual(Array.from(single.meanMaps[0]), [0.125, -0.375, 0, 0.5]);
  const max = sprayClass(one, 1, 2, 2, { normalize: "max" });
  assert.deepEqual(Array.from(max.meanMaps[0]), [0.25, -0.75, 0, 1]);

  const { maps } = blobMaps(TWO, 8);
  const few = sprayClass(maps.subarray(0, 3 * PIXELS), 3, SIDE, SIDE);
  assert.deepEqual(few.clusters, 1);
  assert.deepEqual(few.eigenvalues.length, 3);
  assert.deepEqual(few.embedding2d.length, 3);
});

Deno.test("sprayClass rejects NaN, infinite values and wrong sizes with HansError", () => {
  const { maps, count } = blobMaps(TWO, 9);
  maps[5 * PIXELS + 2 * SIDE + 3] = NaN;
  throwsHans(() => sprayClass(maps, count, SIDE, SIDE), "map 5 has a non-finite value (NaN)");
  maps[5 * PIXELS + 2 * SIDE + 3] = Infinity;
  throwsHans(() => sprayClass(maps, count, SIDE, SIDE), "non-finite value (Infinity)");
  throwsHans(() => sprayClass(new Float32Array(10), 3, 2, 2), "need 12");
  throwsHans(() => sprayClass(new Float32Array(0), 0, 2, 2), "count");
  throwsHans(() => sprayClass(new Float32Array(4), 1, 2, 2, { maxClusters: 0 }), "maxClusters");
});

function resultWith(conductance: number, share: number): SprayResult {
  return {
    eigenvalues: [],
    clusters: 2,
    eigengap: 0.1,
    assignments: new Int32Array(0),
    embedding2d: [],
    clusterSizes: [],
    conductance: [],
    meanMaps: [],
    split: { conductance, share },
  };
}

Deno.test("flagClasses flags the one class with two strategies among honest ones, from the maps alone", () => {
  // Nine classes of one blob each (at different places per class), one class with two groups of blobs.
  const results = Array.from({ length: 10 }, (_, k) => {
    const groups = k === 6
      ? [{ row: 9, col: 9, count: 27 }, { row: 19, col: 19, count: 63 }]
      : [{ row: 10 + (k % 3) * 4, col: 10 + Math.floor(k / 3) * 3, count: 90 }];
    const { maps, count } = blobMaps(groups, 20 + k);
    return sprayClass(maps, count, SIDE, SIDE, { seed: 7 });
  });
  assert.deepEqual(flagClasses(results), results.map((_, k) => k === 6));
});

Deno.test("flagClasses: conductance at most ratio × the median, smaller side at least 5%, three classes or more", () => {
  const honest = [0.1, 0.08, 0.12, 0.09, 0.11].map((c) => resultWith(c, 0.4));
  // Median of the six conductances below: 0.095 (between 0.09 and 0.1); 0.4 × 0.095 = 0.038.
  const flags = flagClasses([...honest, resultWith(0.037, 0.3)]);
  assert.deepEqual(flags, [false, false, false, false, false, true]);
  assert.deepEqual(flagClasses([...honest, resultWith(0.039, 0.3)]).some(Boolean), false);
  assert.deepEqual(flagClasses([...honest, resultWith(0.01, 0.05)])[5], true);
  assert.deepEqual(flagClasses([...honest, resultWith(0.01, 0.04)])[5], false, "too small a group");
  assert.deepEqual(flagClasses([...honest, resultWith(0.01, 0.04)], { minShare: 0.01 })[5], true);
  assert.deepEqual(flagClasses([...honest, resultWith(0.05, 0.3)], { ratio: 0.6 })[5], true);
  assert.deepEqual(
    flagClasses([resultWith(0.001, 0.3), resultWith(0.2, 0.3)]),
    [false, false],
    "too few classes",
  );
  const allCut = [0, 0, 0, 0.1].map((c) => resultWith(c, 0.3));
  assert.deepEqual(flagClasses(allCut).some(Boolean), false, "a median of 0: nothing stands out");
});

Deno.test("artifactPurityRecall on hand-made assignments", () => {
  const assignments = new Int32Array([0, 0, 0, 1, 1, 1, 1, 2, 2, 2]);
  const stamped = [false, true, false, true, true, true, false, false, true, false];
  // Stamped per cluster: 0 -> 1, 1 -> 3 (of 4), 2 -> 1; five stamped in all.
  assert.deepEqual(artifactPurityRecall(assignments, stamped), { purity: 0.75, recall: 0.6, cluster: 1 });
  // A tie between clusters 0 and 2 (two each) goes to the lower index: purity 2/3, recall 2/4.
  const tie = [true, true, false, false, false, false, false, true, true, false];
  const result = artifactPurityRecall(assignments, tie);
  assert.deepEqual(result.cluster, 0);
  assert(Math.abs(result.purity - 2 / 3) <= 1e-12, `${result.purity}`);
  assert.deepEqual(result.recall, 0.5);
  // The same tie with the higher cluster seen first still goes to cluster 0.
  const reversed = new Int32Array([2, 2, 2, 1, 1, 1, 1, 0, 0, 0]);
  assert.deepEqual(artifactPurityRecall(reversed, [...tie].reverse()).cluster, 0);
  assert.deepEqual(artifactPurityRecall(assignments, new Array(10).fill(false)), {
    purity: 0,
    recall: 0,
    cluster: -1,
  });
  throwsHans(() => artifactPurityRecall(assignments, [true]), "one flag per sample");
});
