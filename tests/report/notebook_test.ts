import assert from "node:assert/strict";
import { tf } from "../../src/deps.ts";
import { HansError } from "../../src/errors.ts";
import { JUPYTER_DISPLAY, mapsFigure, mapsToArrays, showMaps, toPng } from "../../src/report/notebook.ts";
import { display, inNotebook, notebookProgress } from "../../src/report/notebook_display.ts";

await tf.setBackend("cpu");

const images = tf.randomUniform([2, 4, 4, 1], 0, 1, "float32", 1) as tf.Tensor4D;
const positive = tf.randomUniform([2, 4, 4], 0, 1, "float32", 2) as tf.Tensor3D;
const signed = tf.randomUniform([2, 4, 4], -1, 1, "float32", 3) as tf.Tensor3D;

Deno.test("mapsFigure shows itself as inline SVG with the methods' labels, the class names and both colour bars", async () => {
  const figure = await mapsFigure(images, { gradient: positive, "P − Q": signed }, {
    classNames: ["Dress", "Shirt"],
    labels: [0, 1],
    predicted: [1, 0],
    title: "why",
  });
  const bundle = figure[JUPYTER_DISPLAY]();
  assert.equal(JUPYTER_DISPLAY, Symbol.for("Jupyter.display"));
  assert.deepEqual(Object.keys(bundle), ["text/html", "text/plain"]);
  assert.equal(bundle["text/html"], figure.svg);
  assert.equal(bundle["text/plain"], "maps of 2 images (4×4): Gradient, P − Q");
  for (
    const words of [
      "Gradient",
      "P − Q",
      "Dress → Shirt",
      "Shirt → Dress",
      "why",
      "unsigned maps",
      "signed maps",
    ]
  ) {
    assert.ok(figure.svg.includes(words), `no "${words}" in the figure`);
  }
  // One image cell, then one overlay per column, per row; plus the two colour bars.
  assert.equal(figure.svg.split("<image ").length - 1, 2 * 3 + 2);
});

Deno.test("a registered method's signedness wins; other keys are signed when a value is negative", async () => {
  const unsigned = await mapsFigure(images, { integrated_gradients: positive }, { signed: {} });
  assert.ok(unsigned.svg.includes("signed maps: value / max |value|")); // IG is a signed method
  const plain = await mapsFigure(images, { mine: await positive.array() });
  assert.ok(plain.svg.includes("unsigned maps") && !plain.svg.includes("signed maps: value / max |value|"));
  assert.match((await showMaps(signed, images)).summary, /: maps$/);
});

Deno.test("mapsFigure refuses maps of another size in one line", async () => {
  const small = tf.zeros([2, 3, 3]) as tf.Tensor3D;
  await assert.rejects(
    mapsFigure(images, { gradient: small }),
    (e) =>
      e instanceof HansError &&
      /maps "gradient" hold 18 values, not one 4×4 map per image for 2 images/.test(e.message),
  );
  await assert.rejects(
    mapsFigure(images, { g: positive }, { extraImages: { cf: new Float32Array(3) } }),
    /extra images "cf" do not match/,
  );
  small.dispose();
});

Deno.test("toPng writes a PNG of the scaled size and shows as image/png; mapsToArrays is the tensor's values", async () => {
  const png = await toPng(signed.slice([0, 0, 0], [1, -1, -1]).squeeze([0]) as tf.Tensor2D, { scale: 3 });
  const view = new DataView(png.bytes.buffer, png.bytes.byteOffset);
  assert.deepEqual([view.getUint32(16), view.getUint32(20)], [12, 12]); // IHDR width, height
  const bundle = png[JUPYTER_DISPLAY]();
  assert.deepEqual(Uint8Array.from(atob(bundle["image/png"]), (c) => c.charCodeAt(0)), png.bytes);
  const image = await toPng(images.slice([0, 0, 0, 0], [1, -1, -1, -1]).squeeze([0]) as tf.Tensor3D);
  assert.equal(image.width, 16);
  await assert.rejects(toPng(tf.zeros([2, 2, 2]) as tf.Tensor3D), /expected a map \[H,W\] or an image/);
  assert.deepEqual(await mapsToArrays(positive), await positive.array());
});

Deno.test("outside a kernel, display prints the text line and notebookProgress prints finished loops", async () => {
  assert.equal(inNotebook(), false);
  const lines: string[] = [];
  const [log, error] = [console.log, console.error];
  console.log = console.error = (line: string) => lines.push(line);
  try {
    await display(await showMaps(positive, images, { method: "gradient" }));
    const progress = notebookProgress();
    progress.onProgress(1, 2, "RISE");
    progress.onProgress(2, 2, "RISE");
  } finally {
    [console.log, console.error] = [log, error];
  }
  assert.deepEqual(lines, ["maps of 2 images (4×4): Gradient", "RISE: 2/2"]);
});
