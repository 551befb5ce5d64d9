import assert from "node:assert/strict";
import {
  displayUrl,
  downloadDeadline,
  fetchBytes,
  insideFolder,
  isHttpUrl,
  MAX_REDIRECTS,
  redactUrls,
} from "../../src/data/fetch.ts";
import { collect } from "../../src/data/read.ts";
import { HansError } from "../../src/errors.ts";

/** Runs `fn` with `HANS_MAX_READ_MB` set to `mb`, then puts the variable back. */
async function withReadLimit<T>(mb: string, fn: () => Promise<T>): Promise<T> {
  const before = Deno.env.get("HANS_MAX_READ_MB");
  Deno.env.set("HANS_MAX_READ_MB", mb);
  try {
    return await fn();
  } finally {
    if (before === undefined) Deno.env.delete("HANS_MAX_READ_MB");
    else Deno.env.set("HANS_MAX_READ_MB", before);
  }
}

/** A loopback server; `handler` sees each request. */
function serve(handler: (request: Request) => Response | Promise<Response>) {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler);
  return { base: `http://127.0.0.1:${server.addr.port}`, close: () => server.shutdown() };
}

async function rejectsWith(promise: Promise<unknown>, pattern: RegExp, not?: RegExp): Promise<string> {
  let message = "";
  await assert.rejects(promise, (e: Error) => {
    assert.ok(e instanceof HansError, `not a HansError: ${e}`);
    assert.match(e.message, pattern);
    assert.ok(!e.message.includes("\n"), `one line: ${e.message}`);
    if (not) assert.doesNotMatch(e.message, not);
    message = e.message;
    return true;
  });
  return message;
}

/** `count` bytes: 0, 1, …, 250, 0, 1, … */
function pattern(count: number): Uint8Array {
  return Uint8Array.from({ length: count }, (_, i) => i % 251);
}

/** Asserts that `actual` holds exactly the bytes of `expected` (without node's slow diff of large arrays). */
function assertBytes(actual: Uint8Array, expected: Uint8Array, what = "bytes"): void {
  let first = actual.length === expected.length ? -1 : Math.min(actual.length, expected.length);
  for (let i = 0; i < Math.min(actual.length, expected.length) && first < 0; i++) {
    if (actual[i] !== expected[i]) first = i;
  }
  assert.ok(
    first < 0,
    `${what}: ${actual.length} bytes against ${expected.length}, first difference at ${first}`,
  );
}

async function gzip(bytes: Uint8Array, format: CompressionFormat = "gzip"): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
    new CompressionStream(format),
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

Deno.test("isHttpUrl tells URLs from paths", () => {
  assert.ok(isHttpUrl("https://example.org/a.bin"));
  assert.ok(isHttpUrl("HTTP://example.org/a.bin"));
  assert.ok(!isHttpUrl("data/http.bin"));
  assert.ok(!isHttpUrl("C:\\data\\a.bin"));
});

Deno.test("displayUrl takes the user name and password out of a URL and leaves the rest as written", () => {
  assert.equal(displayUrl("https://user:pass@example.org/m/model.json"), "https://example.org/m/model.json");
  assert.equal(displayUrl("http://user@127.0.0.1:8080/m/"), "http://127.0.0.1:8080/m/");
  assert.equal(displayUrl("https://a:p%40ss@example.org/m/x"), "https://example.org/m/x");
  assert.equal(displayUrl(new URL("https://u:p@example.org/m/")), "https://example.org/m/");
  // unchanged: no credentials, an "@" in the path, paths, a URL written in capitals
  assert.equal(displayUrl("HTTPS://Example.org/m/model.json"), "HTTPS://Example.org/m/model.json");
  assert.equal(displayUrl("https://example.org/m@2x/model.json"), "https://example.org/m@2x/model.json");
  assert.equal(displayUrl("models/u:p@x/model.json"), "models/u:p@x/model.json");
  // a URL the parser refuses still loses everything before the last "@" of it
  assert.equal(displayUrl("http://u:pa/ss@host:99999/m"), "http://host:99999/m");
});

Deno.test("redactUrls takes the user name and password out of every URL in a text", () => {
  assert.equal(
    redactUrls("cifar10:https://me:secret@example.org/c.bin"),
    "cifar10:https://example.org/c.bin",
  );
  assert.equal(
    redactUrls("error sending request for url (http://a:b@h/x): refused; see http://c@h/y"),
    "error sending request for url (http://h/x): refused; see http://h/y",
  );
  assert.equal(redactUrls("folder:images/a@b"), "folder:images/a@b");
});

Deno.test("insideFolder: same origin, under the folder's path, no query, no encoded slash", () => {
  const folder = new URL("http://h.example/m/");
  assert.ok(insideFolder(new URL("http://h.example/m/w.bin"), folder));
  assert.ok(insideFolder(new URL("http://u:p@h.example/m/v2/w.bin"), folder));
  assert.ok(!insideFolder(new URL("http://h.example/other/w.bin"), folder));
  assert.ok(!insideFolder(new URL("http://h.example/m/w.bin?sig=1"), folder));
  assert.ok(!insideFolder(new URL("http://h.example/m/..%2fw.bin"), folder));
  assert.ok(!insideFolder(new URL("https://h.example/m/w.bin"), folder));
  assert.ok(!insideFolder(new URL("http://h.example:81/m/w.bin"), folder));
});

Deno.test("collect copies each chunk as it comes, so a source may reuse its buffer", async () => {
  // One 8 KiB buffer, refilled for every chunk: a collector that kept the chunks would see only the last.
  const shared = new Uint8Array(8192);
  let sent = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent === 40) return controller.close();
      shared.fill(sent++);
      controller.enqueue(shared);
    },
  }, { highWaterMark: 0 });
  const bytes = await collect(stream, "reused");
  assert.equal(bytes.length, 40 * 8192);
  for (let k = 0; k < 40; k++) assert.equal(bytes[k * 8192 + 100], k, `chunk ${k}`);
});

Deno.test("collect: an expected size is allocated once; without one the buffer doubles, capped at the limit", async () => {
  const chunks = (total: number, size: number) => {
    let offset = 0;
    const data = pattern(total);
    return new ReadableStream<Uint8Array>({
      pull(controller) {
        if (offset >= total) return controller.close();
        // each chunk a small view of a large buffer, as Deno's streams give them
        const big = new Uint8Array(65536);
        const piece = data.subarray(offset, offset + size);
        big.set(piece);
        controller.enqueue(big.subarray(0, piece.length));
        offset += size;
      },
    });
  };
  await withReadLimit("0.75", async () => {
    const exact = await collect(chunks(300_000, 4096), "sized", 300_000);
    assert.equal(exact.length, 300_000);
    assert.equal(exact.buffer.byteLength, 300_000, "one allocation of the expected size");
    assertBytes(exact, pattern(300_000));
    // No size: 64 KiB, 128 KiB, … 512 KiB, then the limit (768 KiB) rather than 1 MiB.
    const grown = await collect(chunks(700_000, 4096), "unsized");
    assertBytes(grown, pattern(700_000));
    assert.equal(grown.buffer.byteLength, 0.75 * 2 ** 20);
    const small = await collect(chunks(100_000, 4096), "unsized");
    assert.equal(small.buffer.byteLength, 131072);
    // A wrong expected size only costs a copy.
    assertBytes(await collect(chunks(200_000, 4096), "too small", 1000), pattern(200_000));
    assertBytes(await collect(chunks(1000, 4096), "too large", 200_000), pattern(1000));
    await rejectsWith(
      collect(chunks(800_000, 4096), "endless"),
      /^endless holds more than 768 KB|^endless holds more than 0\.75 MB/,
    );
  });
});

Deno.test("fetchBytes stops at the time limit with a HansError", async () => {
  const { promise: release, resolve } = Promise.withResolvers<void>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async () => {
    await release;
    return new Response("late");
  });
  try {
    const url = `http://127.0.0.1:${server.addr.port}/slow.bin`;
    await assert.rejects(fetchBytes(url, { timeoutMs: 100 }), (e: Error) => {
      assert.ok(e instanceof HansError);
      assert.match(e.message, /slow\.bin: the download did not finish within 0\.1 s/);
      return true;
    });
  } finally {
    resolve();
    await server.shutdown();
  }
});

Deno.test("fetchBytes returns the body of a 200 answer and names 500 answers", async () => {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    if (request.url.endsWith("/ok")) return new Response(new Uint8Array([1, 2, 3]));
    return new Response("broken", { status: 500 });
  });
  try {
    const base = `http://127.0.0.1:${server.addr.port}`;
    assert.deepEqual([...await fetchBytes(`${base}/ok`)], [1, 2, 3]);
    await assert.rejects(fetchBytes(`${base}/fail`), /fail: the server answered 500/);
  } finally {
    await server.shutdown();
  }
});

Deno.test("downloads sharing a deadline stop together, and the message says the limit is shared", async () => {
  const server = serve(async () => {
    await new Promise((resolve) => setTimeout(resolve, 80));
    return new Response(new Uint8Array(16));
  });
  try {
    // Each file alone takes 80 ms, well within 300 ms; eight of them in a row do not.
    const deadline = downloadDeadline(300, "the whole group", "try again");
    let done = 0;
    const all = (async () => {
      for (let i = 0; i < 8; i++) {
        await fetchBytes(`${server.base}/part${i}.bin`, { deadline });
        done++;
      }
    })();
    await rejectsWith(
      all,
      /part\d\.bin: the download did not finish within 0\.3 s, the time limit of the whole group; try again\.$/,
    );
    assert.ok(done >= 1 && done < 8, `${done} files finished before the deadline`);
  } finally {
    await server.close();
  }
});

Deno.test("fetchBytes asks for identity encoding and decodes a server's gzip or deflate itself", async () => {
  const payload = pattern(300_000);
  const encodings: (string | null)[] = [];
  const gz = await gzip(payload);
  const deflated = await gzip(payload, "deflate");
  const server = serve((request) => {
    encodings.push(request.headers.get("accept-encoding"));
    const path = new URL(request.url).pathname;
    if (path === "/plain") return new Response(payload as Uint8Array<ArrayBuffer>);
    if (path === "/gzip") {
      return new Response(gz as Uint8Array<ArrayBuffer>, { headers: { "content-encoding": "gzip" } });
    }
    if (path === "/deflate") {
      return new Response(deflated as Uint8Array<ArrayBuffer>, {
        headers: { "content-encoding": "deflate" },
      });
    }
    if (path === "/broken") {
      return new Response(gz.slice(0, 1000), { headers: { "content-encoding": "gzip" } });
    }
    return new Response("??", { headers: { "content-encoding": "br" } });
  });
  try {
    assertBytes(await fetchBytes(`${server.base}/plain`), payload);
    assertBytes(await fetchBytes(`${server.base}/gzip`), payload);
    assertBytes(await fetchBytes(`${server.base}/deflate`), payload);
    assert.deepEqual(encodings, ["identity", "identity", "identity"]);
    await rejectsWith(
      fetchBytes(`${server.base}/broken`),
      /broken: the server's gzip data is broken or cut short/,
    );
    await rejectsWith(
      fetchBytes(`${server.base}/br`),
      /br: the server sent it encoded as "br", which hans does/,
    );
  } finally {
    await server.close();
  }
});

Deno.test("a gzip bomb sent with Content-Encoding stops at the read limit, counted after decompression", async () => {
  const bomb = await gzip(new Uint8Array(64 * 2 ** 20)); // 64 MB of zeros in about 64 KB
  const server = serve(() =>
    new Response(bomb as Uint8Array<ArrayBuffer>, { headers: { "content-encoding": "gzip" } })
  );
  try {
    await withReadLimit("4", () =>
      rejectsWith(
        fetchBytes(`${server.base}/bomb.bin`),
        /bomb\.bin \(decompressed\) holds more than 4\.0 MB; hans reads at most 4\.0 MB .*HANS_MAX_READ_MB/,
      ));
  } finally {
    await server.close();
  }
});

Deno.test("redirects: followed within the folder, refused outside it, beyond five, or to another scheme", async () => {
  const payload = pattern(5000);
  const hits: string[] = [];
  const server = serve((request) => {
    const path = new URL(request.url).pathname;
    hits.push(path);
    const to = (location: string, status = 302) => new Response(null, { status, headers: { location } });
    if (path === "/m/w.bin") return to("/m/cdn/w.bin");
    if (path === "/m/cdn/w.bin") return new Response(payload as Uint8Array<ArrayBuffer>);
    if (path === "/m/out.bin") return to("/other/w.bin", 307);
    if (path === "/m/host.bin") return to("http://localhost:1/m/w.bin");
    if (path === "/m/query.bin") return to("/m/cdn/w.bin?sig=abc");
    if (path === "/m/file.bin") return to("file:///etc/passwd");
    if (path === "/m/nowhere.bin") return new Response(null, { status: 302 });
    const chain = /^\/m\/chain(\d+)\.bin$/.exec(path);
    if (chain && chain[1] !== "0") return to(`/m/chain${Number(chain[1]) - 1}.bin`, 301);
    return new Response("not here", { status: 404 });
  });
  const within = { folder: new URL(`${server.base}/m/`), name: "the model's folder" };
  try {
    assertBytes(await fetchBytes(`${server.base}/m/w.bin`, { within }), payload);
    assert.deepEqual(hits, ["/m/w.bin", "/m/cdn/w.bin"], "the redirect's target was fetched");
    await rejectsWith(
      fetchBytes(`${server.base}/m/out.bin`, { within }),
      new RegExp(
        `/m/out\\.bin cannot be reached within the model's folder: the server redirects it to ` +
          `${server.base}/other/w\\.bin, outside ${server.base}/m/; hans follows redirects only within`,
      ),
    );
    assert.ok(!hits.includes("/other/w.bin"), "the target outside the folder was not fetched");
    await rejectsWith(
      fetchBytes(`${server.base}/m/host.bin`, { within }),
      /redirects it to http:\/\/localhost:1\/m\/w\.bin, outside/,
    );
    await rejectsWith(
      fetchBytes(`${server.base}/m/query.bin`, { within }),
      /redirects it to .*\?sig=abc, outside/,
    );
    await rejectsWith(
      fetchBytes(`${server.base}/m/file.bin`),
      /file\.bin redirects to file:\/\/\/etc\/passwd; hans follows redirects to http\(s\) URLs only/,
    );
    await rejectsWith(fetchBytes(`${server.base}/m/nowhere.bin`), /answered 302 .*named no new location/);
    await rejectsWith(
      fetchBytes(`${server.base}/m/w.bin`, { redirect: "error" }),
      /redirects to .*cdn\/w\.bin/,
    );
    // Five redirects are followed (chain5 → … → chain0, which answers 404), six are not.
    hits.length = 0;
    await rejectsWith(fetchBytes(`${server.base}/m/chain5.bin`), /chain5\.bin: the server answered 404/);
    assert.equal(hits.length, 6, hits.join(" "));
    assert.equal(MAX_REDIRECTS, 5);
    hits.length = 0;
    await rejectsWith(
      fetchBytes(`${server.base}/m/chain6.bin`),
      /chain6\.bin redirects more than 5 times \(the last to .*chain0\.bin\); check the URL/,
    );
    assert.equal(hits.length, 6, "the sixth redirect's target was not fetched");
  } finally {
    await server.close();
  }
});

Deno.test("a password in a URL is sent to the server but never shown in a message", async () => {
  const seen: (string | null)[] = [];
  const server = serve((request) => {
    seen.push(request.headers.get("authorization"));
    const path = new URL(request.url).pathname;
    if (path === "/m/ok") return new Response(new Uint8Array([7]));
    if (path === "/m/slow") {
      return new Promise<Response>((resolve) => setTimeout(() => resolve(new Response("late")), 300));
    }
    if (path === "/m/away") return new Response(null, { status: 302, headers: { location: "/elsewhere" } });
    return new Response("no", { status: 404 });
  });
  const secret = /secret|user:/;
  try {
    const base = server.base.replace("http://", "http://user:secret@");
    assert.deepEqual([...await fetchBytes(`${base}/m/ok`)], [7]);
    assert.equal(seen[0], `Basic ${btoa("user:secret")}`);
    await rejectsWith(
      fetchBytes(`${base}/m/missing`),
      new RegExp(`^${server.base}/m/missing: the server`),
      secret,
    );
    const within = { folder: new URL(`${base}/m/`), name: "the model's folder" };
    await rejectsWith(fetchBytes(`${base}/m/away`, { within }), /redirects it to http:\/\/127/, secret);
    await rejectsWith(fetchBytes(`${base}/m/slow`, { timeoutMs: 50 }), /did not finish/, secret);
    await rejectsWith(
      fetchBytes("http://user:secret@127.0.0.1:9/x"),
      /^http:\/\/127\.0\.0\.1:9\/x cannot be reached/,
      secret,
    );
  } finally {
    await server.close();
  }
});
