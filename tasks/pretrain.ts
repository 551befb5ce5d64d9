/**
 * `deno task pretrain`: train the CNN that hans ships for the contrastive and counterfactual tasks, and save it
 * with a record of how it was made (command, seed, test accuracy).
 * @module
 */
import { initBackend } from "../src/backend.ts";
import { loadDataset, parseDatasetSpec } from "../src/data/mod.ts";
import { versions } from "../src/deps.ts";
import { HansError, say } from "../src/errors.ts";
import { createCnn } from "../src/model/cnn.ts";
import { serializeModel } from "../src/model/io.ts";
import { accuracy, asClassifier, predictClasses } from "../src/model/predict.ts";
import { printProgress, trainModel } from "../src/model/train.ts";
import { ResultsDir } from "../src/report/results_dir.ts";
import { Rng } from "../src/rng.ts";
import { numberFlag, parseFlags } from "./cli.ts";

/** The help text of the task. */
export const PRETRAIN_HELP = `deno task pretrain [flags]

Trains the default CNN on a data set and saves it (TF.js LayersModel) with pretrain.json: the command, seed,
sizes and test accuracy. The shipped model in fixtures/fashion-mnist-cnn/ was made with the defaults.

  --dataset SPEC    fashion-mnist (default) | mnist | cifar10:<path-or-url> | folder:<path>
  --epochs N        passes over the training data (default 4)
  --train-size N    training images (default: all)
  --test-size N     test images (default: all)
  --seed N          seed (default 1)
  --out DIR         where to write (must not exist; default fixtures/<dataset>-cnn)
  --help            this text
`;

/** Runs the task; returns the folder written. */
export async function pretrainTask(args: string[]): Promise<string | undefined> {
  const flags = parseFlags(args, {
    dataset: { type: "string" },
    epochs: { type: "string" },
    "train-size": { type: "string" },
    "test-size": { type: "string" },
    seed: { type: "string" },
    out: { type: "string" },
    help: { type: "boolean" },
  }, "pretrain");
  if (flags.help) {
    console.log(PRETRAIN_HELP);
    return undefined;
  }
  const datasetText = flags.dataset ?? "fashion-mnist";
  const spec = parseDatasetSpec(datasetText);
  const seed = numberFlag("seed", flags.seed, 1, { min: 0, max: 2 ** 31, integer: true });
  const epochs = numberFlag("epochs", flags.epochs, 4, { min: 1, max: 1000, integer: true });
  const trainSize = flags["train-size"] === undefined
    ? undefined
    : numberFlag("train-size", flags["train-size"], 0, { min: 10, integer: true });
  const testSize = flags["test-size"] === undefined
    ? undefined
    : numberFlag("test-size", flags["test-size"], 0, { min: 10, integer: true });
  const out = await ResultsDir.create(flags.out ?? `fixtures/${spec.kind}-cnn`);
  try {
    const info = await initBackend();
    const data = await loadDataset(spec, { seed, trainSize, testSize });
    if (data.train.count < data.train.classNames.length) {
      throw new HansError(
        `pretrain: ${data.train.count} training images are too few for ${data.train.classNames.length} classes.`,
      );
    }
    const rng = new Rng(seed);
    const model = createCnn({
      height: data.train.height,
      width: data.train.width,
      channels: data.train.channels,
      classes: data.train.classNames.length,
      seed: rng.fork(),
    });
    const train = await trainModel(model, data.train, {
      epochs,
      seed: rng.fork(),
      onProgress: printProgress,
    });
    const testAccuracy = accuracy(await predictClasses(asClassifier(model), data.test), data.test.labels);
    const saved = await serializeModel(model);
    await out.writeFile("model.json", saved.modelJson);
    await out.writeFile("weights.bin", saved.weights);
    await out.writeJson("pretrain.json", {
      command: `deno task pretrain ${args.join(" ")}`.trim(),
      dataset: datasetText,
      seed,
      epochs,
      trainSize: data.train.count,
      testSize: data.test.count,
      testAccuracy,
      classNames: data.train.classNames,
      input: {
        height: data.train.height,
        width: data.train.width,
        channels: data.train.channels,
        range: [0, 1],
      },
      train: { seconds: train.seconds, samplesPerSecond: train.samplesPerSecond, finalLoss: train.finalLoss },
      backend: info.backend,
      adapter: info.adapter,
      kernels: info.kernels,
      tfjs: versions.tfjs,
      deno: Deno.version.deno,
    });
    model.dispose();
    const path = await out.commit();
    say(`test accuracy ${testAccuracy.toFixed(4)}; model in ${path}`);
    return path;
  } catch (e) {
    await out.abort();
    throw e;
  }
}
