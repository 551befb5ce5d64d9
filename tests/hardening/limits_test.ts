/**
 * Hostile input, second round: a gzip bomb, an endless download, weight paths outside the model's folder,
 * device files and FIFOs, a model declaring a huge input, NaN weights, an op without a gradient, and the
 * smaller cases of issue #14. Every case ends with exit 2, one `hans:` line, and nothing left in results.
 * The read limit is lowered to 16 MB (`HANS_MAX_READ_MB`), so a bomb shows it stops early.
 */
import assert from "node:assert/strict";
import { graphModelFixture } from "../fixtures/graph_model.ts";
import { expectRefusals, SMALL_RUN, writeFolderDataset } from "./cli.ts";

const SMALL_LIMIT = { HANS_MAX_READ_MB: "16" };

/** `megabytes` MB of zeros, gzip-compressed (a few hundred KB). */
async function gzipBomb(megabytes: number): Promise<Uint8Array> {
  const chunk = new Uint8Array(1 << 20);
  let sent = 0;
  const source = new ReadableStream<BufferSource>({
    pull(controller) {
      if (sent++ < megabytes) controller.enqueue(chunk);
      else controller.close();
    },
  });
  return new Uint8Array(await new Response(source.pipeThrough(new CompressionStream("gzip"))).arrayBuffer());
}

/** Writes the hand-built linear graph-model (16×16×1 → 2 classes) to `dir`, with `edit` applied to its JSON. */
async function writeModel(
  dir: string,
  edit: (json: Record<string, unknown>) => void = () => {},
  weights?: (bytes: Uint8Array) => Uint8Array,
): Promise<void> {
  const fixture = graphModelFixture({ height: 16, width: 16, channels: 1, classes: 2, filters: 0 });
  const json = JSON.parse(fixture.modelJson);
  edit(json);
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(`${dir}/model.json`, JSON.stringify(json));
  await Deno.writeFile(`${dir}/weights.bin`, weights ? weights(fixture.weights) : fixture.weights);
}

function weightPaths(paths: string[]) {
  return (json: Record<string, unknown>) => {
    (json.weightsManifest as { paths: string[] }[])[0].paths = paths;
  };
}

Deno.test("read limits: a gzip bomb and an endless download stop at the limit", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hans-limits-" });
  let served = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, () => {
    const chunk = new Uint8Array(1 << 20);
    let sent = 0;
    return new Response(
      new ReadableStream({
        pull(controller) {
          // "endless": far more than the limit, but bounded so the test stops by itself
          if (sent++ < 256) (served++, controller.enqueue(chunk));
          else controller.close();
        },
      }),
    );
  });
  try {
    await Deno.writeFile(`${dir}/bomb.tar.gz`, await gzipBomb(128));
    const url = `http://127.0.0.1:${server.addr.port}/data.bin`;
    await expectRefusals([
      {
        name: "gzip bomb",
        args: (out) => ["clever-hans", "--dataset", `cifar10:${dir}/bomb.tar.gz`, ...SMALL_RUN, "--out", out],
        message: /bomb\.tar\.gz \(decompressed\) holds more than 16 MB; .*HANS_MAX_READ_MB/,
      },
      {
        name: "endless download",
        args: (out) => ["clever-hans", "--dataset", `cifar10:${url}`, ...SMALL_RUN, "--out", out],
        message: /data\.bin holds more than 16 MB; .*HANS_MAX_READ_MB/,
      },
    ], SMALL_LIMIT);
    assert.ok(served < 64, `the download stopped early: ${served} MB sent of 256`);
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("model files: weights outside the folder, device files, FIFOs, huge inputs, NaN, no gradient", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hans-limits-" });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
    const path = new URL(request.url).pathname;
    if (path === "/m/model.json") {
      const fixture = graphModelFixture({ height: 16, width: 16, channels: 1, classes: 2, filters: 0 });
      const json = JSON.parse(fixture.modelJson);
      json.weightsManifest[0].paths = [`file://${dir}/outside/weights.bin`];
      return new Response(JSON.stringify(json));
    }
    if (path === "/r/model.json") {
      return new Response(
        graphModelFixture({ height: 16, width: 16, channels: 1, classes: 2, filters: 0 }).modelJson,
      );
    }
    if (path === "/r/weights.bin") {
      // A redirect out of the model's folder: followed, it would get past the folder check.
      return new Response(null, { status: 302, headers: { location: "/elsewhere/weights.bin" } });
    }
    await request.body?.cancel();
    return new Response("not here", { status: 404 });
  });
  try {
    await writeFolderDataset(`${dir}/images`, ["a", "b"], 3);
    await Deno.writeTextFile(`${dir}/labels.txt`, "a\nb\n");
    await writeModel(`${dir}/good`);
    await writeModel(`${dir}/outside`); // a real weights file of the right size, outside the model's folder
    await writeModel(`${dir}/escape/model`, weightPaths(["../../outside/weights.bin"]));
    await writeModel(`${dir}/zero/model`, weightPaths(["../../../../../../dev/zero"]));
    await writeModel(`${dir}/absolute`, weightPaths(["/etc/passwd"]));
    await writeModel(`${dir}/huge`, (json) => {
      const input =
        (json.modelTopology as { node: { name: string; attr: Record<string, unknown> }[] }).node[0];
      input.attr.shape = { shape: { dim: [-1, 5000, 5000, 3].map((size) => ({ size: String(size) })) } };
    });
    await writeModel(`${dir}/nan`, undefined, (bytes) => {
      const copy = bytes.slice();
      new Float32Array(copy.buffer).fill(NaN, 2, 12); // after the int32 shape: some dense weights
      return copy;
    });
    await Deno.writeTextFile(`${dir}/secret.json`, "root:x:0:0:root:/root:/bin/bash\n");
    await Deno.mkdir(`${dir}/fifo/a`, { recursive: true });
    await Deno.mkdir(`${dir}/fifo/b`, { recursive: true });
    await writeFolderDataset(`${dir}/fifo`, ["a", "b"], 2);
    await new Deno.Command("mkfifo", { args: [`${dir}/fifo/a/pipe.png`] }).output();
    await writeFolderDataset(`${dir}/zerolink`, ["a", "b"], 2);
    await Deno.symlink("/dev/zero", `${dir}/zerolink/b/zero.png`);
    const contrastive =
      (model: string, images = `${dir}/images`, labels = `${dir}/labels.txt`) => (out: string) => [
        "contrastive",
        "--model",
        model,
        "--images",
        images,
        "--labels",
        labels,
        "--quick",
        "--out",
        out,
      ];
    await expectRefusals([
      {
        name: "weights next to model.json, but outside via ..",
        args: contrastive(`${dir}/escape/model`),
        message:
          /names the weights file "\.\.\/\.\.\/outside\/weights\.bin", which is outside the model's folder/,
      },
      {
        name: "weights path to /dev/zero",
        args: contrastive(`${dir}/zero/model`),
        message: /which is outside the model's folder/,
      },
      {
        name: "absolute weights path",
        args: contrastive(`${dir}/absolute`),
        message: /names the weights file "\/etc\/passwd", which is outside the model's folder/,
      },
      {
        name: "a remote model.json naming a file:// weights path",
        args: contrastive(`http://127.0.0.1:${server.addr.port}/m/model.json`),
        message: /names the weights file "file:\/\/.*", which is outside the model's folder/,
      },
      {
        name: "a remote weights file that redirects out of the model's folder",
        args: contrastive(`http://127.0.0.1:${server.addr.port}/r/model.json`),
        message: /r\/weights\.bin cannot be reached/,
      },
      { name: "--model /dev/zero", args: contrastive("/dev/zero"), message: /\/dev\/zero is a device/ },
      {
        name: "--labels /dev/zero",
        args: contrastive(`${dir}/good`, `${dir}/images`, "/dev/zero"),
        message: /--labels \/dev\/zero is a device; hans reads regular files only/,
      },
      {
        name: "a FIFO in an image folder",
        args: contrastive(`${dir}/good`, `${dir}/fifo`),
        message: /pipe\.png is a FIFO; hans reads regular files only/,
      },
      {
        name: "a symlink to /dev/zero in an image folder",
        args: contrastive(`${dir}/good`, `${dir}/zerolink`),
        message: /zero\.png is a device/,
      },
      {
        name: "a model declaring 5000x5000x3 input, against a data set",
        args: (out) => ["contrastive", "--model", `${dir}/huge`, "--quick", "--out", out],
        message: /the model expects 5000x5000x3 images but the data has 28x28x1/,
      },
      {
        name: "a model declaring 5000x5000x3 input, with images fitted to it",
        args: contrastive(`${dir}/huge`),
        message: /takes 5000x5000x3 images; hans runs models of at most 16,777,216 input values/,
      },
      {
        name: "NaN weights",
        args: contrastive(`${dir}/nan`),
        message: /outputs that are not finite \(NaN or infinite\).*check the model/,
      },
      {
        name: "a model.json that is another file: its contents are not quoted",
        args: contrastive(`${dir}/secret.json`),
        message: /secret\.json is not valid JSON(?!.*root)/,
      },
    ], SMALL_LIMIT);
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("small cases: one class, a long --out, control characters, a negative flag, a bad transfer model", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hans-limits-" });
  try {
    await writeFolderDataset(`${dir}/one`, ["cat"], 4);
    await writeFolderDataset(`${dir}/escape`, ["cat\x1b]0;owned\x07"], 4);
    await expectRefusals([
      {
        name: "one class with a shortcut",
        args: (
          out,
        ) => [
          "clever-hans",
          "--dataset",
          `folder:${dir}/one`,
          ...SMALL_RUN,
          "--shortcut",
          "0=square",
          "--out",
          out,
        ],
        message: /has one class \(cat\); a classifier needs two or more/,
      },
      {
        name: "a class name with terminal escapes",
        args: (out) => ["clever-hans", "--dataset", `folder:${dir}/escape`, ...SMALL_RUN, "--out", out],
        message: /has one class \(cat\\x1b\]0;owned\\x07\)/,
      },
      {
        name: "--out longer than a file name can be",
        args: (out) => ["clever-hans", ...SMALL_RUN, "--out", `${out}/${"x".repeat(300)}`],
        message: /folder name is 300 bytes long; give one of at most 233/,
      },
      {
        name: "--epochs -1",
        args: (out) => ["clever-hans", "--epochs", "-1", "--out", out],
        message: /--epochs -1: expected a whole number from 1 to 1000/,
      },
      {
        name: "a --transfer-model that does not exist fails before any optimization",
        args: (out) => ["counterfactual", "--quick", "--transfer-model", `${dir}/missing`, "--out", out],
        message: /missing cannot be read/,
      },
    ], SMALL_LIMIT);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
