/**
 * Images from a folder with one sub-folder per class (`pets/cat/1.png`, `pets/dog/7.jpg`), decoded with
 * imagescript and split by a seeded stratified shuffle.
 * @module
 */
import { decodeImageBytes } from "./decode_image.ts";
import { fitImage } from "./resize.ts";
import { readFileBounded } from "./read.ts";
import { checkMemory, dataBudget, keepMemory, keptMemory, maxPixels, megabytes } from "../limits.ts";
import { HansError } from "../errors.ts";
import type { Dataset, DatasetSplit } from "./dataset.ts";
import { stratifiedSplit } from "./split.ts";
import { Rng } from "../rng.ts";

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
  /**
   * Without `fit`, the smallest width and height accepted (default {@link MIN_IMAGE_SIDE}, what the CNN that
   * hans trains on images of their own size needs).
   */
  minSide?: number;
  /**
   * Which images of each part to keep, in order, as positions into it (all when absent): a run that keeps a
   * sample reads and decodes only the sample (as `loadCifar10`'s `pick`).
   */
  pick?: (part: "train" | "test", count: number) => number[];
}

/**
 * Smallest width and height of images used at their own size (without `fit`): the CNN that clever-hans and
 * pretrain train on them (`createCnn`) halves the image twice with 2x2 max-pooling, and an image under 4x4
 * leaves it nothing (1x1 failed in WebGPU with a dispatch size over its limits, 2x2 and 3x3 with "memory
 * access out of bounds").
 */
export const MIN_IMAGE_SIDE = 4;
/**
 * Memory kept free, on top of the decoded images, for reading and decoding them: an image's bytes, the
 * decoder's buffers and its RGBA pixels, and the garbage of the images before it that is not yet collected
 * (reading a file through its stream leaves about 64 KB however small the file; for 1,270 small PNGs the
 * process grew by about 100 MB besides the pixels, and as much for 5,000).
 */
export const DECODE_SLACK_BYTES = 128 * 2 ** 20;
/** Lines a `--labels` file may have at most (ImageNet-21k has 21,843 classes). */
export const MAX_LABELS = 100_000;
/** Bytes a line of a `--labels` file may have at most. */
export const MAX_LABEL_BYTES = 1024;

/** What {@link loadImageFolder} did to fit the images, in words, for reports; empty when nothing. */
export interface FolderNotes {
  /** One sentence per change, e.g. "37 of 40 images were centre-cropped …". */
  notes: string[];
}

/** An image file of the folder and the index of its class. */
interface ImageFile {
  file: string;
  label: number;
}

const IMAGE_FILE = /\.(png|jpe?g)$/i;

/**
 * Loads a folder of labelled images: each sub-folder is a class (sorted names are the class names) holding
 * PNG or JPEG files, all of the same width and height (at least {@link MIN_IMAGE_SIDE}). Channels are 1 when
 * every pixel of every image is gray (R = G = B), else 3; alpha is dropped. Each class gives `testFraction`
 * of its images (rounded; at least one when it has two or more) to the test part. Hidden entries and files of
 * other types are skipped.
 *
 * Memory: the files are listed and split first, and the float32 pixels the two parts keep are checked against
 * `HANS_MAX_MEGAPIXELS` and the memory budget (`checkMemory`) before the images are decoded (with `fit`, before
 * the first one; without, after it, once its size is known). Then the images are decoded one at a time, each
 * straight into its place in its part.
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
  const files = await listImages(path, classNames);
  const labels = files.map((f) => f.label);
  const split = stratifiedSplit(labels, {
    testCount: Math.round(files.length * testFraction),
    seed: options.seed,
  });
  if (split.test.length === 0) {
    throw new HansError(
      `${path}: ${files.length} images are too few to split; give some class at least two images.`,
    );
  }
  const kept = [split.train, split.test].map((indices, i) => {
    if (!options.pick) return indices;
    return options.pick(i === 0 ? "train" : "test", indices.length).map((position) => {
      if (!(position >= 0 && position < indices.length)) {
        throw new RangeError(`pick gave position ${position} of a part of ${indices.length} images`);
      }
      return indices[position];
    });
  });
  const parts = await decodeInto(path, files, kept, options);
  parts.images.forEach(keepMemory);
  const name = (await Deno.realPath(path)).split(/[\\/]/).pop() || "folder";
  const [train, test] = kept.map((indices, i): Dataset => ({
    name,
    classNames: [...classNames],
    height: parts.height,
    width: parts.width,
    channels: parts.channels,
    images: parts.images[i],
    labels: Int32Array.from(indices, (k) => labels[k]),
    count: indices.length,
  }));
  return { train, test, notes: parts.notes };
}

/** The decoded pixels of {@link decodeInto}: one array per group of files, and their shape. */
interface DecodedParts {
  images: Float32Array[];
  height: number;
  width: number;
  channels: number;
  notes: string[];
}

/**
 * Decodes the files of each group (indices into `files`) into one float32 array per group, in the group's
 * order: fitted to `options.fit`, or at their own size (all one size, at least `options.minSide`), 1 channel
 * while every image is gray, widened to 3 at the first colour one. The files are read in their listed order,
 * one at a time. The kept pixels are checked against `HANS_MAX_MEGAPIXELS` and the memory budget before they
 * are allocated.
 */
async function decodeInto(
  path: string,
  files: ImageFile[],
  groups: number[][],
  options: Pick<ImageFolderOptions, "fit" | "minSide">,
): Promise<DecodedParts> {
  const fit = options.fit;
  const minSide = options.minSide ?? MIN_IMAGE_SIDE;
  const group = new Int32Array(files.length).fill(-1);
  const slot = new Int32Array(files.length);
  groups.forEach((indices, g) => indices.forEach((k, i) => [group[k], slot[k]] = [g, i]));
  const kept = groups.reduce((n, indices) => n + indices.length, 0);
  /** Refuses what the kept images would hold at `height`x`width`x`channels`, before it is allocated. */
  const checkKept = (height: number, width: number, channels: number, at: string) => {
    if (kept * width * height > maxPixels()) {
      throw new HansError(
        `${path}: the images hold more than ${maxPixels() / 1e6} megapixels in all${at}; use fewer or ` +
          `smaller images, or raise HANS_MAX_MEGAPIXELS.`,
      );
    }
    const floats = kept * height * width * channels * 4;
    const what = `${path}: ${kept} images of ${width}x${height}x${channels}${at} as 32-bit floats`;
    // The pixels stay for the run (the data's share); decoding them needs some slack besides (the budget).
    checkMemory(floats, what, "use fewer or smaller images", "data");
    checkMemory(
      floats + DECODE_SLACK_BYTES,
      `${what}, with ${megabytes(DECODE_SLACK_BYTES)} to decode them,`,
      "use fewer or smaller images",
    );
  };
  const seen = { resized: 0, cropped: 0, gray: 0, colour: 0, total: 0 };
  let shape: { height: number; width: number; channels: number } | undefined;
  let images: Float32Array[] = [];
  let first: { file: string; width: number; height: number } | undefined;
  if (fit) {
    checkKept(fit.height, fit.width, fit.channels, ` at the model's ${fit.width}x${fit.height}`);
    shape = { ...fit };
    images = groups.map((indices) =>
      new Float32Array(indices.length * fit.height * fit.width * fit.channels)
    );
  }
  for (let k = 0; k < files.length; k++) {
    if (group[k] < 0) continue;
    const file = files[k].file;
    const image = await decodeImageBytes(await readFileBounded(file, "image"), file);
    const gray = isGray(image.rgba);
    if (fit) {
      seen.total++;
      if (image.width !== fit.width || image.height !== fit.height) seen.resized++;
      if (image.width * fit.height !== image.height * fit.width) seen.cropped++;
      if (gray) seen.gray++;
      else seen.colour++;
      const size = fit.height * fit.width * fit.channels;
      fitImage(image, fit.width, fit.height, fit.channels, images[group[k]], slot[k] * size);
      continue;
    }
    if (!first) {
      first = { file, width: image.width, height: image.height };
      if (image.width < minSide || image.height < minSide) {
        throw new HansError(
          `${file} is ${image.width}x${image.height} pixels; images used at their own size must be at least ` +
            `${minSide}x${minSide} (the CNN hans trains halves them twice), so give larger images.`,
        );
      }
      checkKept(image.height, image.width, 1, "");
      shape = { height: image.height, width: image.width, channels: 1 };
      images = groups.map((indices) => new Float32Array(indices.length * image.height * image.width));
    } else if (image.width !== first.width || image.height !== first.height) {
      throw new HansError(
        `${file} is ${image.width}x${image.height} but ${first.file} is ${first.width}x${first.height}; ` +
          `this task needs images of one size, so give the folder images that all have the same size.`,
      );
    }
    if (!gray && shape!.channels === 1) {
      // The first colour image: every image gets 3 channels, the gray ones so far their value copied.
      checkKept(image.height, image.width, 3, "");
      images = images.map(widen);
      shape!.channels = 3;
    }
    const pixels = image.width * image.height;
    const out = images[group[k]];
    const channels = shape!.channels;
    const base = slot[k] * pixels * channels;
    for (let p = 0; p < pixels; p++) {
      for (let c = 0; c < channels; c++) out[base + p * channels + c] = image.rgba[p * 4 + c] / 255;
    }
  }
  // (no shape when no image was kept: a pick of none)
  return {
    images,
    ...(shape ?? { height: 0, width: 0, channels: 1 }),
    notes: fit ? fitNotes(seen, fit) : [],
  };
}

/** A gray image array (1 channel) as 3 channels, the value copied into each. */
function widen(gray: Float32Array): Float32Array {
  const out = new Float32Array(gray.length * 3);
  for (let i = 0; i < gray.length; i++) out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = gray[i];
  return out;
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

/** Sorted names of the class sub-folders of `path` (folders, or symlinks to folders outside it). */
async function classFolders(path: string): Promise<string[]> {
  const names: string[] = [];
  let root: string | undefined;
  try {
    for await (const entry of Deno.readDir(path)) {
      if (entry.name.startsWith(".")) continue;
      let isFolder = entry.isDirectory;
      if (entry.isSymlink) {
        const link = `${path}/${entry.name}`;
        const target = await followLink(link);
        isFolder = target.isDirectory;
        if (isFolder) {
          // A class folder that is the images folder itself or one above it would hold the classes.
          root ??= await Deno.realPath(path);
          const real = await Deno.realPath(link);
          if (root === real || root.startsWith(real.endsWith("/") ? real : `${real}/`)) {
            throw new HansError(
              `class folder ${link} is a symbolic link to ${real}, which holds the images folder itself; ` +
                `a class folder holds that class's images, so remove the link.`,
            );
          }
        }
      }
      if (isFolder) names.push(entry.name);
    }
  } catch (error) {
    if (error instanceof HansError) throw error;
    if (error instanceof Deno.errors.NotFound) throw new HansError(`${path} does not exist.`);
    if (error instanceof Deno.errors.NotADirectory) {
      throw new HansError(`${path} is not a folder; give a folder with one sub-folder of images per class.`);
    }
    throw new HansError(`${path} cannot be read (${firstLine(error)}).`);
  }
  if (names.length === 0) {
    throw new HansError(
      `${path} has no sub-folders; put each class's images in a sub-folder named after the class ` +
        `(e.g. ${path}/cat/1.png).`,
    );
  }
  return names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** What the symlink `link` points to; a loop or a link to nothing is a HansError. */
async function followLink(link: string): Promise<Deno.FileInfo> {
  try {
    return await Deno.stat(link);
  } catch (error) {
    if (error instanceof Deno.errors.FilesystemLoop) {
      throw new HansError(
        `${link} is a symbolic link that loops (it leads back to itself through links); remove it.`,
      );
    }
    if (error instanceof Deno.errors.NotFound) {
      throw new HansError(`${link} is a symbolic link to nothing (its target does not exist); remove it.`);
    }
    throw new HansError(`${link} is a symbolic link that cannot be followed (${firstLine(error)}).`);
  }
}

function firstLine(error: unknown): string {
  return String((error as Error)?.message ?? error).split("\n")[0];
}

/** The image files of every class, class by class, each class's files sorted by name. */
async function listImages(path: string, classNames: string[]): Promise<ImageFile[]> {
  const files: ImageFile[] = [];
  for (const [label, className] of classNames.entries()) {
    for (const file of await imageFiles(`${path}/${className}`)) files.push({ file, label });
  }
  return files;
}

/** Sorted paths of the PNG and JPEG files in `folder`; throws when there are none. */
async function imageFiles(folder: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(folder)) {
      if (!entry.name.startsWith(".") && !entry.isDirectory && IMAGE_FILE.test(entry.name)) {
        names.push(entry.name);
      }
    }
  } catch (error) {
    throw new HansError(`class folder ${folder} cannot be read (${firstLine(error)}).`);
  }
  if (names.length === 0) {
    throw new HansError(
      `class folder ${folder} holds no .png, .jpg or .jpeg files; add images or remove it.`,
    );
  }
  return names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).map((name) => `${folder}/${name}`);
}

function isGray(rgba: Uint8Array): boolean {
  for (let i = 0; i < rgba.length; i += 4) {
    if (rgba[i] !== rgba[i + 1] || rgba[i] !== rgba[i + 2]) return false;
  }
  return true;
}

/**
 * The class names of a `--labels` file, one per line, blank lines skipped, each trimmed. Its lines are
 * counted before the text is decoded or split: more than {@link MAX_LABELS} lines, a line over
 * {@link MAX_LABEL_BYTES}, no name, a name given twice, or (when `classes` is given) another number of names
 * is a HansError.
 */
export async function readLabels(labelsFile: string, classes?: number): Promise<string[]> {
  const bytes = await readFileBounded(labelsFile, "--labels");
  let lines = 0;
  let start = 0;
  for (let i = 0; i <= bytes.length; i++) {
    if (i < bytes.length && bytes[i] !== 0x0a) continue;
    if (i === bytes.length && i === start) break; // nothing after the last newline
    lines++;
    if (lines > MAX_LABELS) {
      throw new HansError(
        `--labels ${labelsFile} has more than ${MAX_LABELS.toLocaleString("en-US")} lines; it names one ` +
          `class per line, and hans takes at most ${MAX_LABELS.toLocaleString("en-US")} classes.`,
      );
    }
    if (i - start > MAX_LABEL_BYTES) {
      throw new HansError(
        `line ${lines} of --labels ${labelsFile} is ${megabytes(i - start)} long; a class name may have at ` +
          `most ${MAX_LABEL_BYTES} bytes, one name per line.`,
      );
    }
    start = i + 1;
  }
  const text = new TextDecoder().decode(bytes);
  const names: string[] = [];
  const lineOf = new Map<string, number[]>();
  text.split("\n").forEach((line, i) => {
    const name = line.trim();
    if (!name) return;
    names.push(name);
    const at = lineOf.get(name);
    if (at) at.push(i + 1);
    else lineOf.set(name, [i + 1]);
  });
  if (names.length === 0) {
    throw new HansError(`--labels ${labelsFile} names no class; give one name per line.`);
  }
  // A name on several lines (ImageNet's labels have "crane" twice, a bird and a machine) stays usable: each
  // of its lines is told apart as "crane (line 135)", "crane (line 518)" in the reports, and a class folder
  // of that bare name is refused as ambiguous (see loadLabelledFolder).
  const repeated = new Set([...lineOf].filter(([, at]) => at.length > 1).map(([name]) => name));
  if (repeated.size > 0) {
    let k = 0;
    text.split("\n").forEach((line, i) => {
      const name = line.trim();
      if (!name) return;
      if (repeated.has(name)) names[k] = `${name} (line ${i + 1})`;
      k++;
    });
  }
  if (classes !== undefined && names.length !== classes) {
    throw new HansError(
      `--labels ${labelsFile} names ${names.length} classes but the model has ${classes} outputs; give one ` +
        `name per output, in the model's order.`,
    );
  }
  return names;
}

/**
 * Labelled test images from a folder of class sub-folders, with the class names (one per line) of a labels
 * file in the model's output order: every image of the folder (both parts of the split, so `testSize` samples
 * from all), labelled by its folder's position in the labels file, fitted to `fit` when given. A folder that
 * is not named in the labels file is a HansError, and so is a labels file that {@link readLabels} refuses
 * (`classes`, when given, is the model's number of outputs, which the labels must match). Only the sampled
 * images are read and decoded, each straight into the result.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { join } from "node:path";
 * import { encodePng } from "../report/png.ts";
 *
 * // photos/cat/{a,b}.png and photos/dog/{a,b}.png (white 2×2 images), and labels.txt in the model's class order.
 * const root = await Deno.makeTempDir();
 * const white = await encodePng(new Uint8ClampedArray(2 * 2 * 4).fill(255), 2, 2);
 * for (const folder of ["cat", "dog"]) {
 *   await Deno.mkdir(join(root, "photos", folder), { recursive: true });
 *   for (const file of ["a.png", "b.png"]) await Deno.writeFile(join(root, "photos", folder, file), white);
 * }
 * await Deno.writeTextFile(join(root, "labels.txt"), "dog\ncat\n");
 * const { test } = await loadLabelledFolder(join(root, "photos"), join(root, "labels.txt"), {
 *   seed: 1,
 *   fit: { height: 4, width: 4, channels: 1 },
 * });
 * assert.deepEqual([test.count, test.height, test.classNames], [4, 4, ["dog", "cat"]]);
 * assert.deepEqual(Array.from(test.labels).sort(), [0, 0, 1, 1]); // dog is class 0, cat class 1
 * ```
 */
export async function loadLabelledFolder(
  folder: string,
  labelsFile: string,
  options: {
    seed: number;
    testSize?: number;
    fit?: { height: number; width: number; channels: 1 | 3 };
    classes?: number;
  },
): Promise<{ test: Dataset; notes: string[] }> {
  const names = await readLabels(labelsFile, options.classes);
  const classNames = await classFolders(folder);
  const labelOf = classNames.map((name) => {
    const k = names.indexOf(name);
    const same = names.filter((n) => n.startsWith(`${name} (line `) && /\(line \d+\)$/.test(n));
    if (k < 0 && same.length > 1) {
      throw new HansError(
        `class folder "${name}" matches ${same.length} lines of --labels ${labelsFile} (${
          same.join(", ")
        }); name the folder after one of them, e.g. "${same[0]}".`,
      );
    }
    if (k < 0) {
      throw new HansError(
        `class folder "${name}" is not in --labels ${labelsFile}; name folders after the labels.`,
      );
    }
    return k;
  });
  const files = await listImages(folder, classNames);
  // The same images, in the same order, as the two halves of a seeded split, joined, then sampled.
  const split = stratifiedSplit(files.map((f) => f.label), {
    testCount: Math.round(files.length * 0.5),
    seed: options.seed,
  });
  if (split.test.length === 0) {
    throw new HansError(
      `${folder}: ${files.length} images are too few to split; give some class at least two images.`,
    );
  }
  const joined = [...split.train, ...split.test];
  // More images than the data's share of the memory budget holds at the model's size are sampled to fit it
  // (a budget, not an image count, says how many), as a time budget runs fewer mistakes; the note says so.
  const fit = options.fit;
  const fitting = fit === undefined
    ? Infinity
    : Math.floor((dataBudget() - keptMemory()) / (fit.height * fit.width * fit.channels * 4));
  const asked = Math.min(options.testSize ?? Infinity, joined.length);
  // (With no room at all, nothing is sampled: the check in decodeInto says how much the images need.)
  const capped = asked > fitting && fitting >= 1;
  const size = capped ? fitting : options.testSize;
  const chosen = size
    ? new Rng(options.seed).shuffle([...joined.keys()]).slice(0, Math.min(size, joined.length))
      .map((i) => joined[i])
    : joined;
  const parts = await decodeInto(folder, files, [chosen], { fit: options.fit });
  keepMemory(parts.images[0]);
  if (capped) {
    parts.notes.unshift(
      `${folder}: ${fitting.toLocaleString("en-US")} of ${asked.toLocaleString("en-US")} images kept (a ` +
        `seeded sample), as many as the ${megabytes(dataBudget())} that data may take of the memory budget ` +
        `hold at ${fit!.height}x${fit!.width}x${fit!.channels}; raise HANS_MAX_MEMORY_MB to keep more.`,
    );
  }
  const name = (await Deno.realPath(folder)).split(/[\\/]/).pop() || "folder";
  const test: Dataset = {
    name,
    classNames: names,
    height: parts.height,
    width: parts.width,
    channels: parts.channels,
    images: parts.images[0],
    labels: Int32Array.from(chosen, (k) => labelOf[files[k].label]),
    count: chosen.length,
  };
  return { test, notes: parts.notes };
}
