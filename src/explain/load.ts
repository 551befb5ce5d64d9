/**
 * Loads any TF.js image classifier a user points to (`--model <path|url>`): a LayersModel or a GraphModel,
 * from a local folder, a local `model.json`, or an http(s) URL of a `model.json`. Checks that it takes images,
 * finds out whether it outputs logits or probabilities, and wraps it as an {@link ExplainableModel}.
 * @module
 */
import { tf } from "../deps.ts";
import { HansError } from "../errors.ts";
import { checkWebgpuErrors, webgpuErrors } from "../backend.ts";
import { checkMemory, MAX_INPUT_VALUES } from "../limits.ts";
import { disposeGraph, graphLogits, graphTensors, type ModelGraph } from "./graph.ts";
import { graphProblem } from "./graph_check.ts";
import { graphDefGraph, type GraphDefNode, probeShapes } from "./graph_graphdef.ts";
import { checkGraphDef } from "./graphdef_check.ts";
import {
  asTwoClasses,
  type ExplainableModel,
  layersModelLogits,
  type ModelOutputs,
} from "./explainable_model.ts";
import { locate, type ModelSource } from "./model_source.ts";
import type { ImageShape } from "../shortcuts/shortcut.ts";
import {
  modelArtifacts,
  type ModelJson,
  parseModelJson,
  readWeights,
  weightsByteLength,
} from "../model/io.ts";

/** Options of {@link loadModel}. */
export interface LoadModelOptions {
  /**
   * Time limit of the model's download in milliseconds, for URLs (default 60000): one limit for model.json and
   * all its weights files together.
   */
  timeoutMs?: number;
  /**
   * The size of the images the model will see, when known: a model declaring another size is refused before
   * it runs even once (see {@link checkInputFits} for the message).
   */
  expect?: ImageShape;
}

/** A loaded classifier and what hans found out about it. Dispose `model` when done. */
export interface LoadedModel {
  /** `layers` for a tf.LayersModel, `graph` for a tf.GraphModel. */
  kind: "layers" | "graph";
  /** The tfjs model. */
  model: tf.LayersModel | tf.GraphModel;
  /**
   * The model for the explanation methods, on its logits: for a model ending in a softmax, the softmax's input
   * (`outputs: "pre-softmax"`). Only when that is out of reach (a GraphModel with an op hans cannot read, no
   * Softmax node, yet probabilities) does `logits(x)` return `log(p + 1e-12)` (`"log-probabilities"`), whose
   * differences between columns are the same as the logits'. `graph` is set only when hans read the model as a
   * graph whose output reproduces the model's, so that layer-based methods (Grad-CAM, Guided Backprop, LRP)
   * never explain probabilities or a misread model by mistake; `graphUnavailable` says why it is missing.
   */
  explainable: ExplainableModel;
  /** The input images' size `[height, width, channels]` (channels 1 or 3). */
  inputShape: [number, number, number];
  /** Number of classes (columns of the output; 2 for a binary classifier with one output, see `asTwoClasses`). */
  classes: number;
  /** What the explanations are computed on (see {@link ExplainableModel.outputs}). */
  outputs: ModelOutputs;
  /**
   * True when every row of the model's output on random images in [0, 1) is non-negative and sums to 1 (±1e-3).
   */
  probabilities: boolean;
  /** The model.json that was loaded: a path, or a URL without its user name and password (see `displayUrl`). */
  source: string;
}

/** Added to probabilities before the log, so that a probability of 0 gives a finite logit. */
const PROBABILITY_FLOOR = 1e-12;
/** Images in the forward pass that tells logits from probabilities. */
const PROBE_BATCH = 4;

/**
 * Loads the TF.js model at `source`: a local folder holding `model.json`, a local `model.json`, an
 * http(s) URL of a `model.json`, or a {@link ModelSource} (say, files dropped in a page: `filesSource`).
 * Weight files are resolved relative to `model.json` (downloaded for a URL,
 * within `options.timeoutMs` for model.json and all its weights files together). `format: "graph-model"`
 * gives a tf.GraphModel; `"layers-model"`, or a Keras topology without a format, gives a tf.LayersModel. Runs
 * one forward pass on a few random images in [0, 1) to count the classes and to tell logits from probabilities.
 *
 * Every problem (missing or malformed file, missing or short weights, a download that fails, a model that
 * does not take `[batch, height, width, 1 or 3]` images or does not output `[batch, classes]`) is a
 * HansError that says what to do.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import { saveModel } from "../model/io.ts";
 *
 * await tf.setBackend("cpu");
 * const net = tf.sequential();
 * net.add(tf.layers.flatten({ inputShape: [4, 4, 1] }));
 * net.add(tf.layers.dense({ units: 3, activation: "softmax" }));
 * const dir = await Deno.makeTempDir();
 * await saveModel(net, dir); // model.json and weights.bin
 * const loaded = await loadModel(dir); // or `${dir}/model.json`, or an http(s) URL of a model.json
 * assert.deepEqual([loaded.kind, loaded.classes, loaded.inputShape], ["layers", 3, [4, 4, 1]]);
 * assert.equal(loaded.probabilities, true); // it ends in a softmax …
 * assert.equal(loaded.outputs, "pre-softmax"); // … so the methods explain the logits before it
 * disposeLoaded(loaded);
 * net.dispose();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function loadModel(
  source: string | ModelSource,
  options: LoadModelOptions = {},
): Promise<LoadedModel> {
  const { file, readModel, readWeight } = typeof source === "string" ? await locate(source, options) : source;
  const json = parseModelJson(new TextDecoder().decode(await readModel()), file);
  const kind = modelKind(json, file);
  if (kind === "graph") checkGraphDef(json, file);
  const weights = await readWeights(json, readWeight, file);
  const artifacts = modelArtifacts(json, weights);
  const handler: tf.io.IOHandler = { load: () => Promise.resolve(artifacts) };
  let model: tf.LayersModel | tf.GraphModel;
  try {
    model = kind === "layers" ? await tf.loadLayersModel(handler) : await tf.loadGraphModel(handler);
  } catch (e) {
    throw new HansError(
      `${file} cannot be built as a TF.js ${kind === "layers" ? "LayersModel" : "GraphModel"} ` +
        `(${(e as Error).message}); check that it was written by tfjs or the tfjs converter.`,
    );
  }
  try {
    return await describe(model, kind, file, json, weights, options.expect);
  } catch (e) {
    model.dispose();
    throw e;
  }
}

/**
 * Releases a loaded model and the tensors its graph made.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import { saveModel } from "../model/io.ts";
 *
 * await tf.setBackend("cpu");
 * const layers = [tf.layers.flatten({ inputShape: [4, 4, 1] }), tf.layers.dense({ units: 3 })];
 * const net = tf.sequential({ layers });
 * const dir = await Deno.makeTempDir();
 * await saveModel(net, dir);
 * net.dispose();
 * const before = tf.memory().numTensors;
 * disposeLoaded(await loadModel(dir));
 * assert.equal(tf.memory().numTensors, before); // the weights and whatever the graph made are released
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function disposeLoaded(loaded: LoadedModel): void {
  if (loaded.explainable.graph) disposeGraph(loaded.explainable.graph);
  loaded.model.dispose();
}

/**
 * Throws a HansError when the images' size is not the size the model takes: "the model expects HxWxC
 * images but the data has …".
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import { saveModel } from "../model/io.ts";
 *
 * await tf.setBackend("cpu");
 * const layers = [tf.layers.flatten({ inputShape: [4, 4, 1] }), tf.layers.dense({ units: 3 })];
 * const net = tf.sequential({ layers });
 * const dir = await Deno.makeTempDir();
 * await saveModel(net, dir);
 * net.dispose();
 * const loaded = await loadModel(dir);
 * checkInputFits(loaded, { height: 4, width: 4, channels: 1 });
 * const mnist = { height: 28, width: 28, channels: 1 };
 * assert.throws(() => checkInputFits(loaded, mnist), /expects 4x4x1 images but the data has 28x28x1/);
 * disposeLoaded(loaded);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function checkInputFits(loaded: LoadedModel, data: ImageShape): void {
  checkShape(loaded.inputShape, data);
}

function checkShape([height, width, channels]: [number, number, number], data: ImageShape): void {
  if (data.height !== height || data.width !== width || data.channels !== channels) {
    throw new HansError(
      `the model expects ${height}x${width}x${channels} images but the data has ` +
        `${data.height}x${data.width}x${data.channels}; pass --images with that size or another --model.`,
    );
  }
}

/** `layers` or `graph`, from the `format` field or, without one, from the shape of the topology. */
function modelKind(json: ModelJson, file: string): "layers" | "graph" {
  if (json.format === "layers-model") return "layers";
  if (json.format === "graph-model") return "graph";
  if (json.format !== undefined) {
    throw new HansError(
      `${file} has format "${json.format}"; hans loads "layers-model" and "graph-model" files, so convert ` +
        `the model with the tfjs converter.`,
    );
  }
  const topology = json.modelTopology;
  if (Array.isArray(topology.node)) return "graph";
  if ("class_name" in topology || "model_config" in topology || "config" in topology) return "layers";
  throw new HansError(
    `${file} has no format and its modelTopology is neither a Keras model nor a GraphDef; convert the model ` +
      `with the tfjs converter.`,
  );
}

/** The model's two ways of running: tfjs's own forward pass, and hans's reading of it as an explainable model. */
type Forward = (x: tf.Tensor4D) => tf.Tensor;

/**
 * Checks the model's input and output and wraps it; throws a HansError when it is not an image classifier. In
 * steps: the input it declares, one probe pass (classes, probabilities), the logits as hans reads them, the
 * graph kept only when it reproduces the model, probabilities turned into log-probabilities or log-odds where
 * no logits are in reach, one output as two classes, and the tensors the forward pass reads.
 */
async function describe(
  model: tf.LayersModel | tf.GraphModel,
  kind: "layers" | "graph",
  file: string,
  json: ModelJson,
  weights: { specs: tf.io.WeightsManifestEntry[]; data: Uint8Array },
  expect: ImageShape | undefined,
): Promise<LoadedModel> {
  const inputShape = declaredInput(model, kind, file, expect);
  const forward: Forward = kind === "layers"
    ? (x) => (model as tf.LayersModel).apply(x, { training: false }) as tf.Tensor
    : (x) => (model as tf.GraphModel).execute(x) as tf.Tensor;
  if (kind === "layers") {
    checkMemory(
      PROBE_BATCH * layersPassBytes(model as tf.LayersModel),
      `the model check (one forward pass of ${file} on ${PROBE_BATCH} images, from its layers' output shapes)`,
      "pass another --model",
    );
  }
  const { classes, probabilities } = await probe(forward, inputShape, file);
  const read = kind === "layers"
    ? layersModelLogits(model as tf.LayersModel, { reproduce: false })
    : graphModelLogits(model as tf.GraphModel, json, weights, inputShape, classes);
  const checked = await withCheckedGraph(read, forward, inputShape, probabilities);
  const onLogits = probabilities && checked.outputs === "logits"
    ? fromProbabilities(checked, forward, classes)
    : checked;
  const explainable = classes === 1 ? asTwoClasses(onLogits) : onLogits;
  return {
    kind,
    model,
    explainable: { ...explainable, tensors: () => forwardTensors(model, kind, explainable.graph) },
    inputShape,
    classes: explainable.classes,
    outputs: explainable.outputs ?? "logits",
    probabilities,
    source: file,
  };
}

/**
 * The model's one input as `[height, width, channels]`; a HansError when the model has another number of
 * inputs or outputs, or an input that is not float32 images of a known size of at most `MAX_INPUT_VALUES`
 * values (and `expect`'s size, when given), or a GraphModel with a fixed batch size.
 */
function declaredInput(
  model: tf.LayersModel | tf.GraphModel,
  kind: "layers" | "graph",
  file: string,
  expect: ImageShape | undefined,
): [number, number, number] {
  const inputs = model.inputs;
  const outputs = model.outputs;
  if (inputs.length !== 1 || outputs.length !== 1) {
    throw new HansError(
      `${file} has ${inputs.length} inputs and ${outputs.length} outputs; hans needs a classifier with one ` +
        `image input and one output of class scores, so pass another --model.`,
    );
  }
  const input = inputs[0];
  const inputShape = imageShape(input.shape, file);
  const [height, width, channels] = inputShape;
  if (expect) checkShape(inputShape, expect);
  if (height * width * channels > MAX_INPUT_VALUES) {
    throw new HansError(
      `${file} takes ${height}x${width}x${channels} images; hans runs models of at most ` +
        `${MAX_INPUT_VALUES.toLocaleString("en")} input values per image, so pass another --model.`,
    );
  }
  if (input.dtype !== undefined && input.dtype !== "float32") {
    throw new HansError(
      `${file} takes ${input.dtype} input; hans feeds float32 pixels in [0, 1], so pass a model with a ` +
        `float32 input.`,
    );
  }
  const batch = input.shape?.[0];
  if (kind === "graph" && typeof batch === "number" && batch > 0) {
    throw new HansError(
      `${file} takes batches of exactly ${batch} images; re-export it with a free batch dimension (-1).`,
    );
  }
  return inputShape;
}

/**
 * A GraphModel as hans reads it: its GraphDef as a graph when hans can read it (on the logits, a final softmax
 * or sigmoid left out), else its own output, or the input of a final Softmax node where there is one; any
 * error in the reading only costs the graph (`graphUnavailable` says why).
 */
function graphModelLogits(
  model: tf.GraphModel,
  json: ModelJson,
  weights: { specs: tf.io.WeightsManifestEntry[]; data: Uint8Array },
  inputShape: [number, number, number],
  classes: number,
): ExplainableModel {
  const nodes = (json.modelTopology.node ?? []) as GraphDefNode[];
  const output = graphNodeName(json, "outputs", model.outputNodes[0]);
  try {
    const graph = graphDefGraph({
      nodes,
      weights: model.weights as Record<string, tf.Tensor[]>,
      values: smallConstants(weights.specs, weights.data),
      input: graphNodeName(json, "inputs", model.inputNodes[0]),
      output,
    });
    probeShapes(graph, inputShape);
    return {
      classes,
      logits: (x) => tf.tidy(() => graphLogits(graph, x)),
      outputs: graph.softmaxRemoved ? "pre-softmax" : graph.sigmoidRemoved ? "pre-sigmoid" : "logits",
      graph,
    };
  } catch (e) {
    // A misread graph must not refuse a model that runs in tfjs: any error here only costs the graph.
    const graphUnavailable = e instanceof HansError
      ? e.message
      : `hans's reading of the model fails (${(e as Error).message?.split("\n")[0]}).`;
    const softmaxInput = softmaxInputNode(nodes, output);
    return softmaxInput
      ? {
        classes,
        logits: (x) => model.execute(x, softmaxInput) as tf.Tensor2D,
        outputs: "pre-softmax",
        graphUnavailable,
      }
      : { classes, logits: (x) => model.execute(x) as tf.Tensor2D, outputs: "logits", graphUnavailable };
  }
}

/**
 * `read` when its graph reproduces the model's output (see `graphProblem`) or it has none; else the model on
 * its own output, its graph released and `graphUnavailable` saying why.
 */
async function withCheckedGraph(
  read: ExplainableModel,
  forward: Forward,
  inputShape: [number, number, number],
  probabilities: boolean,
): Promise<ExplainableModel> {
  if (!read.graph) return read;
  const problem = await graphProblem(read.graph, forward, inputShape, probabilities).catch((e) =>
    `hans's reading of the model fails on images (${(e as Error).message?.split("\n")[0]}).`
  );
  if (!problem) return read;
  disposeGraph(read.graph);
  return {
    classes: read.classes,
    logits: (x) => forward(x) as tf.Tensor2D,
    outputs: "logits",
    graphUnavailable: problem,
  };
}

/**
 * A model whose output is probabilities, explained on what is closest to its logits: the log-odds
 * log p − log(1 − p) of a single sigmoid output (its input), else the log-probabilities (whose differences
 * between classes are the logits').
 */
function fromProbabilities(model: ExplainableModel, forward: Forward, classes: number): ExplainableModel {
  if (classes === 1) {
    return {
      ...model,
      logits: (x) =>
        tf.tidy(() => {
          const p = forward(x);
          return tf.sub(
            tf.log(tf.add(p, PROBABILITY_FLOOR)),
            tf.log(tf.add(tf.sub(1, p), PROBABILITY_FLOOR)),
          );
        }) as tf.Tensor2D,
      outputs: "log-odds",
    };
  }
  return {
    ...model,
    logits: (x) => tf.tidy(() => tf.log(tf.add(forward(x), PROBABILITY_FLOOR)) as tf.Tensor2D),
    outputs: "log-probabilities",
  };
}

/** Everything the forward pass reads, so forward-only work can move the model to another backend. */
function forwardTensors(
  model: tf.LayersModel | tf.GraphModel,
  kind: "layers" | "graph",
  graph: ModelGraph | undefined,
): tf.Tensor[] {
  const own = kind === "layers"
    ? (model as tf.LayersModel).weights.map((w) => w.read())
    : Object.values((model as tf.GraphModel).weights).flat();
  return [...own, ...(graph ? graphTensors(graph) : [])];
}

/**
 * The GraphDef node behind a GraphModel's input or output: the signature names tensors by keys such as
 * `output_0`, whose `name` (`Identity:0`) is the node; without a signature, tfjs's own name.
 */
function graphNodeName(json: ModelJson, side: "inputs" | "outputs", fallback: string): string {
  const entries = Object.values((json.signature?.[side] ?? {}) as Record<string, { name?: string }>);
  const name = entries.length === 1 ? entries[0].name : undefined;
  return (name ?? fallback).replace(/:0$/, "");
}

/** The input of a Softmax node that the GraphModel's output comes from (through Identity nodes), if any. */
function softmaxInputNode(nodes: GraphDefNode[], output: string): string | undefined {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const clean = (name: string) => name.replace(/:0$/, "");
  let node = byName.get(clean(output));
  const seen = new Set<GraphDefNode>();
  while (node && node.op === "Identity" && node.input?.length && !seen.has(node)) {
    seen.add(node);
    node = byName.get(clean(node.input[0]));
  }
  return node?.op === "Softmax" && node.input?.length ? clean(node.input[0]) : undefined;
}

/** Values of the small int32 and float32 constants in the weights (at most 64 elements), by name. */
function smallConstants(
  specs: tf.io.WeightsManifestEntry[],
  data: Uint8Array,
): (name: string) => number[] | undefined {
  const found = new Map<string, number[]>();
  let offset = 0;
  for (const spec of specs) {
    const bytes = weightsByteLength([spec]);
    if (bytes === undefined) break; // a string weight: the offsets after it are unknown
    const count = spec.shape.reduce((a, b) => a * b, 1);
    if (!spec.quantization && count <= 64 && (spec.dtype === "int32" || spec.dtype === "float32")) {
      const view = new DataView(data.buffer, data.byteOffset + offset, bytes);
      found.set(
        spec.name,
        Array.from(
          { length: count },
          (_, i) => spec.dtype === "int32" ? view.getInt32(4 * i, true) : view.getFloat32(4 * i, true),
        ),
      );
    }
    offset += bytes;
  }
  return (name) => found.get(name);
}

/** A dimension the model leaves open, by place: `batch`, then `height?`, `width?`, `channels?`. */
function unknownDim(i: number): string {
  return i === 0 ? "batch" : `${["height", "width", "channels"][i - 1] ?? `dim ${i}`}?`;
}

/** `[height, width, channels]` of an NHWC input shape; a HansError naming the shape when it is not one. */
function imageShape(shape: readonly (number | null)[] | undefined, file: string): [number, number, number] {
  const known = (n: number | null | undefined) => typeof n === "number" && Number.isInteger(n) && n > 0;
  if (
    !shape || shape.length !== 4 || !known(shape[1]) || !known(shape[2]) || (shape[3] !== 1 && shape[3] !== 3)
  ) {
    const written = shape
      ? `[${shape.map((n, i) => (n === null || n === undefined || n === -1 ? unknownDim(i) : n)).join(", ")}]`
      : "unknown";
    throw new HansError(
      `${file} takes input of shape ${written}; hans needs images [batch, height, width, channels] with ` +
        `known height and width and 1 or 3 channels, so pass another --model.`,
    );
  }
  return [shape[1]!, shape[2]!, shape[3]!];
}

/**
 * Bytes one image's forward pass through `model` holds at its peak, from the layers' declared output
 * shapes: the largest layer's input and output together (float32). 0 where a shape is not fully known.
 */
export function layersPassBytes(model: tf.LayersModel): number {
  const values = (shape: unknown): number => {
    if (!Array.isArray(shape)) return 0;
    if (Array.isArray(shape[0])) return (shape as unknown[]).reduce((n: number, s) => n + values(s), 0);
    const dims = (shape as (number | null)[]).slice(1);
    return dims.every((d) => typeof d === "number" && d > 0)
      ? (dims as number[]).reduce((a, b) => a * b, 1)
      : 0;
  };
  let peak = 0;
  for (const layer of model.layers) {
    let inValues = 0;
    let outValues = 0;
    try {
      const input = layer.input;
      inValues = values(Array.isArray(input) ? input.map((t) => t.shape) : input.shape);
      outValues = values(layer.outputShape);
    } catch {
      continue; // a layer without a single declared shape
    }
    peak = Math.max(peak, 4 * (inValues + outValues));
  }
  return peak;
}

/**
 * Runs the model once on random images in [0, 1): the number of classes, and whether every output row is a
 * probability distribution (non-negative, sum 1 ± 1e-3). An error the WebGPU device reports meanwhile (a
 * buffer too large, out of memory) stops the check: tfjs would go on with zeros.
 */
async function probe(
  forward: (x: tf.Tensor4D) => tf.Tensor,
  [height, width, channels]: [number, number, number],
  file: string,
): Promise<{ classes: number; probabilities: boolean }> {
  let shape: number[];
  let values: Float32Array;
  const errorsBefore = (await webgpuErrors()).count;
  try {
    const out = tf.tidy(() =>
      forward(tf.randomUniform([PROBE_BATCH, height, width, channels], 0, 1, "float32", 7))
    );
    shape = out.shape;
    try {
      values = await out.data() as Float32Array;
    } finally {
      out.dispose();
    }
  } catch (e) {
    throw new HansError(
      `${file} fails on a batch of ${height}x${width}x${channels} images (${(e as Error).message}); ` +
        `pass a model that runs on its own (no dynamic control flow) in TF.js.`,
    );
  }
  await checkWebgpuErrors(errorsBefore, `the model check of ${file}`);
  if (shape.length !== 2 || shape[0] !== PROBE_BATCH || shape[1] < 1) {
    throw new HansError(
      `${file} outputs shape [${shape.join(", ")}] for ${PROBE_BATCH} images; hans needs one score per ` +
        `class ([batch, classes]), or one for a binary classifier ([batch, 1]), so pass another --model.`,
    );
  }
  const classes = shape[1];
  const bad = values.reduce((n, v) => n + (Number.isFinite(v) ? 0 : 1), 0);
  if (bad > 0) {
    throw new HansError(
      `${file} gives ${bad} outputs that are not finite (NaN or infinite) for ${PROBE_BATCH} random images; ` +
        `its weights may hold NaN, so check the model.`,
    );
  }
  if (classes === 1) return { classes, probabilities: values.every((v) => v >= 0 && v <= 1) };
  let probabilities = true;
  for (let row = 0; row < PROBE_BATCH && probabilities; row++) {
    let sum = 0;
    for (let k = 0; k < classes; k++) {
      const v = values[row * classes + k];
      if (!(v >= 0)) probabilities = false;
      sum += v;
    }
    if (Math.abs(sum - 1) > 1e-3) probabilities = false;
  }
  return { classes, probabilities };
}
