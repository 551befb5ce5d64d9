/**
 * report.html in a real browser: a small clever-hans run's report is opened in headless Chromium, driven
 * over the DevTools protocol (Deno's WebSocket, no npm packages). No console errors or exceptions, every
 * `<img>` decodes, and a full-page screenshot goes to results/test-browser/report.png. Skipped (ignored)
 * where /usr/bin/chromium is missing; `.ci/run` installs it with apt.
 */
import assert from "node:assert/strict";
import { pathToFileURL } from "node:url";
import { cli, SMALL_RUN } from "./cli.ts";
import { Cdp, CHROMIUM, hasChromium, pageErrors, removeTree, startChromium } from "../web/chromium.ts";

const SCREENSHOT_DIR = new URL("../../results/test-browser/", import.meta.url);
/** Time limit of the whole browser session (start, load, checks, screenshot). */
const BROWSER_TIMEOUT_MS = 90_000;

Deno.test({
  name: hasChromium()
    ? "report.html opens in headless Chromium without errors and every image decodes"
    : `report.html in a browser (ignored: ${CHROMIUM} not found; apt-get install chromium)`,
  ignore: !hasChromium(),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "hans-browser-" });
    let browser: Awaited<ReturnType<typeof startChromium>> | undefined;
    let cdp: Cdp | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      // Two methods, so that the explorer has a choice to switch (the last --methods wins).
      const run = await cli(
        [
          "clever-hans",
          ...SMALL_RUN,
          "--methods=gradient,gradient_input",
          "--shortcut=0=square",
          "--out",
          `${dir}/run`,
        ],
      );
      assert.equal(run.code, 0, run.stderr);
      const report = pathToFileURL(`${dir}/run/report.html`).href;

      const session = async () => {
        browser = await startChromium(`${dir}/profile`);
        cdp = await Cdp.connect(browser.url);
        const { targetId } = await cdp.send("Target.createTarget", { url: "about:blank" });
        const { sessionId } = await cdp.send("Target.attachToTarget", { targetId, flatten: true }) as {
          sessionId: string;
        };
        for (const domain of ["Page", "Runtime", "Log"]) await cdp.send(`${domain}.enable`, {}, sessionId);
        await cdp.send("Emulation.setDeviceMetricsOverride", {
          width: 1100,
          height: 900,
          deviceScaleFactor: 1,
          mobile: false,
        }, sessionId);
        const loaded = cdp.waitFor((m) => m.method === "Page.loadEventFired" && m.sessionId === sessionId);
        const nav = await cdp.send("Page.navigate", { url: report }, sessionId);
        assert.equal(nav.errorText, undefined, `navigation failed: ${nav.errorText}`);
        await loaded;
        const { result } = await cdp.send("Runtime.evaluate", {
          // Every <img>, and every image embedded in an inline SVG figure, loaded into an Image and decoded.
          expression:
            `Promise.all([...document.images, ...[...document.querySelectorAll("svg image")].map((el) => {
              const img = new Image();
              img.src = el.getAttribute("href");
              return img;
            })].map((img) =>
            img.decode().then(() => [img.naturalWidth, img.naturalHeight, ""], (e) => [0, 0, String(e)])))`,
          awaitPromise: true,
          returnByValue: true,
        }, sessionId) as { result: { value: [number, number, string][] } };
        const images = result.value;
        const { result: layout } = await cdp.send("Runtime.evaluate", {
          expression: `(() => {
            const main = document.querySelector("main");
            const answer = document.querySelector("section.answer");
            const img = answer ? answer.querySelector("img") : null;
            // The explorer: choosing the second method shows its map and hides the first (CSS only).
            const explorer = document.querySelector(".explorer");
            const shown = (k) => getComputedStyle(explorer.querySelector(".beside .m" + k)).display;
            const before = [shown(0), shown(1)];
            explorer.querySelectorAll("input")[1].click();
            const after = [shown(0), shown(1)];
            return [main.children[1] ? main.children[1].className : "",
              img ? img.getBoundingClientRect().top : -1,
              [...document.querySelectorAll("table.images th")].map((t) => t.textContent.trim()),
              [...before, ...after].join(","),
              [...document.querySelectorAll("figure svg text")].map((t) => t.textContent)];
          })()`,
          returnByValue: true,
        }, sessionId) as { result: { value: [string, number, string[], string, string[]] } };
        const { cssContentSize } = await cdp.send("Page.getLayoutMetrics", {}, sessionId) as {
          cssContentSize: { width: number; height: number };
        };
        const shot = await cdp.send("Page.captureScreenshot", {
          format: "png",
          captureBeyondViewport: true,
          clip: {
            x: 0,
            y: 0,
            width: Math.ceil(cssContentSize.width),
            height: Math.min(Math.ceil(cssContentSize.height), 16000),
            scale: 1,
          },
        }, sessionId) as { data: string };
        // let late console messages arrive
        await new Promise((resolve) => setTimeout(resolve, 200));
        return {
          images,
          layout: layout.value,
          png: Uint8Array.from(atob(shot.data), (c) => c.charCodeAt(0)),
        };
      };
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`browser session over ${BROWSER_TIMEOUT_MS} ms`)),
          BROWSER_TIMEOUT_MS,
        );
      });
      const { images, layout, png } = await Promise.race([session(), timeout]);
      const [firstSection, pictureTop, rowLabels, switching, figureWords] = layout;
      assert.equal(switching, "block,none,none,block", "the explorer's radio buttons switch the map shown");
      assert.equal(firstSection, "answer", "the answer is the first thing under the title");
      assert.ok(pictureTop >= 0 && pictureTop < 900, `the answer's first picture starts at ${pictureTop}px`);
      assert.ok(
        rowLabels.length > 0 && rowLabels.every((l) => /class \d+/.test(l)),
        `row labels are text: ${rowLabels}`,
      );

      for (const w of ["clean", "stamped", "mask", "Gradient"]) {
        assert.ok(
          figureWords.includes(w),
          `the figures' words are SVG text: "${w}" in ${figureWords.slice(0, 20)}`,
        );
      }

      assert.deepEqual(pageErrors(cdp!.events), [], "no console errors");
      const html = await Deno.readTextFile(`${dir}/run/report.html`);
      assert.equal(
        images.length,
        (html.match(/<img\b/g) ?? []).length + (html.match(/<image\b/g) ?? []).length,
        "every <img> and every SVG <image> was checked",
      );
      assert.ok(images.length > 0, "the report has images");
      images.forEach(([width, height, error], i) => {
        assert.ok(width > 0 && height > 0, `image ${i} does not decode: ${error || `${width}x${height}`}`);
      });
      assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47], "the screenshot is a PNG");
      await Deno.mkdir(SCREENSHOT_DIR, { recursive: true });
      await Deno.writeFile(new URL("report.png", SCREENSHOT_DIR), png);
    } finally {
      clearTimeout(timer);
      if (cdp) {
        await Promise.race([
          cdp.send("Browser.close").catch(() => {}),
          new Promise((r) => setTimeout(r, 3000)),
        ]);
        cdp.close();
      }
      if (browser) {
        try {
          browser.child.kill("SIGKILL");
        } catch {
          // exited after Browser.close
        }
        await browser.child.status;
      }
      await removeTree(dir);
    }
  },
});
