/**
 * Downloads for the loaders that accept an http(s) URL: a time limit, and every failure as a `HansError`
 * that names the URL.
 * @module
 */
import { HansError } from "../errors.ts";
import { maxReadBytes, megabytes, readLimitHint } from "../limits.ts";
import { collect } from "./read.ts";

/** Options of `fetchBytes`. */
export interface FetchBytesOptions {
  /** Time limit for the whole download in milliseconds (default 60000). */
  timeoutMs?: number;
  /** `follow` redirects (the default) or treat one as an `error`. */
  redirect?: "follow" | "error";
}

/** True when `source` is an http:// or https:// URL. */
export function isHttpUrl(source: string): boolean {
  return /^https?:\/\//i.test(source);
}

/**
 * Downloads `url` and returns its body; throws a `HansError` on a non-2xx answer (with the status), on a
 * network failure, when network access is not allowed, when the time limit runs out, and as soon as the body
 * passes the read limit (`HANS_MAX_READ_MB`; a declared Content-Length over it stops before any byte is read).
 */
export async function fetchBytes(url: string, options: FetchBytesOptions = {}): Promise<Uint8Array> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  try {
    const response = await fetch(url, {
      signal: AbortSignal.timeout(timeoutMs),
      redirect: options.redirect ?? "follow",
    });
    if (!response.ok) {
      await response.body?.cancel();
      const status = [response.status, response.statusText].filter(Boolean).join(" ");
      throw new HansError(`${url}: the server answered ${status}; check the URL.`);
    }
    const declared = Number(response.headers.get("content-length"));
    if (Number.isFinite(declared) && declared > maxReadBytes()) {
      await response.body?.cancel();
      throw new HansError(`${url} is ${megabytes(declared)}; ${readLimitHint()}.`);
    }
    if (!response.body) return new Uint8Array(0);
    return await collect(response.body, url);
  } catch (error) {
    if (error instanceof HansError) throw error;
    throw downloadError(url, timeoutMs, error);
  }
}

function downloadError(url: string, timeoutMs: number, error: unknown): HansError {
  const name = (error as Error)?.name;
  if (name === "TimeoutError") {
    return new HansError(
      `${url}: the download did not finish within ${timeoutMs / 1000} s; check the connection or raise ` +
        `the time limit.`,
      { cause: error },
    );
  }
  if (error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied) {
    return new HansError(
      `${url}: network access is not allowed; run deno with --allow-net=${new URL(url).host}.`,
      { cause: error },
    );
  }
  return new HansError(
    `${url} cannot be reached (${(error as Error)?.message ?? error}); check the URL and the connection.`,
    { cause: error },
  );
}
