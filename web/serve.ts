/**
 * The static server of hans's web page (`deno task serve`): `web/` at `/`, the bundle (`dist/`, built by
 * `deno task bundle`) at `/dist/`, and the shipped model (`fixtures/fashion-mnist-cnn/`) at `/model/`, on the
 * loopback interface only. It reads nothing else, lists no folders and takes no uploads (GET and HEAD only);
 * the page computes everything in the browser.
 *
 * ```sh
 * deno run --allow-read=web,dist,fixtures/fashion-mnist-cnn --allow-net=127.0.0.1 web/serve.ts --port 8000
 * ```
 * @module
 */

/** The folders served, by URL prefix, relative to the repository root. */
const ROOT = new URL("../", import.meta.url);

/** The URL prefixes served and their folders; `dist` may be another folder (a test's fresh bundle). */
function mounts(dist: URL): [prefix: string, folder: URL][] {
  return [
    ["/dist/", dist],
    ["/model/", new URL("fixtures/fashion-mnist-cnn/", ROOT)],
    ["/", new URL("web/", ROOT)],
  ];
}

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  json: "application/json",
  wasm: "application/wasm",
  bin: "application/octet-stream",
  png: "image/png",
  svg: "image/svg+xml",
};

/**
 * The page may run scripts and WebAssembly from this server only, and fetch models from anywhere the user
 * names (`connect-src`); nothing else leaves the page.
 */
const CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; img-src 'self' data: blob:; " +
  "style-src 'self' 'unsafe-inline'; connect-src 'self' http: https:; worker-src 'self'";

/**
 * The file a request path names, or undefined for anything outside the served folders.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * assert.ok(fileFor("/")?.href.endsWith("/web/index.html"));
 * assert.ok(fileFor("/model/model.json")?.href.endsWith("/fixtures/fashion-mnist-cnn/model.json"));
 * assert.equal(fileFor("/dist/../deno.json"), undefined); // nothing outside the served folders
 * assert.equal(fileFor("/%2e%2e/deno.json"), undefined);
 * assert.equal(fileFor("//etc/passwd"), undefined); // an absolute path once joined
 * assert.equal(fileFor("/%2Fetc/passwd"), undefined);
 * assert.equal(fileFor("/dist//etc/passwd"), undefined);
 * ```
 */
export function fileFor(pathname: string, dist: URL = new URL("dist/", ROOT)): URL | undefined {
  let path: string;
  try {
    path = decodeURIComponent(pathname);
  } catch {
    return undefined;
  }
  if (path === "/") path = "/index.html";
  // One leading slash, then non-empty names: "//etc/passwd" would be an absolute path once joined.
  if (
    !/^[/A-Za-z0-9._-]+$/.test(path) ||
    path.slice(1).split("/").some((p) => p === ".." || p === "." || p === "")
  ) {
    return undefined;
  }
  for (const [prefix, folder] of mounts(dist)) {
    if (!path.startsWith(prefix)) continue;
    const url = new URL(path.slice(prefix.length), folder);
    return url.href.startsWith(folder.href) ? url : undefined;
  }
  return undefined;
}

/** Answers one request: a served file, 404, or 405 for anything but GET and HEAD. */
export async function handle(request: Request, dist?: URL): Promise<Response> {
  if (request.method !== "GET" && request.method !== "HEAD") {
    return new Response("only GET and HEAD\n", { status: 405, headers: { allow: "GET, HEAD" } });
  }
  const file = fileFor(new URL(request.url).pathname, dist);
  let bytes: Uint8Array<ArrayBuffer> | undefined;
  if (file) {
    try {
      if ((await Deno.stat(file)).isFile) bytes = await Deno.readFile(file);
    } catch {
      // missing: 404 below
    }
  }
  if (!file || !bytes) {
    const hint = new URL(request.url).pathname.startsWith("/dist/") ? " (run deno task bundle)" : "";
    return new Response(`not found${hint}\n`, { status: 404 });
  }
  const type = TYPES[file.pathname.split(".").pop() ?? ""] ?? "application/octet-stream";
  const headers = {
    "content-type": type,
    "cache-control": "no-cache",
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
  };
  return new Response(request.method === "HEAD" ? null : bytes, { headers });
}

/**
 * Starts the server on 127.0.0.1 at `port` (0: any free one), serving the bundle from `dist` (default
 * `dist/`); `onListen` gets the page's URL.
 */
export function serve(port: number, onListen: (url: string) => void, dist?: URL): Deno.HttpServer {
  return Deno.serve({
    hostname: "127.0.0.1",
    port,
    onListen: ({ port }) => onListen(`http://127.0.0.1:${port}/`),
  }, (request) => handle(request, dist));
}

if (import.meta.main) {
  const at = Deno.args.indexOf("--port");
  const port = at >= 0 ? Number(Deno.args[at + 1]) : 8000;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error("hans: --port takes a port number, 0 to 65535.");
    Deno.exit(2);
  }
  try {
    await Deno.stat(new URL("dist/hans.js", ROOT));
  } catch {
    console.error("hans: dist/hans.js is missing; run deno task bundle first.");
    Deno.exit(2);
  }
  serve(port, (url) => console.log(`hans: the page is at ${url} (Ctrl-C stops)`));
}
