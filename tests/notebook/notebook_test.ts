/**
 * docs/notebook.ipynb runs headless in Deno's Jupyter kernel and every cell shows its output (see
 * check_notebook.ts). Ignored, with the reason, where jupyter's nbconvert or the Deno kernel is not installed
 * (.ci/run installs both).
 */
import assert from "node:assert/strict";
import { checkNotebook, notebookProblems, type Output } from "./check_notebook.ts";

async function missingJupyter(): Promise<string | undefined> {
  try {
    const out = await new Deno.Command("jupyter", {
      args: ["kernelspec", "list", "--json"],
      stdout: "piped",
      stderr: "null",
    }).output();
    if (!out.success) return "jupyter kernelspec is not installed (apt-get install jupyter-client)";
    const specs = JSON.parse(new TextDecoder().decode(out.stdout)).kernelspecs ?? {};
    if (!("deno" in specs)) return "the Deno kernel is not installed (deno jupyter --install)";
    const nbconvert = await new Deno.Command("jupyter", { args: ["nbconvert", "--version"], stdout: "null" })
      .output();
    return nbconvert.success
      ? undefined
      : "jupyter nbconvert is not installed (apt-get install jupyter-nbconvert)";
  } catch {
    return "jupyter is not installed (apt-get install jupyter-notebook jupyter-nbconvert)";
  }
}

const missing = await missingJupyter();
if (missing) console.warn(`notebook_test: ignored: ${missing}`);

Deno.test({
  name: "docs/notebook.ipynb runs headless and every code cell shows its outputs",
  ignore: missing !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    assert.deepEqual(await checkNotebook(), []);
  },
});

Deno.test("notebookProblems counts a cell's displays, errors and figures without SVG", () => {
  const cell = (source: string, outputs: Output[]) => ({ cell_type: "code", source, outputs });
  const shown = (plain: string, html?: string) => ({
    output_type: "display_data",
    data: { "text/plain": plain, ...(html ? { "text/html": html } : {}) },
  });
  const progress = shown("Gradient: 4/4", "<progress value=1></progress>");
  assert.deepEqual(
    notebookProblems({
      cells: [
        { cell_type: "markdown", source: "# title" },
        cell("await display(a);\nawait display(b);", [shown("a"), shown("b")]),
        cell("await display(figure);", [progress]),
        cell("await display(f);", [shown("maps of 1 image (2×2): Gradient", "<img>")]),
        cell("x;", [{ output_type: "error", ename: "TypeError", evalue: "boom" }]),
      ],
    }),
    [
      "cell 2: 0 of 1 outputs (await display(figure);)",
      'cell 3: the figure "maps of 1 image (2×2): Gradient" has no inline SVG',
      "cell 4: TypeError: boom",
    ],
  );
});
