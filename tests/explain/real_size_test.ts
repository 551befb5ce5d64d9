/**
 * Real size: Keras applications' MobileNetV2 at 224×224×3 (width 0.35, seeded weights). Grad-CAM's default
 * layer is the last convolutional activation (7×7 `out_relu`), not the 1×1 pooling after it, on the
 * LayersModel and on the same weights as a GraphModel; every attribution method runs on two images in a child
 * process whose memory budget forces the batch planner to split the work, and the child's peak memory stays
 * within the budget.
 */
import assert from "node:assert/strict";
import { tf } from "../../src/deps.ts";
import { pickSpatialNode } from "../../src/explain/graph_query.ts";
import { disposeLoaded, loadModel } from "../../src/explain/load.ts";
import { explain } from "../../src/explain/registry.ts";
import { mobileNetV2 } from "../../src/model/mobilenet_v2.ts";
import { Rng } from "../../src/rng.ts";
import { layersModelFiles, toGraphModel, writeModelFolder } from "../fixtures/real_models.ts";
import { gpuTest, HAS_WEBGPU, maxAbsDiff, take } from "../gpu.ts";

gpuTest(
  "Grad-CAM's default layer on a MobileNetV2 ending in AveragePooling2D(7) is the 7×7 out_relu",
  async () => {
    const net = mobileNetV2({ alpha: 0.35, size: 224, classes: 5, head: "average-pooling", seed: 4 });
    const dir = await Deno.makeTempDir();
    const rng = new Rng(1);
    const x = tf.tensor4d(Float32Array.from({ length: 224 * 224 * 3 }, () => rng.next()), [1, 224, 224, 3]);
    try {
      await writeModelFolder(`${dir}/layers`, await layersModelFiles(net));
      await writeModelFolder(`${dir}/graph`, await toGraphModel(net, { fused: true }));
      const maps: Float32Array[] = [];
      for (const kind of ["layers", "graph"]) {
        const loaded = await loadModel(`${dir}/${kind}`);
        const graph = loaded.explainable.graph!;
        assert.ok(graph, `${kind}: ${loaded.explainable.graphUnavailable}`);
        const layer = pickSpatialNode(graph, undefined, "Grad-CAM");
        // The LayersModel's node is the layer; the converter names the GraphModel's after the layer too.
        assert.match(layer, /^out_relu/, kind);
        assert.deepEqual(graph.shapes.get(layer), [1, 7, 7, 1280], kind);
        // The pooling after it is a 4-D node too, but 1×1: a map read there would be one constant.
        const pool = graph.nodes.find((n) => n.op === "avgPool")!;
        assert.deepEqual(graph.shapes.get(pool.name)?.slice(1, 3), [1, 1], kind);
        const map = await take(await explain("grad_cam", loaded.explainable, x, [2]));
        const spread = Math.max(...map) - Math.min(...map);
        assert.ok(spread > 0, `${kind}: the Grad-CAM map is not constant`);
        maps.push(map);
        disposeLoaded(loaded);
      }
      assert.ok(
        maxAbsDiff(maps[0], maps[1]) <= 1e-3 * Math.max(...maps[0]),
        "the same weights, the same map",
      );
    } finally {
      x.dispose();
      net.dispose();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

/**
 * The child's budget: about 1 GB is the process with its compiled shaders; a backward pass of one 224×224
 * image at width 0.35 is about 120 MB.
 */
const BUDGET_MB = 1536;

Deno.test({
  name: "every method on two 224×224 images of a MobileNetV2 stays within a 1.5 GB memory budget",
  ignore: !HAS_WEBGPU,
  async fn() {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL("../fixtures/real_size_child.ts", import.meta.url).pathname],
      env: { HANS_MAX_MEMORY_MB: String(BUDGET_MB) },
      stdout: "piped",
      stderr: "piped",
    });
    const { code, stdout, stderr } = await child.output();
    assert.equal(code, 0, new TextDecoder().decode(stderr).slice(-2000));
    const result = JSON.parse(new TextDecoder().decode(stdout).trim().split("\n").at(-1)!);
    assert.equal(result.backend, "webgpu");
    assert.equal(result.webgpuErrors, 0);
    for (
      const [name, m] of Object.entries(result.methods) as [string, { finite: boolean; nonzero: boolean }][]
    ) {
      assert.ok(m.finite && m.nonzero, `${name}: finite and not all zero`);
    }
    assert.equal(Object.keys(result.methods).length, 14); // every attribution method
    assert.ok(
      result.peakMB <= BUDGET_MB,
      `peak ${result.peakMB.toFixed(0)} MB over the ${BUDGET_MB} MB budget`,
    );
  },
});
