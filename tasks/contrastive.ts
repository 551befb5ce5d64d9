/**
 * `deno task contrastive`: why did a pretrained classifier say P when the answer is Q? Explains its mistakes
 * with every attribution method and ranks the methods by how well their contrastive maps explain the errors.
 * @module
 */
import { forwardEngineOf, gradientEngineOf, withEnginePolicy } from "../src/model/forward_engine.ts";
import { initBackend } from "../src/backend.ts";
import { parseDatasetSpec } from "../src/data/mod.ts";
import { displayUrl, redactUrls } from "../src/data/fetch.ts";
import { HansError, say } from "../src/errors.ts";
import { pickSpatialNode } from "../src/explain/graph_query.ts";
import { parseInputRange, withInputRange } from "../src/explain/input_range.ts";
import { layerOptions, method, presetOptions, resolvedOptions } from "../src/explain/registry.ts";
import { readShippedRecord, shippedModel } from "../src/model/shipped.ts";
import { contrastiveMetrics, loadModelAndTestImages, runContrastive } from "../src/pipeline/contrastive.ts";
import { contrastiveFigures, contrastiveHtml } from "../src/report/contrastive_report.ts";
import { defaultResultsPath, withResultsDir } from "../src/report/results_dir.ts";
import { parseTaskFlags, taskHelp } from "../src/cli/args.ts";
import { CONTRASTIVE_FLAGS } from "../src/cli/task_flags.ts";

/** The help text of the task. */
export const CONTRASTIVE_HELP: string = taskHelp(CONTRASTIVE_FLAGS);

/** Runs the task; returns the results folder. */
export async function contrastiveTask(args: string[]): Promise<string | undefined> {
  const flags = parseTaskFlags(CONTRASTIVE_FLAGS, args);
  if (flags.help) return void console.log(CONTRASTIVE_HELP);
  const shipped = shippedModel();
  const record = flags.model === undefined ? await readShippedRecord(shipped.record) : undefined;
  const seed = flags.seed ?? record?.seed ?? 1;
  const range = parseInputRange(flags["input-range"]);
  const methods = flags.methods ? flags.methods.split(",").map((m) => method(m.trim()).name) : undefined;
  if (flags.images && !flags.labels) {
    throw new HansError("--images needs --labels: the class names in the model's output order.");
  }
  if (flags.images && flags.dataset) throw new HansError("give either --images or --dataset, not both.");
  const dataset = flags.images
    ? `folder:${flags.images}`
    : flags.dataset ?? record?.dataset ?? "fashion-mnist";
  if (!flags.images) parseDatasetSpec(dataset);
  const started = performance.now();
  const { path, value: result } = await withEnginePolicy(flags.engine, () =>
    withResultsDir(
      flags.out ?? defaultResultsPath("contrastive"),
      async (out) => {
        const info = await initBackend({ backend: flags.backend });
        const { loaded, test, notes } = await loadModelAndTestImages({
          model: flags.model ?? shipped.source,
          dataset,
          images: flags.images,
          labels: flags.labels,
          seed,
          testSize: flags["test-size"],
          log: say,
        });
        const model = withInputRange(loaded.explainable, range);
        // A --layer the model does not have stops the run here, with the candidates, whatever methods run.
        if (flags.layer !== undefined && model.graph) pickSpatialNode(model.graph, flags.layer, "--layer");
        const methodOptions = {
          ...presetOptions(flags.quick ? "quick" : "light"),
          ...layerOptions(flags.layer === undefined ? {} : { layer: flags.layer }),
        };
        const result = await runContrastive({
          model,
          test,
          maxExamples: flags.examples,
          methods,
          methodOptions,
          seed,
          budgetSeconds: flags.budget * 60,
          startedAt: started,
          log: say,
        });
        const meta = {
          // Recorded and shown without a user name or password a URL may carry.
          model: flags.model === undefined ? "shipped fashion-mnist-cnn" : displayUrl(flags.model),
          dataset: redactUrls(dataset),
          backend: info.backend,
          adapter: info.adapter,
          forwardEngine: forwardEngineOf(model) ?? null,
          gradientEngine: gradientEngineOf(model) ?? null,
          shape: { height: test.height, width: test.width, channels: test.channels },
          classNames: test.classNames,
          outputs: model.outputs ?? "logits",
          layer: model.graph && result.methodInfo.some((m) => m.needs === "layer")
            ? pickSpatialNode(model.graph, flags.layer, "--layer")
            : undefined,
          imageNotes: notes,
        };
        const figures = await contrastiveFigures(result, meta);
        await out.writeJson(
          "metrics.json",
          contrastiveMetrics(result, {
            ...meta,
            kernels: info.kernels,
            seed,
            graph: model.graph?.source ?? null,
            layer: meta.layer ?? null,
            layerShape: meta.layer ? model.graph!.shapes.get(meta.layer)!.slice(1) : null,
            testSize: test.count,
            seconds: (performance.now() - started) / 1000,
            settings: {
              inputRange: range,
              quick: flags.quick,
              budgetMinutes: flags.budget,
              examples: flags.examples,
              testSize: flags["test-size"] ?? null,
              methods: flags.methods ?? null,
              methodOptions: resolvedOptions(result.methodInfo, result.methodOptions, test),
            },
          }),
        );
        for (const f of figures) await out.writeFile(f.file, f.svg);
        await out.writeFile("report.html", await contrastiveHtml(result, meta, figures));
        return result;
      },
    ));
  const { best, margin } = result.verdict;
  const finding = best === null
    ? `no best method: ${result.verdict.note}`
    : `best: ${best} (flip to true @10% ${result.methods[best].flipToTrueAt10.toFixed(3)} vs random ` +
      `${result.verdict.random.toFixed(3)} on the same ${result.verdict.mistakes}, margin ${
        margin.toFixed(3)
      })`;
  say(
    `test accuracy ${result.testAccuracy.toFixed(4)}, ${result.misclassified} mistakes, ` +
      `${result.examples.length} studied; ${finding}; results in ${path}`,
  );
  return path;
}
