import assert from "node:assert/strict";
import { loadDataset } from "../../src/data/mod.ts";
import { fashionRowStarts, loadTestSample } from "../../src/data/sample.ts";
import { HansError } from "../../src/errors.ts";

for (const spec of ["fashion-mnist", "mnist"]) {
  Deno.test(`loadTestSample(${spec}) gives the images and labels loadDataset's test sample holds`, async () => {
    const seed = 5;
    const fast = await loadTestSample(spec, { size: 6, seed });
    const full = (await loadDataset(spec, { seed, testSize: 6 })).test;
    assert.deepEqual(Array.from(fast.labels), Array.from(full.labels));
    assert.deepEqual(fast.images, full.images);
    assert.deepEqual([fast.count, fast.name, fast.classNames], [full.count, full.name, full.classNames]);
  });
}

Deno.test("fashionRowStarts skips empty rows and refuses a broken layout in one line", () => {
  const bytes = (text: string) => new TextEncoder().encode(text);
  assert.deepEqual(Array.from(fashionRowStarts(bytes('{"data":[[],[1],[]]}'), "x")), [12]);
  assert.throws(() => fashionRowStarts(bytes('{"rows":[[1]]}'), "x.json"), HansError);
  assert.throws(() => fashionRowStarts(bytes('{"data":[[1],[2'), "x.json"), /x\.json: the rows end/);
});

Deno.test("loadTestSample refuses a size that is not a positive whole number", async () => {
  await assert.rejects(loadTestSample("mnist", { size: 0 }), /test sample size 0 must be a positive whole/);
});
