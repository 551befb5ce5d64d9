/**
 * hans's web page in headless Chromium against hans in Deno. The test bundles browser.ts afresh, serves the
 * page with web/serve.ts on a loopback port, lets the page load the shipped model and the sample PNGs, and
 * reads back what it computed on the first images: predictions, and gradient, Grad-CAM and Integrated
 * Gradients maps for P (the predicted class) and for P − Q (Q the runner-up). Every number must equal what
 * hans computes in Deno (cpu backend) from the same PNG files within 1e-4 (times the map's largest |value|
 * where that is above 1), on wasm and on WebGPU, and the page must show hans's SVG figure without a console
 * error (`engine=active`: hans's move of gradient work to wasm is turned off, so each backend computes its
 * own maps). Where Chromium offers no WebGPU adapter headless, the WebGPU case is ignored with that reason.
 * Ignored as a whole where /usr/bin/chromium is missing (`.ci/run` installs it).
 */
import assert from "node:assert/strict";
import { initBackend } from "../../src/backend.ts";
import { tf, wasmBackendFiles } from "../../src/deps.ts";
import { decodeImageBytes } from "../../src/data/decode_image.ts";
import { fitImage } from "../../src/data/resize.ts";
import { disposeLoaded, loadModel } from "../../src/explain/load.ts";
import { explainTargets, type MethodName } from "../../src/explain/registry.ts";
import { shippedModel } from "../../src/model/shipped.ts";
import { serve } from "../../web/serve.ts";
import {
  Cdp,
  CHROMIUM,
  hasChromium,
  pageErrors,
  removeTree,
  startChromium,
  stopChromium,
} from "./chromium.ts";

const METHODS: MethodName[] = ["gradient", "grad_cam", "integrated_gradients"];
/** Images explained (the first of web/samples/): few, so that Integrated Gradients on SwiftShader stays short. */
const COUNT = 4;
const TOLERANCE = 1e-4;
/** Chromium's flags for WebGPU without a display: its software adapter (SwiftShader) where there is no GPU. */
const WEBGPU_FLAGS = ["--enable-unsafe-webgpu"];
const SESSION_TIMEOUT_MS = 240_000;

/** What the page computed (its `hansPage.run`), or hans in Deno for the same images. */
interface Explained {
  classes: number[];
  probabilities: number[][];
  p: number[];
  q: number[];
  maps: Record<string, { p: number[]; contrast: number[] }>;
}

/** The maps hans computes in Deno from the sample PNGs, as the page does: predicted class P, runner-up Q. */
async function denoExplained(): Promise<Explained> {
  await initBackend({ backend: "cpu" });
  const samples = JSON.parse(
    await Deno.readTextFile(new URL("../../web/samples/samples.json", import.meta.url)),
  );
  const pixels = new Float32Array(COUNT * 28 * 28);
  for (let i = 0; i < COUNT; i++) {
    const file = new URL(`../../web/samples/${samples.images[i].file}`, import.meta.url);
    const image = await decodeImageBytes(await Deno.readFile(file), file.pathname);
    fitImage(image, 28, 28, 1, pixels, i * 28 * 28);
  }
  const loaded = await loadModel(shippedModel().source);
  const x = tf.tensor4d(pixels, [COUNT, 28, 28, 1]);
  try {
    const probabilities = await tf.tidy(() => tf.softmax(loaded.explainable.logits(x))).array() as number[][];
    const ranked = probabilities.map((row) => row.map((v, k) => [v, k]).sort((a, b) => b[0] - a[0]));
    const p = ranked.map((r) => r[0][1]);
    const q = ranked.map((r) => r[1][1]);
    const maps: Explained["maps"] = {};
    for (const name of METHODS) {
      const { maps: [mp, mc] } = await explainTargets(name, loaded.explainable, x, [p, { p, q }]);
      maps[name] = { p: Array.from(await mp.data()), contrast: Array.from(await mc.data()) };
      tf.dispose([mp, mc]);
    }
    return { classes: p, probabilities, p, q, maps };
  } finally {
    x.dispose();
    disposeLoaded(loaded);
  }
}

/** browser.ts bundled into `dir` with tfjs's wasm files beside it, as `deno task bundle` does into dist/. */
async function bundle(dir: string): Promise<URL> {
  const out = new URL(`file://${dir}/dist/`);
  await Deno.mkdir(out, { recursive: true });
  const run = await new Deno.Command(Deno.execPath(), {
    args: ["bundle", "--platform", "browser", "--minify", "browser.ts", "-o", `${dir}/dist/hans.js`],
    cwd: new URL("../../", import.meta.url),
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(run.code, 0, `deno bundle failed:\n${new TextDecoder().decode(run.stderr)}`);
  for (const file of wasmBackendFiles()) {
    await Deno.copyFile(file, new URL(file.pathname.split("/").pop()!, out));
  }
  return out;
}

/** One page session: Chromium with `flags` opens `url`, and `expression` (awaited) gives its value back. */
async function inPage<T>(profile: string, flags: string[], url: string, expression: string): Promise<{
  value: T;
  errors: string[];
}> {
  let browser: Awaited<ReturnType<typeof startChromium>> | undefined;
  let cdp: Cdp | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const session = async () => {
      browser = await startChromium(profile, flags);
      cdp = await Cdp.connect(browser.url);
      const { targetId } = await cdp.send("Target.createTarget", { url: "about:blank" });
      const { sessionId } = await cdp.send("Target.attachToTarget", { targetId, flatten: true }) as {
        sessionId: string;
      };
      for (const domain of ["Page", "Runtime", "Log"]) await cdp.send(`${domain}.enable`, {}, sessionId);
      const loaded = cdp.waitFor((m) => m.method === "Page.loadEventFired" && m.sessionId === sessionId);
      const nav = await cdp.send("Page.navigate", { url }, sessionId);
      assert.equal(nav.errorText, undefined, `navigation failed: ${nav.errorText}`);
      await loaded;
      const reply = await cdp.send("Runtime.evaluate", {
        expression,
        awaitPromise: true,
        returnByValue: true,
      }, sessionId) as {
        result: { value: T };
        exceptionDetails?: { exception?: { description?: string } };
      };
      if (reply.exceptionDetails) {
        throw new Error(`the page threw: ${reply.exceptionDetails.exception?.description ?? "?"}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 200)); // late console messages
      return { value: reply.result.value, errors: pageErrors(cdp.events) };
    };
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`page session over ${SESSION_TIMEOUT_MS} ms`)),
        SESSION_TIMEOUT_MS,
      );
    });
    return await Promise.race([session(), timeout]);
  } finally {
    clearTimeout(timer);
    await stopChromium(browser, cdp);
  }
}

/** Runs the page on `backend` and returns what it computed, the backend it ran on and its figure's words. */
const RUN = (backend: string) =>
  `hansPage.ready.then(async (info) => {
  const r = await hansPage.run({ methods: ${
    JSON.stringify(METHODS)
  }, p: "predicted", q: "runner-up", count: ${COUNT} });
  const words = [...document.querySelectorAll("#figure svg text")].map((t) => t.textContent);
  return { info, words, engines: r.engines, explained: { classes: r.predictions.classes, probabilities: r.predictions.probabilities,
    p: r.p, q: r.q, maps: r.maps } };
})`.replace("BACKEND", backend);

/**
 * Runs hans's kernels (max pooling with padding and its gradient, convolution, dense product) on WebGPU in the
 * page: a kernel whose WGSL Chrome refuses shows up as a device error.
 */
const KERNELS = `hansPage.ready.then(async (info) => {
  const tf = hansPage.hans.tf;
  const x = tf.randomUniform([2, 5, 5, 3]);
  const outs = [tf.maxPool(x, 2, 2, "same"), tf.conv2d(x, tf.ones([3, 3, 3, 4]), 1, "same"),
    tf.matMul(tf.ones([3, 4]), tf.ones([4, 5])), tf.grad((v) => tf.maxPool(v, 2, 2, "same").sum())(x)];
  const values = await Promise.all(outs.map((o) => o.data()));
  return { kernels: info.kernels, finite: values.every((v) => v.every(Number.isFinite)),
    errors: (await hansPage.hans.webgpuErrors()).count };
})`;

/** Largest |a − b| over the maps, against the tolerance scaled to the map's largest |value| when above 1. */
function compare(page: Explained, deno: Explained, where: string): void {
  assert.deepEqual(page.classes, deno.classes, `${where}: predicted classes`);
  assert.deepEqual(page.q, deno.q, `${where}: runner-up classes`);
  page.probabilities.flat().forEach((v, i) =>
    assert.ok(Math.abs(v - deno.probabilities.flat()[i]) <= TOLERANCE, `${where}: probability ${i}`)
  );
  for (const name of METHODS) {
    for (const target of ["p", "contrast"] as const) {
      const a = page.maps[name][target];
      const b = deno.maps[name][target];
      assert.equal(a.length, b.length, `${where}: ${name} ${target} has ${a.length} values, not ${b.length}`);
      const scale = Math.max(1, ...b.map(Math.abs));
      const worst = Math.max(...a.map((v, i) => Math.abs(v - b[i])));
      assert.ok(
        worst <= TOLERANCE * scale,
        `${where}: ${name} (${target}) differs from Deno's by up to ${worst} (largest |value| ${scale})`,
      );
      assert.ok(
        b.some((v) => v !== 0) || name === "grad_cam",
        `${name} (${target}): Deno's maps are not all 0`,
      );
    }
  }
}

/**
 * Whether headless Chromium offers a WebGPU adapter with {@link WEBGPU_FLAGS}, and which; `url` is a page of
 * the local server (WebGPU is offered to secure contexts only, as http://127.0.0.1 is).
 */
async function webgpuAdapter(profile: string, url: string): Promise<string | undefined> {
  const { value } = await inPage<string>(
    profile,
    WEBGPU_FLAGS,
    url,
    `navigator.gpu ? navigator.gpu.requestAdapter().then((a) => a ? a.info.vendor + " " + a.info.architecture : "")
      : ""`,
  );
  return value || undefined;
}

const chromium = hasChromium();

Deno.test({
  name: chromium
    ? "the web page computes in Chromium the maps hans computes in Deno (wasm, WebGPU)"
    : `the web page in a browser (ignored: ${CHROMIUM} not found; apt-get install chromium)`,
  ignore: !chromium,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "hans-page-" });
    let base = "";
    const server = serve(0, (url) => base = url, await bundle(dir));
    try {
      const deno = await denoExplained();
      const adapter = await webgpuAdapter(`${dir}/profile-probe`, `${base}samples/samples.json`);
      const cases: [backend: string, flags: string[], ignored?: string][] = [
        ["wasm", ["--disable-gpu"]],
        ["webgpu", WEBGPU_FLAGS, adapter ? undefined : "Chromium offers no WebGPU adapter headless here"],
      ];
      await t.step({
        name: adapter
          ? "hans's WGSL kernels compile and run in Chromium's WebGPU (no device error)"
          : "hans's WGSL kernels in Chromium (ignored: no WebGPU adapter headless here)",
        ignore: !adapter,
        async fn() {
          const { value, errors } = await inPage<{ kernels: string; finite: boolean; errors: number }>(
            `${dir}/profile-kernels`,
            WEBGPU_FLAGS,
            `${base}?backend=webgpu&kernels=hans&offline=no`,
            KERNELS,
          );
          assert.equal(value.kernels, "hans");
          assert.ok(value.finite, "the kernels' results are finite");
          assert.equal(value.errors, 0, "WebGPU reported no error (a shader that does not compile is one)");
          assert.deepEqual(errors, [], "no console errors");
        },
      });
      for (const [backend, flags, ignored] of cases) {
        await t.step({
          name: ignored
            ? `${backend} (ignored: ${ignored})`
            : `${backend}${backend === "webgpu" ? ` on ${adapter}` : ""}`,
          ignore: ignored !== undefined,
          async fn() {
            const { value, errors } = await inPage<
              {
                info: { backend: string };
                words: string[];
                engines: Record<string, string>;
                explained: Explained;
              }
            >(
              `${dir}/profile-${backend}`,
              flags,
              `${base}?backend=${backend}&engine=active&offline=no`,
              RUN(backend),
            );
            assert.equal(value.info.backend, backend, "the page runs on the backend asked for");
            // engine=active: no work moved to wasm, so these are the backend's own numbers
            assert.deepEqual(value.engines, { forward: backend, gradient: backend });
            compare(value.explained, deno, backend);
            for (const word of ["Gradient: P", "Grad-CAM: P − Q", "Integrated Gradients: P"]) {
              assert.ok(
                value.words.includes(word),
                `the figure's words include "${word}": ${value.words.slice(0, 12)}`,
              );
            }
            assert.deepEqual(errors, [], "no console errors");
          },
        });
      }
    } finally {
      await server.shutdown();
      await removeTree(dir);
    }
  },
});
