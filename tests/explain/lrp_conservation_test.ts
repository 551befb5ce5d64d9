/**
 * The conservation report on a 32×32 net with BatchNorm after its ReLUs (which no canonizer can merge into the
 * layer before it): Σ relevance / target logit per image, for LRP-ε, LRP-α1β0 and ε-plus-flat, with the net's
 * biases and BatchNorm offsets as they are and set to 0. The figures are printed (docs/saliency-methods.md
 * records them); the assertions are what LRP's theory says: without biases LRP-ε and ε-plus-flat conserve.
 */
import assert from "node:assert/strict";
import { tf } from "../../src/deps.ts";
import type { AnyMethod } from "../../src/explain/descriptor.ts";
import { fromLayersModel } from "../../src/explain/explainable_model.ts";
import { lrpAlphaBetaMethod } from "../../src/explain/lrp_alpha_beta.ts";
import { lrpEpsilonMethod } from "../../src/explain/lrp_epsilon.ts";
import { lrpEpsilonPlusFlatMethod } from "../../src/explain/lrp_epsilon_plus_flat.ts";
import { Rng } from "../../src/rng.ts";
import { gpuTest } from "../gpu.ts";

const N = 16, CLASSES = 10;

/**
 * conv 3×3 16 + ReLU → BN → maxpool → conv 3×3 32 + ReLU → BN → maxpool → flatten → dense 64 + ReLU → BN →
 * dense 10, seeded, with random biases; each BatchNorm's moving statistics are those of its input on `x` (as
 * after training) and its gamma and beta random, so its offset is large and negative, as in trained nets.
 */
function bnAfterReluNet(x: tf.Tensor4D, zeroOffsets: boolean): tf.Sequential {
  const rng = new Rng(21);
  const net = tf.sequential({
    layers: [
      tf.layers.conv2d({
        inputShape: [32, 32, 3],
        filters: 16,
        kernelSize: 3,
        padding: "same",
        activation: "relu",
      }),
      tf.layers.batchNormalization({}),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.conv2d({ filters: 32, kernelSize: 3, padding: "same", activation: "relu" }),
      tf.layers.batchNormalization({}),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 64, activation: "relu" }),
      tf.layers.batchNormalization({}),
      tf.layers.dense({ units: CLASSES }),
    ],
  });
  let h: tf.Tensor = x;
  for (const layer of net.layers) {
    const weights = layer.getWeights();
    if (layer.getClassName() === "BatchNormalization") {
      const n = weights[0].shape[0];
      const axes = h.rank === 4 ? [0, 1, 2] : [0];
      const { mean, variance } = tf.moments(h, axes);
      const values = (f: () => number) => tf.tensor1d(Float32Array.from({ length: n }, f));
      layer.setWeights(
        zeroOffsets
          ? [values(() => 0.5 + rng.next()), tf.zeros([n]), tf.zeros([n]), tf.add(variance, 1e-3)]
          : [values(() => 0.5 + rng.next()), values(() => 0.1 * rng.normal()), mean, tf.add(variance, 1e-3)],
      );
    } else if (weights.length === 2) {
      const [kernel, bias] = weights;
      const fanIn = kernel.size / kernel.shape[kernel.rank - 1];
      layer.setWeights([
        tf.tensor(
          Float32Array.from({ length: kernel.size }, () => Math.sqrt(2 / fanIn) * rng.normal()),
          kernel.shape,
        ),
        zeroOffsets
          ? tf.zerosLike(bias)
          : tf.tensor(Float32Array.from({ length: bias.size }, () => 0.1 * rng.normal())),
      ]);
    }
    h = layer.apply(h) as tf.Tensor;
  }
  return net;
}

function range(values: number[]): string {
  const fixed = (v: number) => Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(3);
  return `${fixed(Math.min(...values))} … ${fixed(Math.max(...values))}`;
}

gpuTest("conservation (Σ R / logit) on a 32×32 net with BatchNorm after its ReLUs", async () => {
  const x = tf.randomUniform([N, 32, 32, 3], 0, 1, "float32", 5) as tf.Tensor4D;
  const target = Array.from({ length: N }, (_, i) => i % CLASSES);
  const methods: AnyMethod[] = [lrpEpsilonMethod, lrpAlphaBetaMethod, lrpEpsilonPlusFlatMethod];
  for (const zeroOffsets of [false, true]) {
    const net = bnAfterReluNet(x, zeroOffsets);
    const model = fromLayersModel(net);
    for (const method of methods) {
      const { maps, report } = await method.explainReport!(model, x, target, {});
      maps.dispose();
      const c = report.conservation;
      console.log(
        `${zeroOffsets ? "biases 0" : "biases  "} ${method.name.padEnd(22)} Σ R / logit ${range(c)}`,
      );
      if (zeroOffsets && method !== lrpAlphaBetaMethod) {
        c.forEach((v, i) => assert.ok(Math.abs(v - 1) < 1e-3, `${method.name} image ${i}: ${v}`));
      }
    }
    net.dispose();
  }
  x.dispose();
});
