/**
 * Hostile GraphModels (issue #23): a long chain of Identity nodes, a graph over hans's node limit, and Identity
 * nodes in a cycle. A chain is read in time linear in its nodes (checked by counting in
 * `tests/explain/graph_test.ts`, never by the clock); here a 20,000-node chain loads with hans's own graph,
 * one node more than {@link MAX_GRAPH_NODES} is refused before TF.js reads it, a cycle is named, and Ctrl-C
 * while a large graph loads still deletes the partial results folder.
 */
import assert from "node:assert/strict";
import { tf } from "../../src/deps.ts";
import { HansError } from "../../src/errors.ts";
import { disposeLoaded, loadModel } from "../../src/explain/load.ts";
import { MAX_GRAPH_NODES } from "../../src/limits.ts";
import { CHILD_PERMISSIONS, cli, CLI_TS, entries, stderrLines, writeFolderDataset } from "./cli.ts";

/** Nodes besides the chain: the Placeholder, three Const, Reshape, MatMul, BiasAdd, Softmax. */
const HEAD_NODES = 8;

/** How {@link chainModel} closes its chain into a cycle, if at all. */
type Cycle =
  | "none"
  /** The first Identity reads the last: the Placeholder feeds nothing (and is a second output to TF.js). */
  | "closed"
  /** As `closed`, with a signature naming the input and the output. */
  | "signature"
  /** As `closed`, and the Placeholder is added to the chain's end (AddV2) before the head. */
  | "added";

/**
 * A GraphModel on 8x8x1 images with 3 classes: Placeholder → `n` Identity nodes → Reshape → MatMul →
 * BiasAdd → Softmax, written as the tfjs converter writes one (see tests/fixtures/graph_model.ts).
 */
function chainModel(n: number, cycle: Cycle = "none"): { "model.json": string; "weights.bin": Uint8Array } {
  const float = { type: "DT_FLOAT" };
  const shape = (dims: number[]) => ({ dim: dims.map((size) => ({ size: String(size) })) });
  const constant = (name: string, dims: number[], dtype: string) => ({
    name,
    op: "Const",
    attr: { dtype: { type: dtype }, value: { tensor: { dtype, tensorShape: shape(dims) } } },
  });
  const nodes: { name: string; op: string; input?: string[]; attr?: unknown }[] = [
    { name: "x", op: "Placeholder", attr: { dtype: float, shape: { shape: shape([-1, 8, 8, 1]) } } },
  ];
  let last = "x";
  for (let i = 0; i < n; i++) {
    nodes.push({ name: `id_${i}`, op: "Identity", input: [last], attr: { T: float } });
    last = `id_${i}`;
  }
  if (cycle !== "none") nodes[1].input = [last];
  if (cycle === "added") {
    nodes.push({ name: "sum", op: "AddV2", input: ["x", last], attr: { T: float } });
    last = "sum";
  }
  nodes.push(
    constant("shape", [2], "DT_INT32"),
    constant("w", [64, 3], "DT_FLOAT"),
    constant("b", [3], "DT_FLOAT"),
    { name: "flat", op: "Reshape", input: [last, "shape"], attr: { T: float, Tshape: { type: "DT_INT32" } } },
    {
      name: "mm",
      op: "MatMul",
      input: ["flat", "w"],
      attr: { T: float, transpose_a: { b: false }, transpose_b: { b: false } },
    },
    { name: "bias", op: "BiasAdd", input: ["mm", "b"], attr: { T: float, data_format: { s: btoa("NHWC") } } },
    { name: "probs", op: "Softmax", input: ["bias"], attr: { T: float } },
  );
  const weights = new Uint8Array(4 * (2 + 64 * 3 + 3));
  new Int32Array(weights.buffer, 0, 2).set([-1, 64]);
  new Float32Array(weights.buffer, 8).set(
    Float32Array.from({ length: 64 * 3 + 3 }, (_, i) => Math.sin(i) / 4),
  );
  const signature = cycle === "signature"
    ? { signature: { inputs: { x: { name: "x:0" } }, outputs: { output_0: { name: "probs:0" } } } }
    : {};
  return {
    "model.json": JSON.stringify({
      format: "graph-model",
      generatedBy: "hans tests (a chain of Identity nodes)",
      convertedBy: null,
      modelTopology: { node: nodes, library: {}, versions: { producer: 1 } },
      weightsManifest: [{
        paths: ["weights.bin"],
        weights: [
          { name: "shape", shape: [2], dtype: "int32" },
          { name: "w", shape: [64, 3], dtype: "float32" },
          { name: "b", shape: [3], dtype: "float32" },
        ],
      }],
      ...signature,
    }),
    "weights.bin": weights,
  };
}

async function writeModel(dir: string, files: ReturnType<typeof chainModel>): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(`${dir}/model.json`, files["model.json"]);
  await Deno.writeFile(`${dir}/weights.bin`, files["weights.bin"]);
  return dir;
}

Deno.test("a GraphModel with a chain of 20,000 Identity nodes loads with hans's own graph", async () => {
  await tf.setBackend("cpu");
  const dir = await writeModel(await Deno.makeTempDir({ prefix: "hans-chain-" }), chainModel(20_000));
  try {
    const loaded = await loadModel(dir);
    try {
      assert.equal(loaded.explainable.graphUnavailable, undefined);
      assert.equal(loaded.explainable.graph?.nodes.length, 1 + 20_000 + 3); // input, chain, reshape, dense, affine
      assert.equal(loaded.outputs, "pre-softmax");
      assert.equal(loaded.classes, 3);
    } finally {
      disposeLoaded(loaded);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a GraphModel of more nodes than hans loads is refused before TF.js reads it", async () => {
  const dir = await writeModel(
    await Deno.makeTempDir({ prefix: "hans-chain-" }),
    chainModel(MAX_GRAPH_NODES - HEAD_NODES + 1),
  );
  try {
    await assert.rejects(loadModel(dir), (e: Error) => {
      assert.ok(e instanceof HansError, String(e));
      const most = MAX_GRAPH_NODES.toLocaleString("en");
      const count = (MAX_GRAPH_NODES + 1).toLocaleString("en");
      assert.match(
        e.message,
        new RegExp(`has ${count} nodes; hans loads GraphModels of at most ${most} nodes`),
      );
      return true;
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Identity nodes in a cycle: the message names a node of the cycle, whatever else the graph has", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hans-cycle-" });
  try {
    for (const cycle of ["closed", "signature", "added"] as const) {
      await writeModel(`${dir}/${cycle}`, chainModel(3, cycle));
      await assert.rejects(loadModel(`${dir}/${cycle}`), (e: Error) => {
        assert.ok(e instanceof HansError, `${cycle}: ${e}`);
        assert.match(e.message, /: the model's graph has a cycle through node "id_0" \(Identity\)/, cycle);
        return true;
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the command line on a GraphModel with a cycle: exit 2, one line, no results folder", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hans-cycle-" });
  try {
    await writeModel(`${dir}/model`, chainModel(3, "closed"));
    await writeFolderDataset(`${dir}/images`, ["a", "b", "c"], 2);
    await Deno.writeTextFile(`${dir}/labels.txt`, "a\nb\nc\n");
    await Deno.mkdir(`${dir}/out`);
    const { code, stderr } = await cli([
      "contrastive",
      "--model",
      `${dir}/model`,
      "--images",
      `${dir}/images`,
      "--labels",
      `${dir}/labels.txt`,
      "--out",
      `${dir}/out/run`,
    ]);
    assert.equal(code, 2, stderr);
    const lines = stderrLines(stderr);
    assert.equal(lines.length, 1, stderr);
    assert.match(
      lines[0],
      /^hans: .*model\.json: the model's graph has a cycle through node "id_0" \(Identity\)/,
    );
    assert.deepEqual(entries(`${dir}/out`), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "SIGINT while a GraphModel of nearly the most nodes loads exits 130 and leaves no results folder",
  ignore: Deno.build.os === "windows",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "hans-chain-" });
    await writeModel(`${dir}/model`, chainModel(MAX_GRAPH_NODES - HEAD_NODES));
    await writeFolderDataset(`${dir}/images`, ["a", "b", "c"], 2);
    await Deno.writeTextFile(`${dir}/labels.txt`, "a\nb\nc\n");
    await Deno.mkdir(`${dir}/out`);
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        ...CHILD_PERMISSIONS,
        CLI_TS,
        "contrastive",
        "--model",
        `${dir}/model`,
        "--images",
        `${dir}/images`,
        "--labels",
        `${dir}/labels.txt`,
        "--out",
        `${dir}/out/run`,
      ],
      stdout: "null",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    let stderr = "";
    const drained = (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of child.stderr) stderr += decoder.decode(chunk, { stream: true });
    })();
    try {
      // The hidden partial folder exists before the model is read; reading 30,000 nodes takes a while after.
      let exited = false;
      child.status.then(() => (exited = true));
      while (!exited && entries(`${dir}/out`).length === 0) await new Promise((r) => setTimeout(r, 10));
      assert.ok(!exited, `the child ended before its results folder appeared: ${stderr}`);
      // A moment for the folder's signal handlers, installed right after it is made; the model is still loading.
      await new Promise((r) => setTimeout(r, 300));
      assert.ok(!exited, `the child ended before SIGINT: ${stderr}`);
      child.kill("SIGINT");
      const status = await child.status;
      await drained;
      assert.equal(status.signal, null, `the child handled SIGINT itself; stderr:\n${stderr}`);
      assert.equal(status.code, 130, `exit code; stderr:\n${stderr}`);
      assert.deepEqual(entries(`${dir}/out`), [], "neither run nor .run.partial-* is left");
    } finally {
      try {
        child.kill("SIGKILL");
      } catch {
        // already exited
      }
      await child.status;
      await drained.catch(() => {});
      await Deno.remove(dir, { recursive: true });
    }
  },
});
