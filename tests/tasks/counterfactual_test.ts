import assert from "node:assert/strict";
import { counterfactualTask } from "../../tasks/counterfactual.ts";
import { gpuTest } from "../gpu.ts";

gpuTest("counterfactual --quick on the shipped model writes the documented metrics", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const out = `${dir}/run`;
    await counterfactualTask([
      "--quick",
      "--test-size=200",
      "--examples=4",
      "--steps=30",
      "--rounds=1",
      `--out=${out}`,
    ]);
    const m = JSON.parse(await Deno.readTextFile(`${out}/metrics.json`));
    assert.equal(m.task, "counterfactual");
    assert.equal(m.examples.length, 4);
    for (const e of m.examples) {
      assert.notEqual(e.true, e.predicted, "only mistakes are optimized");
      for (const k of ["l0", "l1", "l2", "probTrue", "steps"]) assert.equal(typeof e[k], "number", k);
      assert.equal(typeof e.success, "boolean");
      if (e.success) {
        assert.ok(e.probTrue > 0.15, `a successful counterfactual is in its true class: ${e.probTrue}`);
      } else assert.equal(e.l1, 0, "a failed example keeps the original");
    }
    assert.ok(m.successRate >= 0 && m.successRate <= 1);
    await Deno.stat(`${out}/counterfactuals.png`);
    await Deno.stat(`${out}/report.html`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
