/** Reading an SVG figure back in tests: its embedded images, decoded, and its texts. */
import assert from "node:assert/strict";
import { decodePngPixels } from "../../src/deps.ts";

/** Every `<image>` of an SVG: where it is, how big it is shown, and its embedded PNG decoded. */
export function svgImages(svg: string) {
  return [...svg.matchAll(/<image ([^>]*)\/>/g)].map(([, attrs]) => {
    const attr = (name: string) => attrs.match(new RegExp(`\\b${name}="([^"]*)"`))![1];
    const href = attr("href");
    assert.ok(href.startsWith("data:image/png;base64,"), "cells are embedded PNGs");
    const bytes = Uint8Array.from(atob(href.slice(22)), (c) => c.charCodeAt(0));
    return {
      x: Number(attr("x")),
      y: Number(attr("y")),
      width: Number(attr("width")),
      height: Number(attr("height")),
      png: decodePngPixels(bytes),
    };
  });
}

/** Every `<text>` of an SVG: position, anchor and its content with the XML escapes undone. */
export function svgTexts(svg: string) {
  return [...svg.matchAll(/<text ([^>]*)>([^<]*)<\/text>/g)].map(([, attrs, content]) => ({
    x: Number(attrs.match(/\bx="([^"]*)"/)![1]),
    y: Number(attrs.match(/\by="([^"]*)"/)![1]),
    size: Number(attrs.match(/font-size="([^"]*)"/)![1]),
    content: content.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(
      /&#39;/g,
      "'",
    )
      .replace(/&amp;/g, "&"),
  }));
}
