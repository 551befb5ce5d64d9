/**
 * Hostile images and image folders, third round (issue #23), end to end: a PNG of tens of thousands of empty
 * image-data chunks, a PNG with a palette of megabytes, images too small for the CNN, a symlink loop and a
 * class folder linked to its parent, a labels file of empty lines or with a name twice, and a folder whose
 * fitted float32 pixels pass the memory budget. Every case ends with exit 2, one `hans:` line, and nothing
 * left where the results would go.
 */
import { encodePngPixels } from "../../src/deps.ts";
import { graphModelFixture } from "../fixtures/graph_model.ts";
import { concatBytes, indexedPng, pngChunk } from "../data/helpers.ts";
import { expectRefusals, SMALL_RUN, writeFolderDataset, writeGrayPng } from "./cli.ts";

const cleverHans = (folder: string) => (out: string) => [
  "clever-hans",
  "--dataset",
  `folder:${folder}`,
  "--shortcut",
  "0=square",
  ...SMALL_RUN,
  "--out",
  out,
];

Deno.test("hostile images and folders: PNG chunks, tiny images, symlink loops, labels, the memory budget", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hans-images-" });
  try {
    // A 16x16 gray PNG with 70,000 empty IDAT chunks after its header (840 KB).
    const png = encodePngPixels(new Uint8Array(256).fill(9), {
      width: 16,
      height: 16,
      channels: 1,
      level: 9,
    });
    const empty = pngChunk("IDAT");
    const many = new Uint8Array(70_000 * empty.length);
    for (let i = 0; i < 70_000; i++) many.set(empty, i * empty.length);
    await writeFolderDataset(`${dir}/chunks`, ["a", "b"], 3);
    await Deno.writeFile(`${dir}/chunks/b/1.png`, concatBytes(png.subarray(0, 33), many, png.subarray(33)));
    // A palette chunk of 3 MB (imagescript made a palette of 4 bytes per byte of it, and accepted the image).
    await writeFolderDataset(`${dir}/palette`, ["a", "b"], 3);
    await Deno.writeFile(`${dir}/palette/a/0.png`, await indexedPng(new Uint8Array(3 * 2 ** 20)));
    // 3x3 images: the CNN's second pooling leaves nothing.
    for (const c of ["a", "b"]) {
      await Deno.mkdir(`${dir}/tiny/${c}`, { recursive: true });
      for (let k = 0; k < 4; k++) await writeGrayPng(`${dir}/tiny/${c}/${k}.png`, 3, 3, () => 40 * k);
    }
    await writeFolderDataset(`${dir}/loop`, ["a", "b"], 3);
    await Deno.symlink("loop", `${dir}/loop/loop`);
    await writeFolderDataset(`${dir}/parent/images`, ["a", "b"], 3);
    await Deno.symlink("..", `${dir}/parent/images/up`);
    // A model of 224x224x3 for the labelled folders (a linear one, 1.2 MB of weights).
    const model = graphModelFixture({ height: 224, width: 224, channels: 3, classes: 2, filters: 0 });
    await Deno.mkdir(`${dir}/model`);
    await Deno.writeTextFile(`${dir}/model/model.json`, model.modelJson);
    await Deno.writeFile(`${dir}/model/weights.bin`, model.weights);
    await writeFolderDataset(`${dir}/images`, ["a", "b"], 3);
    await Deno.writeFile(`${dir}/empty-lines.txt`, new Uint8Array(200_000).fill(0x0a));
    await Deno.writeTextFile(`${dir}/twice.txt`, "a\na\n"); // as many names as the model has outputs
    await Deno.writeTextFile(`${dir}/labels.txt`, "a\nb\n");
    // 1,270 one-pixel PNGs: 63.7 megapixels at 224x224 (under the 64 of HANS_MAX_MEGAPIXELS), 765 MB as floats.
    const dot = encodePngPixels(Uint8Array.of(200), { width: 1, height: 1, channels: 1, level: 9 });
    for (const c of ["a", "b"]) {
      await Deno.mkdir(`${dir}/many/${c}`, { recursive: true });
      for (let k = 0; k < 635; k++) await Deno.writeFile(`${dir}/many/${c}/${k}.png`, dot);
    }
    const contrastive = (images: string, labels: string, ...rest: string[]) => (out: string) => [
      "contrastive",
      "--model",
      `${dir}/model`,
      "--images",
      images,
      "--labels",
      labels,
      "--quick",
      ...rest,
      "--out",
      out,
    ];
    await expectRefusals([
      {
        name: "70,000 empty IDAT chunks",
        args: cleverHans(`${dir}/chunks`),
        message: /chunks\/b\/1\.png holds more than 65,536 PNG chunks/,
      },
      {
        name: "a 3 MB palette",
        args: cleverHans(`${dir}/palette`),
        message:
          /palette\/a\/0\.png has a palette \(PLTE chunk\) of 3\.0 MB; a PNG palette holds 1 to 256 colours/,
      },
      {
        name: "3x3 images",
        args: cleverHans(`${dir}/tiny`),
        message: /tiny\/a\/0\.png is 3x3 pixels; images used at their own size must be at least 4x4/,
      },
      {
        name: "ln -s loop loop",
        args: cleverHans(`${dir}/loop`),
        message: /loop\/loop is a symbolic link that loops/,
      },
      {
        name: "a class folder linked to the folder above",
        args: cleverHans(`${dir}/parent/images`),
        message: /images\/up is a symbolic link to .*, which holds the images folder itself/,
      },
      {
        name: "--labels of 200,000 empty lines",
        args: contrastive(`${dir}/images`, `${dir}/empty-lines.txt`),
        message: /empty-lines\.txt has more than 100,000 lines/,
      },
      {
        name: "--labels naming a class twice, and a folder of that name",
        args: contrastive(`${dir}/images`, `${dir}/twice.txt`),
        message: /class folder "a" matches 2 lines of --labels .*twice\.txt \(a \(line 1\), a \(line 2\)\)/,
      },
      {
        // A budget that leaves data not one image (640 MB are the process's): the folder cannot be sampled.
        name: "1,270 images fitted to 224x224x3 in a 641 MB budget",
        args: contrastive(`${dir}/many`, `${dir}/labels.txt`, "--test-size", "1270"),
        env: { HANS_MAX_MEMORY_MB: "641" },
        message:
          /many: 1270 images of 224x224x3 at the model's 224x224 as 32-bit floats would take 729 MB, more than the .* that data may take/,
      },
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
