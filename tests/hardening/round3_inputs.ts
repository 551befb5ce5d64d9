/**
 * Builds the inputs of `round3_cases.sh` (issue #23's hostile and careless runs) under the folder given as the
 * first argument. Not a test: the inputs take up to 2.5 GB of (mostly sparse) disk.
 * @module
 */
import { tf } from "../../src/deps.ts";
import { layersModelFiles, writeModelFolder } from "../fixtures/real_models.ts";
import { cifarBatch } from "../data/helpers.ts";
import { writeFolderDataset, writeGrayPng } from "./cli.ts";

const work = Deno.args[0];
await tf.setBackend("cpu");

async function save(dir: string, model: tf.LayersModel): Promise<{ modelJson: string; weights: Uint8Array }> {
  const files = await layersModelFiles(model);
  await writeModelFolder(dir, files);
  return files;
}

// 16×16 gray images of 10 classes, and their labels.
await writeFolderDataset(`${work}/folder16`, [..."abcdefghij"], 4);
await Deno.writeTextFile(`${work}/labels10.txt`, [..."abcdefghij"].join("\n") + "\n");

// A small honest model of 16×16×1 images, whose manifest is then rewritten.
const small = tf.sequential({
  layers: [tf.layers.flatten({ inputShape: [16, 16, 1] }), tf.layers.dense({ units: 10 })],
});
const files = await layersModelFiles(small);
const json = JSON.parse(files.modelJson);
const big = new Uint8Array(15 * 2 ** 20);
// One 15 MB file named 200 times, the manifest declaring all of it.
await Deno.mkdir(`${work}/same200`);
await Deno.writeFile(`${work}/same200/w.bin`, big);
await Deno.writeTextFile(
  `${work}/same200/model.json`,
  JSON.stringify({
    ...json,
    weightsManifest: [{
      paths: new Array(200).fill("w.bin"),
      weights: [{ name: "pad", shape: [200 * big.length / 4], dtype: "float32" }],
    }],
  }),
);
// 200 hard links to one 15 MB file, the manifest declaring 15 MB.
await Deno.mkdir(`${work}/links200`);
await Deno.writeFile(`${work}/links200/w0.bin`, big);
for (let i = 1; i < 200; i++) await Deno.link(`${work}/links200/w0.bin`, `${work}/links200/w${i}.bin`);
await Deno.writeTextFile(
  `${work}/links200/model.json`,
  JSON.stringify({
    ...json,
    weightsManifest: [{
      paths: Array.from({ length: 200 }, (_, i) => `w${i}.bin`),
      weights: [{ name: "pad", shape: [big.length / 4], dtype: "float32" }],
    }],
  }),
);
// A manifest declaring 3 GB of weights in one small file.
await Deno.mkdir(`${work}/declared3g`);
await Deno.writeFile(`${work}/declared3g/w.bin`, new Uint8Array(16));
await Deno.writeTextFile(
  `${work}/declared3g/model.json`,
  JSON.stringify({
    ...json,
    weightsManifest: [{ paths: ["w.bin"], weights: [{ name: "w", shape: [3 * 2 ** 28], dtype: "float32" }] }],
  }),
);
// 250 MB of nested arrays inside a valid model.json.
await Deno.mkdir(`${work}/nested`);
{
  const file = await Deno.open(`${work}/nested/model.json`, { write: true, create: true, truncate: true });
  const enc = new TextEncoder();
  await file.write(enc.encode(`{"format":"layers-model","modelTopology":{"junk":[`));
  const block = enc.encode("[[],[]],".repeat(2 ** 17));
  for (let written = 0; written < 250 * 2 ** 20; written += block.length) await file.write(block);
  await file.write(enc.encode(`[]]},"weightsManifest":[]}`));
  file.close();
}
// Ten sparse 255 MB files in a CIFAR-10 folder.
await Deno.mkdir(`${work}/sparse`);
for (const name of [...Array(9).keys()].map((i) => `data_batch_${i + 1}.bin`).concat("test_batch.bin")) {
  const f = await Deno.open(`${work}/sparse/${name}`, { write: true, create: true });
  await f.truncate(255 * 2 ** 20);
  f.close();
}
// One honest CIFAR-10 batch of 250 MB (85,300 images), and one of a single class.
{
  const records = Math.floor(250 * 2 ** 20 / 3073);
  const labels = Array.from({ length: 1000 }, (_, i) => i % 10);
  const block = cifarBatch(labels);
  const f = await Deno.open(`${work}/honest.bin`, { write: true, create: true });
  for (let r = 0; r + 1000 <= records; r += 1000) await f.write(block);
  f.close();
  await Deno.writeFile(`${work}/oneclass.bin`, cifarBatch(new Array(600).fill(3)));
}
// Four 1000×1000 PNGs in two classes.
for (const c of ["a", "b"]) {
  await Deno.mkdir(`${work}/big1000/${c}`, { recursive: true });
  for (let i = 0; i < 2; i++) {
    await writeGrayPng(
      `${work}/big1000/${c}/${i}.png`,
      1000,
      1000,
      (x, y) => ((c === "a" ? x : y) * 7 + i) % 256,
    );
  }
}
// A 2 KB model that grows 16×16 to 6400×6400.
await save(
  `${work}/upsample`,
  tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [16, 16, 1], filters: 8, kernelSize: 3, padding: "same" }),
      tf.layers.upSampling2d({ size: [400, 400] }),
      tf.layers.globalAveragePooling2d({}),
      tf.layers.dense({ units: 10 }),
    ],
  }),
);
// A model that always says class 0: its mistakes cannot be explained by any map.
const constant = tf.sequential({
  layers: [
    tf.layers.flatten({ inputShape: [16, 16, 1] }),
    tf.layers.dense({
      units: 10,
      kernelInitializer: "zeros",
      biasInitializer: tf.initializers.constant({ value: 0 }),
    }),
  ],
});
const bias = new Float32Array(10);
bias[0] = 5;
constant.layers[1].setWeights([tf.zeros([256, 10]), tf.tensor1d(bias)]);
await save(`${work}/constant`, constant);
console.log(`inputs in ${work}`);
