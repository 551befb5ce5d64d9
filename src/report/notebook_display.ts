/**
 * Showing things from a notebook cell, inside Deno's Jupyter kernel or not: {@link display} sends an object's
 * MIME bundle (and waits until it is out), {@link notebookProgress} turns `onProgress` reports into one
 * display that updates in place. Outside a kernel both print plain text, so the same code runs as a script.
 * `Deno.jupyter` is looked up when they are called, never at import.
 * @module
 */
import type { Progress } from "../progress.ts";
import { escapeHtml } from "./html.ts";
import { JUPYTER_DISPLAY, type MimeBundle } from "./notebook.ts";

/** The part of Deno's Jupyter API used here. */
interface JupyterApi {
  display(obj: unknown, options?: { raw?: boolean; update?: boolean; display_id?: string }): Promise<void>;
}

/** `Deno.jupyter` inside Deno's kernel, else undefined (it throws when read outside one). */
function jupyter(): JupyterApi | undefined {
  try {
    const deno = (globalThis as { Deno?: { jupyter?: JupyterApi } }).Deno;
    return deno?.jupyter;
  } catch {
    return undefined;
  }
}

/**
 * True inside Deno's Jupyter kernel.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * assert.equal(inNotebook(), false); // a test or a script
 * ```
 */
export function inNotebook(): boolean {
  return jupyter() !== undefined;
}

/** The MIME bundle of anything: its own `[Symbol.for("Jupyter.display")]()`, else its text. */
function bundleOf(value: unknown): MimeBundle {
  const own = (value as { [JUPYTER_DISPLAY]?: () => MimeBundle } | null)?.[JUPYTER_DISPLAY];
  if (typeof own === "function") return own.call(value);
  return { "text/plain": typeof value === "string" ? value : Deno.inspect(value) };
}

/** Time given to the kernel to send a display before the cell may finish (ms); see {@link display}. */
export const DISPLAY_SETTLE_MS = 50;

/**
 * Shows `value` (a figure, a PNG, any object) as a cell output now, and resolves once it is sent: inside
 * Deno's kernel through `Deno.jupyter.display`, then a pause of {@link DISPLAY_SETTLE_MS} so the kernel sends
 * it before it reports the cell finished (headless runs lost outputs without it); elsewhere it prints the
 * value's `text/plain` line. End a notebook cell with `await display(…)` rather than a bare value.
 *
 * @example
 * ```ts
 * import { display } from "./notebook_display.ts";
 *
 * await display("hello"); // prints "hello" outside a notebook
 * ```
 */
export async function display(value: unknown): Promise<void> {
  const bundle = bundleOf(value);
  const api = jupyter();
  if (!api) {
    console.log(bundle["text/plain"] ?? Object.keys(bundle).join(", "));
    return;
  }
  await api.display(bundle, { raw: true });
  await new Promise((resolve) => setTimeout(resolve, DISPLAY_SETTLE_MS));
}

/** Options of {@link notebookProgress}. */
export interface NotebookProgressOptions {
  /** Fewest milliseconds between two updates of the display (default 200); a loop's last step always shows. */
  everyMs?: number;
  /** Outside a notebook, print a line per loop when it finishes (default true); false prints nothing. */
  print?: boolean;
}

/** A progress callback that also says where things stand. */
export interface NotebookProgress {
  /** Pass it as `onProgress` to `explain`, `explainTargets`, `noiseTunnel` or a run's settings. */
  onProgress: Progress;
  /** Each loop's latest report, by label. */
  state(): Map<string, { done: number; total: number }>;
}

/**
 * An `onProgress` callback that shows every loop's progress as one bar per label in one notebook output,
 * updated in place (a Jupyter display with a `display_id`). Outside a kernel it prints a line when a loop
 * finishes (or nothing, with `print: false`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * const progress = notebookProgress({ print: false });
 * progress.onProgress(3, 8, "Integrated Gradients");
 * assert.deepEqual(progress.state().get("Integrated Gradients"), { done: 3, total: 8 });
 * ```
 */
export function notebookProgress(options: NotebookProgressOptions = {}): NotebookProgress {
  const everyMs = options.everyMs ?? 200;
  const loops = new Map<string, { done: number; total: number }>();
  const id = `hans-progress-${crypto.randomUUID()}`;
  let shown = false;
  let last = 0;
  const onProgress: Progress = (done, total, label) => {
    loops.set(label, { done, total });
    const api = jupyter();
    if (!api) {
      if (done >= total && options.print !== false) console.error(`${label}: ${done}/${total}`);
      return;
    }
    const now = performance.now();
    if (shown && done < total && now - last < everyMs) return;
    last = now;
    void api.display(progressBundle(loops), { raw: true, display_id: id, update: shown });
    shown = true;
  };
  return { onProgress, state: () => new Map(loops) };
}

/** The progress of every loop as HTML bars and text lines. */
function progressBundle(loops: Map<string, { done: number; total: number }>): MimeBundle {
  const rows = [...loops].map(([label, { done, total }]) => {
    const share = total > 0 ? Math.min(1, done / total) : 1;
    return {
      text: `${label}: ${done}/${total}`,
      html: `<div style="font:12px sans-serif;margin:2px 0"><progress value="${share}" max="1" ` +
        `style="width:240px"></progress> ${escapeHtml(label)}: ${done}/${total}</div>`,
    };
  });
  return { "text/html": rows.map((r) => r.html).join(""), "text/plain": rows.map((r) => r.text).join("\n") };
}
