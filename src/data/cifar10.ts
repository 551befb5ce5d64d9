/**
 * CIFAR-10 (32x32 color photos, 10 classes) in its binary batch format: each record is one label byte, then
 * 1024 red, 1024 green and 1024 blue bytes, each plane 32x32 row-major.
 * @module
 */
import { HansError } from "../errors.ts";
import type { Dataset, DatasetSplit } from "./dataset.ts";
import { displayUrl, downloadDeadline, fetchBytes, isHttpUrl } from "./fetch.ts";
import { checkRegularFile, readFileBounded } from "./read.ts";
import { checkMemory, keepMemory } from "../limits.ts";
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
  /**
   * Which images of each part to decode, in order, as positions into it (all when absent): a run that keeps
   * a sample decodes only the sample, so a large batch costs its bytes, not four times them as floats.
   */
  pick?: (part: "train" | "test", count: number) => number[];
}

/** One part of a split before decoding: the batches' bytes and which records (by global index) it holds. */
interface RecordSource {
  batches: Uint8Array[];
  records: number[];
}

/**
 * Decodes a CIFAR-10 binary batch into a data set (NHWC, 3 channels, pixels in [0, 1]); throws a
 * `HansError` naming `name` unless the length is a positive multiple of 3073 and every label is in 0..9.
 */
export function parseCifarBatch(bytes: Uint8Array, name: string): Dataset {
  const count = checkBatch(bytes, name);
  return decodeRecords({ batches: [bytes], records: [...Array(count).keys()] }, undefined, name);
}

/**
 * Loads CIFAR-10 from `source`: the official `cifar-10-batches-bin` folder (the `data_batch_N.bin` present
 * are the training part, `test_batch.bin` the test part; both kinds required), the official `.tar.gz`
 * archive of that folder (a path or an http(s) URL), or a single `.bin` batch (a path or an http(s) URL),
 * which is split by a seeded stratified shuffle with 1/6 of each class for testing.
 */
export async function loadCifar10(source: string, options: Cifar10Options): Promise<DatasetSplit> {
  if (isHttpUrl(source)) {
    const deadline = downloadDeadline(
      options.fetchTimeoutMs,
      "the whole CIFAR-10 download (redirects included)",
      "check the connection, or download the file and pass its path",
    );
    return fromFileBytes(await fetchBytes(source, { deadline }), displayUrl(source), options);
  }
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(source);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    throw new HansError(`cifar10: ${source} does not exist; give ${FORMS}.`);
  }
  if (info.isDirectory) return fromBatches(await readBatchFolder(source), source, options);
  return fromFileBytes(await readFileBounded(source, "cifar10:"), source, options);
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

/**
 * Decodes the records of `source` (planar RGB) into NHWC floats: those at the positions `pick` gives, or
 * all; the floats are checked against the run's memory budget first.
 */
function decodeRecords(
  source: RecordSource,
  pick: ((count: number) => number[]) | undefined,
  name: string,
): Dataset {
  const positions = pick ? pick(source.records.length) : [...source.records.keys()];
  checkMemory(
    positions.length * 3 * PLANE * 4,
    `${positions.length} CIFAR-10 images of ${name} as floats`,
    "sample fewer (--train-size, --test-size)",
    "data",
  );
  const images = new Float32Array(positions.length * 3 * PLANE);
  keepMemory(images);
  const labels = new Int32Array(positions.length);
  // Records are numbered across the batches in order: batch b holds those from starts[b] on.
  const starts = [0];
  for (const batch of source.batches) starts.push(starts[starts.length - 1] + batch.length / RECORD);
  positions.forEach((position, i) => {
    const r = source.records[position];
    let b = 0;
    while (r >= starts[b + 1]) b++;
    const bytes = source.batches[b];
    const base = (r - starts[b]) * RECORD;
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
    count: positions.length,
    height: 32,
    width: 32,
    channels: 3,
    classNames: [...CIFAR10_CLASS_NAMES],
  };
}

/** A `.tar.gz` archive of the batch folder, or a single batch to split. */
async function fromFileBytes(
  bytes: Uint8Array,
  name: string,
  options: Cifar10Options,
): Promise<DatasetSplit> {
  if (isGzip(bytes)) {
    const batches = new Map<string, Uint8Array>();
    for (const entry of readTar(await gunzip(bytes, name), name)) {
      batches.set(entry.path.split("/").pop()!, entry.data);
    }
    return fromBatches(batches, name, options);
  }
  const count = checkBatch(bytes, name);
  const split = stratifiedSplit(
    Array.from({ length: count }, (_, r) => bytes[r * RECORD]),
    { testCount: Math.round(count / 6), seed: options.seed },
  );
  if (split.test.length === 0) {
    throw new HansError(
      `${name}: ${count} images are too few to split into training and test images; give a batch with ` +
        `at least two images of some class.`,
    );
  }
  return {
    train: decodeRecords({ batches: [bytes], records: split.train }, pickOf(options, "train"), name),
    test: decodeRecords({ batches: [bytes], records: split.test }, pickOf(options, "test"), name),
  };
}

function pickOf(options: Cifar10Options, part: "train" | "test") {
  const pick = options.pick;
  return pick ? (count: number) => pick(part, count) : undefined;
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
  // All the batches are held at once: their sizes together must fit the memory budget before any is read.
  let total = 0;
  for (const name of names) total += (await checkRegularFile(`${folder}/${name}`, "cifar10:")).size;
  checkMemory(total, `the ${names.length} CIFAR-10 batch files of ${folder}`);
  const batches = new Map<string, Uint8Array>();
  for (const name of names) batches.set(name, await readFileBounded(`${folder}/${name}`, "cifar10:"));
  return batches;
}

/** Training part from the data batches (in number order), test part from test_batch.bin. */
function fromBatches(
  batches: Map<string, Uint8Array>,
  where: string,
  options: Cifar10Options,
): DatasetSplit {
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
  const trainCount = parts.reduce((sum, part) => sum + part.length / RECORD, 0);
  const testCount = checkBatch(test, `${where}: ${TEST_BATCH}`);
  return {
    train: decodeRecords(
      { batches: parts, records: [...Array(trainCount).keys()] },
      pickOf(options, "train"),
      where,
    ),
    test: decodeRecords(
      { batches: [test], records: [...Array(testCount).keys()] },
      pickOf(options, "test"),
      where,
    ),
  };
}

function listed(names: string[]): string {
  if (names.length === 0) return "neither";
  return names.length <= 8
    ? names.join(", ")
    : `${names.slice(0, 8).join(", ")} and ${names.length - 8} more`;
}
