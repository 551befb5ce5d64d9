import assert from "node:assert/strict";

const root = new URL("../../", import.meta.url);

const TYPES: Record<string, string> = {
  ts: "application/typescript",
  json: "application/json",
  wgsl: "text/plain",
  jpg: "image/jpeg",
};

/**
 * Serves the checkout read-only on a loopback port, with the MIME types Deno needs for remote modules;
 * `route` may answer a path first (a redirect), or give the checkout path to serve for it.
 */
function serveCheckout(
  route: (path: string, req: Request) => Response | string | undefined = () => undefined,
): { url: string; close: () => Promise<void> } {
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen() {} },
    async (req) => {
      let path = decodeURIComponent(new URL(req.url).pathname);
      const routed = route(path, req);
      if (routed instanceof Response) return routed;
      if (routed !== undefined) path = routed;
      if (path.includes("..")) return new Response("no", { status: 403 });
      try {
        const body = await Deno.readFile(new URL(`.${path}`, root));
        const ext = path.slice(path.lastIndexOf(".") + 1);
        return new Response(body, { headers: { "content-type": TYPES[ext] ?? "application/octet-stream" } });
      } catch {
        return new Response("not found", { status: 404 });
      }
    },
  );
  return { url: `http://127.0.0.1:${server.addr.port}`, close: () => (ac.abort(), server.finished) };
}

Deno.test({
  name: "clever-hans runs from a URL with no checkout and a fresh DENO_DIR",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const server = serveCheckout();
    const work = await Deno.makeTempDir();
    try {
      const child = new Deno.Command(Deno.execPath(), {
        cwd: work,
        args: [
          "run",
          "--allow-read",
          "--allow-write=results",
          "--allow-env=XDG_RUNTIME_DIR,DENO_WEBGPU_BACKEND,IMAGESCRIPT_WASM_SIMD,HANS_MAX_READ_MB,HANS_MAX_MEGAPIXELS",
          `--allow-import=127.0.0.1`,
          `${server.url}/cli.ts`,
          "clever-hans",
          "--quick",
          "--train-size=100",
          "--test-size=60",
          "--maps=2",
          "--methods=gradient",
          "--spray-method=none",
          "--out=results/remote",
        ],
        env: { DENO_DIR: `${work}/deno_dir`, NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      });
      const { code, stderr } = await child.output();
      const log = new TextDecoder().decode(stderr);
      assert.equal(code, 0, log.slice(-3000));
      const metrics = JSON.parse(await Deno.readTextFile(`${work}/results/remote/metrics.json`));
      assert.equal(metrics.task, "clever-hans");
      assert.equal(metrics.train.size, 100);
      // The library from the same URL: mod.ts imports with no checkout and lists the registry.
      await Deno.writeTextFile(
        `${work}/use.ts`,
        `import { METHODS, explain } from "${server.url}/mod.ts";\n` +
          `console.log(typeof explain, METHODS.map((m) => m.name).join(","));\n`,
      );
      const library = await new Deno.Command(Deno.execPath(), {
        cwd: work,
        args: ["run", "--allow-read", "--allow-env", "--allow-import=127.0.0.1", `${work}/use.ts`],
        env: { DENO_DIR: `${work}/deno_dir`, NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const printed = new TextDecoder().decode(library.stdout);
      assert.equal(library.code, 0, new TextDecoder().decode(library.stderr).slice(-2000));
      assert.match(printed, /^function .*integrated_gradients.*grad_cam/);
    } finally {
      await server.close();
      await Deno.remove(work, { recursive: true });
    }
  },
});

Deno.test({
  name: "contrastive runs from a URL: the shipped model and its record download, weights behind a redirect",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const folder = "/fixtures/fashion-mnist-cnn/";
    const seen: string[] = [];
    // The weights are served as a model hub does: a redirect to a versioned path in the same folder.
    const server = serveCheckout((path, req) => {
      if (!path.startsWith(folder)) return undefined;
      seen.push(`${path} ${req.headers.get("accept-encoding")}`);
      if (path === `${folder}weights.bin`) {
        return new Response(null, {
          status: 302,
          headers: { location: `${folder}resolve/main/weights.bin` },
        });
      }
      if (path === `${folder}resolve/main/weights.bin`) return `${folder}weights.bin`;
      return undefined;
    });
    const work = await Deno.makeTempDir();
    try {
      const { code, stderr } = await new Deno.Command(Deno.execPath(), {
        cwd: work,
        args: [
          "run",
          "--allow-read",
          "--allow-write=results",
          "--allow-env=XDG_RUNTIME_DIR,DENO_WEBGPU_BACKEND,IMAGESCRIPT_WASM_SIMD,HANS_MAX_READ_MB,HANS_MAX_MEGAPIXELS,HANS_MAX_MEMORY_MB",
          "--allow-sys=systemMemoryInfo",
          "--allow-import=127.0.0.1",
          "--allow-net=127.0.0.1",
          `${server.url}/cli.ts`,
          "contrastive",
          "--quick",
          "--test-size=60",
          "--examples=2",
          "--methods=gradient",
          "--out=results/remote",
        ],
        env: { NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const log = new TextDecoder().decode(stderr);
      assert.equal(code, 0, log.slice(-3000));
      assert.deepEqual(seen.sort(), [
        `${folder}model.json identity`,
        `${folder}pretrain.json identity`,
        `${folder}resolve/main/weights.bin identity`,
        `${folder}weights.bin identity`,
      ]);
      const metrics = JSON.parse(await Deno.readTextFile(`${work}/results/remote/metrics.json`));
      assert.equal(metrics.task, "contrastive");
    } finally {
      await server.close();
      await Deno.remove(work, { recursive: true });
    }
  },
});
