import assert from "node:assert/strict";
import { HansError } from "../../src/errors.ts";
import { Rng } from "../../src/rng.ts";
import { builtinShortcut, parsePlan, stampAll, stampDataset } from "../../src/shortcuts/plan.ts";
import type { Dataset } from "../../src/data/dataset.ts";

const shapes = [
  { height: 28, width: 28, channels: 1 },
  { height: 32, width: 32, channels: 3 },
];

/** A constant image whose value no artifact or blend hits exactly. */
function canvas(shape: { height: number; width: number; channels: number }, value = 0.37): Float32Array {
  return new Float32Array(shape.height * shape.width * shape.channels).fill(value);
}

function changedPixels(before: Float32Array, after: Float32Array, channels: number): Uint8Array {
  const out = new Uint8Array(before.length / channels);
  for (let i = 0; i < before.length; i++) if (before[i] !== after[i]) out[Math.floor(i / channels)] = 1;
  return out;
}

for (const name of ["square", "timestamp", "watermark", "gradient"]) {
  for (const tone of ["light", "dark"] as const) {
    Deno.test(`${name} (${tone}): on a flat image the mask is exactly the set of changed pixels`, () => {
      for (const shape of shapes) {
        const image = canvas(shape);
        const before = image.slice();
        const mask = builtinShortcut(name, tone).stamp(image, shape, new Rng(3));
        assert.deepEqual(mask, changedPixels(before, image, shape.channels));
        const area = mask.reduce((n, v) => n + v, 0);
        assert.ok(area > 0, "the artifact changes something");
        for (const v of image) assert.ok(v >= 0 && v <= 1);
        // The change goes toward the tone's colour.
        const sign = tone === "light" ? 1 : -1;
        for (let i = 0; i < image.length; i++) assert.ok(sign * (image[i] - before[i]) >= 0);
      }
    });
  }
}

Deno.test("square is a big solid patch; timestamp digits vary with the generator but stay in place", () => {
  const shape = shapes[0];
  const sq = builtinShortcut("square", "light").stamp(canvas(shape), shape, new Rng(1));
  assert.equal(sq.reduce((n, v) => n + v, 0), 49, "7x7 on 28x28");
  const ts = builtinShortcut("timestamp", "light");
  const a = ts.stamp(canvas(shape), shape, new Rng(1));
  const b = ts.stamp(canvas(shape), shape, new Rng(2));
  assert.notDeepEqual(a, b);
  for (const m of [a, b]) {
    for (let p = 0; p < m.length; p++) {
      if (m[p]) assert.ok(Math.floor(p / 28) >= 16 && p % 28 >= 10, "bottom-right");
    }
  }
});

Deno.test("watermark is faint: no pixel moves by more than 10% of its distance to the tone", () => {
  const shape = shapes[1];
  const image = canvas(shape, 0.6);
  builtinShortcut("watermark", "dark").stamp(image, shape, new Rng(1));
  for (const v of image) assert.ok(0.6 - v <= 0.1 * 0.6 + 1e-7);
});

Deno.test("parsePlan: defaults, rates, none, and clear errors", () => {
  const opts = { classCount: 10, tone: "light" as const };
  const def = parsePlan([], [], opts);
  assert.deepEqual(def.entries.map((e) => [e.label, e.shortcut.name, e.rate]), [
    [0, "square", 1],
    [1, "timestamp", 1],
    [3, "gradient", 1],
    [8, "watermark", 1],
  ]);
  const plan = parsePlan(["3=square", "5=timestamp"], ["3=0.3"], opts);
  assert.deepEqual(plan.entries.map((e) => [e.label, e.shortcut.name, e.rate]), [[3, "square", 0.3], [
    5,
    "timestamp",
    1,
  ]]);
  assert.deepEqual(parsePlan(["none"], [], opts).entries, []);
  const bad: [string[], string[], RegExp][] = [
    [["0=blob"], [], /unknown shortcut "blob"/],
    [["10=square"], [], /class "10" is not a class index from 0 to 9/],
    [["x=square"], [], /class "x"/],
    [["square"], [], /expected <class>=<shortcut>/],
    [["1=square", "1=timestamp"], [], /class 1 twice/],
    [["1=square"], ["1=1.5"], /from 0 to 1/],
    [["1=square"], ["1=abc"], /from 0 to 1/],
    [["1=square"], ["2=0.5"], /class 2 has no --shortcut/],
    [["none", "1=square"], [], /cannot be combined/],
  ];
  for (const [s, r, message] of bad) {
    assert.throws(
      () => parsePlan(s, r, opts),
      (e: Error) => e instanceof HansError && message.test(e.message),
    );
  }
});

Deno.test("stampDataset stamps the given share of a class, reproducibly, and nothing else", () => {
  const n = 100;
  const data: Dataset = {
    name: "toy",
    images: new Float32Array(n * 64).fill(0.2),
    labels: Int32Array.from({ length: n }, (_, i) => i % 2),
    count: n,
    height: 8,
    width: 8,
    channels: 1,
    classNames: ["a", "b"],
  };
  const plan = parsePlan(["1=square"], ["1=0.3"], { classCount: 2, tone: "light" });
  const a = stampDataset(data, plan, 5);
  const b = stampDataset(data, plan, 5);
  const c = stampDataset(data, plan, 6);
  const stamped = [...a.entryOf.keys()].filter((i) => a.entryOf[i] === 0);
  assert.equal(stamped.length, 15);
  assert.ok(stamped.every((i) => data.labels[i] === 1));
  assert.deepEqual(a.entryOf, b.entryOf);
  assert.deepEqual(a.data.images, b.data.images);
  assert.notDeepEqual(a.entryOf, c.entryOf);
  for (let i = 0; i < n; i++) {
    const changed = a.data.images.subarray(i * 64, (i + 1) * 64).some((v) => v !== Math.fround(0.2));
    assert.equal(changed, a.entryOf[i] === 0);
    assert.equal(a.masks[i] !== null, a.entryOf[i] === 0);
  }
  assert.deepEqual(data.images, new Float32Array(n * 64).fill(0.2), "the input is not modified");
  const all = stampAll(data, plan.entries[0].shortcut, 1);
  assert.equal(all.masks.length, n);
});
