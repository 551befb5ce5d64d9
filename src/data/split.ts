/**
 * Seeded stratified train/test splits, for the loaders whose source has no split of its own.
 * @module
 */
import { Rng } from "../rng.ts";

/** Indices of the training and the test images of a split. */
export interface SplitIndices {
  /** Indices of the training images, in a seeded random order. */
  train: number[];
  /** Indices of the test images, in a seeded random order. */
  test: number[];
}

/** Options of `stratifiedSplit`. */
export interface StratifiedSplitOptions {
  /** How many images go to the test part in total (each class gives its share, rounded). */
  testCount: number;
  /** Seed of the shuffle; the same seed and labels give the same split. */
  seed: number;
}

/**
 * Splits images by class so that each class gives its share of `testCount` to the test part (largest
 * remainder rounding, so the total is exact unless a class is tiny). A class with 2 or more images keeps at
 * least one test and one training image; a class with one image keeps it for training. Both index lists come
 * back in a seeded random order, classes mixed.
 */
export function stratifiedSplit(labels: ArrayLike<number>, options: StratifiedSplitOptions): SplitIndices {
  const { testCount, seed } = options;
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < labels.length; i++) {
    const members = byClass.get(labels[i]);
    if (members) members.push(i);
    else byClass.set(labels[i], [i]);
  }
  const classes = [...byClass.keys()].sort((a, b) => a - b).map((label) => byClass.get(label)!);
  const quotas = shares(classes.map((members) => members.length), testCount);
  const rng = new Rng(seed);
  const train: number[] = [];
  const test: number[] = [];
  classes.forEach((members, c) => {
    const quota = members.length < 2 ? 0 : Math.min(Math.max(quotas[c], 1), members.length - 1);
    const order = rng.shuffle([...members]);
    test.push(...order.slice(0, quota));
    train.push(...order.slice(quota));
  });
  return { train: rng.shuffle(train), test: rng.shuffle(test) };
}

/** Splits `total` over groups in proportion to their sizes, rounding by largest remainder. */
function shares(sizes: number[], total: number): number[] {
  const sum = sizes.reduce((a, b) => a + b, 0);
  const exact = sizes.map((size) => (size * total) / sum);
  const out = exact.map(Math.floor);
  let left = total - out.reduce((a, b) => a + b, 0);
  const byRemainder = [...exact.keys()].sort((a, b) => (exact[b] % 1) - (exact[a] % 1) || a - b);
  for (const i of byRemainder) {
    if (left <= 0) break;
    out[i]++;
    left--;
  }
  return out;
}
