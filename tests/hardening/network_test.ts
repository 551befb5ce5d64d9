/**
 * Downloads, third round (issue #23): an endless download and a gzip bomb sent with Content-Encoding stop at
 * the read limit with a peak memory of a small multiple of it; a model's download has one time limit for
 * model.json and all its weights files; weights behind a redirect within the model's folder load, others are
 * refused naming the target; a host Deno refuses is the one named in `--allow-net`; a password in the model's
 * URL is sent but never shown; the shipped model's record and a CIFAR-10 download go the same way. The limits
 * are small (64 MB, 0.6 s) so that each case takes seconds.
 */
import assert from "node:assert/strict";
import { tf } from "../../src/deps.ts";
import { HansError } from "../../src/errors.ts";
import { disposeLoaded, loadModel } from "../../src/explain/load.ts";
import { readShippedRecord } from "../../src/model/shipped.ts";
import { loadCifar10 } from "../../src/data/cifar10.ts";
import { graphModelFixture } from "../fixtures/graph_model.ts";
import { CLI_TS, entries, stderrLines, writeFolderDataset } from "./cli.ts";

const FETCH_TS = new URL("../../src/data/fetch.ts", import.meta.url).href;

/** A loopback server; `handler` sees each request and its path. */
function serve(handler: (path: string, request: Request) => Response | Promise<Response>) {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (request) => handler(new URL(request.url).pathname, request),
  );
  return {
    port: server.addr.port,
    base: `http://127.0.0.1:${server.addr.port}`,
    close: () => server.shutdown(),
  };
}

function redirect(location: string, status = 302): Response {
  return new Response(null, { status, headers: { location } });
}

async function rejectsWith(promise: Promise<unknown>, pattern: RegExp): Promise<string> {
  let message = "";
  await assert.rejects(promise, (e: Error) => {
    assert.ok(e instanceof HansError, `not a HansError: ${e}`);
    assert.match(e.message, pattern);
    message = e.message;
    return true;
  });
  return message;
}

/** The small linear graph-model (16×16×1 → 2 classes), its weights cut into `shards` files. */
function shardedModel(shards: number) {
  const fixture = graphModelFixture({ height: 16, width: 16, channels: 1, classes: 2, filters: 0 });
  const json = JSON.parse(fixture.modelJson);
  const size = Math.ceil(fixture.weights.length / shards);
  const files = new Map<string, Uint8Array>();
  for (let k = 0; k < shards; k++) {
    files.set(`group1-shard${k + 1}of${shards}.bin`, fixture.weights.slice(k * size, (k + 1) * size));
  }
  json.weightsManifest[0].paths = [...files.keys()];
  return { fixture, modelJson: JSON.stringify(json), files };
}

/** Exit code and stderr of `cli.ts <args>` run with `permissions` in a child process. */
async function cliWith(permissions: string[], args: string[]): Promise<{ code: number; stderr: string }> {
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...permissions, CLI_TS, ...args],
    stdout: "null",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  return { code, stderr: new TextDecoder().decode(stderr) };
}

Deno.test("an endless download and a gzip bomb with Content-Encoding stop at the limit, far under 1 GB", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hans-network-" });
  // 256 MB of zeros in about 260 KB, sent as gzip whatever the client asks for.
  const zeros = new Uint8Array(1 << 20);
  let made = 0;
  const bomb = new Uint8Array(
    await new Response(
      new ReadableStream<Uint8Array<ArrayBuffer>>({
        pull: (c) => void (made++ < 256 ? c.enqueue(zeros) : c.close()),
      }).pipeThrough(new CompressionStream("gzip")),
    ).arrayBuffer(),
  );
  let endlessSent = 0;
  const server = serve((path) => {
    if (path === "/bomb.bin") return new Response(bomb, { headers: { "content-encoding": "gzip" } });
    // 8 KB chunks, as a slow network gives them: each arrives as a view of a 64 KB buffer.
    return new Response(
      new ReadableStream<Uint8Array>({
        pull(c) {
          if (endlessSent++ < 65536) c.enqueue(new Uint8Array(8192));
          else c.close();
        },
      }, { highWaterMark: 0 }),
    );
  });
  // A child process that downloads one URL and reports the message and its peak resident memory.
  const driver = `${dir}/driver.ts`;
  await Deno.writeTextFile(
    driver,
    `import { fetchBytes } from ${JSON.stringify(FETCH_TS)};\n` +
      `let message = "no error";\n` +
      `try { await fetchBytes(Deno.args[0]); } catch (e) { message = (e as Error).message; }\n` +
      `const kb = Number(/VmHWM:\\s+(\\d+)/.exec(Deno.readTextFileSync("/proc/self/status"))![1]);\n` +
      `console.log(JSON.stringify({ message, peakMB: kb / 1024 }));\n`,
  );
  try {
    for (
      const [name, expected] of [
        ["endless.bin", /endless\.bin holds more than 64 MB; hans reads at most 64 MB from one source/],
        ["bomb.bin", /bomb\.bin \(decompressed\) holds more than 64 MB; hans reads at most 64 MB/],
      ] as const
    ) {
      const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
        // --allow-all: Deno lets only that read /proc/self/status.
        args: ["run", "--allow-all", driver, `${server.base}/${name}`],
        env: { HANS_MAX_READ_MB: "64", NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(code, 0, new TextDecoder().decode(stderr));
      const { message, peakMB } = JSON.parse(new TextDecoder().decode(stdout));
      assert.match(message, expected);
      // Measured: 135 MB and 165 MB; keeping Deno's chunks took 437 MB and 797 MB.
      assert.ok(peakMB < 300, `${name}: peak ${peakMB.toFixed(0)} MB for a 64 MB limit`);
    }
    assert.ok(endlessSent < 65536, "the endless download was stopped before its end");
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ten slow weights shards share one time limit with model.json", async () => {
  await tf.setBackend("cpu");
  const { modelJson, files } = shardedModel(10);
  let served = 0;
  const server = serve(async (path) => {
    if (path === "/m/model.json") return new Response(modelJson);
    const body = files.get(path.slice("/m/".length));
    if (!body) return new Response("not here", { status: 404 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    served++;
    return new Response(body as Uint8Array<ArrayBuffer>);
  });
  try {
    // Each shard takes 0.1 s, within 0.6 s; the ten together take 1 s.
    const started = performance.now();
    await rejectsWith(
      loadModel(`${server.base}/m/model.json`, { timeoutMs: 600 }),
      /m\/group1-shard\d+of10\.bin: the download did not finish within 0\.6 s, the time limit of the whole model \(model\.json and all its weights files together\); check the connection, or download the model's files and pass their folder\.$/,
    );
    const seconds = (performance.now() - started) / 1000;
    assert.ok(seconds < 0.9, `stopped after ${seconds.toFixed(2)} s`);
    assert.ok(served >= 3 && served < 10, `${served} shards were served before the limit`);
    // The same model within a limit that fits: it loads, so the limit alone refused it.
    const loaded = await loadModel(`${server.base}/m/model.json`, { timeoutMs: 5000 });
    assert.equal(loaded.classes, 2);
    disposeLoaded(loaded);
  } finally {
    await server.close();
  }
});

Deno.test("weights behind a redirect within the model's folder load; out of it or to another host, refused", async () => {
  await tf.setBackend("cpu");
  const { fixture, modelJson } = shardedModel(1);
  const hits: string[] = [];
  const server = serve((path) => {
    hits.push(path);
    if (path.endsWith("/model.json")) return new Response(modelJson);
    // how CDNs and model hubs serve files: a redirect to a versioned path in the same folder
    if (path === "/ok/group1-shard1of1.bin") return redirect("/ok/resolve/abc123/group1-shard1of1.bin", 307);
    if (path === "/ok/resolve/abc123/group1-shard1of1.bin") {
      return new Response(fixture.weights as Uint8Array<ArrayBuffer>);
    }
    if (path === "/out/group1-shard1of1.bin") return redirect("/elsewhere/group1-shard1of1.bin");
    if (path === "/host/group1-shard1of1.bin") {
      return redirect(`http://localhost:${server.port}/host/group1-shard1of1.bin`);
    }
    return new Response("not here", { status: 404 });
  });
  const x = tf.randomUniform([3, 16, 16, 1], 0, 1, "float32", 3) as tf.Tensor4D;
  try {
    const loaded = await loadModel(`${server.base}/ok/model.json`, { timeoutMs: 5000 });
    assert.ok(hits.includes("/ok/resolve/abc123/group1-shard1of1.bin"), "the redirect was followed");
    // The weights that came through the redirect are the model's: its outputs equal the reference.
    const got = await loaded.explainable.logits(x).data();
    const want = await fixture.reference(x).data();
    assert.ok(got.every((v, i) => Math.abs(v - want[i]) <= 1e-5), `${got} against ${want}`);
    disposeLoaded(loaded);
    hits.length = 0;
    await rejectsWith(
      loadModel(`${server.base}/out/model.json`, { timeoutMs: 5000 }),
      new RegExp(
        `^${server.base}/out/group1-shard1of1\\.bin cannot be reached within the model's folder: the server ` +
          `redirects it to ${server.base}/elsewhere/group1-shard1of1\\.bin, outside ${server.base}/out/; ` +
          `hans follows redirects only within the model's folder\\.$`,
      ),
    );
    await rejectsWith(
      loadModel(`${server.base}/host/model.json`, { timeoutMs: 5000 }),
      new RegExp(`redirects it to http://localhost:${server.port}/host/group1-shard1of1\\.bin, outside`),
    );
    assert.deepEqual(
      hits.filter((path) => !path.endsWith("model.json")),
      ["/out/group1-shard1of1.bin", "/host/group1-shard1of1.bin"],
      "no target outside the folder was fetched",
    );
  } finally {
    x.dispose();
    await server.close();
  }
});

Deno.test("a password in the model's URL is sent, and shown nowhere: not in source, not in messages", async () => {
  await tf.setBackend("cpu");
  const { modelJson, files } = shardedModel(2);
  const auth: (string | null)[] = [];
  const server = serve((path, request) => {
    auth.push(request.headers.get("authorization"));
    if (path.endsWith("/model.json")) return new Response(modelJson);
    const body = path.startsWith("/ok/") ? files.get(path.slice("/ok/".length)) : undefined;
    return body ? new Response(body as Uint8Array<ArrayBuffer>) : new Response("no", { status: 404 });
  });
  const secret = server.base.replace("http://", "http://hans:s3cret@");
  try {
    const loaded = await loadModel(`${secret}/ok/model.json`, { timeoutMs: 5000 });
    assert.equal(loaded.source, `${server.base}/ok/model.json`);
    disposeLoaded(loaded);
    assert.equal(auth.length, 3);
    assert.ok(auth.every((a) => a === `Basic ${btoa("hans:s3cret")}`), "every file was asked for with it");
    const message = await rejectsWith(
      loadModel(`${secret}/gone/model.json`, { timeoutMs: 5000 }),
      new RegExp(`^${server.base}/gone/group1-shard1of2\\.bin: the server answered 404`),
    );
    assert.ok(!/s3cret|hans:/.test(message), message);
  } finally {
    await server.close();
  }
});

Deno.test("the command line: a refused host is the one named in --allow-net, and no password is printed", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hans-network-" });
  const { modelJson } = shardedModel(1);
  const server = serve((path) => {
    if (path === "/away/model.json") return redirect("http://evil.example/m/model.json", 301);
    if (path === "/pw/model.json") return new Response(modelJson);
    return new Response("not here", { status: 404 });
  });
  const permissions = ["--allow-read", "--allow-write", "--allow-env", "--allow-net=127.0.0.1"];
  try {
    await writeFolderDataset(`${dir}/images`, ["a", "b"], 3);
    await Deno.writeTextFile(`${dir}/labels.txt`, "a\nb\n");
    const cases: [string, string, RegExp][] = [
      [
        "a redirect to a host deno may not reach",
        `${server.base}/away/model.json`,
        /^hans: http:\/\/127\.0\.0\.1:\d+\/away\/model\.json: network access to evil\.example:80 is not allowed \(it redirects to http:\/\/evil\.example\/m\/model\.json\); run deno with --allow-net=evil\.example:80\.$/,
      ],
      [
        "a host deno may not reach",
        `http://localhost:${server.port}/pw/model.json`,
        new RegExp(
          `network access to localhost:${server.port} is not allowed; run deno with --allow-net=localhost`,
        ),
      ],
      [
        "a password in the URL, and a missing weights file",
        server.base.replace("http://", "http://hans:s3cret@") + "/pw/model.json",
        new RegExp(`^hans: ${server.base}/pw/group1-shard1of1\\.bin: the server answered 404`),
      ],
    ];
    for (const [name, model, expected] of cases) {
      const out = `${dir}/out`;
      const args = [
        "contrastive",
        "--model",
        model,
        "--images",
        `${dir}/images`,
        "--labels",
        `${dir}/labels.txt`,
      ];
      const { code, stderr } = await cliWith(permissions, [...args, "--quick", "--out", out]);
      assert.equal(code, 2, `${name}: ${stderr}`);
      const lines = stderrLines(stderr);
      assert.equal(lines.length, 1, `${name}: one line, got\n${stderr}`);
      assert.match(lines[0], expected, name);
      assert.ok(!/s3cret|hans:s3|--allow-net=127/.test(stderr), `${name}: ${stderr}`);
      assert.ok(!entries(dir).includes("out"), `${name}: no results folder`);
    }
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the shipped model's record by URL: a failed download says why, without the password", async () => {
  const server = serve((path) =>
    path === "/f/pretrain.json"
      ? new Response(JSON.stringify({ seed: 3, dataset: "fashion-mnist" }))
      : new Response("no", { status: 404 })
  );
  const secret = server.base.replace("http://", "http://hans:s3cret@");
  try {
    assert.deepEqual(await readShippedRecord(new URL(`${secret}/f/pretrain.json`)), {
      seed: 3,
      dataset: "fashion-mnist",
    });
    const message = await rejectsWith(
      readShippedRecord(new URL(`${secret}/gone/pretrain.json`)),
      new RegExp(`^${server.base}/gone/pretrain\\.json: the server answered 404`),
    );
    assert.ok(!message.includes("s3cret"), message);
  } finally {
    await server.close();
  }
});

Deno.test("a CIFAR-10 download has one time limit, redirects included, and the message says so", async () => {
  const server = serve(async (path) => {
    await new Promise((resolve) => setTimeout(resolve, 120));
    const hop = /^\/c(\d)\.bin$/.exec(path);
    return hop && hop[1] !== "0"
      ? redirect(`/c${Number(hop[1]) - 1}.bin`)
      : new Response("no", { status: 404 });
  });
  try {
    // Three hops of 0.12 s each, each well within 0.3 s.
    await rejectsWith(
      loadCifar10(`${server.base}/c3.bin`, { seed: 1, fetchTimeoutMs: 300 }),
      /c3\.bin: the download did not finish within 0\.3 s, the time limit of the whole CIFAR-10 download \(redirects included\); check the connection, or download the file and pass its path\.$/,
    );
  } finally {
    await server.close();
  }
});
