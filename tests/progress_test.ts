import assert from "node:assert/strict";
import { progressListened, reportProgress, withoutProgress, withProgress } from "../src/progress.ts";

Deno.test("withProgress installs a callback for its work only; withoutProgress mutes a nested loop", async () => {
  const seen: string[] = [];
  const record = (done: number, total: number, label: string) => seen.push(`${label} ${done}/${total}`);
  assert.equal(progressListened(), false);
  await withProgress(record, async () => {
    assert.equal(progressListened(), true);
    await reportProgress(1, 2, "outer");
    await withoutProgress(() => reportProgress(1, 1, "inner"));
    await withProgress(undefined, () => reportProgress(2, 2, "outer")); // no callback given: the outer one
  });
  await reportProgress(1, 1, "after");
  assert.deepEqual(seen, ["outer 1/2", "outer 2/2"]);
  assert.equal(progressListened(), false);
});

Deno.test("reportProgress waits for the step's work first, and a throwing callback does not stop the loop", async () => {
  const order: string[] = [];
  const settle = () => new Promise((resolve) => setTimeout(() => resolve(order.push("settled")), 5));
  await withProgress(() => order.push("reported"), () => reportProgress(1, 1, "x", settle));
  assert.deepEqual(order, ["settled", "reported"]);
  await withProgress(() => {
    throw new Error("display failed");
  }, () => reportProgress(1, 1, "broken"));
});

Deno.test("overlapping works: each finished call's callback leaves, whatever order they end in", async () => {
  const seen: string[] = [];
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const a = withProgress(() => seen.push("a"), async () => await sleep(10));
  const b = withProgress(() => seen.push("b"), async () => {
    await sleep(30);
    await reportProgress(1, 1, "b's loop");
  });
  await Promise.all([a, b]);
  assert.deepEqual(seen, ["b"]); // B's own report reached B, after A had ended
  assert.equal(progressListened(), false); // and nothing is left installed
  await reportProgress(1, 1, "nobody listens");
  assert.deepEqual(seen, ["b"]);
});
