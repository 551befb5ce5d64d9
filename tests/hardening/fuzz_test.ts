/**
 * Seeded fuzzing of every parser of untrusted bytes: random bytes and mutated valid inputs (bit flips,
 * truncations, extensions, header fields set to huge or zero values). Nothing but a HansError may escape,
 * no call may hang, and no header may make a parser allocate what the input cannot hold.
 *
 * Each target runs in a worker for FUZZ_MS (default 2000 ms) so that a call that hangs can be stopped; a
 * failure names the case seed and input length. Reproduce one case with
 * `HANS_FUZZ_SEED=<case seed> deno test -A tests/hardening/fuzz_test.ts --filter "<target>"` (its first case).
 */
import assert from "node:assert/strict";
import { decodeImageBytes } from "../../src/data/decode_image.ts";
import { parseIdx } from "../../src/data/idx.ts";
import { readTar } from "../../src/data/tar.ts";
import { encodePngPixels } from "../../src/deps.ts";
import { HansError } from "../../src/errors.ts";
import { parseModelJson, readWeights } from "../../src/model/io.ts";
import { tarBytes } from "../data/helpers.ts";
import { TARGETS } from "./fuzz_targets.ts";
import type { FuzzReport, FuzzRequest } from "./fuzz_worker.ts";

const SEED = Number(Deno.env.get("HANS_FUZZ_SEED") ?? 1);
const BUDGET_MS = Number(Deno.env.get("FUZZ_MS") ?? 2000);
/** A single call taking longer than this counts as a hang. */
const CALL_LIMIT_MS = 3000;
/** Time for the worker to start (module loading on a busy machine) on top of the budget. */
const START_MS = 30_000;
const RSS_LIMIT = 512 * 2 ** 20;

function fuzz(target: string): Promise<FuzzReport> {
  const worker = new Worker(new URL("./fuzz_worker.ts", import.meta.url), { type: "module" });
  const buffer = new SharedArrayBuffer(4 * 8);
  const state = new Float64Array(buffer);
  const started = Date.now();
  return new Promise<FuzzReport>((resolve, reject) => {
    const timer = setInterval(() => {
      const hung = state[3] === 1 && Date.now() - state[2] > CALL_LIMIT_MS;
      const late = Date.now() - started > START_MS + BUDGET_MS + CALL_LIMIT_MS;
      if (hung || late) {
        finish();
        reject(
          new Error(
            hung
              ? `${target}: a call ran over ${CALL_LIMIT_MS} ms: case seed ${state[0]}, input length ${
                state[1]
              }`
              : `${target}: the worker did not report within ${START_MS + BUDGET_MS} ms`,
          ),
        );
      }
    }, 50);
    function finish() {
      clearInterval(timer);
      worker.terminate();
    }
    worker.onmessage = (event: MessageEvent<FuzzReport>) => {
      finish();
      resolve(event.data);
    };
    worker.onerror = (event) => {
      event.preventDefault();
      finish();
      reject(
        new Error(
          `${target}: the worker crashed (${event.message}); last case seed ${state[0]}, ` +
            `input length ${state[1]}`,
        ),
      );
    };
    const request: FuzzRequest = {
      target,
      seed: SEED,
      budgetMs: BUDGET_MS,
      rssLimit: RSS_LIMIT,
      state: buffer,
    };
    worker.postMessage(request);
  });
}

for (const target of TARGETS) {
  Deno.test(`fuzz ${target.name}: only HansErrors, no hang, bounded memory`, async () => {
    const report = await fuzz(target.name);
    const f = report.failure;
    assert.ok(
      f === undefined,
      f &&
        `${target.name}: case seed ${f.caseSeed}, input length ${f.length}: ${f.error}\n` +
          `reproduce: HANS_FUZZ_SEED=${f.caseSeed} deno test -A tests/hardening/fuzz_test.ts ` +
          `--filter "${target.name}"`,
    );
    assert.ok(report.cases >= 20, `${target.name}: only ${report.cases} cases in ${BUDGET_MS} ms`);
    console.log(
      `${target.name}: ${report.cases} cases, ${report.accepted} accepted, slowest call ${report.slowestMs} ms`,
    );
  });
}

/** Asserts that `call` throws a HansError matching `message` within `ms` milliseconds. */
async function refusedQuickly(call: () => unknown, message: RegExp, ms = 1000): Promise<void> {
  const start = performance.now();
  await assert.rejects(async () => await call(), (e: Error) => {
    assert.ok(e instanceof HansError, `expected a HansError, got ${e?.stack ?? e}`);
    assert.match(e.message, message);
    return true;
  });
  const took = performance.now() - start;
  assert.ok(took < ms, `refused after ${took.toFixed(0)} ms`);
}

function u32(bytes: Uint8Array, offset: number, value: number): Uint8Array {
  const out = bytes.slice();
  new DataView(out.buffer).setUint32(offset, value);
  return out;
}

Deno.test("headers claiming huge sizes are refused before anything that size is allocated", async () => {
  const idx = new Uint8Array(4 + 12 + 10);
  idx.set([0, 0, 8, 3]);
  const hugeIdx = u32(u32(u32(idx, 4, 0xffffffff), 8, 0xffffffff), 12, 0xffffffff);
  await refusedQuickly(() => parseIdx(hugeIdx, "huge.idx"), /expected \d.* bytes .*truncated/);

  const png = encodePngPixels(new Uint8Array(4 * 4 * 4), { width: 4, height: 4, channels: 4, level: 9 });
  await refusedQuickly(
    () => decodeImageBytes(u32(u32(png, 16, 16384), 20, 16384), "huge.png"),
    /huge\.png/,
  );
  await refusedQuickly(() => decodeImageBytes(u32(png, 16, 0xffffffff), "huge.png"), /huge\.png/);
  // a palette chunk claiming 4 GiB inside a 100-byte file
  const plte = new Uint8Array(12 + 3);
  new DataView(plte.buffer).setUint32(0, 0xfffffff0);
  plte.set(new TextEncoder().encode("PLTE"), 4);
  const indexed = png.slice();
  indexed[25] = 3;
  const withPalette = new Uint8Array([...indexed.subarray(0, 33), ...plte, ...indexed.subarray(33)]);
  await refusedQuickly(() => decodeImageBytes(withPalette, "palette.png"), /palette\.png/);

  const jpeg = await Deno.readFile(new URL("../fixtures/blue_8x6.jpg", import.meta.url));
  for (const [h, w] of [[0xffff, 0xffff], [16384, 16384], [0, 8], [6, 0]]) {
    const bytes = jpeg.slice();
    new DataView(bytes.buffer).setUint16(0x19, h);
    new DataView(bytes.buffer).setUint16(0x1b, w);
    await refusedQuickly(() => decodeImageBytes(bytes, "huge.jpg"), /huge\.jpg/);
  }

  // base-256 sizes: 1 TiB (cut short) and 2^88 (no exact number)
  for (const [from, message] of [[131, /cut short/], [125, /unreadable file size/]] as const) {
    const tar = tarBytes([{ path: "a", data: new Uint8Array(10) }]);
    tar[124] = 0x80;
    tar.fill(0, 125, 136);
    tar.fill(0xff, from, 136);
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : tar[i];
    tar.set(new TextEncoder().encode(sum.toString(8).padStart(6, "0") + "\0 "), 148);
    await refusedQuickly(() => readTar(tar, "huge.tar"), message);
  }

  const model = parseModelJson(
    JSON.stringify({
      modelTopology: { class_name: "Sequential" },
      weightsManifest: [{
        paths: ["w.bin"],
        weights: [{ name: "w", shape: [2 ** 31, 2 ** 31], dtype: "float32" }],
      }],
    }),
    "huge/model.json",
  );
  await refusedQuickly(
    () => readWeights(model, () => Promise.resolve(new Uint8Array(16)), "huge/model.json"),
    // From the manifest alone, before any weights file is read.
    /^the weights of huge\/model\.json \(\d+ MB declared\) would take \d+ MB, and the run holds/,
  );
});
