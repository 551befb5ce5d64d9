/**
 * `deno task contrastive`: why did a pretrained classifier say P when the answer is Q? Explains its mistakes
 * with every attribution method and ranks the methods by how well their contrastive maps explain the errors.
 * @module
 */
import { initBackend } from "../src/backend.ts";
import { type Dataset, sample } from "../src/data/dataset.ts";
import { loadImageFolder } from "../src/data/folder.ts";
import { readTextBounded } from "../src/data/read.ts";
import { loadDataset, parseDatasetSpec } from "../src/data/mod.ts";
import { HansError, say } from "../src/errors.ts";
import { pickSpatialNode } from "../src/explain/graph.ts";
import { readShippedRecord, shippedModel } from "../src/model/shipped.ts";
import { method } from "../src/explain/registry.ts";
import { parseInputRange, withInputRange } from "../src/explain/input_range.ts";
import { checkInputFits, loadModel } from "../src/explain/load.ts";
import { runContrastive } from "../src/pipeline/contrastive.ts";
import { contrastiveFigures, contrastiveHtml } from "../src/report/contrastive_report.ts";
import { defaultResultsPath, ResultsDir } from "../src/report/results_dir.ts";
import { numberFlag, parseFlags } from "./cli.ts";

/** The help text of the task. */
export const CONTRASTIVE_HELP = `deno task contrastive [flags]

Runs a classifier over labelled test images, studies its most confident mistakes, and explains "why P rather
than Q" with every attribution method: maps for the predicted class P, the true class Q, their difference,
and the contrastive map (logit P − logit Q). Ranks the methods by how often removing the top pixels of their
contrastive map turns the prediction into the true class, against random maps.

  --model PATH|URL    a TF.js LayersModel or GraphModel (model.json); default the shipped Fashion-MNIST CNN
  --dataset SPEC      labelled test data (default: the shipped model's own test split of fashion-mnist)
  --images DIR        test images instead, one sub-folder per true class (needs --labels); PNG or JPEG
                      of any size, centre-cropped to the model's aspect and resized to its input
  --labels FILE       class names, one per line, in the model's output order
  --input-range LO,HI pixel range the model expects (default 0,1)
  --test-size N       test images to run (default all; --quick 1000)
  --examples N        misclassified images studied (default 64; --quick 16)
  --methods LIST      comma-separated methods (default every attribution method that can run on the
                      model; the others are listed in the report with the reason)
  --layer NAME        layer Grad-CAM, Guided Grad-CAM and activations read (default the last layer with
                      a 4-D output that feeds the classifier head; a wrong name lists the candidates)
  --seed N            seed (default: the shipped model's, else 1)
  --out DIR           results folder (must not exist)
  --quick             fewer images and lighter method settings
  --help              this text
`;

/** Runs the task; returns the results folder. */
export async function contrastiveTask(args: string[]): Promise<string | undefined> {
  const flags = parseFlags(args, {
    model: { type: "string" },
    dataset: { type: "string" },
    images: { type: "string" },
    labels: { type: "string" },
    "input-range": { type: "string" },
    "test-size": { type: "string" },
    examples: { type: "string" },
    methods: { type: "string" },
    layer: { type: "string" },
    seed: { type: "string" },
    out: { type: "string" },
    quick: { type: "boolean" },
    help: { type: "boolean" },
  }, "contrastive");
  if (flags.help) {
    console.log(CONTRASTIVE_HELP);
    return undefined;
  }
  const quick = flags.quick ?? false;
  const shipped = shippedModel();
  const usingShipped = flags.model === undefined;
  const record = usingShipped ? await readShippedRecord(shipped.record) : undefined;
  const seed = numberFlag("seed", flags.seed, record?.seed ?? 1, { min: 0, max: 2 ** 31, integer: true });
  const testSize = flags["test-size"] === undefined && !quick
    ? undefined
    : numberFlag("test-size", flags["test-size"], 1000, { min: 10, integer: true });
  const examples = numberFlag("examples", flags.examples, quick ? 16 : 64, {
    min: 1,
    max: 100000,
    integer: true,
  });
  const range = parseInputRange(flags["input-range"] ?? "0,1");
  const methods = flags.methods ? flags.methods.split(",").map((m) => method(m.trim()).name) : undefined;
  if (flags.images && !flags.labels) {
    throw new HansError("--images needs --labels: the class names in the model's output order.");
  }
  if (flags.images && flags.dataset) throw new HansError("give either --images or --dataset, not both.");
  const datasetText = flags.images
    ? `folder:${flags.images}`
    : flags.dataset ?? record?.dataset ?? "fashion-mnist";
  if (!flags.images) parseDatasetSpec(datasetText);
  const started = performance.now();
  const out = await ResultsDir.create(flags.out ?? defaultResultsPath("contrastive"));
  try {
    const info = await initBackend();
    // A data set's size is known before the model runs, so a model of another size is refused before its
    // first forward pass; an image folder is fitted to the model instead.
    const given = flags.images ? undefined : await loadTestImages(flags, datasetText, seed, testSize);
    const loaded = await loadModel(flags.model ?? shipped.source, { expect: given?.test });
    const [height, width, channels] = loaded.inputShape;
    const { test, notes } = given ?? await loadTestImages(flags, datasetText, seed, testSize, {
      height,
      width,
      channels: channels as 1 | 3,
    });
    checkInputFits(loaded, test);
    if (test.classNames.length !== loaded.classes) {
      throw new HansError(
        `the model has ${loaded.classes} outputs but the data has ${test.classNames.length} classes; pass --labels with one name per output.`,
      );
    }
    const model = withInputRange(loaded.explainable, range);
    const layerOptions = flags.layer === undefined ? {} : { layer: flags.layer };
    const methodOptions: Record<string, Record<string, unknown>> = {
      ...(quick ? QUICK_OPTIONS : DEFAULT_OPTIONS),
      grad_cam: layerOptions,
      guided_grad_cam: layerOptions,
      activations: layerOptions,
    };
    const result = await runContrastive({
      model,
      test,
      maxExamples: examples,
      methods,
      methodOptions,
      seed,
      log: (line) => say(line),
    });
    const meta = {
      model: flags.model ?? "shipped fashion-mnist-cnn",
      dataset: datasetText,
      backend: info.backend,
      adapter: info.adapter,
      shape: { height: test.height, width: test.width, channels: test.channels },
      classNames: test.classNames,
      outputs: model.outputs ?? "logits",
      layer: model.graph && result.methodInfo.some((m) => m.needs === "layer")
        ? pickSpatialNode(model.graph, flags.layer, "--layer")
        : undefined,
      imageNotes: notes,
    };
    const figures = await contrastiveFigures(result, meta);
    await out.writeJson("metrics.json", {
      task: "contrastive",
      model: meta.model,
      dataset: datasetText,
      backend: info.backend,
      adapter: info.adapter,
      kernels: info.kernels,
      seed,
      outputs: meta.outputs,
      graph: model.graph ? model.graph.source : null,
      layer: meta.layer ?? null,
      imageNotes: notes,
      methodsLeftOut: result.methodsLeftOut,
      methodsFailed: result.methodsFailed,
      testAccuracy: result.testAccuracy,
      testSize: test.count,
      misclassified: result.misclassified,
      confusions: result.confusions,
      examples: result.examples,
      methods: result.methods,
      randomBaseline: result.randomBaseline,
      ranking: result.ranking,
      seconds: (performance.now() - started) / 1000,
    });
    for (const f of figures) await out.writeFile(f.file, f.png);
    await out.writeFile("report.html", contrastiveHtml(result, meta, figures));
    const path = await out.commit();
    const top = result.ranking[0];
    say(
      `test accuracy ${
        result.testAccuracy.toFixed(4)
      }, ${result.misclassified} mistakes, ${result.examples.length} studied; ` +
        `best: ${top} (flip to true @10% ${result.methods[top]?.flipToTrueAt10.toFixed(3)} vs random ` +
        `${result.randomBaseline.flipToTrueAt10.toFixed(3)}); results in ${path}`,
    );
    return path;
  } catch (e) {
    await out.abort();
    throw e;
  }
}

/** Lighter settings for the sampled methods, so a default run stays within a few minutes. */
const DEFAULT_OPTIONS = {
  smoothgrad: { samples: 16 },
  smoothgrad_sq: { samples: 16 },
  vargrad: { samples: 16 },
  integrated_gradients: { steps: 16 },
  rise: { masks: 200, center: true },
};

const QUICK_OPTIONS = {
  smoothgrad: { samples: 4 },
  smoothgrad_sq: { samples: 4 },
  vargrad: { samples: 4 },
  integrated_gradients: { steps: 4 },
  occlusion: { patch: 4, stride: 4 },
  rise: { masks: 100, center: true },
};

async function loadTestImages(
  flags: { images?: string; labels?: string },
  datasetText: string,
  seed: number,
  testSize: number | undefined,
  fit?: { height: number; width: number; channels: 1 | 3 },
): Promise<{ test: Dataset; notes: string[] }> {
  if (flags.images) {
    const names = (await readTextBounded(flags.labels!, "--labels")).split("\n").map((l) => l.trim())
      .filter((l) => l.length > 0);
    const split = await loadImageFolder(flags.images, { seed, testFraction: 0.5, fit });
    const all = concat(split.train, split.test);
    const labels = all.labels.map((l) => {
      const k = names.indexOf(all.classNames[l]);
      if (k < 0) {
        throw new HansError(
          `class folder "${
            all.classNames[l]
          }" is not in --labels ${flags.labels}; name folders after the labels.`,
        );
      }
      return k;
    });
    const data = { ...all, labels: Int32Array.from(labels), classNames: names };
    return { test: testSize ? sample(data, testSize, seed) : data, notes: split.notes };
  }
  const { test } = await loadDataset(datasetText, { seed, testSize });
  return { test, notes: [] };
}

function concat(a: Dataset, b: Dataset): Dataset {
  const images = new Float32Array(a.images.length + b.images.length);
  images.set(a.images);
  images.set(b.images, a.images.length);
  const labels = new Int32Array(a.count + b.count);
  labels.set(a.labels);
  labels.set(b.labels, a.count);
  return { ...a, images, labels, count: a.count + b.count };
}
