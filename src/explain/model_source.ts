/**
 * Where a model's files come from, and what hans may read of them: the model.json a `--model` source names (a
 * folder, a file, or an http(s) URL), read within hans's read limit, and its weights files confined to the
 * model's folder (symlinks resolved) or, for a URL, to the same origin and folder, redirects included; or,
 * in a browser, the files a user dropped (`filesSource`). This is the security boundary of loading;
 * describing the model is `load.ts`'s. It imports no Node module, and calls Deno only for a local path, so a
 * browser bundle can hold it.
 * @module
 */
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
  if (isHttpUrl(source)) return urlSource(source, options);
  if (typeof Deno === "undefined") {
    throw new HansError(`${source} is not an http(s) URL; in a browser, ${BROWSER_HINT}`);
  }
  const file = await localModelFile(source);
  const readModel = () => withModelHint(() => readFileBounded(file, "model file"));
  const readWeight = async (path: string) => {
    const outside = () =>
      new HansError(
        `${file} names the weights file "${path}", which is outside the model's folder; hans reads weights ` +
          `only next to model.json.`,
      );
    if (/^([a-z]:)?[\\/]/i.test(path) || /^[a-z][a-z0-9+.-]*:/i.test(path)) throw outside();
    let folder: string;
    let target: string;
    try {
      folder = await Deno.realPath(parentOf(file));
      target = await Deno.realPath(`${parentOf(file)}/${path}`);
    } catch (e) {
      throw new HansError(
        `weights file "${path}" of ${file} cannot be read (${
          (e as Error).message
        }); put it next to model.json.`,
      );
    }
    if (!target.startsWith(folder + separator())) throw outside();
    return await readFileBounded(target, `weights file "${path}" of ${file}:`);
  };
  return { file, readModel, readWeight };
}

/** What a page passes to load a model. */
const BROWSER_HINT =
  "give the model.json's URL or drop the model's folder (model.json and its weights files).";

/** The {@link ModelSource} of an http(s) URL of a model.json (or of its folder, ending in `/`). */
export function urlSource(source: string, options: { timeoutMs?: number } = {}): ModelSource {
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

/**
 * The {@link ModelSource} of files a user handed over (dropped in a page): `files` maps each file's name, or
 * its path inside the dropped folder (`mnv2/model.json`), to its bytes. The model is the one model.json among
 * them; its weights files are looked up beside it, and only there.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * const bytes = (text: string) => new TextEncoder().encode(text);
 * const files = new Map([["m/model.json", bytes("{}")], ["m/w.bin", Uint8Array.of(1, 2)]]);
 * const { file, readModel, readWeight } = filesSource(files);
 * assert.equal(file, "m/model.json");
 * assert.equal(new TextDecoder().decode(await readModel()), "{}");
 * assert.deepEqual([...await readWeight("w.bin")], [1, 2]);
 * await assert.rejects(readWeight("../secret.bin"), /outside the model's folder/);
 * ```
 */
export function filesSource(files: ReadonlyMap<string, Uint8Array>): ModelSource {
  const models = [...files.keys()].filter((name) => name === "model.json" || name.endsWith("/model.json"));
  if (models.length !== 1) {
    throw new HansError(
      `${models.length === 0 ? "no model.json" : `${models.length} model.json files`} among the ` +
        `${files.size} file(s) given; ${BROWSER_HINT}`,
    );
  }
  const file = models[0];
  const folder = file.slice(0, file.length - "model.json".length);
  return {
    file,
    readModel: () => Promise.resolve(files.get(file)!),
    readWeight: (path) => {
      const parts = path.split("/");
      if (
        /^[a-z][a-z0-9+.-]*:/i.test(path) || parts.some((p) => p === ".." || p === "" || p.includes("\\"))
      ) {
        return Promise.reject(
          new HansError(
            `${file} names the weights file "${path}", which is outside the model's folder; hans reads ` +
              `weights only next to model.json.`,
          ),
        );
      }
      const bytes = files.get(folder + parts.filter((p) => p !== ".").join("/"));
      if (bytes) return Promise.resolve(bytes);
      return Promise.reject(
        new HansError(`weights file "${path}" of ${file} is not among the files given; ${BROWSER_HINT}`),
      );
    },
  };
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
    return (await Deno.stat(source)).isDirectory
      ? `${source.replace(/[\\/]+$/, "")}${separator()}model.json`
      : source;
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

/** The folder of a local path (either separator), as `node:path`'s `dirname` gives it. */
function parentOf(path: string): string {
  const cut = Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\"));
  if (cut < 0) return ".";
  const head = path.slice(0, cut);
  return head === "" || /^[a-z]:$/i.test(head) ? path.slice(0, cut + 1) : head;
}

/** The separator of the paths Deno's `realPath` gives. */
function separator(): string {
  return Deno.build.os === "windows" ? "\\" : "/";
}
