import assert from "node:assert/strict";
import { loadImageFolder } from "../../src/data/folder.ts";
import type { Dataset } from "../../src/data/dataset.ts";
import { HansError } from "../../src/errors.ts";
import { withTempDir, writePng } from "./helpers.ts";

/** Every image of both parts with its label, keyed by its first pixel value. */
function byFirstPixel(...parts: Dataset[]): Map<number, { label: number; pixels: number[] }> {
  const out = new Map<number, { label: number; pixels: number[] }>();
  for (const data of parts) {
    const size = data.height * data.width * data.channels;
    for (let i = 0; i < data.count; i++) {
      const pixels = [...data.images.subarray(i * size, (i + 1) * size)].map((v) => Math.round(v * 255));
      out.set(pixels[0], { label: data.labels[i], pixels });
    }
  }
  return out;
}

Deno.test("loadImageFolder reads gray images as 1 channel and splits each class", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/b_dark`);
    await Deno.mkdir(`${dir}/a_light`);
    for (let k = 0; k < 5; k++) {
      // Gray PNGs; the first pixel identifies the image, alpha varies and must be dropped.
      await writePng(`${dir}/a_light/${k}.png`, 3, 2, (x, y) => {
        const v = x === 0 && y === 0 ? 200 + k : 10 * (y * 3 + x);
        return [v, v, v, 100 + x];
      });
      await writePng(`${dir}/b_dark/${k}.PNG`, 3, 2, (x, y) => {
        const v = x === 0 && y === 0 ? 100 + k : 5;
        return [v, v, v, 255];
      });
    }
    await Deno.writeTextFile(`${dir}/b_dark/notes.txt`, "not an image");
    await Deno.writeTextFile(`${dir}/README.md`, "top-level files are not classes");
    const { train, test } = await loadImageFolder(dir, { seed: 7 });
    assert.deepEqual(train.classNames, ["a_light", "b_dark"]);
    assert.equal(train.channels, 1);
    assert.equal(train.width, 3);
    assert.equal(train.height, 2);
    assert.equal(test.count, 2);
    assert.equal(train.count, 8);
    assert.deepEqual([...test.labels].sort(), [0, 1]);
    const images = byFirstPixel(train, test);
    assert.deepEqual(images.get(203), { label: 0, pixels: [203, 10, 20, 30, 40, 50] });
    assert.deepEqual(images.get(101), { label: 1, pixels: [101, 5, 5, 5, 5, 5] });
    const again = await loadImageFolder(dir, { seed: 7 });
    assert.deepEqual(again.test.images, test.images);
  });
});

Deno.test("loadImageFolder keeps RGB as 3 channels in HWC order", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/red`);
    await Deno.mkdir(`${dir}/gray`);
    for (let k = 0; k < 2; k++) {
      await writePng(`${dir}/red/${k}.png`, 2, 2, (x, y) => [10 + k, 20 * x, 30 * y, 255]);
      await writePng(`${dir}/gray/${k}.png`, 2, 2, () => [50 + k, 50 + k, 50 + k, 255]);
    }
    const { train, test } = await loadImageFolder(dir, { seed: 1, testFraction: 0.5 });
    assert.equal(train.channels, 3);
    assert.deepEqual(train.classNames, ["gray", "red"]);
    const images = byFirstPixel(train, test);
    assert.deepEqual(images.get(11), { label: 1, pixels: [11, 0, 0, 11, 20, 0, 11, 0, 30, 11, 20, 30] });
    assert.deepEqual(images.get(50)?.pixels, new Array(12).fill(50));
  });
});

Deno.test("loadImageFolder decodes JPEG files", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/photos`);
    const jpeg = await Deno.readFile(new URL("../fixtures/blue_8x6.jpg", import.meta.url));
    for (let k = 0; k < 2; k++) await Deno.writeFile(`${dir}/photos/${k}.jpg`, jpeg);
    const { train, test } = await loadImageFolder(dir, { seed: 1 });
    assert.equal(train.count + test.count, 2);
    assert.equal(train.width, 8);
    assert.equal(train.height, 6);
    assert.equal(train.channels, 3);
    assert.ok(Math.abs(train.images[2] - 0xc0 / 255) < 0.05);
  });
});

Deno.test("loadImageFolder names the file and both sizes when sizes differ", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/a`);
    await writePng(`${dir}/a/1.png`, 4, 3, () => [0, 0, 0, 255]);
    await writePng(`${dir}/a/2.png`, 5, 3, () => [0, 0, 0, 255]);
    await assert.rejects(loadImageFolder(dir, { seed: 1 }), (e: Error) => {
      assert.ok(e instanceof HansError);
      assert.match(e.message, /a\/2\.png is 5x3 but .*a\/1\.png is 4x3; this task needs images of one size/);
      return true;
    });
  });
});

Deno.test("loadImageFolder rejects empty classes, corrupt files, no sub-folders, missing paths", async () => {
  await withTempDir(async (dir) => {
    await assert.rejects(loadImageFolder(dir, { seed: 1 }), /has no sub-folders/);
    await assert.rejects(loadImageFolder(`${dir}/nope`, { seed: 1 }), /does not exist/);
    await Deno.mkdir(`${dir}/a`);
    await Deno.mkdir(`${dir}/b`);
    await writePng(`${dir}/a/1.png`, 2, 2, () => [0, 0, 0, 255]);
    await writePng(`${dir}/a/2.png`, 2, 2, () => [9, 9, 9, 255]);
    await assert.rejects(loadImageFolder(dir, { seed: 1 }), (e: Error) => {
      assert.ok(e instanceof HansError);
      assert.match(e.message, /class folder .*\/b holds no \.png/);
      return true;
    });
    await Deno.writeFile(`${dir}/b/broken.png`, new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]));
    await assert.rejects(loadImageFolder(dir, { seed: 1 }), (e: Error) => {
      assert.ok(e instanceof HansError);
      assert.match(e.message, /b\/broken\.png is neither a PNG nor a JPEG/);
      return true;
    });
    const good = await Deno.readFile(`${dir}/a/1.png`);
    await Deno.writeFile(`${dir}/b/broken.png`, good.subarray(0, good.length - 20));
    await assert.rejects(loadImageFolder(dir, { seed: 1 }), (e: Error) => {
      assert.ok(e instanceof HansError);
      assert.match(e.message, /b\/broken\.png (cannot be decoded|is truncated)/);
      return true;
    });
    await assert.rejects(loadImageFolder(dir, { seed: 1, testFraction: 1 }), /testFraction 1/);
  });
});

Deno.test("loadImageFolder with fit: images of any size and colour become the model's size, with notes", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/cats`);
    await Deno.mkdir(`${dir}/dogs`);
    for (let k = 0; k < 3; k++) {
      await writePng(`${dir}/cats/${k}.png`, 12, 6, () => [200, 0, 0, 255]); // wide, red
      await writePng(`${dir}/dogs/${k}.png`, 4, 4, () => [90, 90, 90, 255]); // square, gray, already 4x4
    }
    const gray = await loadImageFolder(dir, { seed: 1, fit: { height: 4, width: 4, channels: 1 } });
    assert.equal(gray.train.height, 4);
    assert.equal(gray.train.channels, 1);
    assert.equal(gray.train.images.length, gray.train.count * 16);
    assert.deepEqual(gray.notes, [
      "3 of 6 images had another aspect ratio and were centre-cropped to 4:4.",
      "3 of 6 images were resized to 4x4 (antialiased bilinear, half-pixel centres).",
      "3 of 6 images were in colour and were turned gray (luma 0.299 R + 0.587 G + 0.114 B) for a gray model.",
    ]);
    const all = [...gray.train.images, ...gray.test.images];
    for (const v of all) assert.ok(Math.abs(v - 0.299 * 200 / 255) < 1e-6 || Math.abs(v - 90 / 255) < 1e-6);
    const rgb = await loadImageFolder(dir, { seed: 1, fit: { height: 4, width: 4, channels: 3 } });
    assert.equal(rgb.train.channels, 3);
    assert.equal(rgb.notes.length, 2, "colour and gray images mixed: no channel note for an RGB model");
  });
});

Deno.test("loadImageFolder with fit counts the fitted pixels it keeps against HANS_MAX_MEGAPIXELS", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/a`);
    await Deno.mkdir(`${dir}/b`);
    for (let k = 0; k < 3; k++) {
      await writePng(`${dir}/a/${k}.png`, 4, 2, () => [10, 10, 10, 255]);
      await writePng(`${dir}/b/${k}.png`, 4, 2, () => [200, 200, 200, 255]);
    }
    const before = Deno.env.get("HANS_MAX_MEGAPIXELS");
    // 50 pixels: each 4x2 image decodes (8), but fitted to 4x4 three are kept (48) and the fourth is not.
    Deno.env.set("HANS_MAX_MEGAPIXELS", "0.00005");
    try {
      await assert.rejects(
        loadImageFolder(dir, { seed: 1, fit: { height: 4, width: 4, channels: 1 } }),
        (e: Error) =>
          e instanceof HansError && /more than 0\.00005 megapixels in all at the model's 4x4/.test(e.message),
      );
      Deno.env.set("HANS_MAX_MEGAPIXELS", "0.0001");
      const ok = await loadImageFolder(dir, { seed: 1, fit: { height: 4, width: 4, channels: 1 } });
      assert.equal(ok.train.count + ok.test.count, 6);
    } finally {
      if (before === undefined) Deno.env.delete("HANS_MAX_MEGAPIXELS");
      else Deno.env.set("HANS_MAX_MEGAPIXELS", before);
    }
  });
});
