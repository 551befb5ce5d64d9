/**
 * Loads any TF.js image classifier a user points to (`--model <path|url>`): a LayersModel or a GraphModel,
 * from a local folder, a local `model.json`, or an http(s) URL of a `model.json`. Checks that it takes images,
 * finds out whether it outputs logits or probabilities, and wraps it as an {@link ExplainableModel}.
 * @module
 */
import { dirname, isAbsolute, join, resolve, sep as SEP } from "node:path";
import { displayUrl, downloadDeadline, fetchBytes, insideFolder, isHttpUrl } from "../data/fetch.ts";
import { checkRegularFile, readFileBounded } from "../data/read.ts";
import { tf } from "../deps.ts";
import { HansError } from "../errors.ts";
import { checkWebgpuErrors, webgpuErrors } from "../backend.ts";
import { checkMemory } from "../limits.ts";
import { disposeGraph, graphLogits, graphTensors, type ModelGraph } from "./graph.ts";
import { graphDefGraph, type GraphDefNode, probeShapes } from "./graph_graphdef.ts";
import {
  asTwoClasses,
  type ExplainableModel,
  layersModelLogits,
  type ModelOutputs,
} from "./explainable_model.ts";
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

/** Input values per image (height · width · channels) of the largest model hans runs: 4096·4096 of one channel. */
export const MAX_INPUT_VALUES = 4096 * 4096;

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

/**
 * Nodes a GraphModel may have at most (its graph, the functions of its library and its initializer together).
 * TF.js reads a graph, plans its first run and runs it each in one step that nothing interrupts, not even
 * Ctrl-C; each is linear in the nodes, the first run the longest: about 25 µs per node on a 2-core machine
 * (0.9 s at 30,000 nodes, 1.3–3 s at 50,000 with the machine busy, 4.3 s at 200,000), whatever the op. At
 * 30,000 the longest such step stays under 1 s; image classifiers have a few thousand nodes at most.
 */
export const MAX_GRAPH_NODES = 30_000;

/** Added to probabilities before the log, so that a probability of 0 gives a finite logit. */
const PROBABILITY_FLOOR = 1e-12;
/** Images in the forward pass that tells logits from probabilities. */
const PROBE_BATCH = 4;

/**
 * Loads the TF.js model at `source`: a local folder holding `model.json`, a local `model.json`, or an
 * http(s) URL of a `model.json`. Weight files are resolved relative to `model.json` (downloaded for a URL,
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
export async function loadModel(source: string, options: LoadModelOptions = {}): Promise<LoadedModel> {
  const { file, readModel, readWeight } = await locate(source, options);
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

/**
 * The model.json to read (a URL or a local path), how to read it, and how to read a weights file named in its
 * manifest. Weight paths stay inside the model's folder: for a local model, the file (symlinks resolved) must
 * lie under the folder of model.json; for a URL, it must have the same origin and lie under the URL's folder
 * (`insideFolder`), and so must every redirect hans follows for it. Anything else (an absolute path, `..` out
 * of the folder, another scheme or host) is refused by name. A URL is shown without its user name and password.
 */
async function locate(
  source: string,
  options: LoadModelOptions,
): Promise<
  { file: string; readModel: () => Promise<Uint8Array>; readWeight: (path: string) => Promise<Uint8Array> }
> {
  if (isHttpUrl(source)) {
    const url = source.endsWith("/") ? `${source}model.json` : source;
    // Shown and recorded without a user name and password; fetched with them.
    const file = displayUrl(url);
    const base = new URL(".", url);
    // One time limit for model.json and every weights file, not one per file.
    const deadline = downloadDeadline(
      options.timeoutMs,
      "the whole model (model.json and all its weights files together)",
      "check the connection, or download the model's files and pass their folder",
    );
    const folder = { folder: base, name: "the model's folder" };
    return {
      file,
      readModel: () => fetchBytes(url, { deadline }),
      readWeight: (path) => {
        let weights: URL | undefined;
        try {
          weights = new URL(path, url);
        } catch {
          // not a URL at all: refused below
        }
        if (!weights || !insideFolder(weights, base)) {
          throw new HansError(
            `${file} names the weights file "${displayUrl(path)}", which is outside the model's folder ` +
              `${displayUrl(base)}; hans reads weights only next to model.json.`,
          );
        }
        // Redirects are followed only within the model's folder, with the same check as above.
        return fetchBytes(weights.href, { deadline, within: folder });
      },
    };
  }
  const file = await localModelFile(source);
  const readModel = () => withModelHint(() => readFileBounded(file, "model file"));
  const readWeight = async (path: string) => {
    const outside = () =>
      new HansError(
        `${file} names the weights file "${path}", which is outside the model's folder; hans reads weights ` +
          `only next to model.json.`,
      );
    if (isAbsolute(path) || /^[a-z][a-z0-9+.-]*:/i.test(path)) throw outside();
    let folder: string;
    let target: string;
    try {
      folder = await Deno.realPath(dirname(file));
      target = await Deno.realPath(resolve(dirname(file), path));
    } catch (e) {
      throw new HansError(
        `weights file "${path}" of ${file} cannot be read (${
          (e as Error).message
        }); put it next to model.json.`,
      );
    }
    if (!target.startsWith(folder + SEP)) throw outside();
    return await readFileBounded(target, `weights file "${path}" of ${file}:`);
  };
  return { file, readModel, readWeight };
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

/**
 * Checks a GraphModel's GraphDef before TF.js reads it: at most {@link MAX_GRAPH_NODES} nodes, every input a
 * node of the graph, and no cycle (except through a Merge, as in a while loop, which TF.js refuses itself when
 * it runs). Each problem is a HansError naming the node; linear in the nodes and their inputs.
 */
function checkGraphDef(json: ModelJson, file: string): void {
  const nodesOf = (graph: unknown): unknown[] => {
    const node = (graph as { node?: unknown } | null | undefined)?.node;
    return Array.isArray(node) ? node : [];
  };
  const functions = (json.modelTopology as { library?: { function?: unknown } }).library?.function;
  const count = nodesOf(json.modelTopology).length + nodesOf(json.modelInitializer).length +
    (Array.isArray(functions)
      ? functions.reduce(
        (n: number, f) => n + nodesOf({ node: (f as { nodeDef?: unknown })?.nodeDef }).length,
        0,
      )
      : 0);
  if (count > MAX_GRAPH_NODES) {
    throw new HansError(
      `${file} has ${count.toLocaleString("en")} nodes; hans loads GraphModels of at most ` +
        `${MAX_GRAPH_NODES.toLocaleString("en")} nodes, so pass another --model.`,
    );
  }
  const nodes = nodesOf(json.modelTopology) as GraphDefNode[];
  const byName = new Map<string, GraphDefNode>();
  for (const node of nodes) if (typeof node?.name === "string") byName.set(node.name, node);
  // Input names as TF.js reads them: `^name` (a control input), `name`, `name:1`, `name:output:0`.
  const inputsOf = (node: GraphDefNode): GraphDefNode[] =>
    (Array.isArray(node.input) ? node.input : []).map((input) => {
      const name = String(input).replace(/^\^/, "").split(":")[0];
      const found = byName.get(name);
      if (!found) {
        throw new HansError(
          `${file}: node "${node.name}" reads "${input}", which the model's graph does not have; convert the ` +
            `model again with the tfjs converter.`,
        );
      }
      return found;
    });
  // A Merge's inputs are checked but not followed: a while loop's cycle runs through one (TF.js runs it with
  // executeAsync, and hans's probe says so).
  const edges = (node: GraphDefNode) => {
    const inputs = inputsOf(node);
    return node.op === "Merge" ? [] : inputs;
  };
  // Depth first over the inputs, with a stack of its own; a node met again while still open closes a cycle.
  const state = new Map<GraphDefNode, "open" | "done">();
  for (const root of byName.values()) {
    if (state.has(root)) continue;
    state.set(root, "open");
    const stack: { node: GraphDefNode; inputs: GraphDefNode[]; next: number }[] = [
      { node: root, inputs: edges(root), next: 0 },
    ];
    while (stack.length > 0) {
      const frame = stack[stack.length - 1];
      if (frame.next === frame.inputs.length) {
        state.set(frame.node, "done");
        stack.pop();
        continue;
      }
      const input = frame.inputs[frame.next++];
      const seen = state.get(input);
      if (seen === "open") {
        throw new HansError(
          `${file}: the model's graph has a cycle through node "${input.name}" (${input.op}), which TF.js ` +
            `cannot run; pass another --model.`,
        );
      }
      if (seen === "done") continue;
      state.set(input, "open");
      stack.push({ node: input, inputs: edges(input), next: 0 });
    }
  }
}

/** Checks the model's input and output and wraps it; throws a HansError when it is not an image classifier. */
async function describe(
  model: tf.LayersModel | tf.GraphModel,
  kind: "layers" | "graph",
  file: string,
  json: ModelJson,
  weights: { specs: tf.io.WeightsManifestEntry[]; data: Uint8Array },
  expect: ImageShape | undefined,
): Promise<LoadedModel> {
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
  const forward = kind === "layers"
    ? (x: tf.Tensor4D) => (model as tf.LayersModel).apply(x, { training: false }) as tf.Tensor
    : (x: tf.Tensor4D) => (model as tf.GraphModel).execute(x) as tf.Tensor;
  if (kind === "layers") {
    checkMemory(
      PROBE_BATCH * layersPassBytes(model as tf.LayersModel),
      `the model check (one forward pass of ${file} on ${PROBE_BATCH} images, from its layers' output shapes)`,
      "pass another --model",
    );
  }
  const { classes, probabilities } = await probe(forward, inputShape, file);
  let explainable: ExplainableModel;
  if (kind === "layers") {
    explainable = layersModelLogits(model as tf.LayersModel);
  } else {
    const graphModel = model as tf.GraphModel;
    explainable = { classes, logits: (x) => forward(x) as tf.Tensor2D, outputs: "logits" };
    try {
      const graph = graphDefGraph({
        nodes: (json.modelTopology.node ?? []) as GraphDefNode[],
        weights: graphModel.weights as Record<string, tf.Tensor[]>,
        values: smallConstants(weights.specs, weights.data),
        input: graphNodeName(json, "inputs", graphModel.inputNodes[0]),
        output: graphNodeName(json, "outputs", graphModel.outputNodes[0]),
      });
      probeShapes(graph, inputShape);
      explainable = {
        classes,
        logits: (x) => tf.tidy(() => graphLogits(graph, x)),
        outputs: graph.softmaxRemoved ? "pre-softmax" : graph.sigmoidRemoved ? "pre-sigmoid" : "logits",
        graph,
      };
    } catch (e) {
      // A misread graph must not refuse a model that runs in tfjs: any error here only costs the graph.
      explainable.graphUnavailable = e instanceof HansError
        ? e.message
        : `hans's reading of the model fails (${(e as Error).message?.split("\n")[0]}).`;
      const softmaxInput = softmaxInputNode(
        (json.modelTopology.node ?? []) as GraphDefNode[],
        graphNodeName(json, "outputs", graphModel.outputNodes[0]),
      );
      if (softmaxInput) {
        explainable.logits = (x) => graphModel.execute(x, softmaxInput) as tf.Tensor2D;
        explainable.outputs = "pre-softmax";
      }
    }
  }
  if (explainable.graph) {
    const problem = await graphProblem(explainable.graph, forward, inputShape, probabilities).catch((e) =>
      `hans's reading of the model fails on images (${(e as Error).message?.split("\n")[0]}).`
    );
    if (problem) {
      disposeGraph(explainable.graph);
      explainable = {
        classes,
        logits: (x) => forward(x) as tf.Tensor2D,
        outputs: "logits",
        graphUnavailable: problem,
      };
    }
  }
  if (probabilities && explainable.outputs === "logits") {
    explainable = classes === 1
      ? {
        ...explainable,
        // The log-odds log p − log(1 − p) of a sigmoid's output is its input.
        logits: (x) =>
          tf.tidy(() => {
            const p = forward(x);
            return tf.sub(
              tf.log(tf.add(p, PROBABILITY_FLOOR)),
              tf.log(tf.add(tf.sub(1, p), PROBABILITY_FLOOR)),
            );
          }) as tf.Tensor2D,
        outputs: "log-odds",
      }
      : {
        ...explainable,
        logits: (x) => tf.tidy(() => tf.log(tf.add(forward(x), PROBABILITY_FLOOR)) as tf.Tensor2D),
        outputs: "log-probabilities",
      };
  }
  if (classes === 1) explainable = asTwoClasses(explainable);
  // Everything the forward pass reads, so forward-only work can move the model to another backend.
  const graph = explainable.graph;
  const own = () =>
    kind === "layers"
      ? (model as tf.LayersModel).weights.map((w) => w.read())
      : Object.values((model as tf.GraphModel).weights).flat();
  explainable = { ...explainable, tensors: () => [...own(), ...(graph ? graphTensors(graph) : [])] };
  return {
    kind,
    model,
    explainable,
    inputShape,
    classes: explainable.classes,
    outputs: explainable.outputs ?? "logits",
    probabilities,
    source: file,
  };
}

/**
 * Why hans's reading of the model cannot be trusted, or undefined when it can: its output (with the softmax
 * put back where it was left out) must equal the model's on random images, within 1e-3 of the largest value.
 * A graph that does not end in a softmax while the model gives probabilities would explain probabilities,
 * so it is refused too.
 */
async function graphProblem(
  graph: ModelGraph,
  forward: (x: tf.Tensor4D) => tf.Tensor,
  [height, width, channels]: [number, number, number],
  probabilities: boolean,
): Promise<string | undefined> {
  if (probabilities && !graph.softmaxRemoved && !graph.sigmoidRemoved) {
    return "the model gives probabilities, but not through a softmax at its end that hans can leave out.";
  }
  const [mine, theirs] = tf.tidy(() => {
    const x = tf.randomUniform([2, height, width, channels], 0, 1, "float32", 11) as tf.Tensor4D;
    const logits = graphLogits(graph, x);
    const outputs = graph.softmaxRemoved
      ? tf.softmax(logits)
      : graph.sigmoidRemoved
      ? tf.sigmoid(logits)
      : logits;
    return [outputs, forward(x)];
  });
  const a = await mine.data();
  const b = await theirs.data();
  mine.dispose();
  theirs.dispose();
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  if (!(diff <= 1e-3 * Math.max(1, scale))) {
    return `hans's reading of the model's layers does not reproduce its output (largest difference ${
      diff.toPrecision(3)
    }).`;
  }
  return undefined;
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

/**
 * Checks, without reading it, that a local model source names something {@link loadModel} can read: a
 * folder holding a regular model.json, or a regular file; throws its HansError otherwise. An http(s) URL
 * passes (it is checked when it is fetched). Tasks call it before loading a data set, so a mistyped
 * `--model` is answered at once.
 *
 * @example
 * ```ts ignore
 * await checkModelSource("models/mnv2"); // HansError when models/mnv2/model.json is missing
 * ```
 */
export async function checkModelSource(source: string): Promise<void> {
  if (isHttpUrl(source)) return;
  const file = await localModelFile(source);
  await withModelHint(() => checkRegularFile(file, "model file"));
}

const MODEL_HINT = "pass a folder holding model.json, a model.json file, or its http(s) URL.";

/** The model.json a local `source` names: the file itself, or model.json in the folder. */
async function localModelFile(source: string): Promise<string> {
  try {
    return (await Deno.stat(source)).isDirectory ? join(source, "model.json") : source;
  } catch (e) {
    throw new HansError(`${source} cannot be read (${(e as Error).message}); ${MODEL_HINT}`);
  }
}

/** `fn`'s result, its HansError ending with what to pass instead. */
async function withModelHint<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw new HansError(`${(e as Error).message.replace(/\.$/, "")}; ${MODEL_HINT}`);
  }
}
