/**
 * The model hans ships in `fixtures/fashion-mnist-cnn/` (trained by `deno task pretrain`): where it is (a path
 * locally, a URL when hans runs from a URL) and the record of how it was trained.
 * @module
 */
import { fileURLToPath } from "node:url";
import { displayUrl, fetchBytes } from "../data/fetch.ts";
import { readFileBounded } from "../data/read.ts";
import { HansError } from "../errors.ts";

/** What `pretrain.json` beside the shipped model says (the fields hans reads). */
export interface ShippedRecord {
  /** The seed it was trained with. */
  seed: number;
  /** The data set spec it was trained on. */
  dataset: string;
}

/**
 * The shipped model's `model.json` (a path, or a URL when run remotely) and the URL of its record.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../deps.ts";
 * import { disposeLoaded, loadModel } from "../explain/load.ts";
 *
 * await tf.setBackend("cpu");
 * const loaded = await loadModel(shippedModel().source);
 * assert.deepEqual([loaded.inputShape, loaded.classes], [[28, 28, 1], 10]); // Fashion-MNIST
 * assert.equal((await readShippedRecord()).dataset, "fashion-mnist");
 * disposeLoaded(loaded);
 * ```
 */
export function shippedModel(): { source: string; record: URL } {
  const url = new URL("../../fixtures/fashion-mnist-cnn/model.json", import.meta.url);
  return {
    source: url.protocol === "file:" ? fileURLToPath(url) : url.href,
    record: new URL("../../fixtures/fashion-mnist-cnn/pretrain.json", import.meta.url),
  };
}

/** Reads the shipped model's record; a HansError when it cannot be read. */
export async function readShippedRecord(url: URL = shippedModel().record): Promise<ShippedRecord> {
  try {
    const text = new TextDecoder().decode(
      url.protocol === "file:" ? await readFileBounded(url, "record") : await fetchBytes(url.href),
    );
    return JSON.parse(text);
  } catch (e) {
    // A download's own message says what to do (--allow-net=host, the connection); pretraining would not help.
    if (url.protocol !== "file:" && e instanceof HansError) throw e;
    throw new HansError(
      `the shipped model's record ${displayUrl(url)} cannot be read; run deno task pretrain or pass --model.`,
    );
  }
}
