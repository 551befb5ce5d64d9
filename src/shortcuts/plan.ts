/**
 * The stamping plan: which classes get which shortcut, at what rate, and the functions that apply it.
 * @module
 */
import { type Dataset, imageSize } from "../data/dataset.ts";
import { HansError } from "../errors.ts";
import { Rng } from "../rng.ts";
import { gradientShortcut } from "./gradient.ts";
import type { Shortcut, Tone } from "./shortcut.ts";
import { squareShortcut } from "./square.ts";
import { timestampShortcut } from "./timestamp.ts";
import { watermarkShortcut } from "./watermark.ts";

/** Names of the built-in shortcuts. */
export const BUILTIN_SHORTCUTS = ["square", "timestamp", "watermark", "gradient"] as const;

/** One line of a plan: class `label` gets `shortcut` on a share `rate` of its training images. */
export interface PlanEntry {
  label: number;
  shortcut: Shortcut;
  /** Share of the class's training images stamped, in [0, 1]. */
  rate: number;
}

/** Which classes get which shortcut. Empty `entries` trains a clean model. */
export interface StampPlan {
  entries: PlanEntry[];
}

/**
 * The default plan: classes 0, 1, 3, 8 get square, timestamp, gradient, watermark. The faint watermark goes to
 * class 8, whose shape is the hardest of MNIST's digits: a 10% artifact wins only where the real evidence is
 * weak (on class 2 it flipped about half as many images in our runs).
 */
export const DEFAULT_PLAN_FLAGS = ["0=square", "1=timestamp", "3=gradient", "8=watermark"];

/** A built-in shortcut by name, in the tone that stands out on the data (light on dark images). */
export function builtinShortcut(name: string, tone: Tone): Shortcut {
  switch (name) {
    case "square":
      return squareShortcut({ tone });
    case "timestamp":
      return timestampShortcut({ tone });
    case "watermark":
      return watermarkShortcut({ tone });
    case "gradient":
      return gradientShortcut({ tone });
    default:
      throw new HansError(
        `unknown shortcut "${name}"; use one of ${
          BUILTIN_SHORTCUTS.join(", ")
        } (or "none" for a clean model).`,
      );
  }
}

/** `light` when the data's mean pixel is below 0.5 (dark images such as MNIST), else `dark`. */
export function datasetTone(data: Dataset): Tone {
  let sum = 0;
  for (let i = 0; i < data.images.length; i++) sum += data.images[i];
  return sum / Math.max(1, data.images.length) < 0.5 ? "light" : "dark";
}

/**
 * Builds a plan from `--shortcut` flags (`<class>=<name>`, or `none`) and `--rate` flags (`<class>=<share>`).
 * No shortcut flags means the default plan. Throws a `HansError` for unknown names, classes out of range,
 * duplicate classes, rates outside [0, 1], and rates for classes without a shortcut.
 */
export function parsePlan(
  shortcutFlags: string[],
  rateFlags: string[],
  options: { classCount: number; tone: Tone },
): StampPlan {
  const flags = shortcutFlags.length ? shortcutFlags : DEFAULT_PLAN_FLAGS;
  if (flags.includes("none")) {
    if (flags.length > 1) {
      throw new HansError(`--shortcut none cannot be combined with other --shortcut flags.`);
    }
    if (rateFlags.length) throw new HansError(`--rate makes no sense with --shortcut none; drop it.`);
    return { entries: [] };
  }
  const entries: PlanEntry[] = [];
  for (const flag of flags) {
    const [label, name] = splitPair(flag, "--shortcut", "<class>=<shortcut>, e.g. 3=square");
    const cls = parseClass(label, options.classCount, "--shortcut");
    if (entries.some((e) => e.label === cls)) {
      throw new HansError(`--shortcut gives class ${cls} twice; give each class at most one shortcut.`);
    }
    entries.push({ label: cls, shortcut: builtinShortcut(name, options.tone), rate: 1 });
  }
  for (const flag of rateFlags) {
    const [label, value] = splitPair(flag, "--rate", "<class>=<share>, e.g. 3=0.3");
    const cls = parseClass(label, options.classCount, "--rate");
    const rate = Number(value);
    if (value.trim() === "" || !Number.isFinite(rate) || rate < 0 || rate > 1) {
      throw new HansError(`--rate ${flag}: the share must be a number from 0 to 1.`);
    }
    const entry = entries.find((e) => e.label === cls);
    if (!entry) {
      throw new HansError(`--rate ${flag}: class ${cls} has no --shortcut; add one or drop the rate.`);
    }
    entry.rate = rate;
  }
  return { entries };
}

function splitPair(flag: string, name: string, form: string): [string, string] {
  const at = flag.indexOf("=");
  if (at <= 0 || at === flag.length - 1) throw new HansError(`${name} ${flag}: expected ${form}.`);
  return [flag.slice(0, at).trim(), flag.slice(at + 1).trim()];
}

function parseClass(text: string, classCount: number, flag: string): number {
  const cls = Number(text);
  if (!/^\d+$/.test(text) || cls >= classCount) {
    throw new HansError(`${flag}: class "${text}" is not a class index from 0 to ${classCount - 1}.`);
  }
  return cls;
}

/** A copy of a data set with some images stamped, and what was stamped where. */
export interface StampedData {
  data: Dataset;
  /** Per image: the index of the plan entry whose shortcut it carries, or -1. */
  entryOf: Int32Array;
  /** Per image: the artifact mask (`height * width`, 1 on the artifact), or null when clean. */
  masks: (Uint8Array | null)[];
}

/**
 * Applies `plan` to a copy of `data`: for each entry, a seeded share `rate` of its class's images is stamped.
 * The same seed stamps the same images in the same way.
 */
export function stampDataset(data: Dataset, plan: StampPlan, seed: number): StampedData {
  const images = data.images.slice();
  const entryOf = new Int32Array(data.count).fill(-1);
  const masks: (Uint8Array | null)[] = new Array(data.count).fill(null);
  const size = imageSize(data);
  const rng = new Rng(seed);
  plan.entries.forEach((entry, e) => {
    const members: number[] = [];
    for (let i = 0; i < data.count; i++) if (data.labels[i] === entry.label) members.push(i);
    rng.shuffle(members);
    const chosen = members.slice(0, Math.round(entry.rate * members.length));
    for (const i of chosen) {
      const image = images.subarray(i * size, (i + 1) * size);
      masks[i] = entry.shortcut.stamp(image, data, new Rng(seed * 7919 + i * 31 + e));
      entryOf[i] = e;
    }
  });
  return { data: { ...data, images }, entryOf, masks };
}

/** Stamps `shortcut` onto a copy of every image of `data`; returns the copy and the masks. */
export function stampAll(
  data: Dataset,
  shortcut: Shortcut,
  seed: number,
): { data: Dataset; masks: Uint8Array[] } {
  const images = data.images.slice();
  const size = imageSize(data);
  const masks: Uint8Array[] = [];
  for (let i = 0; i < data.count; i++) {
    masks.push(
      shortcut.stamp(images.subarray(i * size, (i + 1) * size), data, new Rng(seed * 7919 + i * 31)),
    );
  }
  return { data: { ...data, images }, masks };
}

/**
 * The control stamping: every entry's shortcut is stamped on the same share `rate` of *every* class, so the
 * artifacts carry no label information and a model has no reason to rely on them.
 */
export function stampEveryClass(data: Dataset, plan: StampPlan, seed: number): StampedData {
  const classes = data.classNames.map((_, label) => label);
  const spread: StampPlan = {
    entries: plan.entries.flatMap((e) => classes.map((label) => ({ ...e, label }))),
  };
  const stamped = stampDataset(data, spread, seed);
  const entryOf = stamped.entryOf.map((e) => (e < 0 ? -1 : Math.floor(e / classes.length)));
  return { ...stamped, entryOf };
}
