import assert from "node:assert/strict";
import { tf } from "../../src/deps.ts";
import { cleverHansTask } from "../../tasks/clever_hans.ts";
import { gpuTest } from "../gpu.ts";

/** Drops the fields that measure time, which no seed can fix. */
function withoutTimings(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutTimings);
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).filter(([k]) => !/seconds|PerSecond/i.test(k)).map((
        [k, v],
      ) => [k, withoutTimings(v)]),
    );
  }
  return value;
}

/** Asserts two JSON values are equal, numbers within `tolerance`. */
function assertClose(a: unknown, b: unknown, tolerance: number, path = "metrics"): void {
  if (typeof a === "number" && typeof b === "number") {
    assert.ok(Math.abs(a - b) <= tolerance * Math.max(1, Math.abs(a)), `${path}: ${a} vs ${b}`);
  } else if (a && b && typeof a === "object") {
    assert.deepEqual(Object.keys(a).sort(), Object.keys(b as object).sort(), path);
    for (const k of Object.keys(a)) {
      assertClose(
        (a as Record<string, unknown>)[k],
        (b as Record<string, unknown>)[k],
        tolerance,
        `${path}.${k}`,
      );
    }
  } else {
    assert.deepEqual(a, b, path);
  }
}

gpuTest(
  "two clever-hans runs with the same seed give the same metrics; the run leaves no tensors behind",
  async () => {
    const dir = await Deno.makeTempDir();
    try {
      const args = [
        "--quick",
        "--train-size=200",
        "--test-size=100",
        "--maps=2",
        "--methods=gradient,integrated_gradients,occlusion,smoothgrad",
        "--shortcut=0=square",
        "--seed=7",
        "--engine=wasm", // pinned: `auto` times the engines, and two runs may choose differently
      ];
      await cleverHansTask([...args, `--out=${dir}/a`]); // warm-up: backend and shaders
      const before = tf.memory().numTensors;
      await cleverHansTask([...args, `--out=${dir}/b`]);
      assert.equal(tf.memory().numTensors - before, 0, "a whole run releases every tensor it made");
      const read = async (name: string) =>
        withoutTimings(JSON.parse(await Deno.readTextFile(`${dir}/${name}/metrics.json`)));
      const a = await read("a") as { forwardEngine: { engine: string; reason: string } };
      // --engine wasm reached the run: forced, unless tfjs's wasm backend does not load here at all.
      if (a.forwardEngine.engine !== "wasm") assert.match(a.forwardEngine.reason, /did not (load|start)/);
      else assert.match(a.forwardEngine.reason, /forced/);
      assertClose(a, await read("b"), 1e-4);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
