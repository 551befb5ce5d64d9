/**
 * Saving and loading models in the TF.js LayersModel format (`model.json` + `weights.bin`) on the local disk.
 * @module
 */
import { tf } from "../deps.ts";
import { HansError } from "../errors.ts";

/** The files of a saved model: `model.json` text and the weights' bytes. */
export interface SavedModelFiles {
  modelJson: string;
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

/** Loads a LayersModel from the bytes of `model.json` and its weight files (by manifest path). */
export async function loadLayersModelFromFiles(
  modelJson: string,
  readWeights: (path: string) => Promise<Uint8Array>,
  source: string,
): Promise<tf.LayersModel> {
  let json: {
    modelTopology?: unknown;
    weightsManifest?: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  };
  try {
    json = JSON.parse(modelJson);
  } catch (e) {
    throw new HansError(
      `${source} is not valid JSON (${(e as Error).message}); point to a TF.js model.json.`,
    );
  }
  if (!json || typeof json !== "object" || !json.modelTopology || !Array.isArray(json.weightsManifest)) {
    throw new HansError(`${source} has no modelTopology or weightsManifest; it is not a TF.js model.json.`);
  }
  const specs: tf.io.WeightsManifestEntry[] = [];
  const chunks: Uint8Array[] = [];
  for (const group of json.weightsManifest) {
    specs.push(...group.weights);
    for (const path of group.paths) {
      try {
        chunks.push(await readWeights(path));
      } catch (e) {
        if (e instanceof HansError) throw e;
        throw new HansError(`weights file "${path}" of ${source} cannot be read: ${(e as Error).message}.`);
      }
    }
  }
  const total = chunks.reduce((n, c) => n + c.length, 0);
  const expected = specs.reduce(
    (n, s) => n + s.shape.reduce((a, b) => a * b, 1) * bytesPerElement(s.dtype),
    0,
  );
  if (total !== expected) {
    throw new HansError(
      `the weights of ${source} hold ${total} bytes but its manifest needs ${expected}; the files are incomplete.`,
    );
  }
  const weightData = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    weightData.set(c, offset);
    offset += c.length;
  }
  try {
    return await tf.loadLayersModel(tf.io.fromMemory({
      modelTopology: json.modelTopology as tf.io.ModelJSON["modelTopology"],
      weightSpecs: specs,
      weightData: weightData.buffer,
    }));
  } catch (e) {
    throw new HansError(`${source} cannot be built as a LayersModel: ${(e as Error).message}`);
  }
}

/** Loads a LayersModel saved by {@link saveModel} (or any TF.js LayersModel) from a local folder or model.json. */
export async function loadModelFromDisk(path: string): Promise<tf.LayersModel> {
  const file = path.endsWith(".json") ? path : `${path}/model.json`;
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    throw new HansError(`cannot read ${file} (${(e as Error).message}); pass the folder holding model.json.`);
  }
  const dir = file.slice(0, Math.max(0, file.lastIndexOf("/"))) || ".";
  return await loadLayersModelFromFiles(text, (p) => Deno.readFile(`${dir}/${p}`), file);
}

function bytesPerElement(dtype: string): number {
  return dtype === "float32" || dtype === "int32" ? 4 : dtype === "bool" ? 1 : 4;
}
