/**
 * Saving and loading models in the TF.js LayersModel format (`model.json` + `weights.bin`) on the local disk,
 * and the checked reading of any TF.js `model.json` and its weight files (shared with `load.ts`).
 * @module
 */
import { tf } from "../deps.ts";
import { HansError } from "../errors.ts";
import { checkMemory, megabytes } from "../limits.ts";
import { parseJsonBounded } from "../data/json.ts";
// Registers hans's own layer classes, so the models hans saves load again.
import "./standardize.ts";
import "./contrast_norm.ts";

/** The files of a saved model: `model.json` text and the weights' bytes. */
export interface SavedModelFiles {
  /** Text of model.json. */
  modelJson: string;
  /** Bytes of weights.bin. */
  weights: Uint8Array;
}

/** Serializes a LayersModel into `model.json` (pointing at `weights.bin`) and its weight bytes. */
export async function serializeModel(model: tf.LayersModel): Promise<SavedModelFiles> {
  let files: SavedModelFiles | undefined;
  await model.save(tf.io.withSaveHandler((artifacts) => {
    const data = artifacts.weightData;
    const buffers = data === undefined ? [] : Array.isArray(data) ? data : [data];
    const total = buffers.reduce((n, b) => n + b.byteLength, 0);
    const weights = new Uint8Array(total);
    let offset = 0;
    for (const b of buffers) {
      weights.set(new Uint8Array(b), offset);
      offset += b.byteLength;
    }
    const json = {
      format: "layers-model",
      generatedBy: `hans (TensorFlow.js ${tf.version.tfjs})`,
      convertedBy: null,
      modelTopology: artifacts.modelTopology,
      weightsManifest: [{ paths: ["weights.bin"], weights: artifacts.weightSpecs }],
    };
    files = { modelJson: JSON.stringify(json), weights };
    return Promise.resolve({ modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) });
  }));
  return files!;
}

/** Writes `model.json` and `weights.bin` into the folder `dir` (which must exist). */
export async function saveModel(model: tf.LayersModel, dir: string): Promise<void> {
  const files = await serializeModel(model);
  await Deno.writeTextFile(`${dir}/model.json`, files.modelJson);
  await Deno.writeFile(`${dir}/weights.bin`, files.weights);
}

/** One group of a model.json `weightsManifest`: weight files (read in order and joined) and the weights in them. */
export interface WeightsGroup {
  /** File names, relative to model.json. */
  paths: string[];
  /** The weights stored in these files, in order. */
  weights: tf.io.WeightsManifestEntry[];
}

/** The parts of a TF.js `model.json` that hans reads (LayersModel or GraphModel format). */
export interface ModelJson {
  /** `layers-model`, `graph-model`, or absent in older LayersModel files. */
  format?: string;
  /** A Keras model config (LayersModel) or a GraphDef (GraphModel). */
  modelTopology: Record<string, unknown>;
  /** Where the weights are and what they hold. */
  weightsManifest: WeightsGroup[];
  /** What wrote the file (e.g. the tfjs or Keras version). */
  generatedBy?: string;
  /** The converter's version, or null when the model was not converted. */
  convertedBy?: string | null;
  /** GraphModel: the signature naming inputs and outputs. */
  signature?: Record<string, unknown>;
  /** GraphModel: the graph that initializes hash tables. */
  modelInitializer?: Record<string, unknown>;
  /** GraphModel: the signature of `modelInitializer`. */
  initializerSignature?: Record<string, unknown>;
  /** LayersModel: the training config (optimizer, loss), ignored for inference. */
  trainingConfig?: tf.io.TrainingConfig;
  /** Anything the author stored beside the model. */
  userDefinedMetadata?: Record<string, unknown>;
}

/**
 * Parses the text of a `model.json`; throws a HansError when it is not JSON or has no `modelTopology` or
 * `weightsManifest`. `source` names the file in messages.
 */
export function parseModelJson(text: string, source: string): ModelJson {
  const json = parseJsonBounded(text, source, "point to a TF.js model.json") as Partial<ModelJson> | null;
  if (
    !json || typeof json !== "object" || !json.modelTopology || typeof json.modelTopology !== "object" ||
    !Array.isArray(json.weightsManifest) ||
    !json.weightsManifest.every((g) => Array.isArray(g?.paths) && Array.isArray(g?.weights))
  ) {
    throw new HansError(`${source} has no modelTopology or weightsManifest; it is not a TF.js model.json.`);
  }
  json.weightsManifest.forEach((group, g) => {
    const badPath = group.paths.find((p) => typeof p !== "string" || p === "");
    if (badPath !== undefined) {
      throw new HansError(
        `${source}: weightsManifest[${g}].paths holds ${JSON.stringify(badPath)}, not a file name; ` +
          `it is not a valid TF.js model.json.`,
      );
    }
    group.weights.forEach((spec: unknown, w) => {
      const problem = weightSpecProblem(spec);
      if (problem) {
        throw new HansError(
          `${source}: weightsManifest[${g}].weights[${w}] ${problem}; it is not a valid TF.js model.json.`,
        );
      }
    });
  });
  return json as ModelJson;
}

/** What is wrong with one weightsManifest entry, or undefined when it has a name, a dtype and a shape. */
function weightSpecProblem(spec: unknown): string | undefined {
  if (!spec || typeof spec !== "object" || Array.isArray(spec)) return "is not an object";
  const { name, dtype, shape, quantization } = spec as Record<string, unknown>;
  if (typeof name !== "string") return "has no name";
  if (typeof dtype !== "string") return "has no dtype";
  if (!Array.isArray(shape) || !shape.every((n) => Number.isSafeInteger(n) && n >= 0)) {
    return "has a shape that is not a list of whole numbers >= 0";
  }
  if (
    quantization !== undefined && quantization !== null &&
    (typeof quantization !== "object" || typeof (quantization as { dtype?: unknown }).dtype !== "string")
  ) {
    return "has a quantization without a dtype";
  }
  return undefined;
}

/**
 * Bytes that `specs` take in a weights file: elements times the stored dtype's size (the quantized dtype
 * when there is one). Undefined when a weight holds strings, whose size the manifest does not give.
 */
export function weightsByteLength(specs: tf.io.WeightsManifestEntry[]): number | undefined {
  let total = 0;
  for (const spec of specs) {
    const stored = spec.quantization?.dtype ?? spec.dtype;
    const size = Object.hasOwn(BYTES_PER_ELEMENT, stored) ? BYTES_PER_ELEMENT[stored] : undefined;
    if (size === undefined) return undefined;
    total += spec.shape.reduce((a, b) => a * b, 1) * size;
  }
  return total;
}

/**
 * Reads every weight file of `json` with `readFile(path)` (path as written in the manifest) and checks each
 * group's bytes against what its manifest needs. Returns the weight specs and their bytes joined in order.
 * Before anything is read, the manifest's declared total (the bytes, and the tensors they become) is checked
 * against the run's memory budget; a path listed twice is refused, and a group stops as soon as its files
 * hold more than it declares. Errors from `readFile` that are not HansErrors become HansErrors naming the
 * file.
 */
export async function readWeights(
  json: ModelJson,
  readFile: (path: string) => Promise<Uint8Array>,
  source: string,
): Promise<{ specs: tf.io.WeightsManifestEntry[]; data: Uint8Array }> {
  const specs = json.weightsManifest.flatMap((group) => group.weights);
  const declared = weightsByteLength(specs);
  const seen = new Set<string>();
  for (const path of json.weightsManifest.flatMap((group) => group.paths)) {
    if (seen.has(path)) {
      throw new HansError(
        `${source} lists the weights file "${path}" twice; a weights manifest names each file once, so the ` +
          `model.json is damaged.`,
      );
    }
    seen.add(path);
  }
  if (declared !== undefined) {
    // The bytes, and the float32 tensors tfjs makes of them (quantized weights grow back to 4 bytes).
    const elements = specs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
    checkMemory(declared + 4 * elements, `the weights of ${source} (${megabytes(declared)} declared)`);
  }
  // With a declared total, each file is copied into one buffer as it arrives; without one, joined at the end.
  const joined = declared === undefined ? undefined : new Uint8Array(declared);
  let offset = 0;
  const chunks: Uint8Array[] = [];
  for (const group of json.weightsManifest) {
    const needed = weightsByteLength(group.weights);
    const names = group.paths.slice(0, 3).map((p) => `"${p}"`).join(", ") +
      (group.paths.length > 3 ? ` and ${group.paths.length - 3} more` : "");
    const mismatch = (held: number) =>
      new HansError(
        `weights file${group.paths.length === 1 ? "" : "s"} ${names} of ${source} hold${
          group.paths.length === 1 ? "s" : ""
        } ${held === Infinity ? "more" : held} bytes ${
          held === Infinity ? "than the" : "but the"
        } manifest needs ${needed}; the download is incomplete or the file belongs to another model, so copy ` +
          `it again.`,
      );
    let held = 0;
    for (const path of group.paths) {
      let bytes: Uint8Array;
      try {
        bytes = await readFile(path);
      } catch (e) {
        if (e instanceof HansError) throw e;
        throw new HansError(
          `weights file "${path}" of ${source} cannot be read (${(e as Error).message}); put it next to ` +
            `model.json.`,
        );
      }
      held += bytes.length;
      if (needed !== undefined && held > needed) throw mismatch(Infinity);
      if (joined) joined.set(bytes, offset);
      else chunks.push(bytes);
      offset += bytes.length;
    }
    if (needed !== undefined && held !== needed) throw mismatch(held);
  }
  if (joined) return { specs, data: joined };
  const data = new Uint8Array(offset);
  offset = 0;
  for (const c of chunks) {
    data.set(c, offset);
    offset += c.length;
  }
  return { specs, data };
}

/** The tfjs ModelArtifacts of a parsed `model.json` and its weights (for tf.loadLayersModel/loadGraphModel). */
export function modelArtifacts(
  json: ModelJson,
  weights: { specs: tf.io.WeightsManifestEntry[]; data: Uint8Array },
): tf.io.ModelArtifacts {
  const data = weights.data;
  return {
    modelTopology: json.modelTopology as tf.io.ModelArtifacts["modelTopology"],
    format: json.format,
    generatedBy: json.generatedBy,
    convertedBy: json.convertedBy,
    signature: json.signature as tf.io.ModelArtifacts["signature"],
    modelInitializer: json.modelInitializer as tf.io.ModelArtifacts["modelInitializer"],
    initializerSignature: json.initializerSignature as tf.io.ModelArtifacts["initializerSignature"],
    trainingConfig: json.trainingConfig,
    userDefinedMetadata: json.userDefinedMetadata as tf.io.ModelArtifacts["userDefinedMetadata"],
    weightSpecs: weights.specs,
    // The bytes' own buffer when they fill it (no copy of a large model's weights), else a copy of them.
    weightData:
      (data.byteOffset === 0 && data.byteLength === data.buffer.byteLength
        ? data.buffer
        : data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)) as ArrayBuffer,
  };
}

const BYTES_PER_ELEMENT: Record<string, number | undefined> = {
  float32: 4,
  int32: 4,
  bool: 1,
  complex64: 8,
  uint8: 1,
  uint16: 2,
  float16: 2,
};
