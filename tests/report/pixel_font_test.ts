import assert from "node:assert/strict";
import { drawText, fitText, glyph, hasGlyph, textHeight, textWidth } from "../../src/report/pixel_font.ts";

function inked(rgba: Uint8ClampedArray, width: number): Array<[number, number]> {
  const points: Array<[number, number]> = [];
  for (let i = 0; i < rgba.length / 4; i++) {
    if (rgba[i * 4 + 3] !== 0) points.push([i % width, Math.floor(i / width)]);
  }
  return points;
}

Deno.test("textWidth and textHeight follow 5x7 glyphs with one blank column", () => {
  assert.equal(textWidth(""), 0);
  assert.equal(textWidth("a"), 5);
  assert.equal(textWidth("ab", 2), 22);
  assert.equal(textWidth("2×3", 1), 17); // × counts as one character
  assert.equal(textHeight(3), 21);
});

Deno.test("drawText sets pixels only inside the text box", () => {
  const width = 80;
  const height = 30;
  const rgba = new Uint8ClampedArray(width * height * 4);
  const text = "max 0.53 (x)";
  const [x, y, scale] = [3, 6, 1];
  drawText(rgba, width, height, text, x, y, [200, 10, 10], scale);
  const points = inked(rgba, width);
  assert.ok(points.length > 20);
  for (const [px, py] of points) {
    assert.ok(px >= x && px < x + textWidth(text, scale), `x ${px} outside`);
    assert.ok(py >= y && py < y + textHeight(scale), `y ${py} outside`);
    const o = (py * width + px) * 4;
    assert.deepEqual([...rgba.subarray(o, o + 4)], [200, 10, 10, 255]);
  }
  const big = new Uint8ClampedArray(width * height * 4);
  drawText(big, width, height, "Hi%", 10, 2, [0, 0, 0], 3);
  for (const [px, py] of inked(big, width)) {
    assert.ok(px >= 10 && px < 10 + textWidth("Hi%", 3) && py >= 2 && py < 2 + textHeight(3));
  }
  // Scale 3 is scale 1 blown up: 9 times the ink.
  const small = new Uint8ClampedArray(width * height * 4);
  drawText(small, width, height, "Hi%", 0, 0);
  assert.equal(inked(big, width).length, 9 * inked(small, width).length);
});

Deno.test("drawText clips at the image border without throwing", () => {
  const rgba = new Uint8ClampedArray(10 * 5 * 4);
  drawText(rgba, 10, 5, "WWWW", -3, -2, [0, 0, 0], 2);
  assert.ok(inked(rgba, 10).length > 0);
  assert.throws(() => drawText(rgba, 11, 5, "x", 0, 0), /expected 11×5×4/);
});

Deno.test("'1' differs from 'l', '0' from 'O', and every glyph is distinct", () => {
  const draw = (c: string) => {
    const rgba = new Uint8ClampedArray(5 * 7 * 4);
    drawText(rgba, 5, 7, c, 0, 0);
    return rgba;
  };
  assert.notDeepEqual(draw("1"), draw("l"));
  assert.notDeepEqual(draw("0"), draw("O"));
  assert.notDeepEqual(draw("I"), draw("l"));
  const seen = new Map<string, string>();
  for (let code = 32; code < 127; code++) {
    const c = String.fromCharCode(code);
    assert.ok(hasGlyph(c), `missing glyph for ${JSON.stringify(c)}`);
    const key = glyph(c).map((row) => row.map(Number).join("")).join("/");
    assert.equal(
      seen.get(key),
      undefined,
      `${JSON.stringify(c)} looks like ${JSON.stringify(seen.get(key))}`,
    );
    seen.set(key, c);
  }
});

Deno.test("the label character set is covered; unknown characters draw as '?'", () => {
  for (const c of "0123456789ABCXYZabcxyz .,:;-+_/()%=<>[]#×") assert.ok(hasGlyph(c), c);
  assert.deepEqual(glyph("€"), glyph("?"));
});

Deno.test("fitText shortens with '..' to fit", () => {
  assert.equal(fitText("saliency", 100), "saliency");
  const fitted = fitText("integrated_gradients", 60);
  assert.ok(fitted.endsWith("..") && textWidth(fitted) <= 60, fitted);
  assert.equal(fitText("abc", 3), "");
});
