import assert from "node:assert/strict";
import { initBackend, vulkanDriverInstalled } from "../src/backend.ts";
import { tf } from "../src/deps.ts";
import { HAS_WEBGPU } from "./gpu.ts";

// CI sets HANS_EXPECT_BACKEND=webgpu: a machine where WebGPU did not start (Mesa missing, no adapter) must
// fail here instead of passing with the WGSL tests ignored.
const expected = Deno.env.get("HANS_EXPECT_BACKEND");

Deno.test({
  name: "the backend CI expects is the one that runs (HANS_EXPECT_BACKEND)",
  ignore: expected === undefined,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const info = await initBackend({ warn: false });
    assert.equal(tf.getBackend(), expected, `running on ${tf.getBackend()} (${info.adapter})`);
  },
});

/** The `--allow-env` list of the clever-hans task in deno.json: what a user's run may read and set. */
async function taskEnvPermission(): Promise<string> {
  const config = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));
  const flag = (config.tasks["clever-hans"] as string).split(" ").find((a) => a.startsWith("--allow-env="));
  assert.ok(flag, "the clever-hans task lists its --allow-env variables");
  return flag;
}

/** Starts the backend in a fresh process with `env` permission `envFlag`; what it ran on and loaded. */
async function backendInChild(
  envFlag: string,
): Promise<{ backend: string; egl: boolean; apis: string | null }> {
  const backend = new URL("../src/backend.ts", import.meta.url).href;
  const script = `
    import { initBackend } from ${JSON.stringify(backend)};
    const info = await initBackend({ warn: false });
    const env = { name: "env", variable: "DENO_WEBGPU_BACKEND" } as const;
    const apis = Deno.permissions.querySync(env).state === "granted" ? Deno.env.get(env.variable) ?? null : null;
    // Deno lets no permission short of --allow-all read /proc/<pid>/maps; cat may.
    const maps = await new Deno.Command("cat", { args: [\`/proc/\${Deno.pid}/maps\`] }).output();
    const egl = new TextDecoder().decode(maps.stdout).includes("libEGL");
    console.log(JSON.stringify({ backend: info.backend, egl, apis }));`;
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/child.ts`, script);
    // What the child needs besides: the certificates and proxy a machine's network may need for Deno to
    // reach the package registry (a fresh machine behind a proxy fetches the npm packages here).
    const network = [
      "DENO_TLS_CA_STORE",
      "DENO_CERT",
      "NODE_EXTRA_CA_CERTS", // Deno reads it too: the way this workplace's machines trust their proxy
      "DENO_AUTH_TOKENS",
      "NPM_CONFIG_REGISTRY",
      "SSL_CERT_FILE",
      "SSL_CERT_DIR",
      "HTTPS_PROXY",
      "HTTP_PROXY",
      "NO_PROXY",
      "https_proxy",
      "http_proxy",
      "no_proxy",
    ];
    const keep = ["HOME", "PATH", "DENO_DIR", "XDG_RUNTIME_DIR", ...network].filter((k) =>
      Deno.env.get(k) !== undefined
    );
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", "--allow-read", "--allow-run=cat", envFlag, `${dir}/child.ts`],
      clearEnv: true,
      env: { ...Object.fromEntries(keep.map((k) => [k, Deno.env.get(k)!])), NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const out = new TextDecoder().decode(stdout).trim().split("\n").pop()!;
    assert.equal(code, 0, new TextDecoder().decode(stderr).slice(-2000));
    return JSON.parse(out);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name:
    "with a Vulkan driver installed, WebGPU starts on Vulkan alone: OpenGL's libraries stay out of the process",
  ignore: !HAS_WEBGPU || !vulkanDriverInstalled(),
  async fn() {
    const task = await taskEnvPermission();
    assert.match(task, /DENO_WEBGPU_BACKEND/, "the tasks may set DENO_WEBGPU_BACKEND");
    const restricted = await backendInChild(task);
    assert.deepEqual(restricted, { backend: "webgpu", egl: false, apis: "vulkan" });
    // Without the permission (the older task flags) nothing is asked or changed and WebGPU still starts,
    // with every API: OpenGL's libEGL is loaded where it is installed, so the check above can tell the two apart.
    const open = await backendInChild(task.replace(",DENO_WEBGPU_BACKEND", ""));
    assert.equal(open.backend, "webgpu");
    assert.equal(open.apis, null);
    const libEgl = ["/usr/lib/x86_64-linux-gnu/libEGL.so.1", "/usr/lib/aarch64-linux-gnu/libEGL.so.1"]
      .some((p) => {
        try {
          return Deno.statSync(p).isFile;
        } catch {
          return false;
        }
      });
    if (libEgl) assert.equal(open.egl, true);
  },
});
