/**
 * The folders of src/ import in one direction: core → kernels → data → shortcuts → model → explain → measure
 * → counterfactual → pipeline (the experiments) → report → cli (the command-line plumbing and the tasks'
 * declared flags), then tasks/, then cli.ts and mod.ts. A file may import its own folder and the folders
 * before it, never one after it, so no cycle between folders can form; tasks import no other task.
 */
import assert from "node:assert/strict";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const LAYERS = [
  "core",
  "kernels",
  "data",
  "shortcuts",
  "model",
  "explain",
  "measure",
  "counterfactual",
  "pipeline",
  "report",
  "cli",
  "tasks",
  "entry",
];

/** The layer of a file given relative to the repository root. */
function layerOf(path: string): string {
  if (path === "cli.ts" || path === "mod.ts" || path === "browser.ts") return "entry";
  if (path.startsWith("tasks/")) return "tasks";
  const parts = path.split("/");
  if (parts[0] !== "src") throw new Error(`not a source file: ${path}`);
  if (parts.length === 2) return parts[1] === "backend.ts" ? "kernels" : "core";
  if (!LAYERS.includes(parts[1])) throw new Error(`src/${parts[1]}/ has no place in the layer order`);
  return parts[1];
}

async function sourceFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(join(ROOT, dir))) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) out.push(...await sourceFiles(path));
    else if (entry.name.endsWith(".ts")) out.push(path);
  }
  return out;
}

/**
 * Relative imports of a file (static, re-exports and dynamic), as paths from the repository root. Doc examples
 * (lines of a JSDoc comment, ` * import …`) are programs of their own, like tests, and are left out.
 */
async function importsOf(path: string): Promise<string[]> {
  const text = (await Deno.readTextFile(join(ROOT, path))).split("\n").filter((line) => !/^\s*\*/.test(line))
    .join("\n");
  const specifiers = [...text.matchAll(/(?:from|import)\s*\(?\s*"(\.{1,2}\/[^"]+)"/g)].map((m) => m[1]);
  return specifiers.map((s) => relative(ROOT, join(ROOT, dirname(path), s)));
}

Deno.test("src/ folders import in one direction, tasks import no other task", async () => {
  const files = [
    ...await sourceFiles("src"),
    ...await sourceFiles("tasks"),
    "mod.ts",
    "cli.ts",
    "browser.ts",
  ];
  const wrong: string[] = [];
  for (const file of files) {
    const from = LAYERS.indexOf(layerOf(file));
    for (const target of await importsOf(file)) {
      if (target.startsWith("fixtures/") || target.endsWith(".json")) continue;
      const to = LAYERS.indexOf(layerOf(target));
      if (to > from) wrong.push(`${file} (${LAYERS[from]}) imports ${target} (${LAYERS[to]})`);
      if (from === to && LAYERS[from] === "tasks") {
        wrong.push(`${file} imports another task, ${target}`);
      }
    }
  }
  assert.deepEqual(wrong, [], `imports against the layer order:\n${wrong.join("\n")}`);
});
