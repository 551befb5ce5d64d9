/**
 * Real tfjs-converter output read by hans (issue #24), checked against TF.js's own GraphModel execution.
 *
 * The real model: nsfwjs 4.4.0's `mobilenet_v2_mid`, a MobileNetV2 image classifier (224×224×3, 5 classes)
 * that the package ships as a GraphModel written by "TensorFlow.js Converter v1.7.4r1", with two weight shards
 * quantized to uint8. The package wraps model.json and each shard in a browserify module
 * (`model.min.js` exports the model.json object, each `group1-shardNofM.min.js` the shard's bytes in base64);
 * the test unwraps them into a folder and loads that folder with `loadModel`, as a user would. The package
 * comes through Deno's npm cache like the data packages (the type-only import below puts it there; nothing
 * of nsfwjs runs but its three wrappers, model.min.js and the two shards), so the test needs no network once the
 * cache holds it.
 *
 * No GraphModel shipped in an npm package was found with FusedBatchNorm: the converter folds a batch norm
 * into the convolution before it, and the models shipped by nsfwjs, @vladmandic/human(-models), handtrackjs
 * and @upscalerjs/models have none left (their Pad and ConcatV2 nodes sit in detectors with several outputs
 * or PReLU, which `loadModel` refuses or hans does not read). FusedBatchNormV3, Pad and ConcatV2 are therefore
 * checked on a small GraphDef written here in the converter's encoding — NOT real converter output: a batch
 * norm after a pooling (where the converter cannot fold it), zero padding before a VALID convolution, and the
 * concatenation of two branches on axis -1, as Keras writes them.
 * @module
 */
import type * as _nsfwjsMid from "npm:nsfwjs@4.4.0/models/mobilenet_v2_mid";
import assert from "node:assert/strict";
import { tf } from "../../src/deps.ts";
import { gradient } from "../../src/explain/gradient.ts";
import { disposeLoaded, type LoadedModel, loadModel } from "../../src/explain/load.ts";
import { availableMethods, METHODS } from "../../src/explain/registry.ts";
import { Rng } from "../../src/rng.ts";
import { gpuTest, maxAbsDiff, take } from "../gpu.ts";

interface GraphJson {
  convertedBy?: string;
  format: string;
  modelTopology: { node: { name: string; op: string; input?: string[] }[] };
  weightsManifest: { paths: string[] }[];
}

/** What a browserify/UMD wrapper of the package exports: its code run once with a CommonJS `module`. */
function umdExports(source: string): unknown {
  const module = { exports: {} as unknown };
  new Function("module", "exports", "define", source)(module, module.exports, undefined);
  return module.exports;
}

function base64Bytes(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** nsfwjs's mobilenet_v2_mid unwrapped into `dir` as model.json and its shards; returns its model.json. */
async function writeNsfwjsMid(dir: string): Promise<GraphJson> {
  const models = new URL(
    "../../models/mobilenet_v2_mid/",
    import.meta.resolve("npm:nsfwjs@4.4.0/models/mobilenet_v2_mid"),
  );
  const json = umdExports(await Deno.readTextFile(new URL("model.min.js", models))) as GraphJson;
  await Deno.writeTextFile(`${dir}/model.json`, JSON.stringify(json));
  for (const path of json.weightsManifest.flatMap((g) => g.paths)) {
    const shard = umdExports(await Deno.readTextFile(new URL(`${path}.min.js`, models))) as string;
    await Deno.writeFile(`${dir}/${path}`, base64Bytes(shard));
  }
  return json;
}

function images(shape: [number, number, number], n: number, seed: number): tf.Tensor4D {
  const rng = new Rng(seed);
  const size = n * shape[0] * shape[1] * shape[2];
  return tf.tensor4d(Float32Array.from({ length: size }, () => rng.next()), [n, ...shape]);
}

/** Name of the input of the graph's Softmax node: where TF.js's own execution gives the logits. */
function softmaxInput(json: GraphJson): string {
  const softmax = json.modelTopology.node.find((n) => n.op === "Softmax");
  assert.ok(softmax?.input?.[0], "the graph has a Softmax node");
  return softmax.input[0];
}

/**
 * The checks against truth: hans read the graph, its logits are TF.js's own at the Softmax's input (and its
 * probabilities TF.js's output), every method that needs the graph runs, and the gradient map is finite.
 */
async function checkAgainstTfjs(loaded: LoadedModel, json: GraphJson, seed: number): Promise<number> {
  assert.equal(loaded.kind, "graph");
  assert.equal(loaded.explainable.graphUnavailable, undefined);
  assert.ok(loaded.explainable.graph, "hans read the model as a graph");
  assert.equal(loaded.outputs, "pre-softmax");
  const model = loaded.model as tf.GraphModel;
  const x = images(loaded.inputShape, 2, seed);
  const ours = await take(loaded.explainable.logits(x));
  const theirs = await take(model.execute(x, softmaxInput(json)) as tf.Tensor);
  const diff = maxAbsDiff(ours, theirs);
  const scale = Math.max(...theirs.map(Math.abs));
  assert.ok(scale > 1e-3, `the logits are not all zero (largest ${scale})`);
  assert.ok(
    diff <= 1e-4 * Math.max(1, scale),
    `hans's logits differ from TF.js's by ${diff} (scale ${scale})`,
  );
  const probabilities = await take(tf.tidy(() => tf.softmax(loaded.explainable.logits(x))));
  assert.ok(maxAbsDiff(probabilities, await take(model.execute(x) as tf.Tensor)) < 1e-5);

  const needsGraph = METHODS.filter((m) => m.needs).map((m) => m.name);
  assert.ok(needsGraph.includes("grad_cam") && needsGraph.includes("guided_backprop"));
  const { leftOut } = await availableMethods(needsGraph, loaded.explainable, () => undefined, false);
  assert.deepEqual(leftOut, [], "every method that needs the graph runs on it");

  const map = await take(await gradient(loaded.explainable, x, [0, loaded.classes - 1]));
  assert.equal(map.length, 2 * loaded.inputShape[0] * loaded.inputShape[1]);
  assert.ok(map.every(Number.isFinite), "the gradient map is finite");
  assert.ok(map.some((v) => v > 0), "the gradient map is not all zero");
  x.dispose();
  return diff;
}

gpuTest(
  "converter output: nsfwjs's MobileNetV2 GraphModel is read as a graph that reproduces TF.js",
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "hans_nsfwjs_" });
    try {
      const json = await writeNsfwjsMid(dir);
      assert.match(json.convertedBy ?? "", /^TensorFlow\.js Converter v1\.7\.4/);
      assert.equal(json.format, "graph-model");
      const ops = new Set(json.modelTopology.node.map((n) => n.op));
      for (const op of ["_FusedConv2D", "FusedDepthwiseConv2dNative", "_FusedMatMul", "AddV2", "Softmax"]) {
        assert.ok(ops.has(op), `the converter wrote ${op}`);
      }
      const loaded = await loadModel(dir);
      try {
        assert.deepEqual([loaded.classes, loaded.inputShape, loaded.probabilities], [5, [224, 224, 3], true]);
        const diff = await checkAgainstTfjs(loaded, json, 7);
        console.log(`nsfwjs mobilenet_v2_mid: max |hans logits - TF.js logits| = ${diff.toExponential(2)}`);
      } finally {
        disposeLoaded(loaded);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

// ---- FusedBatchNormV3, Pad, ConcatV2 in the converter's encoding (a written fixture, not converter output).

const FLOAT = { type: "DT_FLOAT" };
const INT32 = { type: "DT_INT32" };
const NHWC = { s: btoa("NHWC") };
const b64 = (s: string) => btoa(s);
const ints = (values: number[]) => ({ list: { i: values.map(String) } });
const shape = (dims: number[]) => ({ dim: dims.map((size) => ({ size: String(size) })) });

/**
 * Placeholder [-1,8,8,3] → Pad [[0,0],[1,1],[1,1],[0,0]] → _FusedConv2D 3×3 VALID (BiasAdd, Relu) → two
 * branches: MaxPool 3×3 SAME stride 1 → FusedBatchNormV3, and a 1×1 Conv2D → ConcatV2 on axis -1 → Mean over
 * [1,2] → _FusedMatMul (BiasAdd) → Softmax → Identity. Seeded weights; the batch norm's variances positive.
 */
function bnPadConcatModel(seed: number): { modelJson: string; weights: Uint8Array } {
  const rng = new Rng(seed);
  const consts: { name: string; dtype: "float32" | "int32"; shape: number[]; values: number[] }[] = [];
  const nodes: Record<string, unknown>[] = [];
  const constant = (name: string, dtype: "float32" | "int32", dims: number[], values: number[]) => {
    consts.push({ name, dtype, shape: dims, values });
    nodes.push({
      name,
      op: "Const",
      attr: {
        value: { tensor: { dtype: dtype === "float32" ? "DT_FLOAT" : "DT_INT32", tensorShape: shape(dims) } },
        dtype: dtype === "float32" ? FLOAT : INT32,
      },
    });
  };
  const normal = (n: number, scale: number) => Array.from({ length: n }, () => (rng.next() * 2 - 1) * scale);
  constant("paddings", "int32", [4, 2], [0, 0, 1, 1, 1, 1, 0, 0]);
  constant("conv/kernel", "float32", [3, 3, 3, 6], normal(3 * 3 * 3 * 6, 0.5));
  constant("conv/bias", "float32", [6], normal(6, 0.1));
  constant("bn/gamma", "float32", [6], normal(6, 0.5).map((v) => 1 + v));
  constant("bn/beta", "float32", [6], normal(6, 0.2));
  constant("bn/mean", "float32", [6], normal(6, 0.3).map((v) => 0.5 + v));
  constant("bn/variance", "float32", [6], normal(6, 0.2).map((v) => 0.4 + Math.abs(v)));
  constant("side/kernel", "float32", [1, 1, 6, 4], normal(6 * 4, 0.5));
  constant("concat/axis", "int32", [], [-1]);
  constant("mean/reduction_indices", "int32", [2], [1, 2]);
  constant("dense/kernel", "float32", [10, 3], normal(30, 0.5));
  constant("dense/bias", "float32", [3], normal(3, 0.1));
  nodes.unshift({
    name: "input",
    op: "Placeholder",
    attr: { shape: { shape: shape([-1, 8, 8, 3]) }, dtype: FLOAT },
  });
  nodes.push(
    { name: "pad", op: "Pad", input: ["input", "paddings"], attr: { T: FLOAT, Tpaddings: INT32 } },
    {
      name: "conv/Relu",
      op: "_FusedConv2D",
      input: ["pad", "conv/kernel", "conv/bias"],
      attr: {
        T: FLOAT,
        num_args: { i: "1" },
        strides: ints([1, 1, 1, 1]),
        padding: { s: b64("VALID") },
        data_format: NHWC,
        dilations: ints([1, 1, 1, 1]),
        explicit_paddings: { list: {} },
        use_cudnn_on_gpu: { b: true },
        fused_ops: { list: { s: [b64("BiasAdd"), b64("Relu")] } },
        epsilon: { f: 0 },
        leakyrelu_alpha: { f: 0.2 },
      },
    },
    {
      name: "pool",
      op: "MaxPool",
      input: ["conv/Relu"],
      attr: {
        T: FLOAT,
        ksize: ints([1, 3, 3, 1]),
        strides: ints([1, 1, 1, 1]),
        padding: { s: b64("SAME") },
        data_format: NHWC,
        explicit_paddings: { list: {} },
      },
    },
    {
      name: "bn/FusedBatchNormV3",
      op: "FusedBatchNormV3",
      input: ["pool", "bn/gamma", "bn/beta", "bn/mean", "bn/variance"],
      attr: {
        T: FLOAT,
        U: FLOAT,
        data_format: NHWC,
        epsilon: { f: 0.001 },
        exponential_avg_factor: { f: 1 },
        is_training: { b: false },
      },
    },
    {
      name: "side/Conv2D",
      op: "Conv2D",
      input: ["conv/Relu", "side/kernel"],
      attr: {
        T: FLOAT,
        strides: ints([1, 1, 1, 1]),
        padding: { s: b64("VALID") },
        data_format: NHWC,
        dilations: ints([1, 1, 1, 1]),
        explicit_paddings: { list: {} },
        use_cudnn_on_gpu: { b: true },
      },
    },
    {
      name: "concat",
      op: "ConcatV2",
      input: ["bn/FusedBatchNormV3", "side/Conv2D", "concat/axis"],
      attr: { N: { i: "2" }, T: FLOAT, Tidx: INT32 },
    },
    {
      name: "mean",
      op: "Mean",
      input: ["concat", "mean/reduction_indices"],
      attr: { T: FLOAT, Tidx: INT32, keep_dims: { b: false } },
    },
    {
      name: "dense/BiasAdd",
      op: "_FusedMatMul",
      input: ["mean", "dense/kernel", "dense/bias"],
      attr: {
        T: FLOAT,
        transpose_a: { b: false },
        transpose_b: { b: false },
        num_args: { i: "1" },
        fused_ops: { list: { s: [b64("BiasAdd")] } },
        epsilon: { f: 0 },
        leakyrelu_alpha: { f: 0.2 },
      },
    },
    { name: "dense/Softmax", op: "Softmax", input: ["dense/BiasAdd"], attr: { T: FLOAT } },
    { name: "Identity", op: "Identity", input: ["dense/Softmax"], attr: { T: FLOAT } },
  );
  const bytes = new Uint8Array(consts.reduce((sum, c) => sum + 4 * Math.max(1, c.values.length), 0));
  const view = new DataView(bytes.buffer);
  let offset = 0;
  for (const c of consts) {
    for (const v of c.values) {
      if (c.dtype === "int32") view.setInt32(offset, v, true);
      else view.setFloat32(offset, v, true);
      offset += 4;
    }
  }
  const modelJson = JSON.stringify({
    format: "graph-model",
    generatedBy: "2.15.0",
    convertedBy: "hans test fixture in TensorFlow.js Converter v4.22.0's encoding",
    modelTopology: { node: nodes, library: {}, versions: { producer: 1645 } },
    weightsManifest: [{
      paths: ["group1-shard1of1.bin"],
      weights: consts.map(({ name, shape, dtype }) => ({ name, shape, dtype })),
    }],
    signature: {
      inputs: { "input:0": { name: "input:0", dtype: "DT_FLOAT", tensorShape: shape([-1, 8, 8, 3]) } },
      outputs: { "Identity:0": { name: "Identity:0", dtype: "DT_FLOAT", tensorShape: shape([-1, 3]) } },
    },
  });
  return { modelJson, weights: bytes };
}

gpuTest(
  "FusedBatchNormV3, Pad and ConcatV2 in the converter's encoding are read as TF.js runs them",
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "hans_bn_pad_concat_" });
    try {
      const files = bnPadConcatModel(11);
      await Deno.writeTextFile(`${dir}/model.json`, files.modelJson);
      await Deno.writeFile(`${dir}/group1-shard1of1.bin`, files.weights);
      const loaded = await loadModel(dir);
      try {
        assert.deepEqual([loaded.classes, loaded.inputShape], [3, [8, 8, 3]]);
        const ops = new Set(loaded.explainable.graph?.nodes.map((n) => n.op));
        for (const op of ["pad", "affine", "concat", "conv2d", "maxPool", "globalAvgPool", "dense"]) {
          assert.ok(ops.has(op as never), `hans read a ${op} node (got ${[...ops]})`);
        }
        const diff = await checkAgainstTfjs(loaded, JSON.parse(files.modelJson), 5);
        console.log(
          `FusedBatchNormV3/Pad/ConcatV2 fixture: max |hans logits - TF.js logits| = ${
            diff.toExponential(2)
          }`,
        );
      } finally {
        disposeLoaded(loaded);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
