/**
 * Progress of long work, one shape for every loop: `onProgress(done, total, label)`. A caller installs a
 * callback around a piece of work with {@link withProgress} (what `explain(…, { onProgress })` and the runs'
 * `onProgress` setting do); the loops inside (the methods' chunks, the noise tunnel's copies, Integrated
 * Gradients' refinement, occlusion's and RISE's perturbed copies, the runs' phases) report their steps with
 * {@link reportProgress}. Without a callback a report costs nothing. Each loop reports under its own label
 * (`Integrated Gradients`, `contrastive: methods`), so nested loops can be shown as one line each.
 * @module
 */

/**
 * Called after each step of a loop: `done` of `total` steps of the loop called `label` are finished
 * (`done === total` on its last step). Steps are chunks of images, noisy copies, refinement rounds or a run's
 * phases, whatever the loop counts.
 */
export type Progress = (done: number, total: number, label: string) => void;

let current: Progress | undefined;

/**
 * Runs `work` with `onProgress` receiving the progress of every loop inside it; without `onProgress`, runs it
 * under the callback already installed (if any). While works overlap, the latest one still running listens
 * (reports of the others go to it too); once each has ended, nothing it installed is left behind.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * const seen: string[] = [];
 * await withProgress((done, total, label) => seen.push(`${label} ${done}/${total}`), async () => {
 *   for (let step = 1; step <= 2; step++) await reportProgress(step, 2, "demo");
 * });
 * assert.deepEqual(seen, ["demo 1/2", "demo 2/2"]);
 * await reportProgress(1, 1, "nobody listens"); // no callback: nothing happens
 * ```
 */
export async function withProgress<T>(onProgress: Progress | undefined, work: () => Promise<T>): Promise<T> {
  if (!onProgress) return await work();
  return await installed({ callback: onProgress }, work);
}

/** Runs `work` with no progress reported from inside it (a loop nested in one that reports for it). */
export async function withoutProgress<T>(work: () => Promise<T>): Promise<T> {
  return await installed({ callback: undefined }, work);
}

/**
 * Runs `work` with `entry` installed; the latest installation still running is the one that listens. Entries
 * leave in whatever order their work ends, so overlapping calls never leave a finished call's callback behind.
 */
async function installed<T>(entry: { callback: Progress | undefined }, work: () => Promise<T>): Promise<T> {
  active.push(entry);
  current = entry.callback;
  try {
    return await work();
  } finally {
    active.splice(active.indexOf(entry), 1);
    current = active.at(-1)?.callback;
  }
}

/** The installations whose work is still running, oldest first. */
const active: { callback: Progress | undefined }[] = [];

/** True when a callback listens, so a loop may pay for an exact report (waiting for its device work). */
export function progressListened(): boolean {
  return current !== undefined;
}

/**
 * Reports that `done` of `total` steps of the loop `label` are finished. With a callback installed, waits first
 * for `settle` (say, the step's result read back, so a step on the GPU is counted when it is done, not when it
 * is queued), then calls it and yields to the event loop, so a notebook display sent by the callback goes out
 * before the next step. Without one it does nothing. A throwing callback is not the loop's problem: its error
 * is printed once per label and the work goes on.
 */
export async function reportProgress(
  done: number,
  total: number,
  label: string,
  settle?: () => Promise<unknown>,
): Promise<void> {
  const callback = current;
  if (!callback) return;
  if (settle) await settle();
  try {
    callback(done, total, label);
  } catch (e) {
    if (!failed.has(label)) console.error(`progress callback failed (${label}): ${(e as Error).message}`);
    failed.add(label);
  }
  await new Promise((resolve) => setTimeout(resolve, 0));
}

const failed = new Set<string>();
