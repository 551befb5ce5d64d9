/**
 * CIFAR-10 (32x32 color photos, 10 classes) in its binary batch format: each record is one label byte, then
 * 1024 red, 1024 green and 1024 blue bytes, each plane 32x32 row-major.
 * @module
 */
import { HansError } from "../errors.ts";
import type { Dataset, DatasetSplit } from "./dataset.ts";
import { fetchBytes, isHttpUrl } from "./fetch.ts";
import { readFileBounded } from "./read.ts";
import { stratifiedSplit } from "./split.ts";
import { gunzip, isGzip, readTar } from "./tar.ts";

/** Class names of CIFAR-10; the index is the label. */
export const CIFAR10_CLASS_NAMES: string[] = [
  "airplane",
  "automobile",
  "bird",
  "cat",
  "deer",
  "dog",
  "frog",
  "horse",
  "ship",
  "truck",
];

const PLANE = 32 * 32;
const RECORD = 1 + 3 * PLANE;
const DATA_BATCH = /^data_batch_([1-9])\.bin$/;
const TEST_BATCH = "test_batch.bin";
const FORMS = "the cifar-10-batches-bin folder, one .bin batch file, the cifar-10-binary.tar.gz archive, " +
  "or an http(s) URL of a .bin or .tar.gz";

/** Options of `loadCifar10`. */
export interface Cifar10Options {
  /** Seed of the train/test split of a single `.bin` file (unused when the source has test_batch.bin). */
  seed: number;
  /** Time limit of a download in milliseconds (default 60000). */
  fetchTimeoutMs?: number;
}

/**
 * Decodes a CIFAR-10 binary batch into a data set (NHWC, 3 channels, pixels in [0, 1]); throws a
 * `HansError` naming `name` unless the length is a positive multiple of 3073 and every label is in 0..9.
 */
export function parseCifarBatch(bytes: Uint8Array, name: string): Dataset {
  const count = checkBatch(bytes, name);
  return decodeRecords(bytes, [...Array(count).keys()]);
}

/**
 * Loads CIFAR-10 from `source`: the official `cifar-10-batches-bin` folder (the `data_batch_N.bin` present
 * are the training part, `test_batch.bin` the test part; both kinds required), the official `.tar.gz`
 * archive of that folder (a path or an http(s) URL), or a single `.bin` batch (a path or an http(s) URL),
 * which is split by a seeded stratified shuffle with 1/6 of each class for testing.
 */
export async function loadCifar10(source: string, options: Cifar10Options): Promise<DatasetSplit> {
  if (isHttpUrl(source)) {
    return fromFileBytes(
      await fetchBytes(source, { timeoutMs: options.fetchTimeoutMs }),
      source,
      options.seed,
    );
  }
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(source);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    throw new HansError(`cifar10: ${source} does not exist; give ${FORMS}.`);
  }
  if (info.isDirectory) return fromBatches(await readBatchFolder(source), source);
  return fromFileBytes(await readFileBounded(source, "cifar10:"), source, options.seed);
}

/** Checks the batch format and returns the number of records. */
function checkBatch(bytes: Uint8Array, name: string): number {
  if (bytes.length === 0 || bytes.length % RECORD !== 0) {
    throw new HansError(
      `${name}: ${bytes.length} bytes is not a CIFAR-10 batch; expected a positive multiple of ${RECORD} ` +
        `(1 label byte + 3072 pixel bytes per image). Is the file cut short?`,
    );
  }
  const count = bytes.length / RECORD;
  for (let r = 0; r < count; r++) {
    const label = bytes[r * RECORD];
    if (label > 9) {
      throw new HansError(`${name}: record ${r} has label ${label}, expected 0..9; is this CIFAR-100?`);
    }
  }
  return count;
}

/** Decodes the records at `indices` (planar RGB) into NHWC floats. */
function decodeRecords(bytes: Uint8Array, indices: number[]): Dataset {
  const images = new Float32Array(indices.length * 3 * PLANE);
  const labels = new Int32Array(indices.length);
  indices.forEach((r, i) => {
    const base = r * RECORD;
    labels[i] = bytes[base];
    const out = i * 3 * PLANE;
    for (let p = 0; p < PLANE; p++) {
      for (let c = 0; c < 3; c++) images[out + p * 3 + c] = bytes[base + 1 + c * PLANE + p] / 255;
    }
  });
  return {
    name: "cifar10",
    images,
    labels,
    count: indices.length,
    height: 32,
    width: 32,
    channels: 3,
    classNames: [...CIFAR10_CLASS_NAMES],
  };
}

/** A `.tar.gz` archive of the batch folder, or a single batch to split. */
async function fromFileBytes(bytes: Uint8Array, name: string, seed: number): Promise<DatasetSplit> {
  if (isGzip(bytes)) {
    const batches = new Map<string, Uint8Array>();
    for (const entry of readTar(await gunzip(bytes, name), name)) {
      batches.set(entry.path.split("/").pop()!, entry.data);
    }
    return fromBatches(batches, name);
  }
  const count = checkBatch(bytes, name);
  const split = stratifiedSplit(
    Array.from({ length: count }, (_, r) => bytes[r * RECORD]),
    { testCount: Math.round(count / 6), seed },
  );
  if (split.test.length === 0) {
    throw new HansError(
      `${name}: ${count} images are too few to split into training and test images; give a batch with ` +
        `at least two images of some class.`,
    );
  }
  return { train: decodeRecords(bytes, split.train), test: decodeRecords(bytes, split.test) };
}

/** The batch files of a folder (or of its `cifar-10-batches-bin` sub-folder), by file name. */
async function readBatchFolder(folder: string): Promise<Map<string, Uint8Array>> {
  const names: string[] = [];
  let nested = false;
  for await (const entry of Deno.readDir(folder)) {
    if (entry.isFile && (DATA_BATCH.test(entry.name) || entry.name === TEST_BATCH)) names.push(entry.name);
    if (entry.isDirectory && entry.name === "cifar-10-batches-bin") nested = true;
  }
  if (names.length === 0 && nested) return readBatchFolder(`${folder}/cifar-10-batches-bin`);
  const batches = new Map<string, Uint8Array>();
  for (const name of names) batches.set(name, await readFileBounded(`${folder}/${name}`, "cifar10:"));
  return batches;
}

/** Training part from the data batches (in number order), test part from test_batch.bin. */
function fromBatches(batches: Map<string, Uint8Array>, where: string): DatasetSplit {
  const dataNames = [...batches.keys()].filter((name) => DATA_BATCH.test(name)).sort();
  const test = batches.get(TEST_BATCH);
  if (dataNames.length === 0 || !test) {
    throw new HansError(
      `cifar10: ${where} must hold test_batch.bin and at least one data_batch_N.bin (the binary version ` +
        `of CIFAR-10, not the python or matlab one); found ${listed([...batches.keys()])}.`,
    );
  }
  const parts = dataNames.map((name) => {
    const bytes = batches.get(name)!;
    checkBatch(bytes, `${where}: ${name}`);
    return bytes;
  });
  const train = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    train.set(part, offset);
    offset += part.length;
  }
  const testCount = checkBatch(test, `${where}: ${TEST_BATCH}`);
  return {
    train: decodeRecords(train, [...Array(train.length / RECORD).keys()]),
    test: decodeRecords(test, [...Array(testCount).keys()]),
  };
}

function listed(names: string[]): string {
  if (names.length === 0) return "neither";
  return names.length <= 8
    ? names.join(", ")
    : `${names.slice(0, 8).join(", ")} and ${names.length - 8} more`;
}
