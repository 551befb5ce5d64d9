import assert from "node:assert/strict";
import { tf } from "../../src/deps.ts";
import { HansError } from "../../src/errors.ts";
import { serializeModel } from "../../src/model/io.ts";
import { checkInputFits, loadModel } from "../../src/explain/load.ts";
import { graphModelFixture } from "../fixtures/graph_model.ts";
import { gpuTest, maxAbsDiff, take } from "../gpu.ts";

type Files = Record<string, string | Uint8Array>;

/** Serves `files` (path → body) on a loopback port; anything else is a 404. */
function serve(files: Files): { base: string; close: () => Promise<void> } {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const body = files[new URL(request.url).pathname.slice(1)];
    return body === undefined ? new Response("not found", { status: 404 }) : new Response(body as BodyInit);
  });
  return { base: `http://127.0.0.1:${server.addr.port}`, close: () => server.shutdown() };
}

/** Writes `files` into a new temporary folder and returns it. */
async function writeFolder(files: Files): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "hans_load_" });
  for (const [name, body] of Object.entries(files)) {
    if (typeof body === "string") await Deno.writeTextFile(`${dir}/${name}`, body);
    else await Deno.writeFile(`${dir}/${name}`, body);
  }
  return dir;
}

/** A tiny conv + dense classifier on 6x6x1 images with 3 classes, seeded. */
function smallCnn(activation: "linear" | "softmax"): tf.Sequential {
  return tf.sequential({
    layers: [
      tf.layers.conv2d({
        inputShape: [6, 6, 1],
        filters: 2,
        kernelSize: 3,
        activation: "relu",
        kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }),
        biasInitializer: tf.initializers.randomNormal({ stddev: 0.1, seed: 2 }),
      }),
      tf.layers.flatten(),
      tf.layers.dense({
        units: 3,
        activation,
        kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }),
        biasInitializer: tf.initializers.randomNormal({ stddev: 0.1, seed: 4 }),
      }),
    ],
  });
}

async function savedFiles(model: tf.LayersModel): Promise<Files> {
  const saved = await serializeModel(model);
  return { "model.json": saved.modelJson, "weights.bin": saved.weights };
}

function rejectsWith(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  return assert.rejects(promise, (e: Error) => {
    assert.ok(e instanceof HansError, `not a HansError: ${e}`);
    assert.match(e.message, pattern);
    return true;
  });
}

gpuTest("a LayersModel loads by URL and from disk with the original's outputs, as logits", async () => {
  const original = smallCnn("linear");
  const files = await savedFiles(original);
  const legacy = JSON.parse(files["model.json"] as string);
  delete legacy.format;
  const dir = await writeFolder({ ...files, "legacy.json": JSON.stringify(legacy) });
  const server = serve(files);
  const x = tf.randomUniform([3, 6, 6, 1], 0, 1, "float32", 5) as tf.Tensor4D;
  const expected = await take(original.predict(x) as tf.Tensor);
  try {
    for (const source of [`${server.base}/model.json`, dir, `${dir}/model.json`, `${dir}/legacy.json`]) {
      const loaded = await loadModel(source, { timeoutMs: 5000 });
      assert.equal(loaded.kind, "layers", source);
      assert.equal(loaded.outputs, "logits", source);
      assert.deepEqual(loaded.inputShape, [6, 6, 1]);
      assert.equal(loaded.classes, 3);
      assert.equal(loaded.explainable.graph?.source, "layers-model");
      assert.ok(maxAbsDiff(await take(loaded.explainable.logits(x)), expected) <= 1e-6, source);
      checkInputFits(loaded, { height: 6, width: 6, channels: 1 });
      assert.throws(
        () => checkInputFits(loaded, { height: 28, width: 28, channels: 1 }),
        /the model expects 6x6x1 images but the data has 28x28x1; pass --images with that size or another --model/,
      );
      loaded.model.dispose();
    }
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
    x.dispose();
    original.dispose();
  }
});

gpuTest(
  "a softmax model is detected as probabilities and explained on its pre-softmax logits",
  async () => {
    const original = smallCnn("softmax");
    const twin = smallCnn("linear");
    twin.setWeights(original.getWeights());
    const dir = await writeFolder(await savedFiles(original));
    const x = tf.randomUniform([3, 6, 6, 1], 0, 1, "float32", 6) as tf.Tensor4D;
    try {
      const loaded = await loadModel(dir);
      assert.equal(loaded.probabilities, true);
      assert.equal(loaded.outputs, "pre-softmax");
      assert.ok(loaded.explainable.graph?.softmaxRemoved);
      // The same weights without the softmax: its outputs are the logits.
      const expected = await take(twin.predict(x) as tf.Tensor);
      assert.ok(maxAbsDiff(await take(loaded.explainable.logits(x)), expected) <= 1e-5);
      loaded.model.dispose();
    } finally {
      await Deno.remove(dir, { recursive: true });
      x.dispose();
      original.dispose();
      twin.dispose();
    }
  },
);

gpuTest(
  "a hand-written graph-model loads by URL: outputs and input gradients equal the same tf ops",
  async () => {
    const fixture = graphModelFixture({ height: 5, width: 4, channels: 3, classes: 3, filters: 2, seed: 1 });
    const server = serve({ "m/model.json": fixture.modelJson, "m/weights.bin": fixture.weights });
    const x = tf.randomUniform([2, 5, 4, 3], 0, 1, "float32", 8) as tf.Tensor4D;
    const w = tf.tensor2d([[1, -2, 0.5], [0, 1, -1]]);
    try {
      const loaded = await loadModel(`${server.base}/m/model.json`, { timeoutMs: 5000 });
      assert.equal(loaded.kind, "graph");
      assert.ok(loaded.model instanceof tf.GraphModel);
      assert.equal(loaded.outputs, "logits");
      assert.deepEqual(loaded.inputShape, [5, 4, 3]);
      assert.equal(loaded.classes, 3);
      const got = await take(loaded.explainable.logits(x));
      assert.ok(maxAbsDiff(got, await take(fixture.reference(x))) <= 1e-5);
      const score = (f: (x: tf.Tensor4D) => tf.Tensor2D) => (input: tf.Tensor) =>
        tf.sum(tf.mul(f(input as tf.Tensor4D), w));
      const grad = await take(tf.grad(score(loaded.explainable.logits))(x));
      const truth = await take(tf.grad(score(fixture.reference))(x));
      assert.ok(truth.some((v) => v !== 0));
      assert.ok(maxAbsDiff(grad, truth) <= 1e-5, `gradient differs by ${maxAbsDiff(grad, truth)}`);
      loaded.model.dispose();
    } finally {
      await server.close();
      x.dispose();
      w.dispose();
    }
  },
);

gpuTest("the gradient of a linear graph-model loaded from disk is its weight column", async () => {
  const [height, width, channels, classes] = [3, 3, 1, 2];
  const fixture = graphModelFixture({ height, width, channels, classes, filters: 0, seed: 2 });
  const dir = await writeFolder({ "model.json": fixture.modelJson, "weights.bin": fixture.weights });
  const x = tf.randomUniform([2, height, width, channels], 0, 1, "float32", 9) as tf.Tensor4D;
  try {
    const loaded = await loadModel(`${dir}/model.json`);
    assert.equal(loaded.kind, "graph");
    for (let k = 0; k < classes; k++) {
      const f = (input: tf.Tensor) =>
        tf.sum(tf.slice(loaded.explainable.logits(input as tf.Tensor4D), [0, k], [-1, 1]));
      const grad = await take(tf.grad(f)(x));
      const column = Array.from(
        { length: height * width * channels },
        (_, i) => fixture.dense[i * classes + k],
      );
      assert.ok(maxAbsDiff(grad, [...column, ...column]) <= 1e-6, `class ${k}`);
    }
    loaded.model.dispose();
  } finally {
    await Deno.remove(dir, { recursive: true });
    x.dispose();
  }
});

gpuTest("every broken model source rejects with a HansError that says what to do", async () => {
  const model = smallCnn("linear");
  const files = await savedFiles(model);
  model.dispose();
  const weights = files["weights.bin"] as Uint8Array;
  const dense = tf.sequential({ layers: [tf.layers.dense({ inputShape: [10], units: 3 })] });
  const flat = await savedFiles(dense);
  dense.dispose();
  const dir = await writeFolder({
    "model.json": files["model.json"],
    "short.bin": weights.subarray(0, weights.length - 8),
    "bad.json": "{ not json",
    "empty.json": JSON.stringify({ weightsManifest: [] }),
    "odd.json": JSON.stringify({ format: "saved-model", modelTopology: {}, weightsManifest: [] }),
    "short.json": (files["model.json"] as string).replace('"weights.bin"', '"short.bin"'),
  });
  await Deno.mkdir(`${dir}/flat`);
  await Deno.mkdir(`${dir}/empty`);
  await Deno.writeTextFile(`${dir}/flat/model.json`, flat["model.json"] as string);
  await Deno.writeFile(`${dir}/flat/weights.bin`, flat["weights.bin"] as Uint8Array);

  const { promise: never, resolve: release } = Promise.withResolvers<void>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    const path = new URL(request.url).pathname;
    if (path === "/slow/model.json") await never;
    if (path === "/half/model.json") return new Response(files["model.json"] as string);
    return new Response("not found", { status: 404 });
  });
  const base = `http://127.0.0.1:${server.addr.port}`;
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const closedPort = closed.addr.port;
  closed.close();
  try {
    await rejectsWith(
      loadModel(`${dir}/nothing`),
      /nothing cannot be read .*; pass a folder holding model\.json/,
    );
    await rejectsWith(
      loadModel(`${dir}/empty`),
      /empty\/model\.json does not exist; pass a folder holding model\.json/,
    );
    await rejectsWith(
      loadModel(`${dir}/bad.json`),
      /bad\.json is not valid JSON .*point to a TF\.js model\.json/,
    );
    await rejectsWith(loadModel(`${dir}/empty.json`), /has no modelTopology or weightsManifest/);
    await rejectsWith(loadModel(`${dir}/odd.json`), /format "saved-model"; hans loads "layers-model" and/);
    await rejectsWith(
      loadModel(`${dir}/short.json`),
      /weights file "short\.bin" of .*short\.json holds \d+ bytes but the manifest needs \d+; .*copy it again/,
    );
    await rejectsWith(
      loadModel(dir),
      /weights file "weights\.bin" of .*model\.json cannot be read .*next to model/,
    );
    await rejectsWith(
      loadModel(`${dir}/flat`),
      /takes input of shape \[batch, 10\]; hans needs images \[batch, height, width, channels\]/,
    );
    await rejectsWith(
      loadModel(`${base}/missing/model.json`),
      /missing\/model\.json: the server answered 404/,
    );
    await rejectsWith(loadModel(`${base}/half/model.json`), /half\/weights\.bin: the server answered 404/);
    await rejectsWith(
      loadModel(`${base}/slow/model.json`, { timeoutMs: 100 }),
      /slow\/model\.json: the download did not finish within 0\.1 s/,
    );
    await rejectsWith(
      loadModel(`http://127.0.0.1:${closedPort}/model.json`, { timeoutMs: 5000 }),
      new RegExp(`127\\.0\\.0\\.1:${closedPort}/model\\.json cannot be reached .*check the URL`),
    );
  } finally {
    release();
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});
