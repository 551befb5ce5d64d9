/**
 * Downloads for the loaders that accept an http(s) URL: one time limit per download (a model's model.json and
 * all its weights files share one), at most {@link maxReadBytes} bytes after decompression, redirects followed
 * by hans itself (at most {@link MAX_REDIRECTS}, http(s) only, optionally only within a folder), and every
 * failure as a one-line `HansError` that names the URL without its user name and password.
 * @module
 */
import { HansError } from "../errors.ts";
import { maxReadBytes, megabytes, readLimitHint } from "../limits.ts";
import { collect, inflate } from "./read.ts";

/** Time limit of a download when none is given: 60 s. */
export const DEFAULT_TIMEOUT_MS = 60_000;
/** Redirects hans follows at most for one file. */
export const MAX_REDIRECTS = 5;
/** Longest redirect target quoted in a message. */
const QUOTED_URL_CHARS = 200;

/**
 * One time limit shared by several downloads: made by {@link downloadDeadline}, passed to each
 * {@link fetchBytes} of the group.
 */
export interface DownloadDeadline {
  /** Aborts every download of the group when the time is up. */
  signal: AbortSignal;
  /** The limit in milliseconds, for messages. */
  timeoutMs: number;
  /** What the limit covers, for messages: "the whole model (model.json and all its weights files together)". */
  covers?: string;
  /** What to do when it runs out (default "check the connection or raise the time limit"). */
  hint?: string;
}

/**
 * Starts a time limit of `timeoutMs` (default 60 s) for a group of downloads; `covers` says in messages what it
 * is the limit of, and `hint` what to do when it runs out.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * const deadline = downloadDeadline(60_000, "the whole model (model.json and all its weights files together)");
 * // model.json and every weights file share the one minute: fetchBytes("https://…/model.json", { deadline }), …
 * const download = (url: string) => fetchBytes(url, { deadline });
 * assert.equal(deadline.timeoutMs, 60_000);
 * await assert.rejects(download("ftp://example.org/m/model.json"), /only http:\/\/ and https:\/\//);
 * ```
 */
export function downloadDeadline(
  timeoutMs: number = DEFAULT_TIMEOUT_MS,
  covers?: string,
  hint?: string,
): DownloadDeadline {
  return { signal: AbortSignal.timeout(timeoutMs), timeoutMs, covers, hint };
}

/** A folder that redirects must stay in (see {@link insideFolder}). */
export interface RedirectFolder {
  /** The folder's URL, ending in `/`. */
  folder: URL;
  /** What the folder is called in messages: "the model's folder". */
  name: string;
}

/** Options of `fetchBytes`. */
export interface FetchBytesOptions {
  /**
   * Time limit of this download alone in milliseconds, redirects and body included (default 60000); ignored
   * when `deadline` is given.
   */
  timeoutMs?: number;
  /** A time limit shared with other downloads (see {@link downloadDeadline}). */
  deadline?: DownloadDeadline;
  /** `follow` redirects (the default, at most {@link MAX_REDIRECTS}, to http(s) URLs) or treat one as an `error`. */
  redirect?: "follow" | "error";
  /** Follow only the redirects that stay inside this folder; any other is refused, naming its target. */
  within?: RedirectFolder;
}

/** True when `source` is an http:// or https:// URL. */
export function isHttpUrl(source: string): boolean {
  return /^https?:\/\//i.test(source);
}

/**
 * `url` as hans shows and records it: without the user name and password (`https://user:pass@host/m` gives
 * `https://host/m`); anything without them is returned unchanged, as written.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(displayUrl("https://me:secret@example.org/m/model.json"), "https://example.org/m/model.json");
 * assert.equal(displayUrl("models/m/model.json"), "models/m/model.json");
 * ```
 */
export function displayUrl(url: string | URL): string {
  const text = String(url);
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(text.trimStart())) return text;
  let parsed: URL;
  try {
    parsed = new URL(text);
  } catch {
    // Not a URL the parser takes: drop everything between "//" and the last "@", to be safe.
    return text.replace(/^(\s*[a-z][a-z0-9+.-]*:\/\/).*@/is, "$1");
  }
  if (parsed.username === "" && parsed.password === "") return text;
  parsed.username = "";
  parsed.password = "";
  return parsed.href;
}

/**
 * `text` with the user name and password taken out of every URL in it: for a data set spec such as
 * `cifar10:https://user:pass@host/x.bin`, or a message quoted from Deno.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(redactUrls("cifar10:https://me:secret@example.org/c.bin"), "cifar10:https://example.org/c.bin");
 * ```
 */
export function redactUrls(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@"'()<>]*@/gi, "$1");
}

/**
 * True when `url` lies in `folder`: the same origin, a path under the folder's path, no query, and no
 * encoded slash or backslash in the path (`%2f`, `%5c`) that a server might read as a folder.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const folder = new URL("https://example.org/m/");
 * assert.ok(insideFolder(new URL("https://example.org/m/group1-shard1of2.bin"), folder));
 * assert.ok(!insideFolder(new URL("https://example.org/other/weights.bin"), folder));
 * assert.ok(!insideFolder(new URL("https://cdn.example.org/m/weights.bin"), folder));
 * ```
 */
export function insideFolder(url: URL, folder: URL): boolean {
  return url.origin === folder.origin && url.pathname.startsWith(folder.pathname) && url.search === "" &&
    !/%2f|%5c/i.test(url.pathname);
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * Downloads `url` and returns its body; throws a `HansError` on a non-2xx answer (with the status), on a
 * network failure, when network access is not allowed (naming the host Deno refused), when the time limit
 * runs out, on a redirect it may not follow, and as soon as the body passes the read limit
 * (`HANS_MAX_READ_MB`; a declared Content-Length over it stops before any byte is read).
 *
 * hans asks for the file uncompressed (`Accept-Encoding: identity`), so that Deno does not inflate it out of
 * sight; a server that compresses it all the same (gzip or deflate) is decoded here, in small slices, and the
 * read limit counts the decoded bytes.
 */
export async function fetchBytes(url: string, options: FetchBytesOptions = {}): Promise<Uint8Array> {
  const deadline = options.deadline ?? downloadDeadline(options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  const shown = displayUrl(url);
  let current: URL;
  try {
    current = new URL(url);
  } catch {
    throw new HansError(`${shown} is not a URL hans can read; check the URL.`);
  }
  if (!isHttpUrl(current.href)) {
    throw new HansError(`${shown} is not an http(s) URL; hans downloads only http:// and https:// URLs.`);
  }
  try {
    for (let hops = 0;; hops++) {
      if (inBrowser()) return await browserFetch(current, shown, deadline, options);
      const response = await fetch(current, {
        signal: deadline.signal,
        redirect: "manual",
        headers: { "accept-encoding": "identity" },
      });
      if (REDIRECTS.has(response.status)) {
        await response.body?.cancel();
        current = redirectTarget(response, current, shown, hops, options);
        continue;
      }
      return await body(response, shown);
    }
  } catch (error) {
    if (error instanceof HansError) throw error;
    throw downloadError(shown, current, deadline, error);
  }
}

/** True in a browser (or any runtime without Deno): no permissions, and the browser handles redirects. */
function inBrowser(): boolean {
  return typeof Deno === "undefined";
}

/**
 * A download in a browser: the browser follows redirects and decodes compressed bodies itself (a page cannot
 * see a redirect before it is followed, nor ask for an uncompressed body), so the final URL is checked once
 * the answer arrives and the body is read as it comes, within the read limit.
 */
async function browserFetch(
  url: URL,
  shown: string,
  deadline: DownloadDeadline,
  options: FetchBytesOptions,
): Promise<Uint8Array> {
  const response = await fetch(url, { signal: deadline.signal, redirect: "follow" });
  if (response.redirected) {
    const final = new URL(response.url);
    const where = quoted(displayUrl(final));
    const refused = options.redirect === "error"
      ? `${shown} redirects to ${where}; hans does not follow redirects here.`
      : options.within && !insideFolder(final, options.within.folder)
      ? `${shown} cannot be reached within ${options.within.name}: the server redirects it to ${where}, ` +
        `outside ${
          displayUrl(options.within.folder)
        }; hans follows redirects only within ${options.within.name}.`
      : undefined;
    if (refused) {
      await response.body?.cancel();
      throw new HansError(refused);
    }
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new HansError(`${shown}: the server answered ${statusText(response)}; check the URL.`);
  }
  return response.body ? await collect(response.body, shown) : new Uint8Array(0);
}

/** Where a redirect leads, checked: a HansError when hans may not follow it. */
function redirectTarget(
  response: Response,
  from: URL,
  shown: string,
  hops: number,
  options: FetchBytesOptions,
): URL {
  const status = statusText(response);
  const location = response.headers.get("location");
  if (location === null) {
    throw new HansError(`${shown}: the server answered ${status} but named no new location; check the URL.`);
  }
  let target: URL;
  try {
    target = new URL(location, from);
  } catch {
    throw new HansError(
      `${shown}: the server answered ${status} with a location that is not a URL ` +
        `("${quoted(location)}"); check the URL.`,
    );
  }
  const where = quoted(displayUrl(target));
  if (options.redirect === "error") {
    throw new HansError(`${shown} redirects to ${where}; hans does not follow redirects here.`);
  }
  if (target.protocol !== "http:" && target.protocol !== "https:") {
    throw new HansError(`${shown} redirects to ${where}; hans follows redirects to http(s) URLs only.`);
  }
  if (options.within && !insideFolder(target, options.within.folder)) {
    const folder = displayUrl(options.within.folder);
    throw new HansError(
      `${shown} cannot be reached within ${options.within.name}: the server redirects it to ${where}, ` +
        `outside ${folder}; hans follows redirects only within ${options.within.name}.`,
    );
  }
  if (hops + 1 > MAX_REDIRECTS) {
    throw new HansError(
      `${shown} redirects more than ${MAX_REDIRECTS} times (the last to ${where}); check the URL.`,
    );
  }
  return target;
}

/** The body of a final answer, decoded and bounded. */
async function body(response: Response, shown: string): Promise<Uint8Array> {
  if (!response.ok) {
    await response.body?.cancel();
    throw new HansError(`${shown}: the server answered ${statusText(response)}; check the URL.`);
  }
  const encoding = (response.headers.get("content-encoding") ?? "identity").trim().toLowerCase();
  const length = response.headers.get("content-length");
  const declared = length === null || length.trim() === "" ? NaN : Number(length);
  if (encoding === "identity" && Number.isFinite(declared) && declared > maxReadBytes()) {
    await response.body?.cancel();
    throw new HansError(`${shown} is ${megabytes(declared)}; ${readLimitHint()}.`);
  }
  if (!response.body) return new Uint8Array(0);
  if (encoding === "identity") {
    return await collect(response.body, shown, Number.isFinite(declared) ? declared : undefined);
  }
  const format = encoding === "gzip" || encoding === "x-gzip"
    ? "gzip"
    : encoding === "deflate"
    ? "deflate"
    : undefined;
  if (!format) {
    await response.body.cancel();
    throw new HansError(
      `${shown}: the server sent it encoded as "${
        quoted(encoding)
      }", which hans does not decode; hans asks ` +
        `for files uncompressed, so serve it without Content-Encoding (or with gzip).`,
    );
  }
  try {
    return await collect(inflate(response.body, format), `${shown} (decompressed)`);
  } catch (error) {
    if (error instanceof HansError || (error as Error)?.name === "TimeoutError") throw error;
    throw new HansError(
      `${shown}: the server's ${encoding} data is broken or cut short (${
        redactUrls(reason(error))
      }); check the URL and the connection.`,
      { cause: error },
    );
  }
}

function statusText(response: Response): string {
  return [response.status, response.statusText].filter(Boolean).join(" ");
}

/** `text` cut to {@link QUOTED_URL_CHARS} characters. */
function quoted(text: string): string {
  return text.length > QUOTED_URL_CHARS ? `${text.slice(0, QUOTED_URL_CHARS)}…` : text;
}

/** The most telling part of a fetch error: its cause's message without the URL Deno puts in front. */
function reason(error: unknown): string {
  const e = error as Error | undefined;
  const cause = e?.cause instanceof Error ? e.cause.message : undefined;
  const text = cause ?? e?.message ?? String(error);
  return text.split("\n")[0].replace(/^error sending request for url \([^)]*\): /, "");
}

/** The host Deno's permission error names ("Requires net access to "host:port""), else `fallback`'s. */
function refusedHost(error: Error, fallback: URL): string {
  return /net access to "([^"]+)"/.exec(error.message ?? "")?.[1] ?? fallback.host;
}

function downloadError(shown: string, current: URL, deadline: DownloadDeadline, error: unknown): HansError {
  const name = (error as Error)?.name;
  if (name === "TimeoutError") {
    const seconds = deadline.timeoutMs / 1000;
    return new HansError(
      `${shown}: the download did not finish within ${seconds} s` +
        `${deadline.covers ? `, the time limit of ${deadline.covers}` : ""}; ${
          deadline.hint ?? "check the connection or raise the time limit"
        }.`,
      { cause: error },
    );
  }
  const redirected = displayUrl(current) !== shown ? ` (it redirects to ${quoted(displayUrl(current))})` : "";
  if (
    !inBrowser() && (error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied)
  ) {
    const host = refusedHost(error, current);
    return new HansError(
      `${shown}: network access to ${host} is not allowed${redirected}; run deno with --allow-net=${host}.`,
      { cause: error },
    );
  }
  return new HansError(
    `${shown} cannot be reached${redirected} (${
      redactUrls(reason(error))
    }); check the URL and the connection.`,
    { cause: error },
  );
}
