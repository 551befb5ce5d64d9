/**
 * hans: catch image classifiers cheating and explain their mistakes. This is the library; the command line
 * is `cli.ts`.
 *
 * - Data: {@link loadDataset}, {@link loadImageFolder}, the {@link Dataset} type.
 * - Shortcuts: the four artifacts ({@link squareShortcut}, {@link timestampShortcut}, {@link watermarkShortcut},
 *   {@link gradientShortcut}), {@link parsePlan} and {@link stampDataset}.
 * - Models: {@link createCnn}, {@link trainModel}, {@link saveModel}, {@link loadModel} (any TF.js classifier),
 *   {@link fromLayersModel}, {@link asTwoClasses}, {@link withInputRange}, {@link mobileNetV2} (Keras's, seeded).
 * - Explanations: {@link explain} by name, {@link explainTargets} (several targets sharing work), the registry
 *   {@link METHODS}, {@link availableMethods}.
 * - Memory: every batched pass is sized by {@link planPass} against {@link deviceLimits} and the
 *   {@link memoryBudget} (`HANS_MAX_MEMORY_MB`).
 * - Metrics: localization, reliance, SpRAy, faithfulness, the randomization sanity check.
 * - Experiments: {@link runCleverHans}, {@link runContrastive}, {@link findCounterfactuals}, and their reports.
 * - Notebooks: {@link mapsFigure}, {@link showMaps}, {@link toPng} and {@link mapsToArrays} make results that
 *   show themselves in Deno's Jupyter kernel; {@link display} shows one from a cell, {@link notebookProgress}
 *   turns `onProgress` (taken by {@link explain} and the runs) into one updating output; {@link loadTestSample}
 *   reads a few test images fast. See docs/notebook.ipynb.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { disposeLoaded, explain, loadModel, shippedModel, tf } from "./mod.ts";
 *
 * await tf.setBackend("cpu"); // or `await initBackend()`: WebGPU where there is one
 * // The Fashion-MNIST CNN hans ships; any TF.js classifier's model.json loads the same way.
 * const loaded = await loadModel(shippedModel().source);
 * const [height, width, channels] = loaded.inputShape; // [28, 28, 1]
 * const images = tf.randomUniform([1, height, width, channels], 0, 1, "float32", 7) as tf.Tensor4D;
 * // Why class 0 (T-shirt/top)? One map per image, one relevance value per pixel.
 * const maps = await explain("integrated_gradients", loaded.explainable, images, [0], {
 *   steps: 32,
 *   maxSteps: 32, // exactly 32 points, no refinement: quick on a CPU
 * });
 * assert.deepEqual(maps.shape, [1, height, width]);
 * const map = await maps.data();
 * const top = map.indexOf(Math.max(...map)); // the pixel that speaks most for class 0
 * console.log(`most relevant pixel: row ${Math.floor(top / width)}, column ${top % width}`);
 * tf.dispose([images, maps]);
 * disposeLoaded(loaded);
 * ```
 * @module
 */
export { HansError } from "./src/errors.ts";
export {
  type BackendInfo,
  type DeviceLimits,
  deviceLimits,
  initBackend,
  type InitBackendOptions,
  overrideDeviceLimits,
  type WebGPUErrors,
  webgpuErrors,
} from "./src/backend.ts";
export { type MemoryBudget, memoryBudget } from "./src/limits.ts";
export {
  type PassCost,
  type PassKind,
  type PassPlan,
  planPass,
  type PlanPassOptions,
} from "./src/model/pass_plan.ts";
export { mobileNetV2, type MobileNetV2Options } from "./src/model/mobilenet_v2.ts";
export {
  type ForwardEngineChoice,
  forwardEngineOf,
  type ForwardEnginePolicy,
  setForwardEnginePolicy,
} from "./src/model/forward_engine.ts";
export { Rng } from "./src/rng.ts";
export { type Progress, withProgress } from "./src/progress.ts";
export { tf } from "./src/deps.ts";

export { type Dataset, type DatasetSplit } from "./src/data/dataset.ts";
export {
  type ImageFolderOptions,
  loadDataset,
  type LoadDatasetOptions,
  loadImageFolder,
  loadTestSample,
  type TestSampleOptions,
} from "./src/data/mod.ts";

export { type ImageShape, type Shortcut } from "./src/shortcuts/shortcut.ts";
export { squareShortcut } from "./src/shortcuts/square.ts";
export { timestampShortcut } from "./src/shortcuts/timestamp.ts";
export { watermarkShortcut } from "./src/shortcuts/watermark.ts";
export { gradientShortcut } from "./src/shortcuts/gradient.ts";
export { parsePlan, stampDataset, type StampPlan } from "./src/shortcuts/plan.ts";

export { type CnnOptions, createCnn } from "./src/model/cnn.ts";
export { trainModel, type TrainOptions, type TrainResult } from "./src/model/train.ts";
export { saveModel } from "./src/model/io.ts";
export { shippedModel } from "./src/model/shipped.ts";

export { type ContrastTarget, type Target } from "./src/explain/target.ts";
export {
  asTwoClasses,
  type ExplainableModel,
  fromLayersModel,
  type ModelOutputs,
  settled,
  settleModel,
} from "./src/explain/explainable_model.ts";
export { type ModelGraph } from "./src/explain/graph.ts";
export { disposeLoaded, type LoadedModel, loadModel, type LoadModelOptions } from "./src/explain/load.ts";
export { withInputRange } from "./src/explain/input_range.ts";
export {
  availableMethods,
  explain,
  explainTargets,
  method,
  type MethodInfo,
  type MethodLeftOut,
  type MethodName,
  type MethodOptionsByName,
  METHODS,
  noiseTunnel,
  presetOptions,
  type ProgressOption,
  type TargetMaps,
} from "./src/explain/registry.ts";
export { type NoiseTunnelOptions, noiseTunnelOver } from "./src/explain/noise_tunnel.ts";
export {
  checkOptions,
  type CostClass,
  type MethodDescriptor,
  type MethodPasses,
  type MethodReport,
} from "./src/explain/descriptor.ts";
export {
  type IntegratedGradientsReport,
  integratedGradientsWithReport,
} from "./src/explain/integrated_gradients.ts";

export { type LocalizationScores, massInMask, meanLocalization } from "./src/measure/localization.ts";
export { cheats, type RelianceResult, relianceTests } from "./src/measure/reliance.ts";
export { flagClasses, sprayClass, type SprayResult } from "./src/measure/spray.ts";
export { deletion, insertion } from "./src/measure/faithfulness.ts";
export { modelRandomization, spearman } from "./src/measure/sanity.ts";

export {
  type CounterfactualOptions,
  type Counterfactuals,
  findCounterfactuals,
} from "./src/counterfactual/optimize.ts";
export { type CleverHansResult, type CleverHansSettings, runCleverHans } from "./src/pipeline/clever_hans.ts";
export { type CleverHansMetrics, cleverHansMetrics } from "./src/pipeline/clever_hans_metrics.ts";
export {
  type ContrastiveResult,
  type ContrastiveSettings,
  runContrastive,
} from "./src/pipeline/contrastive.ts";

export { cleverHansFigures, cleverHansHtml } from "./src/report/clever_hans_report.ts";
export { contrastiveFigures, contrastiveHtml } from "./src/report/contrastive_report.ts";
export { ResultsDir } from "./src/report/results_dir.ts";
export {
  type Displayable,
  type ImagesInput,
  JUPYTER_DISPLAY,
  mapsFigure,
  type MapsFigureOptions,
  type MapsInput,
  mapsToArrays,
  type MimeBundle,
  type NotebookFigure,
  type NotebookPng,
  showMaps,
  toPng,
  type ToPngOptions,
} from "./src/report/notebook.ts";
export {
  display,
  DISPLAY_SETTLE_MS,
  inNotebook,
  type NotebookProgress,
  notebookProgress,
  type NotebookProgressOptions,
} from "./src/report/notebook_display.ts";
