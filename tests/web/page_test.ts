/**
 * hans's web page in headless Chromium against hans in Deno. The test bundles browser.ts afresh, serves the
 * page with web/serve.ts on a loopback port, lets the page load the shipped model and the sample PNGs, and
 * reads back what it computed on the first images: predictions, and gradient, Grad-CAM and Integrated
 * Gradients maps for P (the predicted class) and for P − Q (Q the runner-up). Every number must equal what
 * hans computes in Deno (cpu backend) from the same PNG files within 1e-4 (times the map's largest |value|
 * where that is above 1), on wasm and on WebGPU, and the page must show hans's SVG figure without a console
 * error (`engine=active`: hans's move of gradient work to wasm is turned off, so each backend computes its
 * own maps). On wasm, the same page then takes a model folder that is not the shipped one (another input
 * and class count, two weight shards, a labels.txt) and two images through its file inputs (DevTools'
 * `DOM.setFileInputFiles`), and must report that model and compute Deno's maps for it; then, its service
 * worker in control, the server is stopped and the page reloaded: it must start from the worker's cache and
 * explain the samples as before. Where Chromium offers no WebGPU adapter headless, the WebGPU case is ignored
 * with that reason.
 * Ignored as a whole where /usr/bin/chromium is missing (`.ci/run` installs it).
 */
import assert from "node:assert/strict";
import { initBackend } from "../../src/backend.ts";
import { tf, wasmBackendFiles } from "../../src/deps.ts";
import { decodeImageBytes } from "../../src/data/decode_image.ts";
import { fitImage } from "../../src/data/resize.ts";
import { createCnn } from "../../src/model/cnn.ts";
import { serializeModel } from "../../src/model/io.ts";
import { encodePng } from "../../src/report/png.ts";
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

/**
 * The maps hans computes in Deno for the model at `source` and the image files `images`, as the page does:
 * predicted class P, runner-up Q.
 */
async function denoExplained(
  source: string,
  images: URL[],
  [height, width, channels]: [number, number, 1 | 3],
): Promise<Explained> {
  await initBackend({ backend: "cpu" });
  const count = images.length;
  const size = height * width * channels;
  const pixels = new Float32Array(count * size);
  for (let i = 0; i < count; i++) {
    const image = await decodeImageBytes(await Deno.readFile(images[i]), images[i].pathname);
    fitImage(image, width, height, channels, pixels, i * size);
  }
  const loaded = await loadModel(source);
  const x = tf.tensor4d(pixels, [count, height, width, channels]);
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

/** The first `count` sample images of web/samples/. */
async function sampleFiles(count: number): Promise<URL[]> {
  const samples = JSON.parse(
    await Deno.readTextFile(new URL("../../web/samples/samples.json", import.meta.url)),
  ) as { images: { file: string }[] };
  return samples.images.slice(0, count).map((s) => new URL(`../../web/samples/${s.file}`, import.meta.url));
}

/** The model a user drops in the drop step: not the shipped one (another input, another class count). */
const DROPPED = { height: 24, width: 20, channels: 3 as const, classes: 5 };
const DROPPED_LABELS = ["alpha", "beta", "gamma", "delta", "epsilon"];

/**
 * Writes into `dir` what a user drops in the drop step: `dir/tiny-cnn/` a small seeded CNN (hans's createCnn,
 * {@link DROPPED}) saved as TF.js LayersModel files with its weights split over two shards and a labels.txt,
 * and `dir/images/` one sample PNG and a colour PNG of another size and aspect. Returns the model's folder and
 * the images' paths.
 */
async function writeDropped(dir: string): Promise<{ model: string; images: string[] }> {
  await initBackend({ backend: "cpu" });
  const model = `${dir}/tiny-cnn`;
  await Deno.mkdir(model, { recursive: true });
  const net = createCnn({ ...DROPPED, filters: [4, 8], hidden: 8, seed: 7 });
  const { modelJson, weights } = await serializeModel(net);
  net.dispose();
  const json = JSON.parse(modelJson);
  const shards = ["group1-shard1of2.bin", "group1-shard2of2.bin"];
  json.weightsManifest[0].paths = shards;
  const half = Math.floor(weights.length / 2);
  await Deno.writeTextFile(`${model}/model.json`, JSON.stringify(json));
  await Deno.writeFile(`${model}/${shards[0]}`, weights.slice(0, half));
  await Deno.writeFile(`${model}/${shards[1]}`, weights.slice(half));
  await Deno.writeTextFile(`${model}/labels.txt`, DROPPED_LABELS.join("\n") + "\n");
  const images = `${dir}/images`;
  await Deno.mkdir(images, { recursive: true });
  const [sample] = await sampleFiles(1);
  const first = `${images}/${sample.pathname.split("/").pop()}`;
  await Deno.copyFile(sample, first);
  const [w, h] = [36, 30];
  const rgba = new Uint8ClampedArray(w * h * 4);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) rgba.set([x * 7, y * 8, (x * y) % 256, 255], (y * w + x) * 4);
  }
  await Deno.writeFile(`${images}/colour.png`, await encodePng(rgba, w, h));
  return { model, images: [first, `${images}/colour.png`] };
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

/** A page open in Chromium, for a session's steps. */
interface Page {
  /** The value of `expression` in the page (awaited); throws what the page threw. */
  evaluate<T>(expression: string): Promise<T>;
  /** A DevTools command to the page's target. */
  send(method: string, params?: Record<string, unknown>): Promise<Record<string, unknown>>;
  /** Reloads the page and waits for its load event. */
  reload(): Promise<void>;
}

/**
 * One page session: Chromium with `flags` opens `url`, and `drive` takes the page from there; its value comes
 * back with the page's console errors of the whole session.
 */
async function inPage<T>(
  profile: string,
  flags: string[],
  url: string,
  drive: (page: Page) => Promise<T>,
): Promise<{
  value: T;
  errors: string[];
}> {
  let browser: Awaited<ReturnType<typeof startChromium>> | undefined;
  let cdp: Cdp | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const session = async () => {
      browser = await startChromium(profile, flags);
      const client = cdp = await Cdp.connect(browser.url);
      const { targetId } = await client.send("Target.createTarget", { url: "about:blank" });
      const { sessionId } = await client.send("Target.attachToTarget", { targetId, flatten: true }) as {
        sessionId: string;
      };
      for (const domain of ["Page", "Runtime", "Log"]) await client.send(`${domain}.enable`, {}, sessionId);
      const loadEvent = () =>
        client.waitFor((m) => m.method === "Page.loadEventFired" && m.sessionId === sessionId);
      const page: Page = {
        async evaluate<V>(expression: string) {
          const reply = await client.send("Runtime.evaluate", {
            expression,
            awaitPromise: true,
            returnByValue: true,
          }, sessionId) as {
            result: { value: V };
            exceptionDetails?: { exception?: { description?: string } };
          };
          if (reply.exceptionDetails) {
            throw new Error(`the page threw: ${reply.exceptionDetails.exception?.description ?? "?"}`);
          }
          return reply.result.value;
        },
        send: (method, params = {}) => client.send(method, params, sessionId),
        async reload() {
          const loaded = loadEvent();
          await client.send("Page.reload", {}, sessionId);
          await loaded;
        },
      };
      const loaded = loadEvent();
      const nav = await client.send("Page.navigate", { url }, sessionId);
      assert.equal(nav.errorText, undefined, `navigation failed: ${nav.errorText}`);
      await loaded;
      const value = await drive(page);
      await new Promise((resolve) => setTimeout(resolve, 200)); // late console messages
      return { value, errors: pageErrors(client.events) };
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

/** What {@link RUN} gives back. */
interface Ran {
  info: { backend: string };
  words: string[];
  engines: Record<string, string>;
  explained: Explained;
}

/** Runs the page on its first `count` images and returns what it computed, its backend and its figure's words. */
const RUN = (count: number) =>
  `hansPage.ready.then(async (info) => {
  const r = await hansPage.run({ methods: ${
    JSON.stringify(METHODS)
  }, p: "predicted", q: "runner-up", count: ${count} });
  const words = [...document.querySelectorAll("#figure svg text")].map((t) => t.textContent);
  return { info, words, engines: r.engines, explained: { classes: r.predictions.classes, probabilities: r.predictions.probabilities,
    p: r.p, q: r.q, maps: r.maps } };
})`;

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
    (page) =>
      page.evaluate(
        `navigator.gpu ? navigator.gpu.requestAdapter().then((a) => a ? a.info.vendor + " " + a.info.architecture : "")
      : ""`,
      ),
  );
  return value || undefined;
}

/** What the page shows of its run of the shipped model on `backend` (`RUN`): all of it hans's numbers. */
function checkRun(value: Ran, deno: Explained, backend: string, where: string): void {
  assert.equal(value.info.backend, backend, "the page runs on the backend asked for");
  // engine=active: no work moved to wasm, so these are the backend's own numbers
  assert.deepEqual(value.engines, { forward: backend, gradient: backend });
  compare(value.explained, deno, where);
  for (const word of ["Gradient: P", "Grad-CAM: P − Q", "Integrated Gradients: P"]) {
    assert.ok(
      value.words.includes(word),
      `${where}: the figure's words include "${word}": ${value.words.slice(0, 12)}`,
    );
  }
}

/** Waits (up to 30 s) until the page's status `id` matches `pattern`; rejects with the status when it is an error. */
const STATUS = (id: string, pattern: RegExp) =>
  `new Promise((ok, fail) => {
  const el = document.getElementById(${JSON.stringify(id)});
  const until = Date.now() + 30000;
  const tick = () => el.classList.contains("error") ? fail(new Error(el.textContent))
    : ${pattern}.test(el.textContent) ? ok(el.textContent)
    : Date.now() > until ? fail(new Error("still: " + el.textContent)) : setTimeout(tick, 20);
  tick();
})`;

/** Picks `files` (paths on this machine) in the page's file input `selector`, as a user's file chooser does. */
async function chooseFiles(page: Page, selector: string, files: string[]): Promise<void> {
  const { root } = await page.send("DOM.getDocument") as { root: { nodeId: number } };
  const { nodeId } = await page.send("DOM.querySelector", { nodeId: root.nodeId, selector }) as {
    nodeId: number;
  };
  assert.ok(nodeId, `the page has ${selector}`);
  await page.send("DOM.setFileInputFiles", { nodeId, files });
}

/** Resolves (with its script's URL) once a service worker is active and controls the page. */
const CONTROLLED = `navigator.serviceWorker.ready.then(() => navigator.serviceWorker.controller ??
  new Promise((ok) => navigator.serviceWorker.addEventListener("controllerchange", ok, { once: true })))
  .then(() => navigator.serviceWorker.controller.scriptURL)`;

/**
 * The wasm session: the shipped model and samples; then a model folder and images picked in the page's file
 * inputs (DevTools' `DOM.setFileInputFiles`, what a file chooser or a drop hands the page), checked against
 * hans in Deno on the same files; then, with the page's service worker in control, its server stopped and
 * the page reloaded: it must start from the worker's cache and explain the samples as before.
 */
async function wasmSession(
  t: Deno.TestContext,
  profile: string,
  dist: URL,
  dir: string,
  shipped: Explained,
): Promise<void> {
  const dropped = await writeDropped(`${dir}/dropped`);
  const droppedDeno = await denoExplained(
    dropped.model,
    dropped.images.map((f) => new URL(`file://${f}`)),
    [DROPPED.height, DROPPED.width, DROPPED.channels],
  );
  let url = "";
  const server = serve(0, (u) => url = u, dist);
  let serving = true;
  try {
    const { errors } = await inPage(
      profile,
      ["--disable-gpu"],
      `${url}?backend=wasm&engine=active`,
      async (page) => {
        await t.step("the shipped model and the samples", async () => {
          checkRun(await page.evaluate<Ran>(RUN(COUNT)), shipped, "wasm", "wasm");
        });
        await t.step("a picked model folder (two weight shards, labels.txt) and picked images", async () => {
          const [h, w, c] = [DROPPED.height, DROPPED.width, DROPPED.channels];
          await chooseFiles(page, "#model-files", [dropped.model]);
          const status = await page.evaluate<string>(
            STATUS("model-status", new RegExp(`${h}×${w}×${c} input`)),
          );
          assert.match(status, new RegExp(`: ${h}×${w}×${c} input, ${DROPPED.classes} classes`));
          // the samples already there are fitted to the new model's input, then the picked images replace them
          await page.evaluate(
            STATUS("image-status", new RegExp(`^8 image\\(s\\), fitted to ${h}×${w}×${c}$`)),
          );
          await chooseFiles(page, "#image-files", dropped.images);
          await page.evaluate(
            STATUS("image-status", new RegExp(`^2 image\\(s\\), fitted to ${h}×${w}×${c}$`)),
          );
          const shown = await page.evaluate<{ shape: number[]; classes: number; options: string[] }>(
            `({ shape: hansPage.state.loaded.inputShape, classes: hansPage.state.loaded.classes,
            options: [...document.querySelectorAll("#p option")].map((o) => o.textContent) })`,
          );
          assert.deepEqual(shown.shape, [h, w, c], "the page's model takes the picked model's input");
          assert.equal(shown.classes, DROPPED.classes);
          assert.deepEqual(
            shown.options,
            ["the predicted class", ...DROPPED_LABELS],
            "labels.txt names the classes",
          );
          const ran = await page.evaluate<Ran>(RUN(2));
          compare(ran.explained, droppedDeno, "the picked model");
          const rows = await page.evaluate<string[][]>(
            `[...document.querySelectorAll("#predictions tr")].slice(1).map((tr) => [...tr.cells].map((c) => c.textContent))`,
          );
          assert.deepEqual(
            rows.map((r) => [r[0], r[3], r[4]]),
            dropped.images.map((f, i) => [
              f.split("/").pop(),
              DROPPED_LABELS[droppedDeno.p[i]],
              DROPPED_LABELS[droppedDeno.q[i]],
            ]),
            "the predictions table names the images and their P and Q by labels.txt",
          );
        });
        await t.step(
          "offline after one visit: server stopped, page reloaded from the service worker",
          async () => {
            const worker = await page.evaluate<string>(CONTROLLED);
            assert.equal(worker, `${url}sw.js`);
            await server.shutdown();
            serving = false;
            await assert.rejects(fetch(url), "the server is stopped");
            await page.reload();
            assert.ok(
              await page.evaluate<boolean>(`typeof hansPage === "object"`),
              "the page's script and bundle load offline (from the service worker's cache)",
            );
            const ran = await page.evaluate<Ran>(RUN(COUNT));
            checkRun(ran, shipped, "wasm", "offline");
            const status = await page.evaluate<string>(`document.getElementById("model-status").textContent`);
            assert.match(status, /^model\/model\.json: 28×28×1 input, 10 classes/);
          },
        );
      },
    );
    assert.deepEqual(errors, [], "no console errors");
  } finally {
    if (serving) await server.shutdown();
  }
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
    const dist = await bundle(dir);
    const server = serve(0, (url) => base = url, dist);
    try {
      const deno = await denoExplained(shippedModel().source, await sampleFiles(COUNT), [28, 28, 1]);
      const adapter = await webgpuAdapter(`${dir}/profile-probe`, `${base}samples/samples.json`);
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
            (page) => page.evaluate(KERNELS),
          );
          assert.equal(value.kernels, "hans");
          assert.ok(value.finite, "the kernels' results are finite");
          assert.equal(value.errors, 0, "WebGPU reported no error (a shader that does not compile is one)");
          assert.deepEqual(errors, [], "no console errors");
        },
      });
      await t.step(
        "wasm: shipped model, a picked model folder and images, offline reload",
        (t) => wasmSession(t, `${dir}/profile-wasm`, dist, dir, deno),
      );
      await t.step({
        name: adapter
          ? `webgpu on ${adapter}`
          : "webgpu (ignored: Chromium offers no WebGPU adapter headless here)",
        ignore: !adapter,
        async fn() {
          const { value, errors } = await inPage<Ran>(
            `${dir}/profile-webgpu`,
            WEBGPU_FLAGS,
            `${base}?backend=webgpu&engine=active&offline=no`,
            (page) => page.evaluate(RUN(COUNT)),
          );
          checkRun(value, deno, "webgpu", "webgpu");
          assert.deepEqual(errors, [], "no console errors");
        },
      });
    } finally {
      await server.shutdown();
      await removeTree(dir);
    }
  },
});
