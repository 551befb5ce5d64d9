/**
 * Warm timings of the web page per backend (run by hand; docs/browser.md): headless Chromium opens the page
 * served by web/serve.ts from `dist/` (`deno task bundle` first), explains the 8 sample images with gradient,
 * Grad-CAM and Integrated Gradients for the predicted class (no contrast) three times, and prints the last
 * two runs' times per method as JSON, with hans's engine choice (`auto`: gradient work on wasm where a probe
 * measures it faster) and with all work on the backend (`active`); then a screenshot of the page after a run with the contrast goes to
 * results/browser/page.png.
 *
 * ```sh
 * deno task bundle && deno run -A tests/web/page_timings.ts
 * ```
 * @module
 */
import { Cdp, removeTree, startChromium, stopChromium } from "./chromium.ts";
import { serve } from "../../web/serve.ts";

const CASES: [backend: string, flags: string[]][] = [
  ["wasm", ["--disable-gpu"]],
  ["webgl", ["--use-angle=swiftshader", "--enable-unsafe-swiftshader"]],
  ["webgpu", ["--enable-unsafe-webgpu"]],
];
const RUNS = `hansPage.ready.then(async (info) => {
  const methods = ["gradient", "grad_cam", "integrated_gradients"];
  const times = [];
  for (let i = 0; i < 3; i++) times.push((await hansPage.run({ methods, q: "none" })).timings);
  const engines = (await hansPage.run({ methods: ["gradient"], q: "none" })).engines;
  return { info, engines, warm: times.slice(1) };
})`;

async function session(
  base: string,
  dir: string,
  backend: string,
  flags: string[],
  shot?: string,
  engine = "auto",
) {
  const browser = await startChromium(`${dir}/profile-${backend}`, flags);
  const cdp = await Cdp.connect(browser.url);
  try {
    const { targetId } = await cdp.send("Target.createTarget", { url: "about:blank" });
    const { sessionId } = await cdp.send("Target.attachToTarget", { targetId, flatten: true }) as {
      sessionId: string;
    };
    await cdp.send("Page.enable", {}, sessionId);
    await cdp.send("Emulation.setDeviceMetricsOverride", {
      width: 1200,
      height: 1000,
      deviceScaleFactor: 1,
      mobile: false,
    }, sessionId);
    const loaded = cdp.waitFor((m) => m.method === "Page.loadEventFired" && m.sessionId === sessionId);
    const url = `${base}?backend=${backend}&engine=${engine}&offline=no`;
    await cdp.send("Page.navigate", { url }, sessionId);
    await loaded;
    const expression = shot
      ? `hansPage.ready.then(() => hansPage.run({ methods: ["gradient", "grad_cam", "integrated_gradients"] }))
          .then(() => "")`
      : RUNS;
    const { result } = await cdp.send("Runtime.evaluate", {
      expression,
      awaitPromise: true,
      returnByValue: true,
    }, sessionId) as {
      result: { value: unknown };
    };
    if (shot) {
      const { data } = await cdp.send("Page.captureScreenshot", {
        format: "png",
        captureBeyondViewport: true,
      }, sessionId) as {
        data: string;
      };
      await Deno.writeFile(shot, Uint8Array.from(atob(data), (c) => c.charCodeAt(0)));
    }
    return result.value;
  } finally {
    await stopChromium(browser, cdp);
  }
}

const dir = await Deno.makeTempDir({ prefix: "hans-timings-" });
let base = "";
const server = serve(0, (url) => base = url);
try {
  for (const engine of ["auto", "active"]) {
    for (const [backend, flags] of CASES) {
      const timed = await session(base, dir, backend, flags, undefined, engine) as object;
      console.log(JSON.stringify({ backend, engine, ...timed }));
    }
  }
  await Deno.mkdir("results/browser", { recursive: true });
  await session(base, dir, "wasm", ["--disable-gpu"], "results/browser/page.png");
} finally {
  await server.shutdown();
  await removeTree(dir);
}
