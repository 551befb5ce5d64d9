import assert from "node:assert/strict";
import { webgpuErrors } from "../../src/backend.ts";
import { tf } from "../../src/deps.ts";
import { HansError } from "../../src/errors.ts";
import { FlatProgram, runFlat, type WebGPUBackendLike } from "../../src/kernels/program.ts";
import { withResultsDir } from "../../src/report/results_dir.ts";
import { webgpuTest } from "../gpu.ts";

/** `y = x + 1`, written correctly or with a syntax error. */
class AddOne extends FlatProgram {
  variableNames = ["x"];
  shaderKey: string;

  constructor(n: number, private readonly broken: boolean) {
    super([n], n);
    this.shaderKey = `hans_test_add_one_${broken}`;
  }

  getUserCode(): string {
    return `
      fn main(index : i32) {
        if (index >= uniforms.threads) { return; }
        result[index] = x[index] + ${this.broken ? "" : "1.0"};
      }
    `;
  }
}

/** Runs the program in a results folder under `dir`; the values it produced. */
async function runIn(dir: string, broken: boolean): Promise<ArrayLike<number>> {
  let values: ArrayLike<number> = [];
  await withResultsDir(`${dir}/${broken ? "broken" : "fine"}`, async (out) => {
    const x = tf.ones([8]);
    const info = runFlat(tf.backend() as unknown as WebGPUBackendLike, new AddOne(8, broken), [x]);
    const y = tf.engine().makeTensorFromTensorInfo(info);
    values = await y.data();
    [x, y].forEach((t) => t.dispose());
    await out.writeJson("metrics.json", { values: Array.from(values) });
  });
  return values;
}

webgpuTest(
  "a WGSL program that does not compile ends the run with a HansError and keeps no results folder (tfjs raises nothing)",
  async () => {
    const dir = await Deno.makeTempDir();
    try {
      // The same program written correctly runs and keeps its folder: the check does not fire on its own.
      assert.deepEqual(Array.from(await runIn(dir, false)), new Array(8).fill(2));
      assert.ok((await Deno.stat(`${dir}/fine/metrics.json`)).isFile);
      const before = (await webgpuErrors()).count;
      await assert.rejects(
        () => runIn(dir, true),
        (e) =>
          e instanceof HansError &&
          /WebGPU reported \d+ error\(s\) during the run \(Shader .+ parsing error/.test(e.message),
      );
      const after = await webgpuErrors();
      assert.ok(after.count > before);
      await assert.rejects(() => Deno.stat(`${dir}/broken`), Deno.errors.NotFound);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
