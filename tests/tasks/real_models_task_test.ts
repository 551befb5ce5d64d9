/**
 * The contrastive and counterfactual tasks end to end on real architectures: a functional softmax LayersModel
 * (MobileNetV2-style, ResNet-style) and the same weights as a GraphModel, with the default methods; photos of
 * another size and aspect; and a model hans cannot read as a graph, whose layer methods are left out with the
 * reason (or stop the run when asked for by name).
 */
import assert from "node:assert/strict";
import { encodePngPixels, tf } from "../../src/deps.ts";
import { HansError } from "../../src/errors.ts";
import { Rng } from "../../src/rng.ts";
import { contrastiveTask } from "../../tasks/contrastive.ts";
import { counterfactualTask } from "../../tasks/counterfactual.ts";
import {
  layersModelFiles,
  mobileNetV2Like,
  resNetLike,
  toGraphModel,
  writeModelFolder,
} from "../fixtures/real_models.ts";
import { gpuTest } from "../gpu.ts";

const LAYER_METHODS = [
  "guided_backprop",
  "grad_cam",
  "guided_grad_cam",
  "lrp_epsilon",
  "lrp_alpha_beta",
  "lrp_epsilon_plus_flat",
];

/** A folder of PNGs, `perClass` per class, 40×30 RGB (another size and aspect than the model's 32×32). */
async function photoFolder(dir: string, classes: string[], perClass: number): Promise<void> {
  const rng = new Rng(9);
  for (const [k, name] of classes.entries()) {
    await Deno.mkdir(`${dir}/${name}`, { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const pixels = new Uint8Array(40 * 30 * 3);
      for (let p = 0; p < 40 * 30; p++) {
        // A class-coloured blob on noise.
        const x = p % 40, y = Math.floor(p / 40);
        const blob = Math.hypot(x - 10 - 10 * k, y - 15) < 8 ? 200 : 0;
        for (let c = 0; c < 3; c++) {
          pixels[p * 3 + c] = Math.min(255, blob * (c === k ? 1 : 0.3) + 50 * rng.next());
        }
      }
      await Deno.writeFile(
        `${dir}/${name}/${i}.png`,
        encodePngPixels(pixels, { width: 40, height: 30, channels: 3 }),
      );
    }
  }
}

async function metrics(out: string) {
  return JSON.parse(await Deno.readTextFile(`${out}/metrics.json`));
}

gpuTest(
  "contrastive on a functional softmax model and its GraphModel: every method, photos fitted to the model",
  async () => {
    const dir = await Deno.makeTempDir();
    const classes = ["red", "green", "blue"];
    const net = mobileNetV2Like({ height: 32, width: 32, channels: 3, classes: 3, seed: 2 });
    try {
      await photoFolder(`${dir}/photos`, classes, 6);
      await Deno.writeTextFile(`${dir}/labels.txt`, classes.join("\n") + "\n");
      await writeModelFolder(`${dir}/layers`, await layersModelFiles(net));
      await writeModelFolder(`${dir}/graph`, await toGraphModel(net, { fused: true }));
      for (const kind of ["layers", "graph"]) {
        const out = `${dir}/run-${kind}`;
        await contrastiveTask([
          `--model=${dir}/${kind}`,
          `--images=${dir}/photos`,
          `--labels=${dir}/labels.txt`,
          "--examples=3",
          "--quick",
          `--out=${out}`,
        ]);
        const m = await metrics(out);
        assert.equal(m.outputs, "pre-softmax", kind);
        assert.equal(m.graph, kind === "layers" ? "layers-model" : "graph-model");
        assert.deepEqual(m.methodsLeftOut, [], kind);
        for (const name of LAYER_METHODS) assert.ok(name in m.methods, `${kind}: ${name} ran`);
        assert.equal(m.layer, kind === "layers" ? "head_relu" : "head_relu/Relu6");
        // Its shape as Keras gives it, without the batch.
        assert.deepEqual(m.layerShape, (net.getLayer("head_relu").outputShape as number[]).slice(1));
        assert.ok(m.imageNotes.some((n: string) => n.includes("centre-cropped")), m.imageNotes.join(" "));
        assert.ok(m.imageNotes.some((n: string) => n.includes("resized to 32x32")), m.imageNotes.join(" "));
        const html = await Deno.readTextFile(`${out}/report.html`);
        assert.match(
          html,
          /the logits before the model&#39;s final softmax|the logits before the model's final softmax/,
        );
      }
    } finally {
      net.dispose();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

gpuTest(
  "contrastive on a model hans cannot read as a graph: layer methods left out with the reason, or refused",
  async () => {
    const dir = await Deno.makeTempDir();
    const classes = ["red", "green", "blue"];
    const net = tf.sequential({
      layers: [
        tf.layers.conv2d({
          inputShape: [16, 16, 3],
          filters: 4,
          kernelSize: 3,
          strides: 2,
          activation: "relu",
        }),
        tf.layers.upSampling2d({ size: [2, 2], name: "upsample" }),
        tf.layers.globalAveragePooling2d({}),
        tf.layers.dense({ units: 3, activation: "softmax" }),
      ],
    });
    try {
      await photoFolder(`${dir}/photos`, classes, 4);
      await Deno.writeTextFile(`${dir}/labels.txt`, classes.join("\n"));
      await writeModelFolder(`${dir}/model`, await layersModelFiles(net));
      const common = [
        `--model=${dir}/model`,
        `--images=${dir}/photos`,
        `--labels=${dir}/labels.txt`,
        "--quick",
      ];
      await assert.rejects(
        contrastiveTask([...common, "--methods=gradient,grad_cam", `--out=${dir}/refused`]),
        (e: Error) =>
          e instanceof HansError && /Grad-CAM .* cannot run/.test(e.message) &&
          /UpSampling2D/.test(e.message),
      );
      await assert.rejects(Deno.stat(`${dir}/refused`), Deno.errors.NotFound);
      const out = `${dir}/run`;
      await contrastiveTask([...common, "--examples=2", `--out=${out}`]);
      const m = await metrics(out);
      assert.equal(m.outputs, "log-probabilities");
      assert.deepEqual(m.methodsLeftOut.map((l: { name: string }) => l.name), LAYER_METHODS);
      for (const l of m.methodsLeftOut) assert.match(l.reason, /upsample.*UpSampling2D/);
      assert.ok("integrated_gradients" in m.methods && !("grad_cam" in m.methods));
      assert.match(await Deno.readTextFile(`${out}/report.html`), /method left out/);
    } finally {
      net.dispose();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

gpuTest("--layer picks Grad-CAM's layer; an unknown name lists the candidates", async () => {
  const dir = await Deno.makeTempDir();
  const classes = ["red", "green", "blue"];
  const net = resNetLike({ height: 32, width: 32, channels: 3, classes: 3, seed: 2 });
  try {
    await photoFolder(`${dir}/photos`, classes, 4);
    await Deno.writeTextFile(`${dir}/labels.txt`, classes.join("\n"));
    await writeModelFolder(`${dir}/model`, await layersModelFiles(net));
    const common = [
      `--model=${dir}/model`,
      `--images=${dir}/photos`,
      `--labels=${dir}/labels.txt`,
      "--quick",
    ];
    await assert.rejects(
      contrastiveTask([...common, "--methods=grad_cam", "--layer=nope", `--out=${dir}/bad`]),
      (e: Error) =>
        e instanceof HansError && e.message.includes('no layer "nope"') && e.message.includes("block1_add"),
    );
    const out = `${dir}/run`;
    await contrastiveTask([
      ...common,
      "--methods=grad_cam",
      "--layer=block1_add",
      "--examples=2",
      `--out=${out}`,
    ]);
    assert.equal((await metrics(out)).layer, "block1_add");
  } finally {
    net.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});

gpuTest("counterfactual on a functional softmax model and on its GraphModel", async () => {
  const dir = await Deno.makeTempDir();
  const net = resNetLike({ height: 28, width: 28, channels: 1, classes: 10, seed: 3 });
  try {
    await writeModelFolder(`${dir}/layers`, await layersModelFiles(net));
    await writeModelFolder(`${dir}/graph`, await toGraphModel(net));
    for (const kind of ["layers", "graph"]) {
      const out = `${dir}/run-${kind}`;
      await counterfactualTask([
        `--model=${dir}/${kind}`,
        "--quick",
        "--no-prior",
        "--test-size=100",
        "--examples=2",
        "--steps=10",
        "--rounds=1",
        `--transfer-model=${new URL("../../fixtures/fashion-mnist-cnn", import.meta.url).pathname}`,
        `--out=${out}`,
      ]);
      const m = await metrics(out);
      assert.equal(m.examples.length, 2, kind);
      for (const e of m.examples) assert.notEqual(e.true, e.predicted);
    }
  } finally {
    net.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});

gpuTest("counterfactual fits a folder: dataset of 40×30 photos to the model's 32×32 input", async () => {
  const dir = await Deno.makeTempDir();
  const classes = ["red", "green", "blue"];
  const net = mobileNetV2Like({ height: 32, width: 32, channels: 3, classes: 3, seed: 2 });
  try {
    await photoFolder(`${dir}/photos`, classes, 6);
    await writeModelFolder(`${dir}/layers`, await layersModelFiles(net));
    const out = `${dir}/run`;
    await counterfactualTask([
      `--model=${dir}/layers`,
      `--dataset=folder:${dir}/photos`,
      "--no-prior",
      "--examples=2",
      "--steps=5",
      "--rounds=1",
      `--transfer-model=${dir}/layers`,
      `--out=${out}`,
    ]);
    const m = await metrics(out);
    assert.ok(m.examples.length >= 1 && m.examples.length <= 2);
    for (const e of m.examples) assert.notEqual(e.true, e.predicted);
  } finally {
    net.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});
