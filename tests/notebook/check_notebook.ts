/**
 * Executes docs/notebook.ipynb headless in Deno's Jupyter kernel (`jupyter nbconvert --execute`) and checks that
 * every code cell produced its outputs: one per `await display(` in its source (progress displays aside), no
 * error, and every figure as inline SVG in `text/html`. A run that lost outputs is run once more (the kernel
 * sometimes reports a cell idle before its last message; see docs/notebook.md). With `--html FILE` the checked run
 * is also written as HTML.
 *
 *     deno run -A tests/notebook/check_notebook.ts [--html docs/notebook.html] [--runs N]
 *
 * `--runs N` executes N times without the retry and prints how many runs lost outputs (the measurement in
 * docs/notebook.md).
 * @module
 */
import { join } from "node:path";

const ROOT = new URL("../../", import.meta.url).pathname;
const NOTEBOOK = join(ROOT, "docs/notebook.ipynb");

/** One output of an executed cell (the fields checked). */
export interface Output {
  output_type: string;
  data?: Record<string, string | string[]>;
  ename?: string;
  evalue?: string;
}

/** One cell of a notebook (the fields checked). */
export interface Cell {
  cell_type: string;
  source: string | string[];
  outputs?: Output[];
}

function text(value: string | string[] | undefined): string {
  return Array.isArray(value) ? value.join("") : value ?? "";
}

/**
 * What is wrong with an executed notebook, one line per problem: code cells with fewer outputs than their
 * `await display(` calls, error outputs, figures not given as inline SVG. Empty when every cell is complete.
 */
export function notebookProblems(notebook: { cells: Cell[] }): string[] {
  const problems: string[] = [];
  notebook.cells.forEach((cell, index) => {
    if (cell.cell_type !== "code") return;
    const source = text(cell.source);
    const outputs = cell.outputs ?? [];
    for (const o of outputs) {
      if (o.output_type === "error") problems.push(`cell ${index}: ${o.ename}: ${o.evalue}`);
    }
    const shown = outputs.filter((o) =>
      (o.output_type === "display_data" || o.output_type === "execute_result") &&
      !text(o.data?.["text/html"]).includes("<progress")
    );
    const expected = source.split("await display(").length - 1;
    if (shown.length < expected) {
      problems.push(`cell ${index}: ${shown.length} of ${expected} outputs (${source.split("\n")[0]})`);
    }
    for (const o of shown) {
      const plain = text(o.data?.["text/plain"]);
      if (plain.startsWith("maps of") && !text(o.data?.["text/html"]).startsWith("<svg")) {
        problems.push(`cell ${index}: the figure "${plain}" has no inline SVG`);
      }
    }
  });
  return problems;
}

async function run(args: string[]): Promise<{ ok: boolean; log: string }> {
  const out = await new Deno.Command("jupyter", { args, stdout: "piped", stderr: "piped" }).output();
  return { ok: out.success, log: new TextDecoder().decode(out.stderr).slice(-4000) };
}

/** Executes the notebook once into `dir`; the problems of the executed copy (or why it did not run). */
export async function executeOnce(dir: string): Promise<string[]> {
  const { ok, log } = await run([
    "nbconvert",
    "--to",
    "notebook",
    "--execute",
    NOTEBOOK,
    "--output-dir",
    dir,
    "--ExecutePreprocessor.timeout=300",
  ]);
  if (!ok) return [`nbconvert failed:\n${log}`];
  return notebookProblems(JSON.parse(await Deno.readTextFile(join(dir, "notebook.ipynb"))));
}

/** Executes and checks the notebook, once more when the first run lost outputs; the last run's problems. */
export async function checkNotebook(html?: string): Promise<string[]> {
  const dir = await Deno.makeTempDir({ prefix: "hans-notebook-" });
  try {
    let problems = await executeOnce(dir);
    if (problems.length > 0 && !problems[0].startsWith("nbconvert failed")) {
      console.error(`notebook: lost outputs, running it again:\n${problems.join("\n")}`);
      problems = await executeOnce(dir);
    }
    if (problems.length === 0 && html) {
      const { ok, log } = await run([
        "nbconvert",
        "--to",
        "html",
        join(dir, "notebook.ipynb"),
        "--output-dir",
        dir,
      ]);
      if (!ok) return [`nbconvert --to html failed:\n${log}`];
      await Deno.copyFile(join(dir, "notebook.html"), html);
    }
    return problems;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) {
  const at = (flag: string) => {
    const i = Deno.args.indexOf(flag);
    return i >= 0 ? Deno.args[i + 1] : undefined;
  };
  const runs = Number(at("--runs") ?? 0);
  if (runs > 0) {
    let lost = 0;
    for (let r = 1; r <= runs; r++) {
      const dir = await Deno.makeTempDir({ prefix: "hans-notebook-" });
      const problems = await executeOnce(dir);
      await Deno.remove(dir, { recursive: true });
      if (problems.length > 0) lost++;
      console.log(`run ${r}: ${problems.length === 0 ? "complete" : problems.join("; ")}`);
    }
    console.log(`${lost} of ${runs} runs lost outputs`);
  } else {
    const problems = await checkNotebook(at("--html"));
    if (problems.length > 0) {
      console.error(problems.join("\n"));
      Deno.exit(1);
    }
    console.log("notebook: every cell produced its outputs");
  }
}
