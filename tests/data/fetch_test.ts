import assert from "node:assert/strict";
import { fetchBytes, isHttpUrl } from "../../src/data/fetch.ts";
import { HansError } from "../../src/errors.ts";

Deno.test("isHttpUrl tells URLs from paths", () => {
  assert.ok(isHttpUrl("https://example.org/a.bin"));
  assert.ok(isHttpUrl("HTTP://example.org/a.bin"));
  assert.ok(!isHttpUrl("data/http.bin"));
  assert.ok(!isHttpUrl("C:\\data\\a.bin"));
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
