/**
 * One independent reference for hans's LRP: Captum's LRP (vendored in the peer folder, BSD) on the same small
 * conv net with the same weights, through tests/reference/lrp_captum.py. Runs where /usr/bin/python3 imports
 * torch and the peer folder has Captum (`apt-get install -y python3-torch`); reported as ignored elsewhere.
 * HANS_PEER_DIR overrides the peer folder (default ../shared/peer beside the repository).
 */
import assert from "node:assert/strict";
import { tf } from "../../src/deps.ts";
import { fromLayersModel } from "../../src/explain/explainable_model.ts";
import { lrpAlphaBeta } from "../../src/explain/lrp_alpha_beta.ts";
import { lrpEpsilon } from "../../src/explain/lrp_epsilon.ts";
import { Rng } from "../../src/rng.ts";

const PYTHON = "/usr/bin/python3";
const PEER = Deno.env.get("HANS_PEER_DIR") ?? new URL("../../../shared/peer", import.meta.url).pathname;
const SCRIPT = new URL("../reference/lrp_captum.py", import.meta.url).pathname;

async function captumAvailable(): Promise<boolean> {
  try {
    const probe = new Deno.Command(PYTHON, {
      args: ["-c", "import torch, captum.attr"],
      env: { PYTHONPATH: PEER },
      stdout: "null",
      stderr: "null",
    });
    return (await probe.output()).success;
  } catch {
    return false;
  }
}

const H = 8, W = 8, C = 2, K = 3, N = 4;

/** conv 3×3 same (2 → 4) → ReLU → maxpool 2×2 → conv 3×3 valid (4 → 6) → ReLU → flatten → dense (24 → 3). */
function net(rng: Rng): tf.Sequential {
  const model = tf.sequential({
    layers: [
      tf.layers.conv2d({
        inputShape: [H, W, C],
        filters: 4,
        kernelSize: 3,
        padding: "same",
        activation: "relu",
      }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.conv2d({ filters: 6, kernelSize: 3, activation: "relu" }),
      tf.layers.flatten(),
      tf.layers.dense({ units: K }),
    ],
  });
  for (const layer of model.layers) {
    const weights = layer.getWeights();
    if (weights.length === 0) continue;
    layer.setWeights(
      weights.map((w, i) =>
        tf.tensor(Float32Array.from({ length: w.size }, () => (i === 0 ? 0.5 : 0.1) * rng.normal()), w.shape)
      ),
    );
  }
  return model;
}

async function flat(t: tf.Tensor): Promise<number[]> {
  return Array.from(await t.data());
}

/** Max |a − b| relative to max |b|. */
function relativeMaxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0, scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}

Deno.test({
  name: "LRP-ε and LRP-α1β0 agree with Captum's LRP on a small conv net with the same weights",
  ignore: !(await captumAvailable()),
  async fn() {
    await tf.setBackend("cpu");
    const rng = new Rng(11);
    const model = net(rng);
    const x = tf.tensor4d(Float32Array.from({ length: N * H * W * C }, () => rng.next()), [N, H, W, C]);
    const targets = [0, 1, 2, 1];
    const [k1, b1, k2, b2, kd, bd] = model.getWeights();
    const dir = await Deno.makeTempDir({ prefix: "hans-lrp-captum-" });
    try {
      const spec = {
        shape: [N, H, W, C],
        images: await flat(x),
        targets,
        conv1: { in: C, out: 4, size: 3, kernel: await flat(k1), bias: await flat(b1) },
        conv2: { in: 4, out: 6, size: 3, kernel: await flat(k2), bias: await flat(b2) },
        dense: { in: 24, out: K, kernel: await flat(kd), bias: await flat(bd) },
      };
      await Deno.writeTextFile(`${dir}/net.json`, JSON.stringify(spec));
      const run = await new Deno.Command(PYTHON, { args: [SCRIPT, dir], env: { PYTHONPATH: PEER } }).output();
      assert.ok(run.success, new TextDecoder().decode(run.stderr));
      const captum = JSON.parse(await Deno.readTextFile(`${dir}/captum.json`)) as Record<string, number[]>;
      // Relevance per input value (before the sum over channels): the maps sum channels, so compare them summed.
      const sumChannels = (r: number[]) =>
        Array.from({ length: N * H * W }, (_, p) => r[p * C] + r[p * C + 1]);
      const explainable = fromLayersModel(model);
      const hansEpsilon = await flat(
        await lrpEpsilon(explainable, x, targets, { inputRule: "epsilon", epsilon: 0 }),
      );
      const hansAlphaBeta = await flat(
        await lrpAlphaBeta(explainable, x, targets, { inputRule: "alphaBeta" }),
      );
      const rows = [
        ["ε (LRP-0, stabilizer 1e-9) everywhere", relativeMaxDiff(hansEpsilon, sumChannels(captum.epsilon))],
        ["α1β0 everywhere (biases out)", relativeMaxDiff(hansAlphaBeta, sumChannels(captum.alpha1beta0))],
      ] as const;
      for (const [rule, diff] of rows) {
        console.log(`${rule}: max |hans − Captum| / max |Captum| = ${diff.toExponential(2)}`);
        assert.ok(diff < 1e-4, `${rule}: ${diff}`);
      }
      // The two rules differ from each other by far more than either differs from Captum.
      assert.ok(relativeMaxDiff(hansEpsilon, hansAlphaBeta) > 1e-2);
    } finally {
      await Deno.remove(dir, { recursive: true });
      x.dispose();
      model.dispose();
    }
  },
});
