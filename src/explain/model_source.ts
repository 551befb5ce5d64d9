/**
 * Where a model's files come from, and what hans may read of them: the model.json a `--model` source names (a
 * folder, a file, or an http(s) URL), read within hans's read limit, and its weights files confined to the
 * model's folder (symlinks resolved) or, for a URL, to the same origin and folder, redirects included. This is
 * the security boundary of loading; describing the model is `load.ts`'s.
 * @module
 */
import { dirname, isAbsolute, join, resolve, sep as SEP } from "node:path";
import { displayUrl, downloadDeadline, fetchBytes, insideFolder, isHttpUrl } from "../data/fetch.ts";
import { checkRegularFile, readFileBounded } from "../data/read.ts";
import { HansError } from "../errors.ts";

/** A located model: its model.json as shown to the user, and how to read it and the weights files it names. */
export interface ModelSource {
  /** The model.json: a local path, or a URL without its user name and password (see `displayUrl`). */
  file: string;
  /** model.json's bytes. */
  readModel: () => Promise<Uint8Array>;
  /** The bytes of a weights file named in the manifest (`path` relative to model.json), once confined. */
  readWeight: (path: string) => Promise<Uint8Array>;
}

/**
 * The model.json to read (a URL or a local path), how to read it, and how to read a weights file named in its
 * manifest. Weight paths stay inside the model's folder: for a local model, the file (symlinks resolved) must
 * lie under the folder of model.json; for a URL, it must have the same origin and lie under the URL's folder
 * (`insideFolder`), and so must every redirect hans follows for it. Anything else (an absolute path, `..` out
 * of the folder, another scheme or host) is refused by name. A URL is shown without its user name and password.
 * model.json and each weights file are read within hans's read limit (`readFileBounded`, `fetchBytes`); a URL's
 * files within `options.timeoutMs` (default 60000) all together.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/model.json`, "{}");
 * const { file, readModel, readWeight } = await locate(dir);
 * assert.equal(file, `${dir}/model.json`);
 * assert.equal(new TextDecoder().decode(await readModel()), "{}");
 * await assert.rejects(readWeight("/etc/passwd"), /outside the model's folder/); // only next to model.json
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function locate(source: string, options: { timeoutMs?: number } = {}): Promise<ModelSource> {
  if (isHttpUrl(source)) {
    const url = source.endsWith("/") ? `${source}model.json` : source;
    // Shown and recorded without a user name and password; fetched with them.
    const file = displayUrl(url);
    const base = new URL(".", url);
    // One time limit for model.json and every weights file, not one per file.
    const deadline = downloadDeadline(
      options.timeoutMs,
      "the whole model (model.json and all its weights files together)",
      "check the connection, or download the model's files and pass their folder",
    );
    const folder = { folder: base, name: "the model's folder" };
    return {
      file,
      readModel: () => fetchBytes(url, { deadline }),
      readWeight: (path) => {
        let weights: URL | undefined;
        try {
          weights = new URL(path, url);
        } catch {
          // not a URL at all: refused below
        }
        if (!weights || !insideFolder(weights, base)) {
          throw new HansError(
            `${file} names the weights file "${displayUrl(path)}", which is outside the model's folder ` +
              `${displayUrl(base)}; hans reads weights only next to model.json.`,
          );
        }
        // Redirects are followed only within the model's folder, with the same check as above.
        return fetchBytes(weights.href, { deadline, within: folder });
      },
    };
  }
  const file = await localModelFile(source);
  const readModel = () => withModelHint(() => readFileBounded(file, "model file"));
  const readWeight = async (path: string) => {
    const outside = () =>
      new HansError(
        `${file} names the weights file "${path}", which is outside the model's folder; hans reads weights ` +
          `only next to model.json.`,
      );
    if (isAbsolute(path) || /^[a-z][a-z0-9+.-]*:/i.test(path)) throw outside();
    let folder: string;
    let target: string;
    try {
      folder = await Deno.realPath(dirname(file));
      target = await Deno.realPath(resolve(dirname(file), path));
    } catch (e) {
      throw new HansError(
        `weights file "${path}" of ${file} cannot be read (${
          (e as Error).message
        }); put it next to model.json.`,
      );
    }
    if (!target.startsWith(folder + SEP)) throw outside();
    return await readFileBounded(target, `weights file "${path}" of ${file}:`);
  };
  return { file, readModel, readWeight };
}

/**
 * Checks, without reading it, that a local model source names something `loadModel` can read: a
 * folder holding a regular model.json, or a regular file; throws its HansError otherwise. An http(s) URL
 * passes (it is checked when it is fetched). Tasks call it before loading a data set, so a mistyped
 * `--model` is answered at once.
 *
 * @example
 * ```ts ignore
 * await checkModelSource("models/mnv2"); // HansError when models/mnv2/model.json is missing
 * ```
 */
export async function checkModelSource(source: string): Promise<void> {
  if (isHttpUrl(source)) return;
  const file = await localModelFile(source);
  await withModelHint(() => checkRegularFile(file, "model file"));
}

/** What to pass instead, at the end of every message about a model source that cannot be read. */
export const MODEL_HINT = "pass a folder holding model.json, a model.json file, or its http(s) URL.";

/** The model.json a local `source` names: the file itself, or model.json in the folder. */
export async function localModelFile(source: string): Promise<string> {
  try {
    return (await Deno.stat(source)).isDirectory ? join(source, "model.json") : source;
  } catch (e) {
    throw new HansError(`${source} cannot be read (${(e as Error).message}); ${MODEL_HINT}`);
  }
}

/** `fn`'s result, its HansError ending with what to pass instead. */
export async function withModelHint<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw new HansError(`${(e as Error).message.replace(/\.$/, "")}; ${MODEL_HINT}`);
  }
}
