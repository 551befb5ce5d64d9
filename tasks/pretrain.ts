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
import { withResultsDir } from "../src/report/results_dir.ts";
import { Rng } from "../src/rng.ts";
import { parseTaskFlags, taskHelp } from "../src/cli/args.ts";
import { PRETRAIN_FLAGS } from "../src/cli/task_flags.ts";

/** The help text of the task. */
export const PRETRAIN_HELP: string = taskHelp(PRETRAIN_FLAGS);

/** Runs the task; returns the folder written. */
export async function pretrainTask(args: string[]): Promise<string | undefined> {
  const flags = parseTaskFlags(PRETRAIN_FLAGS, args);
  if (flags.help) return void console.log(PRETRAIN_HELP);
  const datasetText = flags.dataset;
  const spec = parseDatasetSpec(datasetText);
  const { seed, epochs } = flags;
  const trainSize = flags["train-size"];
  const testSize = flags["test-size"];
  const { path, value: testAccuracy } = await withResultsDir(
    flags.out ?? `fixtures/${spec.kind}-cnn`,
    async (out) => {
      const info = await initBackend({ backend: flags.backend });
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
        train: {
          seconds: train.seconds,
          samplesPerSecond: train.samplesPerSecond,
          finalLoss: train.finalLoss,
        },
        backend: info.backend,
        adapter: info.adapter,
        kernels: info.kernels,
        tfjs: versions.tfjs,
        deno: Deno.version.deno,
      });
      model.dispose();
      return testAccuracy;
    },
  );
  say(`test accuracy ${testAccuracy.toFixed(4)}; model in ${path}`);
  return path;
}
