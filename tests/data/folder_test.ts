import assert from "node:assert/strict";
import { loadImageFolder, loadLabelledFolder } from "../../src/data/folder.ts";
import { type Dataset, sample } from "../../src/data/dataset.ts";
import { encodePngPixels } from "../../src/deps.ts";
import { HansError } from "../../src/errors.ts";
import { keepMemory, keptMemory } from "../../src/limits.ts";

/** What this process holds now, in MB. */
function rssMb(): number {
  return Math.ceil(Deno.memoryUsage().rss / 2 ** 20);
}
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
    const { train, test } = await loadImageFolder(dir, { seed: 7, minSide: 1 });
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
    const again = await loadImageFolder(dir, { seed: 7, minSide: 1 });
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
    const { train, test } = await loadImageFolder(dir, { seed: 1, testFraction: 0.5, minSide: 1 });
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
    await assert.rejects(loadImageFolder(dir, { seed: 1, minSide: 1 }), (e: Error) => {
      assert.ok(e instanceof HansError);
      assert.match(e.message, /a\/2\.png is 5x3 but .*a\/1\.png is 4x3; this task needs images of one size/);
      return true;
    });
  });
});

Deno.test("loadImageFolder rejects empty classes, corrupt files, no sub-folders, missing paths", async () => {
  await withTempDir(async (dir) => {
    await assert.rejects(loadImageFolder(dir, { seed: 1, minSide: 1 }), /has no sub-folders/);
    await assert.rejects(loadImageFolder(`${dir}/nope`, { seed: 1 }), /does not exist/);
    await Deno.mkdir(`${dir}/a`);
    await Deno.mkdir(`${dir}/b`);
    await writePng(`${dir}/a/1.png`, 2, 2, () => [0, 0, 0, 255]);
    await writePng(`${dir}/a/2.png`, 2, 2, () => [9, 9, 9, 255]);
    await assert.rejects(loadImageFolder(dir, { seed: 1, minSide: 1 }), (e: Error) => {
      assert.ok(e instanceof HansError);
      assert.match(e.message, /class folder .*\/b holds no \.png/);
      return true;
    });
    await Deno.writeFile(`${dir}/b/broken.png`, new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]));
    await assert.rejects(loadImageFolder(dir, { seed: 1, minSide: 1 }), (e: Error) => {
      assert.ok(e instanceof HansError);
      assert.match(e.message, /b\/broken\.png is neither a PNG nor a JPEG/);
      return true;
    });
    const good = await Deno.readFile(`${dir}/a/1.png`);
    await Deno.writeFile(`${dir}/b/broken.png`, good.subarray(0, good.length - 20));
    await assert.rejects(loadImageFolder(dir, { seed: 1, minSide: 1 }), (e: Error) => {
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

/** Runs `body` with `name` set to `value` in the environment, then puts it back. */
async function withEnv(name: string, value: string, body: () => Promise<void>): Promise<void> {
  const before = Deno.env.get(name);
  Deno.env.set(name, value);
  try {
    await body();
  } finally {
    if (before === undefined) Deno.env.delete(name);
    else Deno.env.set(name, before);
  }
}

async function refusedWith(promise: Promise<unknown>, message: RegExp): Promise<void> {
  await assert.rejects(promise, (e: Error) => {
    assert.ok(e instanceof HansError, `expected a HansError, got ${e?.stack ?? e}`);
    assert.match(e.message, message);
    return true;
  });
}

/** Two classes of `perClass` gray images of `size`x`size`, image k of class c with first pixel 10c + k. */
async function twoClasses(dir: string, size: number, perClass = 3): Promise<void> {
  for (const [c, name] of ["a", "b"].entries()) {
    await Deno.mkdir(`${dir}/${name}`, { recursive: true });
    for (let k = 0; k < perClass; k++) {
      await writePng(`${dir}/${name}/${k}.png`, size, size, (x, y) => {
        const v = x === 0 && y === 0 ? 10 * c + k : 100;
        return [v, v, v, 255];
      });
    }
  }
}

Deno.test("images used at their own size must be at least 4x4 (the CNN's two poolings); fitted ones may be 1x1", async () => {
  await withTempDir(async (dir) => {
    for (const size of [1, 2, 3]) {
      await twoClasses(`${dir}/s${size}`, size);
      await refusedWith(
        loadImageFolder(`${dir}/s${size}`, { seed: 1 }),
        new RegExp(`a/0\\.png is ${size}x${size} pixels; images used at their own size must be at least 4x4`),
      );
      const fitted = await loadImageFolder(`${dir}/s${size}`, {
        seed: 1,
        fit: { height: 8, width: 8, channels: 1 },
      });
      assert.equal(fitted.train.width, 8);
    }
    await twoClasses(`${dir}/s4`, 4);
    assert.equal((await loadImageFolder(`${dir}/s4`, { seed: 1 })).train.width, 4);
    // 4 wide but 3 high is too small as well
    await Deno.mkdir(`${dir}/wide/a`, { recursive: true });
    await writePng(`${dir}/wide/a/0.png`, 4, 3, () => [0, 0, 0, 255]);
    await writePng(`${dir}/wide/a/1.png`, 4, 3, () => [0, 0, 0, 255]);
    await refusedWith(loadImageFolder(`${dir}/wide`, { seed: 1 }), /0\.png is 4x3 pixels; .* at least 4x4/);
  });
});

Deno.test("symbolic links among the class folders: a loop, one to nothing, one to the folder itself or above", async () => {
  await withTempDir(async (dir) => {
    await twoClasses(`${dir}/loop`, 4);
    await Deno.symlink("loop", `${dir}/loop/loop`); // ln -s loop loop
    await refusedWith(
      loadImageFolder(`${dir}/loop`, { seed: 1 }),
      /loop\/loop is a symbolic link that loops \(it leads back to itself through links\); remove it\.$/,
    );
    await twoClasses(`${dir}/dangling`, 4);
    await Deno.symlink("nowhere", `${dir}/dangling/c`);
    await refusedWith(
      loadImageFolder(`${dir}/dangling`, { seed: 1 }),
      /dangling\/c is a symbolic link to nothing \(its target does not exist\); remove it\.$/,
    );
    for (const [name, target] of [["self", "."], ["up", ".."]]) {
      await twoClasses(`${dir}/${name}/images`, 4);
      await Deno.symlink(target, `${dir}/${name}/images/${name}`);
      await refusedWith(
        loadImageFolder(`${dir}/${name}/images`, { seed: 1 }),
        new RegExp(
          `class folder .*images/${name} is a symbolic link to .*, which holds the images folder itself`,
        ),
      );
    }
    // A class folder linked from elsewhere is fine.
    await twoClasses(`${dir}/linked`, 4);
    await twoClasses(`${dir}/other`, 4);
    await Deno.symlink(`${dir}/other/a`, `${dir}/linked/c`);
    const ok = await loadImageFolder(`${dir}/linked`, { seed: 1 });
    assert.deepEqual(ok.train.classNames, ["a", "b", "c"]);
  });
});

Deno.test("loadImageFolder checks the float32 pixels it will keep against the memory budget before decoding", async () => {
  await withTempDir(async (dir) => {
    await twoClasses(dir, 4);
    // A broken file that would be found first if images were decoded before the check.
    await Deno.writeFile(`${dir}/a/00.png`, new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]));
    // 7 images of 2048x2048x3 as floats: 336 MB, more than data may take of a budget of 200 MB more than
    // this process holds (a third of what the process's 640 MB leave: under 336 MB while it holds < 1.4 GB).
    await withEnv("HANS_MAX_MEMORY_MB", String(rssMb() + 200), async () => {
      await refusedWith(
        loadImageFolder(dir, { seed: 1, fit: { height: 2048, width: 2048, channels: 3 } }),
        /: 7 images of 2048x2048x3 at the model's 2048x2048 as 32-bit floats would take 336 MB(?: \(with the .* of data the run keeps already\))?, more than the .* that data may take of the run's \d+ MB memory budget \(the rest is for the process and the model's passes\); use fewer or smaller images, or raise HANS_MAX_MEMORY_MB\.$/,
      );
    });
    // Own size: the first image gives the size, and the 40 images are checked before the others are read.
    await Deno.mkdir(`${dir}/own/a`, { recursive: true });
    await Deno.mkdir(`${dir}/own/b`, { recursive: true });
    // (level 9: imagescript's default level writes image data its decoder cannot read back at this size)
    const gray = encodePngPixels(new Uint8Array(1000 * 1000).fill(7), {
      width: 1000,
      height: 1000,
      channels: 1,
      level: 9,
    });
    await Deno.writeFile(`${dir}/own/a/0.png`, gray);
    for (let k = 1; k < 60; k++) {
      await Deno.copyFile(`${dir}/own/a/0.png`, `${dir}/own/${"ab"[k % 2]}/${k}.png`);
    }
    // 60 megapixels: 229 MB of floats, more than data may take of 200 MB more than this process holds.
    await withEnv("HANS_MAX_MEMORY_MB", String(rssMb() + 200), async () => {
      await refusedWith(
        loadImageFolder(`${dir}/own`, { seed: 1 }),
        /own: 60 images of 1000x1000x1 as 32-bit floats would take 229 MB/,
      );
    });
  });
});

Deno.test("loadImageFolder: gray images first, then a colour one, give 3 channels with the gray values copied", async () => {
  await withTempDir(async (dir) => {
    await twoClasses(dir, 4, 4);
    await writePng(`${dir}/b/3.png`, 4, 4, (x, y) => (x === 0 && y === 0 ? [13, 0, 0, 255] : [1, 2, 3, 255]));
    const { train, test } = await loadImageFolder(dir, { seed: 1 });
    assert.equal(train.channels, 3);
    const images = byFirstPixel(train, test);
    assert.deepEqual(images.get(13)?.pixels.slice(0, 6), [13, 0, 0, 1, 2, 3]);
    assert.deepEqual(images.get(2)?.pixels.slice(0, 6), [2, 2, 2, 100, 100, 100]);
    assert.equal(images.size, 8);
  });
});

Deno.test("loadImageFolder's pick keeps the chosen images of each part, in order", async () => {
  await withTempDir(async (dir) => {
    await twoClasses(dir, 4, 5);
    const all = await loadImageFolder(dir, { seed: 3 });
    const picked = await loadImageFolder(dir, {
      seed: 3,
      pick: (part, count) => (part === "train" ? [count - 1, 0] : [0]),
    });
    const size = 16;
    const image = (data: Dataset, i: number) => [...data.images.subarray(i * size, (i + 1) * size)];
    assert.equal(picked.train.count, 2);
    assert.deepEqual(image(picked.train, 0), image(all.train, all.train.count - 1));
    assert.deepEqual(image(picked.train, 1), image(all.train, 0));
    assert.deepEqual([...picked.train.labels], [all.train.labels[all.train.count - 1], all.train.labels[0]]);
    assert.deepEqual(image(picked.test, 0), image(all.test, 0));
  });
});

Deno.test("--labels: lines counted before splitting, long lines, repeated names, and a count that must match", async () => {
  await withTempDir(async (dir) => {
    await twoClasses(`${dir}/images`, 4);
    const labels = `${dir}/labels.txt`;
    const fit = { height: 4, width: 4, channels: 1 as const };
    await Deno.writeFile(labels, new Uint8Array(200_000).fill(0x0a)); // 200,000 empty lines
    await refusedWith(
      loadLabelledFolder(`${dir}/images`, labels, { seed: 1, fit }),
      /--labels .*labels\.txt has more than 100,000 lines; it names one class per line, and hans takes at most 100,000 classes\.$/,
    );
    await Deno.writeTextFile(labels, `a\n${"x".repeat(2048)}\nb\n`);
    await refusedWith(
      loadLabelledFolder(`${dir}/images`, labels, { seed: 1, fit }),
      /line 2 of --labels .*labels\.txt is 2 KB long; a class name may have at most 1024 bytes/,
    );
    // A name on two lines (as ImageNet's "crane"): both lines are told apart by number, and a folder of the
    // bare name is ambiguous.
    await Deno.writeTextFile(labels, "a\nb\n\n a \ncat\n");
    await refusedWith(
      loadLabelledFolder(`${dir}/images`, labels, { seed: 1, fit }),
      /class folder "a" matches 2 lines of --labels .*labels\.txt \(a \(line 1\), a \(line 4\)\); name the folder after one of them, e\.g\. "a \(line 1\)"/,
    );
    await Deno.rename(`${dir}/images/a`, `${dir}/images/a (line 4)`);
    const twice = await loadLabelledFolder(`${dir}/images`, labels, { seed: 1, fit });
    assert.deepEqual(twice.test.classNames, ["a (line 1)", "b", "a (line 4)", "cat"]);
    assert.deepEqual([...new Set(twice.test.labels)].sort(), [1, 2], 'folder "a (line 4)" is class 2');
    await Deno.rename(`${dir}/images/a (line 4)`, `${dir}/images/a`);
    await Deno.writeTextFile(labels, "\n\n");
    await refusedWith(loadLabelledFolder(`${dir}/images`, labels, { seed: 1, fit }), /names no class/);
    await Deno.writeTextFile(labels, "cat\nb\na\n");
    await refusedWith(
      loadLabelledFolder(`${dir}/images`, labels, { seed: 1, fit, classes: 10 }),
      /names 3 classes but the model has 10 outputs/,
    );
    const { test } = await loadLabelledFolder(`${dir}/images`, labels, { seed: 1, fit, classes: 3 });
    assert.deepEqual(test.classNames, ["cat", "b", "a"]);
    assert.equal(test.count, 6);
    const labelOf = byFirstPixel(test);
    assert.equal(labelOf.get(1)?.label, 2); // a/1.png: "a" is the third name
    assert.equal(labelOf.get(12)?.label, 1); // b/2.png
    await Deno.writeTextFile(labels, "cat\nb\n");
    await refusedWith(
      loadLabelledFolder(`${dir}/images`, labels, { seed: 1, fit }),
      /class folder "a" is not in --labels .*; name folders after the labels/,
    );
  });
});

Deno.test("loadLabelledFolder with testSize decodes only the sample: the images and order of sampling all of them", async () => {
  await withTempDir(async (dir) => {
    await twoClasses(`${dir}/images`, 4, 6);
    await Deno.writeTextFile(`${dir}/labels.txt`, "b\na\n");
    const fit = { height: 4, width: 4, channels: 1 as const };
    const whole = await loadLabelledFolder(`${dir}/images`, `${dir}/labels.txt`, { seed: 5, fit });
    assert.equal(whole.test.count, 12);
    const some = await loadLabelledFolder(`${dir}/images`, `${dir}/labels.txt`, {
      seed: 5,
      fit,
      testSize: 5,
    });
    const expected = sample(whole.test, 5, 5);
    assert.deepEqual([...some.test.images], [...expected.images]);
    assert.deepEqual([...some.test.labels], [...expected.labels]);
    assert.equal(some.test.count, 5);
  });
});

Deno.test("loadLabelledFolder keeps a seeded sample that fits the data's share of the budget, and says so", async () => {
  await withTempDir(async (dir) => {
    await twoClasses(`${dir}/images`, 4, 4);
    await Deno.writeTextFile(`${dir}/labels.txt`, "a\nb\n");
    const fit = { height: 512, width: 512, channels: 3 as const };
    let capped: Float32Array = new Float32Array(0);
    // A budget well above what the process holds, and data of its own kept (never touched, so never
    // resident) so that what data may still take holds 3.5 images of 3 MB: 3 fit.
    const budget = Math.max(rssMb() + 300, 640 + 3 * Math.ceil(keptMemory() / 2 ** 20 + 20));
    const free = ((budget - 640) / 3 - 3.5 * 3) * 2 ** 20 - keptMemory();
    const release = keepMemory(new Uint8Array(Math.max(0, Math.floor(free))));
    await withEnv("HANS_MAX_MEMORY_MB", String(budget), async () => {
      const { test, notes } = await loadLabelledFolder(`${dir}/images`, `${dir}/labels.txt`, {
        seed: 2,
        fit,
      });
      assert.equal(test.count, 3);
      assert.match(
        notes[0],
        /images: 3 of 8 images kept \(a seeded sample\), as many as the \d+ MB that data may take/,
      );
      // The sample is the one --test-size 3 keeps (with the budget's default, where 3 fit anyway).
      capped = test.images;
    }).finally(release);
    const three = await loadLabelledFolder(`${dir}/images`, `${dir}/labels.txt`, {
      seed: 2,
      fit,
      testSize: 3,
    });
    assert.deepEqual(three.test.images, capped, "the same seed keeps the same sample");
    assert.deepEqual(
      three.notes.filter((n) => /kept \(a seeded sample\)/.test(n)),
      [],
      "asked for 3: no note",
    );
  });
});
