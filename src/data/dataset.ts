/**
 * The `Dataset` type every loader returns and every task consumes, with small helpers to slice it.
 * @module
 */
import { HansError } from "../errors.ts";
import { Rng } from "../rng.ts";

/** Images with integer labels. Pixels are float32 in [0, 1], row-major `[count, height, width, channels]`. */
export interface Dataset {
  /** Short name, e.g. `mnist`. */
  name: string;
  /** Pixel values, `count * height * width * channels` of them, each in [0, 1]. */
  images: Float32Array;
  /** Class index per image, each in `[0, classNames.length)`. */
  labels: Int32Array;
  /** Number of images. */
  count: number;
  height: number;
  width: number;
  /** 1 (grayscale) or 3 (RGB). */
  channels: number;
  /** Human-readable class names; the index is the label. */
  classNames: string[];
}

/** A training and a test part of one data set. */
export interface DatasetSplit {
  train: Dataset;
  test: Dataset;
}

/** Number of values in one image of `data`. */
export function imageSize(data: Pick<Dataset, "height" | "width" | "channels">): number {
  return data.height * data.width * data.channels;
}

/** A new data set holding the images at `indices` (copied), in that order. */
export function subset(data: Dataset, indices: ArrayLike<number>): Dataset {
  const size = imageSize(data);
  const images = new Float32Array(indices.length * size);
  const labels = new Int32Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const k = indices[i];
    images.set(data.images.subarray(k * size, (k + 1) * size), i * size);
    labels[i] = data.labels[k];
  }
  return { ...data, images, labels, count: indices.length };
}

/** The first `count` images of a seeded shuffle of `data` (all of them when `count` is larger). */
export function sample(data: Dataset, count: number, seed: number): Dataset {
  const order = new Rng(seed).shuffle([...Array(data.count).keys()]);
  return subset(data, order.slice(0, Math.min(count, data.count)));
}

/** Indices of the images whose label is `label`. */
export function indicesOfClass(data: Dataset, label: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < data.count; i++) if (data.labels[i] === label) out.push(i);
  return out;
}

/**
 * Checks the invariants of a data set and throws a `HansError` naming the first one broken: sizes agree,
 * pixels are finite and in [0, 1], and labels are in range.
 */
export function validateDataset(data: Dataset): void {
  const size = imageSize(data);
  if (data.count <= 0) {
    throw new HansError(`${data.name}: the data set is empty; give it at least one image.`);
  }
  if (data.images.length !== data.count * size || data.labels.length !== data.count) {
    throw new HansError(
      `${data.name}: ${data.images.length} pixel values and ${data.labels.length} labels do not fit ` +
        `${data.count} images of ${data.height}x${data.width}x${data.channels}.`,
    );
  }
  for (let i = 0; i < data.images.length; i++) {
    const v = data.images[i];
    if (!Number.isFinite(v) || v < 0 || v > 1) {
      throw new HansError(
        `${data.name}: image ${
          Math.floor(i / size)
        } has pixel value ${v}; pixels must be finite and in [0, 1].`,
      );
    }
  }
  for (let i = 0; i < data.count; i++) {
    const label = data.labels[i];
    if (!Number.isInteger(label) || label < 0 || label >= data.classNames.length) {
      throw new HansError(
        `${data.name}: image ${i} has label ${label}, outside 0..${data.classNames.length - 1}.`,
      );
    }
  }
}
