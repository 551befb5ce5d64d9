/**
 * docs/architecture.md's worked example holds: its new method file plus the one import line in the
 * registry's list type-check, and `explain` then runs the method by name with checked options. The files are
 * copied from the doc into a temporary folder (relative imports pointed at src/explain/), never into src/.
 */
import assert from "node:assert/strict";
import { tf } from "../../src/deps.ts";
import { HansError } from "../../src/errors.ts";
import { fromLayersModel } from "../../src/explain/explainable_model.ts";
import { gpuTest, linearModel, maxAbsDiff } from "../gpu.ts";

const DOC = new URL("../../docs/architecture.md", import.meta.url);
const EXPLAIN_DIR = new URL("../../src/explain/", import.meta.url);

/** The `ts` code blocks of the doc's worked example, in order. */
async function exampleBlocks(): Promise<string[]> {
  const text = await Deno.readTextFile(DOC);
  const start = text.indexOf("A worked example");
  assert.ok(start >= 0, "docs/architecture.md has no worked example");
  return [...text.slice(start).matchAll(/```ts\n([\s\S]*?)```/g)].slice(0, 2).map((m) => m[1]);
}

/** `source` with its relative imports resolved against src/explain/, except those named in `keep`. */
function pointImports(source: string, keep: string[] = []): string {
  return source.replace(
    /from "(\.\.?\/[^"]+)"/g,
    (all, spec: string) => keep.includes(spec) ? all : `from "${new URL(spec, EXPLAIN_DIR).href}"`,
  );
}

/** The example's method file and the registry with the doc's import line and list entry, in `dir`. */
async function writeExample(dir: string): Promise<void> {
  const [method, registryLines] = await exampleBlocks();
  const importLine = registryLines.split("\n").find((l) => l.startsWith("import "));
  assert.equal(importLine, `import { gradientSignMethod } from "./gradient_sign.ts";`);
  assert.match(registryLines, /const REGISTERED = \[[^\]]*gradientSignMethod/);
  await Deno.writeTextFile(`${dir}/gradient_sign.ts`, pointImports(method));
  const registry = await Deno.readTextFile(new URL("registry.ts", EXPLAIN_DIR));
  const listed = registry.replace(
    /(const REGISTERED = \[[^\]]*?)(\n\] as const;)/,
    "$1\n  gradientSignMethod,$2",
  );
  assert.notEqual(listed, registry, "registry.ts has no `const REGISTERED = [ … ] as const;` list");
  await Deno.writeTextFile(
    `${dir}/registry.ts`,
    `${importLine}\n${pointImports(listed, ["./gradient_sign.ts"])}`,
  );
}

/** `deno check` on `file`: its exit code and what it printed. */
async function denoCheck(file: string): Promise<{ code: number; text: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["check", "--quiet", file],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    text: new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr),
  };
}

Deno.test("the worked example type-checks, and an option declared without its type does not", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hans_worked_example_" });
  try {
    await writeExample(dir);
    const checked = await denoCheck(`${dir}/registry.ts`);
    assert.equal(checked.code, 0, checked.text);
    // The compiler holds the option table to the options type: an option the type lacks is an error.
    const method = await Deno.readTextFile(`${dir}/gradient_sign.ts`);
    const extra = method.replace("batchSize: batchSize() }", "batchSize: batchSize(), steps: batchSize() }");
    assert.notEqual(extra, method);
    await Deno.writeTextFile(`${dir}/gradient_sign.ts`, extra);
    const refused = await denoCheck(`${dir}/registry.ts`);
    assert.notEqual(refused.code, 0, "an undeclared option type-checked");
    assert.match(refused.text, /steps/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

gpuTest(
  "the worked example runs by name: gradient × sign(input) on a linear model is w · sign(x)",
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "hans_worked_example_" });
    try {
      await writeExample(dir);
      const registry = await import(new URL(`file://${dir}/registry.ts`).href);
      assert.ok(registry.METHODS.some((m: { name: string }) => m.name === "gradient_sign"));
      // A linear model on 4×4×2 inputs: the score of class c is Σ w[i, c] x[i] + b[c], so the map at a pixel is
      // Σ over channels of w[i, c] · sign(x[i]).
      const [h, w, ch, classes] = [4, 4, 2, 3];
      const kernel = Float32Array.from({ length: h * w * ch * classes }, (_, i) => Math.sin(i * 1.7));
      const model = fromLayersModel(linearModel([h, w, ch], kernel, new Float32Array(classes)));
      const x = tf.tensor4d(Float32Array.from({ length: 2 * h * w * ch }, (_, i) => Math.cos(i * 2.3)), [
        2,
        h,
        w,
        ch,
      ]);
      const targets = [2, 0];
      const maps = await registry.explain("gradient_sign", model, x, targets) as tf.Tensor3D;
      const xs = await x.data();
      const expected = new Float32Array(2 * h * w);
      for (let n = 0; n < 2; n++) {
        for (let p = 0; p < h * w; p++) {
          for (let c = 0; c < ch; c++) {
            const i = p * ch + c;
            expected[n * h * w + p] += kernel[i * classes + targets[n]] * Math.sign(xs[n * h * w * ch + i]);
          }
        }
      }
      assert.ok(maxAbsDiff(await maps.data(), expected) < 1e-5);
      await assert.rejects(
        registry.explain("gradient_sign", model, x, targets, { absolute: 3 }),
        (e: Error) => e instanceof HansError && /gradient_sign option absolute must be/.test(e.message),
      );
      tf.dispose([maps, x]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
