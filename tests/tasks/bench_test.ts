import assert from "node:assert/strict";
import { benchTask } from "../../tasks/bench.ts";
import { gpuTest } from "../gpu.ts";
import { METHODS } from "../../src/explain/registry.ts";
import { hansKernelsActive } from "../../src/kernels/register.ts";

// One run covers both: the 28×28 workloads of `--quick` and, with `--real`, R1–R6 at 224 (a run each took
// about 25 s here).
gpuTest(
  "bench --quick --real --json measures every workload, both paths, and R1–R6 in the peer's units",
  async () => {
    const dir = await Deno.makeTempDir();
    try {
      const kernelsBefore = hansKernelsActive();
      const doc = await benchTask(["--quick", "--real", "--json", `--out=${dir}/bench`]) as {
        adapter: string;
        backend: string;
        kernels: string;
        deno: string;
        tfjs: string;
        workloads: Record<
          string,
          { id?: string; unit: string; hans: number; reference: number; ratio: number; rate?: number }
        >;
        methods: Record<string, number>;
      };
      assert.deepEqual(JSON.parse(await Deno.readTextFile(`${dir}/bench/bench.json`)), doc);
      for (const k of ["adapter", "backend", "deno", "tfjs"] as const) assert.equal(typeof doc[k], "string");
      assert.ok(["hans", "tfjs"].includes(doc.kernels));
      assert.equal(hansKernelsActive(), kernelsBefore, "the bench leaves the kernel choice as it found it");
      const expected = [
        "train",
        "gradient",
        "integrated_gradients",
        "occlusion",
        "occlusion_active_backend",
        "smoothgrad",
        "grad_cam",
      ];
      if (doc.backend === "webgpu") expected.push("counterfactual", "counterfactual_step");
      const real = Object.entries(doc.workloads).filter(([name]) => name.startsWith("real_"));
      const small = Object.entries(doc.workloads).filter(([name]) => !name.startsWith("real_"));
      assert.deepEqual(small.map(([name]) => name).sort(), expected.sort());
      assert.deepEqual(Object.keys(doc.methods).sort(), METHODS.map((m) => m.name).sort());
      for (const [name, rate] of Object.entries(doc.methods)) assert.ok(rate > 0, name);
      for (const [name, w] of small) {
        assert.ok(w.hans > 0 && w.reference > 0, name);
        assert.ok(Math.abs(w.ratio - w.hans / w.reference) < 1e-9, name);
      }
      assert.deepEqual(real.map(([, w]) => w.id).sort(), ["R1", "R2", "R3", "R4", "R5", "R6"]);
      for (const [name, w] of real) {
        assert.ok((w.rate ?? 0) > 0, name);
        assert.equal(w.unit, name === "real_predict" ? "images/s" : "maps/s");
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

gpuTest(
  "bench --profile --quick writes the ceiling and a kernel-by-kernel profile of every workload",
  async () => {
    const dir = await Deno.makeTempDir();
    try {
      const kernelsBefore = hansKernelsActive();
      const doc = await benchTask(["--profile", "--quick", "--json", `--out=${dir}/bench`]) as {
        ceiling: { matmulGflops: number; copyGbps: number; matmulBest: string; copyBest: string };
        workloads: Record<string, { workloadMs: number; kernelMs: number; calls: number; rows: unknown[] }>;
      };
      assert.deepEqual(JSON.parse(await Deno.readTextFile(`${dir}/bench/profile.json`)), doc);
      assert.equal(hansKernelsActive(), kernelsBefore, "the ceiling leaves the kernel choice as it found it");
      assert.ok(doc.ceiling.matmulGflops > 0 && doc.ceiling.copyGbps > 0);
      assert.match(doc.ceiling.matmulBest, /matMul \d+×\d+ · \d+×\d+/);
      const names = Object.keys(doc.workloads).map((n) => n.split(" ")[0]);
      assert.deepEqual(names, [
        "train",
        "gradient",
        "integrated_gradients",
        "smoothgrad",
        "grad_cam",
        "occlusion",
      ]);
      for (const [name, w] of Object.entries(doc.workloads)) {
        assert.ok(w.rows.length > 0 && w.calls >= w.rows.length && w.workloadMs > 0, name);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
