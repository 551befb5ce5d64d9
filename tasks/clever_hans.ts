/**
 * `deno task clever-hans`: stamp shortcuts into chosen classes, train a model, prove it cheats, and write the
 * results folder (metrics.json, PNG grids, report.html, the trained model).
 * @module
 */
import { initBackend } from "../src/backend.ts";
import { loadDataset, parseDatasetSpec } from "../src/data/mod.ts";
import { versions } from "../src/deps.ts";
import { method, METHODS } from "../src/explain/registry.ts";
import { serializeModel } from "../src/model/io.ts";
import { DEFAULT_CONTRAST_POWER } from "../src/model/contrast_norm.ts";
import { DEFAULT_STD_FLOOR } from "../src/model/standardize.ts";
import { printProgress } from "../src/model/train.ts";
import { runCleverHans } from "../src/pipeline/clever_hans.ts";
import { cleverHansMetrics } from "../src/pipeline/clever_hans_metrics.ts";
import { HansError, say } from "../src/errors.ts";
import { cleverHansFigures, cleverHansHtml } from "../src/report/clever_hans_report.ts";
import { sprayFigures } from "../src/report/spray_report.ts";
import { defaultResultsPath, ResultsDir } from "../src/report/results_dir.ts";
import { datasetTone, parsePlan } from "../src/shortcuts/plan.ts";
import { numberFlag, parseFlags } from "./cli.ts";

/** The help text of the task. */
export const CLEVER_HANS_HELP = `deno task clever-hans [flags]

Stamps shortcut artifacts into chosen classes, trains a small CNN that learns them, and proves with reliance
tests and saliency maps that it cheats. Writes results/clever-hans-<UTC time>/ (or --out).

  --dataset SPEC      mnist (default) | fashion-mnist | cifar10:<path-or-url> | folder:<path>
  --train-size N      training images, a seeded sample (default 6000; --quick 800)
  --test-size N       test images (default 2000; --quick 400)
  --epochs N          passes over the training data (default 4; --quick 1)
  --seed N            seed of every random choice (default 1)
  --shortcut C=NAME   class C gets artifact NAME: square, timestamp, watermark, gradient; repeat per class.
                      Default: 0=square 1=timestamp 3=gradient 8=watermark. 'none' trains a clean model.
  --rate C=SHARE      share of class C's training images stamped, 0..1 (default 1)
  --maps N            stamped test images per class that get saliency maps (default 32; --quick 8)
  --methods LIST      comma-separated saliency methods (default every attribution method:
                      ${METHODS.filter((m) => m.attribution).map((m) => m.name).join(",")})
  --spray-method M    saliency method whose maps SpRAy clusters per class (default gradient_input; none: skip)
  --control           also train a control model with the same artifacts on every class
  --head NAME         flatten (default) | average (global average pooling before the dense layers)
  --standardize KIND  none (default: the CNN takes the pixels as they are) | pixel (its first layer standardizes
                      every pixel with the clean training images' mean and standard deviation)
  --std-floor X       floor under a pixel's standard deviation for --standardize pixel (default 0.05)
  --contrast-norm P   power in [0,1] of a contrast normalization after the first conv layer, which scales each
                      position's features towards unit size so a faint pattern counts more like a bold one
                      (0: none; 1: full). Default auto: ${DEFAULT_CONTRAST_POWER} when a planted artifact is faint
                      (changes its pixels by 0.1 or less on average, as the watermark does), else 0
  --backend NAME      webgpu (default when an adapter exists) or cpu
  --kernels NAME      auto (default: hans's WGSL kernels on software adapters, tfjs's on GPUs) | hans | tfjs
  --out DIR           results folder (must not exist)
  --quick             small data, one epoch, light saliency settings: for tests and a first look
  --help              this text
`;

/** Method settings of a default run: lighter than the methods' own defaults where they cost the most. */
const DEFAULT_OPTIONS = {
  smoothgrad: { samples: 16 },
  smoothgrad_sq: { samples: 16 },
  vargrad: { samples: 16 },
  rise: { masks: 200, center: true },
};

/** Method settings of a --quick run. */
const QUICK_OPTIONS = {
  smoothgrad: { samples: 4 },
  smoothgrad_sq: { samples: 4 },
  vargrad: { samples: 4 },
  integrated_gradients: { steps: 8 },
  occlusion: { patch: 4, stride: 4 },
  rise: { masks: 50, center: true },
};

/** Runs the task with command-line `args`; returns the results folder. */
export async function cleverHansTask(args: string[]): Promise<string | undefined> {
  const flags = parseFlags(args, {
    dataset: { type: "string" },
    "train-size": { type: "string" },
    "test-size": { type: "string" },
    epochs: { type: "string" },
    seed: { type: "string" },
    shortcut: { type: "string", multiple: true },
    rate: { type: "string", multiple: true },
    maps: { type: "string" },
    methods: { type: "string" },
    backend: { type: "string" },
    kernels: { type: "string" },
    head: { type: "string" },
    standardize: { type: "string" },
    "contrast-norm": { type: "string" },
    "std-floor": { type: "string" },
    "spray-method": { type: "string" },
    control: { type: "boolean" },
    out: { type: "string" },
    quick: { type: "boolean" },
    help: { type: "boolean" },
  }, "clever-hans");
  if (flags.help) {
    console.log(CLEVER_HANS_HELP);
    return undefined;
  }
  const quick = flags.quick ?? false;
  const seed = numberFlag("seed", flags.seed, 1, { min: 0, max: 2 ** 31, integer: true });
  const trainSize = numberFlag("train-size", flags["train-size"], quick ? 800 : 6000, {
    min: 10,
    integer: true,
  });
  const testSize = numberFlag("test-size", flags["test-size"], quick ? 400 : 2000, {
    min: 10,
    integer: true,
  });
  const epochs = numberFlag("epochs", flags.epochs, quick ? 1 : 4, { min: 1, max: 1000, integer: true });
  const mapsPerClass = numberFlag("maps", flags.maps, quick ? 8 : 32, { min: 1, max: 10000, integer: true });
  const methods = flags.methods ? flags.methods.split(",").map((m) => method(m.trim()).name) : undefined;
  const sprayMethod = flags["spray-method"] === "none"
    ? "none"
    : method(flags["spray-method"] ?? "gradient_input").name;
  const spec = parseDatasetSpec(flags.dataset ?? "mnist");
  if (flags.backend !== undefined && flags.backend !== "webgpu" && flags.backend !== "cpu") {
    throw new HansError(`--backend ${flags.backend}: use webgpu or cpu.`);
  }
  const head = flags.head ?? "flatten";
  if (head !== "average" && head !== "flatten") {
    throw new HansError(`--head ${head}: use average or flatten.`);
  }
  const standardize = flags.standardize ?? "none";
  if (standardize !== "pixel" && standardize !== "none") {
    throw new HansError(`--standardize ${standardize}: use pixel or none.`);
  }
  const stdFloor = numberFlag("std-floor", flags["std-floor"], DEFAULT_STD_FLOOR, { min: 1e-6, max: 1 });
  const contrastNorm = (flags["contrast-norm"] ?? "auto") === "auto"
    ? "auto"
    : numberFlag("contrast-norm", flags["contrast-norm"], 0, {
      min: 0,
      max: 1,
    });
  const kernels = flags.kernels ?? "auto";
  if (kernels !== "auto" && kernels !== "hans" && kernels !== "tfjs") {
    throw new HansError(`--kernels ${kernels}: use auto, hans or tfjs.`);
  }
  const started = performance.now();
  const out = await ResultsDir.create(flags.out ?? defaultResultsPath("clever-hans"));
  try {
    await initBackend({ backend: flags.backend as "webgpu" | "cpu" | undefined, kernels });
    const data = await loadDataset(spec, { seed, trainSize, testSize });
    if (data.train.classNames.length < 2) {
      throw new HansError(
        `${flags.dataset} has one class (${
          data.train.classNames[0]
        }); a classifier needs two or more, so give a ` +
          `folder with one sub-folder per class.`,
      );
    }
    const plan = parsePlan(flags.shortcut ?? [], flags.rate ?? [], {
      classCount: data.train.classNames.length,
      tone: datasetTone(data.train),
    });
    const result = await runCleverHans({
      data,
      plan,
      seed,
      epochs,
      head,
      standardize,
      stdFloor,
      contrastNorm,
      mapsPerClass,
      methods,
      methodOptions: quick ? QUICK_OPTIONS : DEFAULT_OPTIONS,
      spray: sprayMethod !== "none",
      sprayMethod: sprayMethod === "none" ? undefined : sprayMethod,
      control: flags.control ?? false,
      onTrainProgress: printProgress,
      log: (line) => say(line),
    });
    const metrics = cleverHansMetrics(result, {
      dataset: flags.dataset ?? "mnist",
      seed,
      testSize: data.test.count,
      seconds: (performance.now() - started) / 1000,
      tfjs: versions.tfjs,
      sprayMethod,
    });
    const figures = [
      ...await cleverHansFigures(result),
      ...(result.spray ? await sprayFigures(result.spray, result.shape) : []),
    ];
    await out.writeJson("metrics.json", metrics);
    for (const f of figures) await out.writeFile(f.file, f.png);
    await out.writeFile("report.html", cleverHansHtml(result, metrics, figures));
    const saved = await serializeModel(result.model);
    await out.writeFile("model/model.json", saved.modelJson);
    await out.writeFile("model/weights.bin", saved.weights);
    result.model.dispose();
    const path = await out.commit();
    for (const s of metrics.shortcuts) {
      say(
        `class ${s.class} ${s.artifact}: with ${s.accuracy.withArtifact.toFixed(3)} without ` +
          `${s.accuracy.withoutArtifact.toFixed(3)} flip ${s.flipRate.toFixed(3)} cheats ${s.cheats}`,
      );
    }
    for (const c of metrics.spray?.classes ?? []) {
      if (c.flagged || c.artifactPurity !== null) {
        say(
          `SpRAy class ${c.class}: ${c.clusters} clusters, eigengap ${
            c.eigengap.toFixed(3)
          }, flagged ${c.flagged}` +
            (c.artifactPurity === null
              ? ""
              : `, artifact purity ${c.artifactPurity.toFixed(3)} recall ${c.artifactRecall!.toFixed(3)}`),
        );
      }
    }
    for (const s of metrics.control?.shortcuts ?? []) {
      say(
        `control class ${s.class} ${s.artifact}: flip ${s.flipRate.toFixed(3)} cheats ${s.cheats}`,
      );
    }
    say(`clean accuracy ${metrics.accuracy.clean.toFixed(3)}; results in ${path}`);
    return path;
  } catch (e) {
    await out.abort();
    throw e;
  }
}
