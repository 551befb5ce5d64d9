/**
 * report.html in a real browser: a small clever-hans run's report is opened in headless Chromium, driven
 * over the DevTools protocol (Deno's WebSocket, no npm packages). No console errors or exceptions, every
 * `<img>` decodes, and a full-page screenshot goes to results/test-browser/report.png. Skipped (ignored)
 * where /usr/bin/chromium is missing; `.ci/run` installs it with apt.
 */
import assert from "node:assert/strict";
import { pathToFileURL } from "node:url";
import { cli, SMALL_RUN } from "./cli.ts";

const CHROMIUM = "/usr/bin/chromium";
const SCREENSHOT_DIR = new URL("../../results/test-browser/", import.meta.url);
/** Time limit of the whole browser session (start, load, checks, screenshot). */
const BROWSER_TIMEOUT_MS = 90_000;

function hasChromium(): boolean {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
}

/** One message of the DevTools protocol: a reply (with `id`) or an event (with `method`). */
interface CdpMessage {
  id?: number;
  method?: string;
  params?: Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: { message: string };
  sessionId?: string;
}

/** A minimal DevTools protocol client: commands with replies, and every event kept in `events`. */
class Cdp {
  readonly events: CdpMessage[] = [];
  #socket: WebSocket;
  #next = 1;
  #pending = new Map<number, { resolve: (m: CdpMessage) => void; reject: (e: Error) => void }>();
  #waiters: { match: (m: CdpMessage) => boolean; resolve: () => void }[] = [];

  private constructor(socket: WebSocket) {
    this.#socket = socket;
    socket.onmessage = (event) => {
      const message = JSON.parse(event.data as string) as CdpMessage;
      if (message.id !== undefined) {
        const pending = this.#pending.get(message.id);
        this.#pending.delete(message.id);
        if (message.error) pending?.reject(new Error(`DevTools: ${message.error.message}`));
        else pending?.resolve(message);
        return;
      }
      this.events.push(message);
      this.#waiters = this.#waiters.filter((w) => (w.match(message) ? (w.resolve(), false) : true));
    };
    socket.onclose = () => {
      for (const p of this.#pending.values()) p.reject(new Error("DevTools connection closed"));
      this.#pending.clear();
    };
  }

  static connect(url: string): Promise<Cdp> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url);
      socket.onopen = () => resolve(new Cdp(socket));
      socket.onerror = () => reject(new Error(`cannot connect to ${url}`));
    });
  }

  send(
    method: string,
    params: Record<string, unknown> = {},
    sessionId?: string,
  ): Promise<Record<string, unknown>> {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve: (m) => resolve(m.result ?? {}), reject });
      this.#socket.send(JSON.stringify({ id, method, params, sessionId }));
    });
  }

  /** Resolves at the first event (from now on) that `match` accepts. */
  waitFor(match: (m: CdpMessage) => boolean): Promise<void> {
    return new Promise((resolve) => this.#waiters.push({ match, resolve }));
  }

  close(): void {
    this.#socket.close();
  }
}

/** The problems the page reported: console errors, uncaught exceptions, error log entries. */
function pageErrors(events: CdpMessage[]): string[] {
  const out: string[] = [];
  for (const e of events) {
    const p = e.params ?? {};
    if (e.method === "Runtime.consoleAPICalled" && (p.type === "error" || p.type === "assert")) {
      out.push(`console.${p.type}: ${JSON.stringify(p.args)}`);
    } else if (e.method === "Runtime.exceptionThrown") {
      out.push(`exception: ${JSON.stringify(p.exceptionDetails)}`);
    } else if (e.method === "Log.entryAdded") {
      const entry = p.entry as { level: string; source: string; text: string; url?: string };
      if (entry.level === "error") out.push(`${entry.source}: ${entry.text} ${entry.url ?? ""}`);
    }
  }
  return out;
}

/** Starts headless Chromium with a DevTools port and returns the browser's WebSocket URL. */
async function startChromium(
  profile: string,
): Promise<{ child: Deno.ChildProcess; url: string; log: () => string }> {
  const child = new Deno.Command(CHROMIUM, {
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-breakpad",
      "--disable-crash-reporter",
      `--user-data-dir=${profile}`,
      "--remote-debugging-address=127.0.0.1",
      "--remote-debugging-port=0",
      "about:blank",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let stderr = "";
  const url = await new Promise<string>((resolve, reject) => {
    (async () => {
      const decoder = new TextDecoder();
      let found = false;
      for await (const chunk of child.stderr) {
        stderr += decoder.decode(chunk, { stream: true });
        const match = /DevTools listening on (ws:\/\/\S+)/.exec(stderr);
        if (match && !found) {
          found = true;
          resolve(match[1]);
        }
      }
      if (!found) reject(new Error(`Chromium exited without a DevTools port:\n${stderr}`));
    })().catch(reject);
  });
  return { child, url, log: () => stderr };
}

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

/**
 * Removes `dir`, retrying for up to 10 s while it is not empty: Chromium's helper processes (zygote,
 * crash handler) can still write into the profile for a moment after the browser process has exited.
 */
async function removeTree(dir: string): Promise<void> {
  for (let attempt = 0;; attempt++) {
    try {
      await Deno.remove(dir, { recursive: true });
      return;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return;
      if (attempt >= 40) throw error;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}
