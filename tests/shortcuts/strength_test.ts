import assert from "node:assert/strict";
import type { Dataset } from "../../src/data/dataset.ts";
import { DEFAULT_CONTRAST_POWER } from "../../src/model/contrast_norm.ts";
import { contrastPower } from "../../src/pipeline/clever_hans.ts";
import { builtinShortcut, parsePlan } from "../../src/shortcuts/plan.ts";
import { artifactStrength } from "../../src/shortcuts/strength.ts";

/** `count` flat 28x28 gray-level images of `value`, labels 0..9 in turn. */
function flat(value: number, count = 10): Dataset {
  return {
    name: "flat",
    images: new Float32Array(count * 28 * 28).fill(value),
    labels: Int32Array.from({ length: count }, (_, i) => i % 10),
    count,
    height: 28,
    width: 28,
    channels: 1,
    classNames: [...Array(10).keys()].map(String),
  };
}

Deno.test("artifactStrength: the mean change under the mask, by hand on flat images", () => {
  const close = (a: number, b: number, what: string) =>
    assert.ok(Math.abs(a - b) < 1e-6, `${what}: ${a} vs ${b}`);
  close(artifactStrength(flat(0), builtinShortcut("square", "light"), 1), 1, "white square on black");
  close(artifactStrength(flat(0.6), builtinShortcut("square", "dark"), 1), 0.6, "black square on 0.6");
  close(
    artifactStrength(flat(0), builtinShortcut("watermark", "light"), 1),
    0.1,
    "10% white lattice on black",
  );
  close(
    artifactStrength(flat(0.6), builtinShortcut("watermark", "dark"), 1),
    0.06,
    "10% black lattice on 0.6",
  );
  close(artifactStrength(flat(0), builtinShortcut("timestamp", "light"), 1), 1, "white digits on black");
});

Deno.test("contrastPower: a number as given; auto normalizes only when a stamped artifact is faint", () => {
  const data = flat(0, 20);
  const plan = (flags: string[], rates: string[] = []) =>
    parsePlan(flags, rates, { classCount: 10, tone: "light" });
  assert.equal(
    contrastPower("auto", data, plan([]), 1),
    DEFAULT_CONTRAST_POWER,
    "the default plan has the watermark",
  );
  assert.equal(contrastPower(undefined, data, plan(["8=watermark"]), 1), DEFAULT_CONTRAST_POWER);
  assert.equal(
    contrastPower("auto", data, plan(["0=square", "1=timestamp", "3=gradient"]), 1),
    0,
    "bold only",
  );
  assert.equal(
    contrastPower("auto", data, plan(["8=watermark"], ["8=0"]), 1),
    0,
    "a watermark stamped nowhere",
  );
  assert.equal(contrastPower("auto", data, plan(["none"]), 1), 0, "clean");
  assert.equal(contrastPower(0.7, data, plan([]), 1), 0.7);
  assert.equal(contrastPower(0, data, plan([]), 1), 0);
});
