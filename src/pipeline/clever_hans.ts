/**
 * The Clever Hans experiment as one function: stamp shortcuts into chosen classes, train a model, then test
 * and explain its reliance on them. It computes; writing files is the task's job.
 * @module
 */
import { backendInfo } from "../backend.ts";
import { type Dataset, type DatasetSplit, imageSize, indicesOfClass, subset } from "../data/dataset.ts";
import { sprayAnalysis, type SprayClassResult } from "./spray_analysis.ts";
import { tf } from "../deps.ts";
import { type ExplainableModel, fromLayersModel, settled } from "../explain/explainable_model.ts";
import { type ForwardEngineChoice, forwardEngineOf } from "../model/forward_engine.ts";
import { checkMethodOptions, method, type MethodInfo, METHODS } from "../explain/registry.ts";
import { deletion, insertion } from "../measure/faithfulness.ts";
import { type LocalizationScores, meanLocalization } from "../measure/localization.ts";
import { modelRandomization } from "../measure/sanity.ts";
import { cheats, type RelianceResult, relianceTests, tooLittleEvidence } from "../measure/reliance.ts";
import { createCnn } from "../model/cnn.ts";
import { DEFAULT_CONTRAST_POWER } from "../model/contrast_norm.ts";
import { artifactStrength } from "../shortcuts/strength.ts";
import { DEFAULT_STD_FLOOR, type PixelStatistics, pixelStatistics } from "../model/standardize.ts";
import { accuracy, asClassifier, batchTensor, predictClasses } from "../model/predict.ts";
import { trainingProgress, trainModel, type TrainOptions, type TrainResult } from "../model/train.ts";
import { type Progress, reportProgress, withProgress } from "../progress.ts";
import { Rng } from "../rng.ts";
import {
  builtinShortcut,
  datasetTone,
  DEFAULT_PLAN_FLAGS,
  stampAll,
  stampDataset,
  stampEveryClass,
  type StampPlan,
} from "../shortcuts/plan.ts";
import type { Shortcut } from "../shortcuts/shortcut.ts";

/** Settings of one experiment. */
export interface CleverHansSettings {
  /** Training and test data (clean). */
  data: DatasetSplit;
  /**
   * Makes a model from the (stamped) training data; default: hans's CNN trained on it with these settings. A
   * hand-built model with a known answer (one that reads only the artifact's pixels) pins the analysis.
   */
  makeModel?: (data: Dataset, seed: number) => Promise<{ model: tf.LayersModel; result: TrainResult }>;
  /** Which classes get which shortcut; empty for a clean model. */
  plan: StampPlan;
  seed: number;
  epochs: number;
  /** Stamped test images per poisoned class that get saliency maps (default 32). */
  mapsPerClass?: number;
  /** Methods to run (registry names; default all). */
  methods?: string[];
  /** Per-method options, e.g. `{ integrated_gradients: { steps: 16 } }`. */
  methodOptions?: Record<string, Record<string, unknown>>;
  /** Images per training step (default 64). */
  batchSize?: number;
  /** The CNN's head (see `createCnn`); default `flatten`. `average` learns a faint watermark, not a square. */
  head?: "flatten" | "average";
  /**
   * The CNN's input: `none` (default) feeds the pixels as they are; `pixel` adds a first layer that standardizes
   * every pixel with the clean training images' mean and standard deviation, floored at `stdFloor` (default
   * 0.05; see {@link pixelStatistics}).
   */
  standardize?: "pixel" | "none";
  stdFloor?: number;
  /**
   * Power of a contrast normalization after the first conv layer, in [0, 1], 0 leaving it out; or `auto`
   * (default): {@link DEFAULT_CONTRAST_POWER} when a planted artifact is faint (see {@link contrastPower}), else 0.
   */
  contrastNorm?: number | "auto";
  /** Run SpRAy on every class (default true), with this method's maps (default `gradient_input`). */
  spray?: boolean;
  sprayMethod?: string;
  /** Also train a control model with the same artifacts on every class (default false). */
  control?: boolean;
  /** Passed to training (progress). */
  onTrainProgress?: TrainOptions["onProgress"];
  /** Called with a line of progress for the later phases. */
  log?: (line: string) => void;
  /**
   * Called after each step of the run's loops and of the methods' loops inside it (see `src/progress.ts`);
   * default none.
   */
  onProgress?: Progress;
}

/** What one method's maps say about one artifact. */
export interface MethodRelevance extends LocalizationScores {
  /** massInArtifact / areaFraction: 1 is chance, higher means relevance piles up on the artifact. */
  concentration: number;
  /** Area under the deletion / insertion curve of the class probability (first 8 maps; lower / higher is
   * more faithful). */
  deletionAuc: number;
  insertionAuc: number;
  /** Maps per second, this run. */
  mapsPerSecond: number;
}

/** Results for one poisoned class (or, for a clean model, one probe artifact). */
export interface ShortcutResult {
  class: number;
  className: string;
  artifact: string;
  description: string;
  /** Share of the class's training images stamped (0 for a probe on a clean model). */
  rate: number;
  reliance: RelianceResult;
  /** The verdict; null when the test set has too few images to tell (`verdictNote` says why). */
  cheats: boolean | null;
  /** Why there is no verdict, or null. */
  verdictNote: string | null;
  relevance: Record<string, MethodRelevance>;
  /** A few examples for the figures: clean and stamped pixels, the mask, and each method's map. */
  examples: {
    clean: Float32Array[];
    stamped: Float32Array[];
    masks: Uint8Array[];
    maps: Record<string, Float32Array[]>;
  };
}

/** Everything the experiment found. */
export interface CleverHansResult {
  backend: string;
  adapter: string;
  kernels: string;
  /** The engine that ran the poisoned model's forward-only work (occlusion, RISE, curves), or null if none ran. */
  forwardEngine: ForwardEngineChoice | null;
  /** The CNN's head, as trained. */
  head: "flatten" | "average";
  /** The CNN's input standardization, as trained, and the floor under the standard deviation (`pixel` only). */
  standardize: { kind: "pixel"; floor: number } | { kind: "none" };
  /** The power of the contrast normalization after the first conv layer (0: none). */
  contrastNorm: number;
  model: tf.LayersModel;
  train: TrainResult;
  cleanAccuracy: number;
  /** Per-class accuracy on the clean test set. */
  classAccuracy: number[];
  shortcuts: ShortcutResult[];
  /** SpRAy per class, when asked for. */
  spray?: SprayClassResult[];
  /** Per method: faithfulness averaged over the probes, and the randomization sanity check. */
  methodChecks: Record<string, { deletionAuc: number; insertionAuc: number; sanity: number }>;
  /** The control model's training and reliance results, when asked for. */
  control?: { train: TrainResult; cleanAccuracy: number; shortcuts: ShortcutResult[] };
  methods: MethodInfo[];
  shape: { height: number; width: number; channels: number };
  classNames: string[];
}

/**
 * Runs the experiment. With an empty plan the model trains clean and the default artifacts are used as probes
 * (pasted at test time only), so the verdicts show what an honest model looks like.
 */
export async function runCleverHans(settings: CleverHansSettings): Promise<CleverHansResult> {
  return await withProgress(settings.onProgress, () => cleverHans(settings));
}

/** {@link runCleverHans} under its progress callback. */
async function cleverHans(settings: CleverHansSettings): Promise<CleverHansResult> {
  const log = settings.log ?? (() => {});
  const { train, test } = settings.data;
  // The caller starts the backend (initBackend); the library only reports which one runs.
  const info = backendInfo() ?? { backend: tf.getBackend(), adapter: "unknown", kernels: "tfjs" };
  const methods = (settings.methods ?? METHODS.filter((m) => m.attribution).map((m) => m.name))
    .map((name) => method(name));
  for (const [name, options] of Object.entries(settings.methodOptions ?? {})) {
    checkMethodOptions(name, options);
  }
  const rng = new Rng(settings.seed);
  const stamped = stampDataset(train, settings.plan, rng.fork());
  // From the clean images, so the same for the poisoned and the control model, and no artifact hides in them.
  const stats = settings.standardize === "pixel"
    ? pixelStatistics(train, settings.stdFloor ?? DEFAULT_STD_FLOOR)
    : undefined;
  const contrast = contrastPower(settings.contrastNorm, train, settings.plan, settings.seed);
  if (contrast) log(`contrast normalization after the first conv layer, power ${contrast}`);
  const make = settings.makeModel ??
    ((data: Dataset, seed: number) => trainCnn(data, settings, stats, contrast, seed));
  const poisoned = await make(stamped.data, rng.fork());
  const probes = settings.plan.entries.length ? settings.plan.entries : defaultProbes(train);
  const analysisSeed = rng.fork();
  log("evaluating on the clean test set");
  const evaluation = await evaluate(poisoned.model, test);
  // One wrapper for every analysis of the poisoned model, so its forward-only engine is chosen once.
  const explainable = await settled(fromLayersModel(poisoned.model));
  const shortcuts = await analyzeShortcuts(
    poisoned.model,
    explainable,
    test,
    evaluation.predicted,
    probes,
    methods,
    settings,
    analysisSeed,
  );
  const methodChecks = await checkMethods(
    poisoned.model,
    test,
    probes,
    methods,
    shortcuts,
    settings,
    analysisSeed,
  );
  const spray = settings.spray ?? true
    ? await sprayAnalysis(explainable, test, settings.plan, {
      method: settings.sprayMethod,
      seed: rng.fork(),
      log,
    })
    : undefined;
  let control: CleverHansResult["control"];
  if (settings.control) {
    log("control model: the same artifacts at the same rates on every class");
    const controlData = stampEveryClass(train, settings.plan, rng.fork()).data;
    const trained = await make(controlData, rng.fork());
    const controlEval = await evaluate(trained.model, test);
    control = {
      train: trained.result,
      cleanAccuracy: controlEval.cleanAccuracy,
      shortcuts: await analyzeShortcuts(
        trained.model,
        await settled(fromLayersModel(trained.model)),
        test,
        controlEval.predicted,
        probes,
        methods,
        settings,
        analysisSeed,
      ),
    };
    trained.model.dispose();
  }
  return {
    backend: info.backend,
    adapter: info.adapter,
    kernels: info.kernels,
    forwardEngine: forwardEngineOf(explainable) ?? null,
    head: settings.head ?? "flatten",
    standardize: stats ? { kind: "pixel", floor: stats.floor } : { kind: "none" },
    contrastNorm: contrast,
    model: poisoned.model,
    train: poisoned.result,
    cleanAccuracy: evaluation.cleanAccuracy,
    classAccuracy: evaluation.classAccuracy,
    shortcuts,
    methodChecks,
    spray,
    control,
    methods,
    shape: { height: train.height, width: train.width, channels: train.channels },
    classNames: train.classNames,
  };
}

async function trainCnn(
  data: Dataset,
  settings: CleverHansSettings,
  stats: PixelStatistics | undefined,
  contrast: number,
  seed: number,
): Promise<{ model: tf.LayersModel; result: TrainResult }> {
  const rng = new Rng(seed);
  const model = createCnn({
    height: data.height,
    width: data.width,
    channels: data.channels,
    classes: data.classNames.length,
    seed: rng.fork(),
    head: settings.head ?? "flatten",
    standardize: stats,
    contrastNorm: contrast,
  });
  const result = await trainModel(model, data, {
    epochs: settings.epochs,
    batchSize: settings.batchSize,
    seed: rng.fork(),
    onProgress: settings.onTrainProgress ?? trainingProgress,
  });
  return { model, result };
}

async function evaluate(
  model: tf.LayersModel,
  test: Dataset,
): Promise<{ cleanAccuracy: number; classAccuracy: number[]; predicted: Int32Array }> {
  const predicted = await predictClasses(asClassifier(model), test);
  const classAccuracy = test.classNames.map((_, k) => {
    const idx = indicesOfClass(test, k);
    return accuracy(idx.map((i) => predicted[i]), idx.map((i) => test.labels[i]));
  });
  return { cleanAccuracy: accuracy(predicted, test.labels), classAccuracy, predicted };
}

/** Reliance tests and saliency localization for each probe (poisoned class and its artifact). */
async function analyzeShortcuts(
  model: tf.LayersModel,
  explainable: ExplainableModel,
  test: Dataset,
  cleanPredicted: Int32Array,
  probes: { label: number; shortcut: Shortcut; rate: number }[],
  methods: MethodInfo[],
  settings: CleverHansSettings,
  seed: number,
): Promise<ShortcutResult[]> {
  const log = settings.log ?? (() => {});
  const classifier = asClassifier(model);
  const rng = new Rng(seed);
  const shortcuts: ShortcutResult[] = [];
  let mapsDone = 0;
  // Only classes with test images get maps: the total counts those, so the last report says done.
  const mapsTotal = probes.filter((e) => indicesOfClass(test, e.label).length > 0).length * methods.length;
  for (const entry of probes) {
    const name = `class ${entry.label} (${test.classNames[entry.label]}) / ${entry.shortcut.name}`;
    log(`reliance tests: ${name}`);
    const reliance = await relianceTests(classifier, test, entry.label, entry.shortcut, rng.fork(), {
      cleanPredicted,
    });
    const relevance: Record<string, MethodRelevance> = {};
    const examples = { clean: [], stamped: [], masks: [], maps: {} } as ShortcutResult["examples"];
    const own = subset(test, indicesOfClass(test, entry.label).slice(0, settings.mapsPerClass ?? 32));
    const stampSeed = rng.fork();
    if (own.count > 0) {
      const { data: ownStamped, masks } = stampAll(own, entry.shortcut, stampSeed);
      const shown = Math.min(4, own.count);
      const size = imageSize(own);
      for (let i = 0; i < shown; i++) {
        examples.clean.push(own.images.slice(i * size, (i + 1) * size));
        examples.stamped.push(ownStamped.images.slice(i * size, (i + 1) * size));
        examples.masks.push(masks[i]);
      }
      const x = batchTensor(ownStamped, 0, ownStamped.count);
      const target = new Array(own.count).fill(entry.label);
      for (const m of methods) {
        log(`saliency: ${name}: ${m.label}`);
        const start = performance.now();
        const maps = await m.explain(explainable, x, target, settings.methodOptions?.[m.name]);
        const values = await maps.data() as Float32Array;
        maps.dispose();
        const seconds = (performance.now() - start) / 1000;
        await reportProgress(++mapsDone, mapsTotal, "clever-hans: saliency maps");
        const scores = meanLocalization(values, masks);
        const few = Math.min(FAITHFULNESS_IMAGES, own.count);
        const fewX = x.slice([0, 0, 0, 0], [few, -1, -1, -1]);
        const curveOptions = {
          maps: values.subarray(0, few * own.height * own.width),
          target: target.slice(0, few),
        };
        const del = await deletion(explainable, fewX, curveOptions);
        const ins = await insertion(explainable, fewX, curveOptions);
        fewX.dispose();
        relevance[m.name] = {
          ...scores,
          concentration: scores.areaFraction > 0 ? scores.massInArtifact / scores.areaFraction : NaN,
          deletionAuc: del.meanAuc,
          insertionAuc: ins.meanAuc,
          mapsPerSecond: own.count / seconds,
        };
        const pixels = own.height * own.width;
        examples.maps[m.name] = Array.from(
          { length: shown },
          (_, i) => values.slice(i * pixels, (i + 1) * pixels),
        );
      }
      x.dispose();
    }
    shortcuts.push({
      class: entry.label,
      className: test.classNames[entry.label],
      artifact: entry.shortcut.name,
      description: entry.shortcut.description,
      rate: entry.rate,
      reliance,
      cheats: cheats(reliance),
      verdictNote: tooLittleEvidence(reliance),
      relevance,
      examples,
    });
  }
  return shortcuts;
}

/** Images per probe used for the deletion/insertion curves and the randomization check. */
const FAITHFULNESS_IMAGES = 8;

/**
 * Per method: deletion/insertion AUC averaged over the probes, and the model-randomization check (Spearman
 * correlation of |map| before and after re-initializing every layer, top down) on stamped images of the first
 * probe's class.
 */
async function checkMethods(
  model: tf.LayersModel,
  test: Dataset,
  probes: { label: number; shortcut: Shortcut }[],
  methods: MethodInfo[],
  shortcuts: ShortcutResult[],
  settings: CleverHansSettings,
  seed: number,
): Promise<CleverHansResult["methodChecks"]> {
  const out: CleverHansResult["methodChecks"] = {};
  const probe = probes[0];
  const own = probe
    ? subset(test, indicesOfClass(test, probe.label).slice(0, FAITHFULNESS_IMAGES))
    : undefined;
  const x = own && own.count > 0
    ? batchTensor(stampAll(own, probe.shortcut, seed).data, 0, own.count)
    : undefined;
  for (const m of methods) {
    const scored = shortcuts.filter((s) => s.relevance[m.name]);
    const mean = (key: "deletionAuc" | "insertionAuc") =>
      scored.reduce((sum, s) => sum + s.relevance[m.name][key], 0) / Math.max(1, scored.length);
    let sanity = NaN;
    if (x) {
      settings.log?.(`randomization check: ${m.label}`);
      const result = await modelRandomization(model, x, {
        target: new Array(x.shape[0]).fill(probe.label),
        method: m.name,
        methodOptions: settings.methodOptions?.[m.name],
        seed,
      });
      sanity = result.sanity;
    }
    out[m.name] = { deletionAuc: mean("deletionAuc"), insertionAuc: mean("insertionAuc"), sanity };
  }
  x?.dispose();
  return out;
}

/** A planted artifact that changes the pixels under its mask by at most this much on average is faint. */
export const FAINT_ARTIFACT_STRENGTH = 0.1;

/**
 * The contrast normalization's power: `setting` when it is a number; for `auto` (or none),
 * {@link DEFAULT_CONTRAST_POWER} when some stamped artifact of `plan` is faint (its {@link artifactStrength} on
 * `data` at most {@link FAINT_ARTIFACT_STRENGTH}, as a watermark blended at 10% or less is), else 0: a plain
 * CNN hardly learns a faint artifact, and the normalization costs bold ones some of their pull.
 */
export function contrastPower(
  setting: number | "auto" | undefined,
  data: Dataset,
  plan: StampPlan,
  seed: number,
): number {
  if (typeof setting === "number") return setting;
  const faint = plan.entries.some((e) =>
    // (plus float32 rounding: a 10% blend of white over black is 0.10000000149)
    e.rate > 0 && artifactStrength(data, e.shortcut, seed) <= FAINT_ARTIFACT_STRENGTH + 1e-6
  );
  return faint ? DEFAULT_CONTRAST_POWER : 0;
}

/** The default plan's artifacts as probes with rate 0 (for a model trained clean). */
function defaultProbes(data: Dataset): { label: number; shortcut: Shortcut; rate: number }[] {
  const tone = datasetTone(data);
  return DEFAULT_PLAN_FLAGS.map((flag) => {
    const [label, name] = flag.split("=");
    return { label: Number(label), shortcut: builtinShortcut(name, tone), rate: 0 };
  }).filter((p) => p.label < data.classNames.length);
}
