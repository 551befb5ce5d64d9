import assert from "node:assert/strict";
import { escapeHtml, figure, pngDataUri, pngImage, renderReport, table } from "../../src/report/html.ts";

Deno.test("escapeHtml escapes the five special characters", () => {
  assert.equal(escapeHtml(`<script>&"'`), "&lt;script&gt;&amp;&quot;&#39;");
  assert.equal(escapeHtml("plain text"), "plain text");
  assert.equal(escapeHtml("&amp;"), "&amp;amp;");
});

Deno.test("pngDataUri holds the bytes in base64", () => {
  const bytes = new Uint8Array(70000).map((_, i) => (i * 7) % 256);
  const uri = pngDataUri(bytes);
  assert.ok(uri.startsWith("data:image/png;base64,"));
  const decoded = Uint8Array.from(atob(uri.slice(22)), (c) => c.charCodeAt(0));
  assert.deepEqual(decoded, bytes);
  assert.match(pngImage(new Uint8Array([1]), `a "b"`, { width: 112 }), /alt="a &quot;b&quot;" width="112"/);
});

Deno.test("table formats numbers and escapes every cell", () => {
  const html = table(["class", "n", "flip rate", "stamped", "note"], [
    ["seven", 60000, 0.912345, true, null],
    ["one", 3, 1.5e-7, false, "a < b"],
  ], { caption: "Flips & ranks" });
  assert.match(html, /<td class="num">60000<\/td>/);
  assert.match(html, /<td class="num">0\.912<\/td>/);
  assert.match(html, /<td class="num">1\.5e-7<\/td>/);
  assert.match(html, /<td>yes<\/td>/);
  assert.match(html, /<td>–<\/td>/);
  assert.match(html, /a &lt; b/);
  assert.match(html, /<caption>Flips &amp; ranks<\/caption>/);
});

Deno.test("a report with a hostile class name contains no raw <script", () => {
  const hostile = `<script>alert("x")</script><img src=x onerror=alert(1)>`;
  const html = renderReport({
    title: `Report for ${hostile}`,
    subtitle: hostile,
    sections: [
      { heading: hostile, html: table(["class", hostile], [[hostile, 0.5]]) },
      { heading: "Figure", html: figure(pngImage(new Uint8Array([137, 80]), hostile), hostile) },
    ],
    footer: hostile,
  });
  assert.ok(!/<script/i.test(html), "no script tag");
  assert.ok(!/<img src=x/i.test(html), "no injected img");
  assert.ok(html.includes("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"));
});

Deno.test("renderReport is one self-contained page with a table of contents", () => {
  const html = renderReport({
    title: "hans: clever-hans",
    subtitle: "MNIST, 2026-11-25",
    sections: [{ heading: "Metrics", html: "<p>m</p>" }, { heading: "Maps", html: "<p>n</p>" }],
  });
  assert.ok(html.startsWith("<!DOCTYPE html>"));
  assert.match(html, /<meta charset="utf-8">/);
  assert.match(html, /<style>/);
  assert.match(html, /<a href="#section-1">Metrics<\/a>/);
  assert.match(html, /<a href="#section-2">Maps<\/a>/);
  assert.match(html, /<section id="section-2">\n<h2>Maps<\/h2>/);
  assert.match(html, /Content-Security-Policy" content="default-src 'none'/);
  assert.ok(!/<script|<link|src="http|url\(/i.test(html), "no scripts or outside resources");
  assert.equal((html.match(/<section/g) ?? []).length, 2);
});
