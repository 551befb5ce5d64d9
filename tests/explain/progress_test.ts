/**
 * Every long method reports its progress through explain's `onProgress`: each loop under its own label, steps
 * that only grow, ending with done = total, and no report from a loop nested in one that reports for it.
 */
import assert from "node:assert/strict";
import { tf } from "../../src/deps.ts";
import { fromLayersModel } from "../../src/explain/explainable_model.ts";
import { explain, explainTargets, noiseTunnel } from "../../src/explain/registry.ts";

await tf.setBackend("cpu");

function model() {
  const layers = [
    tf.layers.conv2d({ inputShape: [6, 6, 1], filters: 2, kernelSize: 3, activation: "relu" }),
    tf.layers.flatten(),
    tf.layers.dense({ units: 3 }),
  ];
  return fromLayersModel(tf.sequential({ layers }));
}

/** The reports by label, as [done, total] pairs in order. */
function recorder() {
  const byLabel = new Map<string, [number, number][]>();
  const onProgress = (done: number, total: number, label: string) =>
    byLabel.set(label, [...byLabel.get(label) ?? [], [done, total]]);
  return { byLabel, onProgress };
}

function assertComplete(steps: [number, number][], total: number): void {
  assert.ok(steps.length > 0);
  assert.ok(steps.every(([, t]) => t === total), `totals ${JSON.stringify(steps)}`);
  assert.ok(
    steps.every(([d], i) => i === 0 || d >= steps[i - 1][0]),
    `not growing: ${JSON.stringify(steps)}`,
  );
  assert.deepEqual(steps.at(-1), [total, total]);
}

const x = tf.randomUniform([5, 6, 6, 1], 0, 1, "float32", 3) as tf.Tensor4D;
const net = model();
const target = [0, 1, 2, 0, 1];

Deno.test("gradient reports images done per chunk", async () => {
  const { byLabel, onProgress } = recorder();
  tf.dispose(await explain("gradient", net, x, target, { batchSize: 2, onProgress }));
  assert.deepEqual([...byLabel], [["Gradient", [[2, 5], [4, 5], [5, 5]]]]);
});

for (
  const [name, label, total, options] of [
    ["smoothgrad", "SmoothGrad", 5 * 4, { samples: 4, batchSize: 6 }],
    ["integrated_gradients", "Integrated Gradients", 5, { steps: 4, tolerance: 1e-6, maxSteps: 16 }],
    ["integrated_gradients", "Integrated Gradients", 5, { steps: 4, maxSteps: 4, batchSize: 8 }],
    ["occlusion", "Occlusion", 4, { patch: 3, stride: 3, batchSize: 2 }],
    ["rise", "RISE", 8, { masks: 8, batchSize: 3 }],
  ] as const
) {
  Deno.test(`${name} ${JSON.stringify(options)} reports "${label}" up to ${total}, nothing nested`, async () => {
    const { byLabel, onProgress } = recorder();
    // deno-lint-ignore no-explicit-any
    tf.dispose(await explain(name, net, x, target, { ...options, onProgress } as any));
    assert.deepEqual([...byLabel.keys()], [label]);
    assertComplete(byLabel.get(label)!, total);
  });
}

Deno.test("explainTargets and noiseTunnel take onProgress too; without it nothing is reported", async () => {
  const { byLabel, onProgress } = recorder();
  const { maps } = await explainTargets(
    "gradient_input",
    net,
    x,
    [target, { p: target, q: [1, 1, 1, 1, 1] }],
    {
      onProgress,
    },
  );
  tf.dispose(maps);
  assertComplete(byLabel.get("Gradient × input")!, 5);
  tf.dispose(await noiseTunnel("gradient", net, x, target, { samples: 2, onProgress }));
  assertComplete(byLabel.get("noise tunnel over Gradient")!, 10);
  assert.deepEqual([...byLabel.keys()], ["Gradient × input", "noise tunnel over Gradient"]);
  const before = byLabel.size;
  tf.dispose(await explain("gradient", net, x, target));
  assert.equal(byLabel.size, before);
});
