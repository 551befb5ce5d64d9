/**
 * The smaller items of issue #23: what a user reads when something is off. A model of open height and width
 * names the open dimensions, a bidirectional override in a name is escaped, a full disk says so, a size flag
 * of 1e15 is refused, the early --model check answers before any data set is loaded, and a layers model whose
 * activations cannot fit the memory budget is refused before it runs.
 */
import assert from "node:assert/strict";
import { tf } from "../../src/deps.ts";
import { errorLine, printable } from "../../src/errors.ts";
import { layersPassBytes, loadModel } from "../../src/explain/load.ts";
import { checkModelSource } from "../../src/explain/model_source.ts";
import { residentBytes } from "../../src/limits.ts";
import { graphModelFixture } from "../fixtures/graph_model.ts";
import { layersModelFiles, writeModelFolder } from "../fixtures/real_models.ts";
import { cli, stderrLines, writeFolderDataset } from "./cli.ts";

async function withModel(model: tf.LayersModel, body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "hans-messages-" });
  try {
    await writeModelFolder(dir, await layersModelFiles(model));
    await body(dir);
  } finally {
    model.dispose();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("a model of open height and width is refused naming the open dimensions", async () => {
  await tf.setBackend("cpu");
  const model = tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [null, null, 1] as unknown as number[], filters: 2, kernelSize: 3 }),
      tf.layers.globalAveragePooling2d({}),
      tf.layers.dense({ units: 3 }),
    ],
  });
  await withModel(model, async (dir) => {
    await assert.rejects(
      loadModel(dir),
      /takes input of shape \[batch, height\?, width\?, 1\]; hans needs images \[batch, height, width, channels\]/,
    );
  });
});

Deno.test("a layers model whose activations pass the memory budget is refused before it runs", async () => {
  await tf.setBackend("cpu");
  // 16×16 grows to 6400×6400×8 floats: 1.3 GB per image.
  const model = tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [16, 16, 1], filters: 8, kernelSize: 3, padding: "same" }),
      tf.layers.upSampling2d({ size: [400, 400] }),
      tf.layers.globalAveragePooling2d({}),
      tf.layers.dense({ units: 3 }),
    ],
  });
  assert.equal(layersPassBytes(model), 4 * (16 * 16 * 8 + 6400 * 6400 * 8));
  const before = Deno.env.get("HANS_MAX_MEMORY_MB");
  Deno.env.set("HANS_MAX_MEMORY_MB", String(Math.ceil(residentBytes() / 2 ** 20) + 512));
  try {
    await withModel(model, async (dir) => {
      await assert.rejects(
        loadModel(dir),
        /the model check \(one forward pass of .*model\.json on 4 images, from its layers' output shapes\) would take 5000 MB/,
      );
    });
  } finally {
    if (before === undefined) Deno.env.delete("HANS_MAX_MEMORY_MB");
    else Deno.env.set("HANS_MAX_MEMORY_MB", before);
  }
});

Deno.test("printable escapes bidirectional overrides, which make a name read backwards", () => {
  assert.equal(printable("cat\u202egnp.exe"), "cat\\u202egnp.exe");
  assert.equal(printable("a\u2066b\u2069c\u200f"), "a\\u2066b\\u2069c\\u200f");
  assert.equal(printable("chat noir é 猫"), "chat noir é 猫");
});

Deno.test("a full disk is said in words, not as an unexpected error", () => {
  assert.equal(
    errorLine(new Error("No space left on device (os error 28)")),
    "the disk is full (No space left on device (os error 28)); free some space, or pass --out on another disk.",
  );
  assert.match(errorLine(new Error("something odd")), /^unexpected error: something odd/);
});

Deno.test("checkModelSource answers a missing --model at once", async () => {
  await assert.rejects(
    checkModelSource("/nonexistent/model"),
    /\/nonexistent\/model cannot be read \(No such file or directory.*; pass a folder holding model\.json/,
  );
  const dir = await Deno.makeTempDir();
  try {
    await assert.rejects(
      checkModelSource(dir),
      /model file .*model\.json does not exist; pass a folder holding/,
    );
    await checkModelSource("https://example.com/m/model.json"); // checked when it is fetched
  } finally {
    await Deno.remove(dir);
  }
});

Deno.test("--train-size 1e15 is refused, and contrastive checks --model before loading its data", async () => {
  const big = await cli(["clever-hans", "--train-size", "1e15"]);
  assert.equal(big.code, 2);
  assert.deepEqual(stderrLines(big.stderr), [
    "hans: --train-size 1e15: expected a whole number from 10 to 10000000.",
  ]);
  // A data set that cannot load either: the model's message shows the model was checked first.
  const missing = await cli([
    "contrastive",
    "--model",
    "/nonexistent/model",
    "--dataset",
    "cifar10:/nonexistent/cifar",
    "--out",
    "/nonexistent/out",
  ]);
  assert.equal(missing.code, 2);
  assert.match(stderrLines(missing.stderr)[0], /^hans: \/nonexistent\/model cannot be read/);
});

/** A model of 16×16×1 images that always says class 0 (its weights are zero, its bias picks class 0). */
function constantModel(classes: number): tf.LayersModel {
  const model = tf.sequential({
    layers: [tf.layers.flatten({ inputShape: [16, 16, 1] }), tf.layers.dense({ units: classes })],
  });
  const bias = new Float32Array(classes);
  bias[0] = 5;
  model.layers[1].setWeights([tf.zeros([256, classes]), tf.tensor1d(bias)]);
  return model;
}

Deno.test({
  name:
    "contrastive by a URL with a password: no password written, and no best method when no map beats random",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await tf.setBackend("cpu");
    const dir = await Deno.makeTempDir({ prefix: "hans-messages-" });
    const files = await layersModelFiles(constantModel(2));
    const auth: (string | null)[] = [];
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
      auth.push(request.headers.get("authorization"));
      const path = new URL(request.url).pathname;
      if (path === "/m/model.json") return new Response(files.modelJson);
      if (path === "/m/weights.bin") return new Response(files.weights as Uint8Array<ArrayBuffer>);
      return new Response("not here", { status: 404 });
    });
    try {
      await writeFolderDataset(`${dir}/images`, ["a", "b"], 10);
      await Deno.writeTextFile(`${dir}/labels.txt`, "a\nb\n");
      const url = `http://hans:s3cret@127.0.0.1:${server.addr.port}/m/model.json`;
      const out = `${dir}/out`;
      const { code, stderr } = await cli([
        "contrastive",
        "--model",
        url,
        "--images",
        `${dir}/images`,
        "--labels",
        `${dir}/labels.txt`,
        "--quick",
        "--examples=8",
        "--methods=gradient,occlusion",
        "--out",
        out,
      ]);
      assert.equal(code, 0, stderr);
      assert.ok(auth.every((a) => a === `Basic ${btoa("hans:s3cret")}`), "the password is sent");
      const metrics = JSON.parse(await Deno.readTextFile(`${out}/metrics.json`));
      const report = await Deno.readTextFile(`${out}/report.html`);
      for (
        const [name, text] of [["stderr", stderr], ["metrics.json", JSON.stringify(metrics)], [
          "report",
          report,
        ]]
      ) {
        assert.ok(!text.includes("s3cret"), `no password in ${name}`);
      }
      assert.equal(metrics.model, `http://127.0.0.1:${server.addr.port}/m/model.json`);
      // The model's scores do not depend on the image: no map can turn a mistake into the true class.
      assert.equal(metrics.verdict.best, null);
      assert.match(
        metrics.verdict.note,
        /^no method beats random maps by the margin \(0\.50 for 8 mistakes\)/,
      );
      assert.match(stderr, /no best method: no method beats random maps/);
      assert.doesNotMatch(stderr, /best: /);
      assert.match(report, /No method explains them better than random maps/);
      assert.doesNotMatch(report, /NaN/);
    } finally {
      await server.shutdown();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("contrastive: a model without mistakes on the images is said in one line", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hans-messages-" });
  try {
    // The linear GraphModel fixture tells these two classes apart (one brightens to the right, one downwards).
    const fixture = graphModelFixture({ height: 16, width: 16, channels: 1, classes: 2, filters: 0 });
    await Deno.mkdir(`${dir}/m`);
    await Deno.writeTextFile(`${dir}/m/model.json`, fixture.modelJson);
    await Deno.writeFile(
      `${dir}/m/${JSON.parse(fixture.modelJson).weightsManifest[0].paths[0]}`,
      fixture.weights,
    );
    await writeFolderDataset(`${dir}/images`, ["a", "b"], 6);
    await Deno.writeTextFile(`${dir}/labels.txt`, "a\nb\n");
    const r = await cli([
      "contrastive",
      "--model",
      `${dir}/m`,
      "--images",
      `${dir}/images`,
      "--labels",
      `${dir}/labels.txt`,
      "--quick",
      "--out",
      `${dir}/out`,
    ]);
    assert.equal(r.code, 2, r.stderr);
    assert.deepEqual(stderrLines(r.stderr).slice(-1), [
      "hans: the model classifies all 12 test images correctly, so there is no mistake to explain; pass more " +
      "test images (--test-size) or harder ones.",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
