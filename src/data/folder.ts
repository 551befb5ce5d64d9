/**
 * Images from a folder with one sub-folder per class (`pets/cat/1.png`, `pets/dog/7.jpg`), decoded with
 * imagescript and split by a seeded stratified shuffle.
 * @module
 */
import { decodeImageBytes } from "./decode_image.ts";
import { fitImage } from "./resize.ts";
import { readFileBounded } from "./read.ts";
import { maxPixels } from "../limits.ts";
import { HansError } from "../errors.ts";
import { type Dataset, type DatasetSplit, sample } from "./dataset.ts";
import { stratifiedSplit } from "./split.ts";

/** Options of `loadImageFolder`. */
export interface ImageFolderOptions {
  /** Seed of the train/test split. */
  seed: number;
  /** Share of each class that goes to the test part, in (0, 1) (default 0.2). */
  testFraction?: number;
  /**
   * Fit every image to this size (a model's input): centre-cropped to its aspect ratio, resampled with an
   * antialiased bilinear filter, converted to `channels`. Without it every image must have the same size.
   */
  fit?: { height: number; width: number; channels: 1 | 3 };
}

/** What {@link loadImageFolder} did to fit the images, in words, for reports; empty when nothing. */
export interface FolderNotes {
  /** One sentence per change, e.g. "37 of 40 images were centre-cropped …". */
  notes: string[];
}

/** One decoded image: RGBA bytes, row-major. */
interface Decoded {
  file: string;
  width: number;
  height: number;
  rgba: Uint8Array;
}

const IMAGE_FILE = /\.(png|jpe?g)$/i;

/**
 * Loads a folder of labelled images: each sub-folder is a class (sorted names are the class names) holding
 * PNG or JPEG files, all of the same width and height. Channels are 1 when every pixel of every image is gray
 * (R = G = B), else 3; alpha is dropped. Each class gives `testFraction` of its images (rounded; at least
 * one when it has two or more) to the test part. Hidden entries and files of other types are skipped.
 */
export async function loadImageFolder(
  path: string,
  options: ImageFolderOptions,
): Promise<DatasetSplit & FolderNotes> {
  const testFraction = options.testFraction ?? 0.2;
  if (!(testFraction > 0 && testFraction < 1)) {
    throw new HansError(`folder: testFraction ${testFraction} must be between 0 and 1 (exclusive).`);
  }
  const classNames = await classFolders(path);
  const images: Decoded[] = [];
  const labels: number[] = [];
  const fit = options.fit;
  const fitted: Float32Array[] = [];
  const seen = { resized: 0, cropped: 0, gray: 0, colour: 0, total: 0 };
  let kept = 0;
  for (const [label, className] of classNames.entries()) {
    const files = await imageFiles(`${path}/${className}`);
    for (const file of files) {
      const image = await decodeFile(file);
      // The pixels kept in memory: the model's size for a fitted image, the image's own otherwise.
      kept += fit ? fit.width * fit.height : image.width * image.height;
      if (kept > maxPixels()) {
        throw new HansError(
          `${path}: the images hold more than ${maxPixels() / 1e6} megapixels in all${
            fit ? ` at the model's ${fit.width}x${fit.height}` : ""
          }; use fewer or smaller images, or raise HANS_MAX_MEGAPIXELS.`,
        );
      }
      if (fit) {
        // Fitted at once, so memory holds the model-sized copies only.
        seen.total++;
        if (image.width !== fit.width || image.height !== fit.height) seen.resized++;
        if (image.width * fit.height !== image.height * fit.width) seen.cropped++;
        if (isGray(image)) seen.gray++;
        else seen.colour++;
        fitted.push(fitImage(image, fit.width, fit.height, fit.channels));
        labels.push(label);
        continue;
      }
      const first = images[0];
      if (first && (image.width !== first.width || image.height !== first.height)) {
        throw new HansError(
          `${file} is ${image.width}x${image.height} but ${first.file} is ${first.width}x${first.height}; ` +
            `this task needs images of one size, so give the folder images that all have the same size.`,
        );
      }
      images.push(image);
      labels.push(label);
    }
  }
  const count = fit ? fitted.length : images.length;
  const split = stratifiedSplit(labels, {
    testCount: Math.round(count * testFraction),
    seed: options.seed,
  });
  if (split.test.length === 0) {
    throw new HansError(
      `${path}: ${count} images are too few to split; give some class at least two images.`,
    );
  }
  if (fit) {
    const name = (await Deno.realPath(path)).split(/[\\/]/).pop() || "folder";
    const meta = { name, classNames, ...fit };
    return {
      train: assembleFitted(meta, fitted, labels, split.train),
      test: assembleFitted(meta, fitted, labels, split.test),
      notes: fitNotes(seen, fit),
    };
  }
  const channels = images.every(isGray) ? 1 : 3;
  const name = (await Deno.realPath(path)).split(/[\\/]/).pop() || "folder";
  const meta = { name, channels, classNames, height: images[0].height, width: images[0].width };
  return {
    train: assemble(meta, images, labels, split.train),
    test: assemble(meta, images, labels, split.test),
    notes: [],
  };
}

function fitNotes(
  seen: { resized: number; cropped: number; gray: number; colour: number; total: number },
  fit: { height: number; width: number; channels: 1 | 3 },
): string[] {
  const notes: string[] = [];
  const of = (n: number) => `${n} of ${seen.total} image${seen.total === 1 ? "" : "s"}`;
  if (seen.cropped > 0) {
    notes.push(
      `${of(seen.cropped)} had another aspect ratio and were centre-cropped to ${fit.width}:${fit.height}.`,
    );
  }
  if (seen.resized > 0) {
    notes.push(
      `${
        of(seen.resized)
      } were resized to ${fit.width}x${fit.height} (antialiased bilinear, half-pixel centres).`,
    );
  }
  if (fit.channels === 1 && seen.colour > 0) {
    notes.push(
      `${
        of(seen.colour)
      } were in colour and were turned gray (luma 0.299 R + 0.587 G + 0.114 B) for a gray model.`,
    );
  }
  if (fit.channels === 3 && seen.gray > 0 && seen.colour === 0) {
    notes.push(`the images are gray; the gray value was copied into R, G and B for an RGB model.`);
  }
  return notes;
}

function assembleFitted(
  meta: Pick<Dataset, "name" | "channels" | "classNames" | "height" | "width">,
  images: Float32Array[],
  labels: number[],
  indices: number[],
): Dataset {
  const size = meta.height * meta.width * meta.channels;
  const out = new Float32Array(indices.length * size);
  indices.forEach((k, i) => out.set(images[k], i * size));
  return {
    ...meta,
    classNames: [...meta.classNames],
    images: out,
    labels: Int32Array.from(indices, (k) => labels[k]),
    count: indices.length,
  };
}

/** Sorted names of the class sub-folders of `path`. */
async function classFolders(path: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(path)) {
      if (entry.name.startsWith(".")) continue;
      const isFolder = entry.isDirectory ||
        (entry.isSymlink && (await Deno.stat(`${path}/${entry.name}`)).isDirectory);
      if (isFolder) names.push(entry.name);
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) throw new HansError(`${path} does not exist.`);
    if (error instanceof Deno.errors.NotADirectory) {
      throw new HansError(`${path} is not a folder; give a folder with one sub-folder of images per class.`);
    }
    throw error;
  }
  if (names.length === 0) {
    throw new HansError(
      `${path} has no sub-folders; put each class's images in a sub-folder named after the class ` +
        `(e.g. ${path}/cat/1.png).`,
    );
  }
  return names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Sorted paths of the PNG and JPEG files in `folder`; throws when there are none. */
async function imageFiles(folder: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(folder)) {
    if (!entry.name.startsWith(".") && !entry.isDirectory && IMAGE_FILE.test(entry.name)) {
      names.push(entry.name);
    }
  }
  if (names.length === 0) {
    throw new HansError(
      `class folder ${folder} holds no .png, .jpg or .jpeg files; add images or remove it.`,
    );
  }
  return names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).map((name) => `${folder}/${name}`);
}

async function decodeFile(file: string): Promise<Decoded> {
  const image = await decodeImageBytes(await readFileBounded(file, "image"), file);
  return { file, width: image.width, height: image.height, rgba: image.rgba };
}

function isGray(image: Decoded): boolean {
  const { rgba } = image;
  for (let i = 0; i < rgba.length; i += 4) {
    if (rgba[i] !== rgba[i + 1] || rgba[i] !== rgba[i + 2]) return false;
  }
  return true;
}

function assemble(
  meta: Pick<Dataset, "name" | "channels" | "classNames" | "height" | "width">,
  images: Decoded[],
  labels: number[],
  indices: number[],
): Dataset {
  const pixels = meta.height * meta.width;
  const out = new Float32Array(indices.length * pixels * meta.channels);
  indices.forEach((k, i) => {
    const rgba = images[k].rgba;
    for (let p = 0; p < pixels; p++) {
      for (let c = 0; c < meta.channels; c++) {
        out[(i * pixels + p) * meta.channels + c] = rgba[p * 4 + c] / 255;
      }
    }
  });
  return {
    ...meta,
    classNames: [...meta.classNames],
    images: out,
    labels: Int32Array.from(indices, (k) => labels[k]),
    count: indices.length,
  };
}

/**
 * Labelled test images from a folder of class sub-folders, with the class names (one per line) of a labels
 * file in the model's output order: every image of the folder (both parts of the split, so `testSize` samples
 * from all), labelled by its folder's position in the labels file, fitted to `fit` when given. A folder that
 * is not named in the labels file is a HansError.
 *
 * @example
 * ```ts
 * const { test, notes } = await loadLabelledFolder("photos", "labels.txt", { seed: 1, fit: { height: 224, width: 224, channels: 3 } });
 * ```
 */
export async function loadLabelledFolder(
  folder: string,
  labelsFile: string,
  options: { seed: number; testSize?: number; fit?: { height: number; width: number; channels: 1 | 3 } },
): Promise<{ test: Dataset; notes: string[] }> {
  const names = new TextDecoder().decode(await readFileBounded(labelsFile, "--labels")).split("\n")
    .map((l) => l.trim()).filter((l) => l.length > 0);
  const split = await loadImageFolder(folder, { seed: options.seed, testFraction: 0.5, fit: options.fit });
  const all = concatDatasets(split.train, split.test);
  const labels = all.labels.map((l) => {
    const k = names.indexOf(all.classNames[l]);
    if (k < 0) {
      throw new HansError(
        `class folder "${
          all.classNames[l]
        }" is not in --labels ${labelsFile}; name folders after the labels.`,
      );
    }
    return k;
  });
  const data = { ...all, labels: Int32Array.from(labels), classNames: names };
  return { test: options.testSize ? sample(data, options.testSize, options.seed) : data, notes: split.notes };
}

function concatDatasets(a: Dataset, b: Dataset): Dataset {
  const images = new Float32Array(a.images.length + b.images.length);
  images.set(a.images);
  images.set(b.images, a.images.length);
  const labels = new Int32Array(a.count + b.count);
  labels.set(a.labels);
  labels.set(b.labels, a.count);
  return { ...a, images, labels, count: a.count + b.count };
}
