import assert from "node:assert/strict";
import { tf } from "../../src/deps.ts";
import { fromLayersModel } from "../../src/explain/explainable_model.ts";
import {
  integratedGradients,
  integratedGradientsWithReport,
} from "../../src/explain/integrated_gradients.ts";
import { Rng } from "../../src/rng.ts";
import { gpuTest, take } from "../gpu.ts";

/** |Σ map − gap| / |gap| of each image's map. */
function errors(maps: Float32Array, gaps: number[], pixels: number): number[] {
  return gaps.map((gap, i) => {
    let total = 0;
    for (let j = i * pixels; j < (i + 1) * pixels; j++) total += maps[j];
    return Math.abs(total - gap) / Math.max(Math.abs(gap), 1e-6);
  });
}

gpuTest(
  "Integrated Gradients keeps each image's best map over its refinements, never one worse than the last tried",
  async () => {
    // A ReLU net whose gradient is piecewise constant: the quadrature error does not fall steadily.
    const net = tf.sequential({
      layers: [
        tf.layers.conv2d({
          inputShape: [6, 6, 1],
          filters: 4,
          kernelSize: 3,
          activation: "relu",
          kernelInitializer: tf.initializers.randomNormal({ seed: 11 }),
          biasInitializer: tf.initializers.randomNormal({ seed: 12 }),
        }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 3, kernelInitializer: tf.initializers.randomNormal({ seed: 13 }) }),
      ],
    });
    const model = fromLayersModel(net);
    const rng = new Rng(3);
    const n = 12;
    const x = tf.tensor4d(Float32Array.from({ length: n * 36 }, () => rng.next()), [n, 6, 6, 1]);
    const target = Array.from({ length: n }, (_, i) => i % 3);
    // A tolerance no map meets: every image is refined 2 → … → 16 points, and keeps its best map.
    const report = await integratedGradientsWithReport(model, x, target, {
      steps: 2,
      maxSteps: 16,
      tolerance: 1e-9,
    });
    const kept = await take(report.maps);
    // The reported error is the kept map's own.
    const own = errors(kept, report.gap, 36);
    own.forEach((e, i) => assert.ok(Math.abs(e - report.completenessError[i]) < 1e-4, `image ${i}: ${e}`));
    // The last map tried is the 16-point one (computed here on its own, without refinement): the kept map is
    // never worse, and for some image here strictly better, with fewer points.
    const last = errors(
      await take(await integratedGradients(model, x, target, { steps: 16, maxSteps: 16 })),
      report.gap,
      36,
    );
    let better = 0;
    for (let i = 0; i < n; i++) {
      assert.ok(report.completenessError[i] <= last[i] + 1e-4, `image ${i} kept a map worse than the last`);
      if (report.completenessError[i] < last[i] - 1e-3) {
        assert.ok(report.steps[i] < 16, `image ${i}: a better map than the 16-point one has fewer points`);
        better++;
      }
    }
    assert.ok(better > 0, "no image kept a better map than the last one tried");
    x.dispose();
    net.dispose();
  },
);
