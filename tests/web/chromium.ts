/**
 * Headless Chromium for the browser tests, driven over the DevTools protocol (Deno's WebSocket, no npm
 * packages): start it with a DevTools port, send commands, collect events and the page's errors.
 * @module
 */

/** Where Debian's chromium package puts the browser (`.ci/run` installs it). */
export const CHROMIUM = "/usr/bin/chromium";

/** Whether {@link CHROMIUM} is installed. */
export function hasChromium(): boolean {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
}

/** One message of the DevTools protocol: a reply (with `id`) or an event (with `method`). */
export interface CdpMessage {
  id?: number;
  method?: string;
  params?: Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: { message: string };
  sessionId?: string;
}

/** A minimal DevTools protocol client: commands with replies, and every event kept in `events`. */
export class Cdp {
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
export function pageErrors(events: CdpMessage[]): string[] {
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

/** A started Chromium: its process, its DevTools WebSocket URL, and what it printed so far. */
export interface Chromium {
  child: Deno.ChildProcess;
  url: string;
  log: () => string;
}

/**
 * Starts headless Chromium with a DevTools port and returns the browser's WebSocket URL. `flags` replace the
 * default `--disable-gpu` (say, to let WebGPU start).
 */
export async function startChromium(profile: string, flags: string[] = ["--disable-gpu"]): Promise<Chromium> {
  const child = new Deno.Command(CHROMIUM, {
    args: [
      "--headless",
      "--no-sandbox",
      ...flags,
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

/**
 * Removes `dir`, retrying for up to 10 s while it is not empty: Chromium's helper processes (zygote,
 * crash handler) can still write into the profile for a moment after the browser process has exited.
 */
export async function removeTree(dir: string): Promise<void> {
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

/** Kills a started Chromium (after `Browser.close`, when a DevTools connection is open) and waits for it. */
export async function stopChromium(browser: Chromium | undefined, cdp: Cdp | undefined): Promise<void> {
  if (cdp) {
    await Promise.race([cdp.send("Browser.close").catch(() => {}), new Promise((r) => setTimeout(r, 3000))]);
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
}
