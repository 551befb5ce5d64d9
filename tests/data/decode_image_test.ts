/**
 * Decoding hostile and unusual images: PNG chunk structure (issue #23: millions of empty image-data chunks, a
 * palette of hundreds of megabytes), CMYK and YCCK JPEGs against their known colours, EXIF orientation, and the
 * memory check before a decode.
 */
import assert from "node:assert/strict";
import { applyOrientation, decodeImageBytes, exifOrientation } from "../../src/data/decode_image.ts";
import { encodePngPixels } from "../../src/deps.ts";
import { HansError } from "../../src/errors.ts";
import { residentBytes } from "../../src/limits.ts";
import { concatBytes as concat, indexedPng, pngChunk as chunk } from "./helpers.ts";

const fixture = (name: string) => Deno.readFile(new URL(`fixtures/${name}`, import.meta.url));

// ------------------------------------------------------------------------------------------------- PNG

/** A 4x2 RGBA PNG (imagescript's encoder): signature + IHDR are its first 33 bytes, then IDAT, IEND. */
function smallPng(): Uint8Array {
  const rgba = Uint8Array.from({ length: 4 * 2 * 4 }, (_, i) => (i * 37) % 256);
  return encodePngPixels(rgba, { width: 4, height: 2, channels: 4, level: 9 });
}

/** `png` with `chunks` put after its IHDR. */
function withChunks(png: Uint8Array, ...chunks: Uint8Array[]): Uint8Array {
  return concat(png.subarray(0, 33), ...chunks, png.subarray(33));
}

async function refused(bytes: Uint8Array, message: RegExp): Promise<void> {
  await assert.rejects(decodeImageBytes(bytes, "x.png"), (e: Error) => {
    assert.ok(e instanceof HansError, `expected a HansError, got ${e?.stack ?? e}`);
    assert.match(e.message, /^x\.png /);
    assert.match(e.message, message);
    return true;
  });
}

Deno.test("PNG: an indexed image with a full palette and transparency decodes (the checks' control)", async () => {
  const palette = Uint8Array.from({ length: 768 }, (_, i) => (i * 7) % 256);
  const alpha = Uint8Array.from({ length: 256 }, (_, i) => 255 - i);
  const image = await decodeImageBytes(await indexedPng(palette, chunk("tRNS", alpha)), "ok.png");
  assert.deepEqual([image.width, image.height], [4, 2]);
  for (let i = 0; i < 8; i++) {
    assert.deepEqual([...image.rgba.subarray(4 * i, 4 * i + 4)], [
      ...palette.subarray(3 * i, 3 * i + 3),
      255 - i,
    ]);
  }
  // and the small RGBA PNG with its metadata chunks
  const meta = withChunks(
    smallPng(),
    chunk("tEXt", new TextEncoder().encode("Comment\0hello")),
    chunk("gAMA", new Uint8Array(4)),
  );
  assert.equal((await decodeImageBytes(meta, "meta.png")).width, 4);
});

Deno.test("PNG: millions of image-data chunks are refused by count before the decoder keeps one object each", async () => {
  const empty = chunk("IDAT");
  const many = new Uint8Array(70_000 * empty.length);
  for (let i = 0; i < 70_000; i++) many.set(empty, i * empty.length);
  const start = performance.now();
  await refused(withChunks(smallPng(), many), /holds more than 65,536 PNG chunks.*save it again/);
  assert.ok(performance.now() - start < 2000);
});

Deno.test("PNG: palette and transparency chunks must have their sizes, once each, and a palette image needs one", async () => {
  const big = new Uint8Array(3 * 2 ** 20); // 3 MB: imagescript made a 12 MB palette of it (a 200 MB one: 1.4 GB)
  await refused(
    await indexedPng(big),
    /has a palette \(PLTE chunk\) of 3\.0 MB; a PNG palette holds 1 to 256/,
  );
  await refused(await indexedPng(new Uint8Array(770)), /palette \(PLTE chunk\) of 770 bytes/);
  await refused(await indexedPng(new Uint8Array(767)), /palette \(PLTE chunk\) of 767 bytes/);
  const palette = new Uint8Array(24);
  await refused(await indexedPng(palette, chunk("PLTE", palette)), /two palette \(PLTE\) chunks/);
  await refused(
    await indexedPng(palette, chunk("tRNS", new Uint8Array(300))),
    /transparency chunk \(tRNS\) of 300 bytes/,
  );
  const trns = chunk("tRNS", new Uint8Array(8));
  await refused(await indexedPng(palette, trns, trns), /two transparency \(tRNS\) chunks/);
  await refused(await indexedPng(new Uint8Array(0)), /indexed-colour PNG without its palette/);
});

Deno.test("PNG: ancillary chunks are bounded in number and bytes", async () => {
  const text = chunk("tEXt", new TextEncoder().encode("k\0v"));
  await refused(
    withChunks(smallPng(), ...new Array(4097).fill(text)),
    /holds more than 4,096 ancillary chunks \(text, colour profile, EXIF and other metadata; the last one is "tEXt"\)/,
  );
  await refused(
    withChunks(
      smallPng(),
      chunk("iTXt", new Uint8Array(9 * 2 ** 20)),
      chunk("zTXt", new Uint8Array(8 * 2 ** 20)),
    ),
    /holds more than 16 MB of ancillary chunks .*"zTXt"/,
  );
});

Deno.test("PNG: image data far beyond what the header's size needs is refused", async () => {
  // 4x2 RGBA needs 34 bytes raw; 100 KB of extra image data is no compressed form of it
  const extra = chunk("IDAT", new Uint8Array(100_000));
  await refused(
    withChunks(smallPng(), extra),
    /holds 98 KB of image data \(IDAT chunks\), far more than its 4x2 pixels need/,
  );
});

Deno.test("PNG and JPEG: a decode that would pass the memory budget is refused before it runs", async () => {
  // 2000x2000 gray: about 24 MB for the decode (joined data, inflated rows, samples, RGBA)
  const png = encodePngPixels(new Uint8Array(2000 * 2000), {
    width: 2000,
    height: 2000,
    channels: 1,
    level: 9,
  });
  // the 8x6 JPEG claiming 1000x1000 (13 MB to decode), padded so that its size could hold that many pixels
  const jpeg = concat(
    await Deno.readFile(new URL("../fixtures/blue_8x6.jpg", import.meta.url)),
    new Uint8Array(4096),
  );
  new DataView(jpeg.buffer).setUint16(0x19, 1000);
  new DataView(jpeg.buffer).setUint16(0x1b, 1000);
  const before = Deno.env.get("HANS_MAX_MEMORY_MB");
  Deno.env.set("HANS_MAX_MEMORY_MB", String(Math.ceil(residentBytes() / 2 ** 20) + 8));
  try {
    for (
      const [bytes, name, size] of [[png, "big.png", "2000x2000"], [jpeg, "big.jpg", "1000x1000"]] as const
    ) {
      await assert.rejects(decodeImageBytes(bytes, name), (e: Error) => {
        assert.ok(e instanceof HansError, String(e));
        assert.match(
          e.message,
          new RegExp(`^decoding ${name.replace(".", "\\.")} \\(${size}\\) would take \\d+ MB, `),
        );
        assert.match(e.message, /and the run holds .*; make it smaller, or raise HANS_MAX_MEMORY_MB\.$/);
        return true;
      });
    }
  } finally {
    if (before === undefined) Deno.env.delete("HANS_MAX_MEMORY_MB");
    else Deno.env.set("HANS_MAX_MEMORY_MB", before);
  }
});

// ------------------------------------------------------------------------------------------------ JPEG

/** RGB of pixel (x, y). */
function rgbAt(image: { width: number; rgba: Uint8Array }, x: number, y: number): number[] {
  const p = 4 * (y * image.width + x);
  return [...image.rgba.subarray(p, p + 3)];
}

/** RGB of CMYK ink (0–255 each), as Pillow, browsers and Photoshop's naive conversion give it. */
function inkToRgb([c, m, y, k]: number[]): number[] {
  return [c, m, y].map((v) => Math.round(((255 - v) * (255 - k)) / 255));
}

function near(actual: number[], expected: number[], tolerance: number, what: string): void {
  assert.ok(
    actual.every((v, i) => Math.abs(v - expected[i]) <= tolerance),
    `${what}: got ${actual}, expected ${expected} ± ${tolerance}`,
  );
}

// The fixtures' two 8x8 halves, as ink (written with Pillow as CMYK at quality 95; the YCCK one converted
// by ImageMagick with -define jpeg:colorspace=5 -sampling-factor 1x1).
const LEFT_INK = [204, 76, 26, 51];
const RIGHT_INK = [13, 191, 230, 0];

Deno.test("CMYK JPEG (Adobe, inverted) decodes to the RGB of its ink", async () => {
  const image = await decodeImageBytes(await fixture("cmyk_16x8.jpg"), "cmyk.jpg");
  assert.deepEqual([image.width, image.height], [16, 8]);
  // imagescript's own conversion gave (40, 15, 5) for the left half
  for (const [x, y] of [[1, 1], [4, 4], [6, 7]]) {
    near(rgbAt(image, x, y), inkToRgb(LEFT_INK), 4, `left ${x},${y}`);
  }
  for (const [x, y] of [[9, 1], [12, 4], [15, 7]]) {
    near(rgbAt(image, x, y), inkToRgb(RIGHT_INK), 4, `right ${x},${y}`);
  }
  assert.ok(image.rgba.every((v, i) => i % 4 !== 3 || v === 255), "opaque");
});

Deno.test("YCCK JPEG (Adobe transform 2) decodes to the RGB of its ink", async () => {
  const bytes = await fixture("ycck_16x8.jpg");
  assert.equal(bytes[0x11], 2, "the fixture's Adobe segment says YCCK");
  const image = await decodeImageBytes(bytes, "ycck.jpg");
  near(rgbAt(image, 4, 4), inkToRgb(LEFT_INK), 5, "left");
  near(rgbAt(image, 12, 4), inkToRgb(RIGHT_INK), 5, "right");
});

Deno.test("CMYK JPEG without an Adobe segment decodes as Adobe's inverted CMYK (as browsers and Pillow do)", async () => {
  const bytes = await fixture("cmyk_16x8.jpg");
  assert.deepEqual([bytes[2], bytes[3]], [0xff, 0xee]);
  const length = (bytes[4] << 8) | bytes[5];
  const stripped = concat(bytes.subarray(0, 2), bytes.subarray(4 + length));
  const image = await decodeImageBytes(stripped, "plain-cmyk.jpg");
  near(rgbAt(image, 4, 4), inkToRgb(LEFT_INK), 4, "left");
  near(rgbAt(image, 12, 4), inkToRgb(RIGHT_INK), 4, "right");
});

/**
 * Where the stored pixel (x, y) of a w x h image is shown for each EXIF orientation, from the standard's
 * table of where the stored row 0 and column 0 go.
 */
const SHOWN: Record<number, [row0: string, col0: string]> = {
  1: ["top", "left"],
  2: ["top", "right"],
  3: ["bottom", "right"],
  4: ["bottom", "left"],
  5: ["left", "top"],
  6: ["right", "top"],
  7: ["right", "bottom"],
  8: ["left", "bottom"],
};

function shownAt(o: number, x: number, y: number, w: number, h: number): [number, number] {
  const [row0, col0] = SHOWN[o];
  if (row0 === "top" || row0 === "bottom") {
    return [col0 === "left" ? x : w - 1 - x, row0 === "top" ? y : h - 1 - y];
  }
  return [row0 === "left" ? y : h - 1 - y, col0 === "top" ? x : w - 1 - x];
}

Deno.test("EXIF orientation 6: the decoded pixels are turned 90° clockwise, upright as viewers show them", async () => {
  // Stored 24x16: 8x8 blocks red, green, blue over yellow, cyan, magenta (4:4:4, so each block is flat).
  const image = await decodeImageBytes(await fixture("exif6_24x16.jpg"), "exif6.jpg");
  assert.deepEqual([image.width, image.height], [16, 24]);
  const expected = [
    [[255, 255, 0], [255, 0, 0]],
    [[0, 255, 255], [0, 255, 0]],
    [[255, 0, 255], [0, 0, 255]],
  ];
  for (let row = 0; row < 3; row++) {
    for (let col = 0; col < 2; col++) {
      near(rgbAt(image, 8 * col + 4, 8 * row + 4), expected[row][col], 3, `block ${row},${col}`);
    }
  }
});

Deno.test("EXIF orientations 1-8 move every pixel where the standard's table says", async () => {
  const bytes = await fixture("exif6_24x16.jpg");
  // The fixture's Orientation value (big-endian SHORT) sits at 0x30.
  assert.deepEqual([bytes[0x30], bytes[0x31]], [0, 6]);
  const stored = await decodeImageBytes(bytes.slice().fill(1, 0x31, 0x32), "o1.jpg");
  assert.deepEqual([stored.width, stored.height], [24, 16]);
  for (let o = 1; o <= 8; o++) {
    const patched = bytes.slice();
    patched[0x31] = o;
    const image = await decodeImageBytes(patched, `o${o}.jpg`);
    const [w, h] = o >= 5 ? [16, 24] : [24, 16];
    assert.deepEqual([image.width, image.height], [w, h], `orientation ${o}`);
    for (let y = 0; y < 16; y++) {
      for (let x = 0; x < 24; x++) {
        const [sx, sy] = shownAt(o, x, y, 24, 16);
        assert.deepEqual(
          rgbAt(image, sx, sy),
          rgbAt(stored, x, y),
          `orientation ${o}, stored pixel ${x},${y}`,
        );
      }
    }
  }
  // A value outside 1-8 is no orientation.
  const odd = bytes.slice();
  odd[0x31] = 9;
  assert.equal((await decodeImageBytes(odd, "o9.jpg")).width, 24);
});

/** A TIFF header with one directory of one entry: `tag` of `type`, one value `value` (EXIF's layout). */
function tiff(little: boolean, tag: number, type: number, value: number): Uint8Array {
  const out = new Uint8Array(8 + 2 + 12 + 4);
  const view = new DataView(out.buffer);
  out.set(new TextEncoder().encode(little ? "II" : "MM"));
  view.setUint16(2, 42, little);
  view.setUint32(4, 8, little);
  view.setUint16(8, 1, little);
  view.setUint16(10, tag, little);
  view.setUint16(12, type, little);
  view.setUint32(14, 1, little);
  view.setUint16(18, value, little);
  return out;
}

Deno.test("exifOrientation reads both byte orders and ignores what is not there", () => {
  assert.equal(exifOrientation(tiff(true, 0x0112, 3, 8)), 8);
  assert.equal(exifOrientation(tiff(false, 0x0112, 3, 3)), 3);
  assert.equal(exifOrientation(tiff(true, 0x0110, 3, 3)), 0); // another tag
  assert.equal(exifOrientation(tiff(true, 0x0112, 4, 3)), 0); // not a SHORT
  assert.equal(exifOrientation(tiff(true, 0x0112, 3, 0)), 0);
  assert.equal(exifOrientation(tiff(true, 0x0112, 3, 3).subarray(0, 20)), 0); // cut short
  assert.equal(exifOrientation(new Uint8Array(3)), 0);
});

Deno.test("applyOrientation keeps an unaligned view's pixels", () => {
  const buffer = new Uint8Array(1 + 8);
  buffer.set([1, 2, 3, 4, 5, 6, 7, 8], 1);
  const turned = applyOrientation({ width: 2, height: 1, rgba: buffer.subarray(1) }, 3);
  assert.deepEqual([...turned.rgba], [5, 6, 7, 8, 1, 2, 3, 4]);
});

Deno.test("PNG eXIf orientations 1-8 move every pixel where the standard's table says, as in a JPEG", async () => {
  const png = smallPng(); // 4x2, every pixel different
  const stored = await decodeImageBytes(png, "stored.png");
  assert.deepEqual([stored.width, stored.height], [4, 2]);
  for (let o = 1; o <= 8; o++) {
    for (const little of [true, false]) {
      // eXIf before the image data, as the chunk's specification asks; the other byte order after it.
      const exif = chunk("eXIf", tiff(little, 0x0112, 3, o));
      const bytes = little
        ? withChunks(png, exif)
        : concat(png.subarray(0, png.length - 12), exif, png.slice(-12));
      const image = await decodeImageBytes(bytes, `o${o}.png`);
      const [w, h] = o >= 5 ? [2, 4] : [4, 2];
      assert.deepEqual([image.width, image.height], [w, h], `orientation ${o}`);
      for (let y = 0; y < 2; y++) {
        for (let x = 0; x < 4; x++) {
          const [sx, sy] = shownAt(o, x, y, 4, 2);
          const at = (
            img: typeof image,
            px: number,
            py: number,
          ) => [...img.rgba.subarray(4 * (py * img.width + px), 4 * (py * img.width + px) + 4)];
          assert.deepEqual(at(image, sx, sy), at(stored, x, y), `orientation ${o}, stored pixel ${x},${y}`);
        }
      }
    }
  }
  // An unreadable eXIf chunk, or an orientation outside 1-8, leaves the pixels as stored.
  for (const exif of [chunk("eXIf", Uint8Array.of(1, 2, 3)), chunk("eXIf", tiff(true, 0x0112, 3, 9))]) {
    const image = await decodeImageBytes(withChunks(png, exif), "odd.png");
    assert.deepEqual([image.width, image.height, ...image.rgba], [4, 2, ...stored.rgba]);
  }
});
