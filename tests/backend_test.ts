import assert from "node:assert/strict";
import { initBackend } from "../src/backend.ts";
import { tf } from "../src/deps.ts";

// CI sets HANS_EXPECT_BACKEND=webgpu: a machine where WebGPU did not start (Mesa missing, no adapter) must
// fail here instead of passing with the WGSL tests ignored.
const expected = Deno.env.get("HANS_EXPECT_BACKEND");

Deno.test({
  name: "the backend CI expects is the one that runs (HANS_EXPECT_BACKEND)",
  ignore: expected === undefined,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const info = await initBackend({ warn: false });
    assert.equal(tf.getBackend(), expected, `running on ${tf.getBackend()} (${info.adapter})`);
  },
});
