import assert from "node:assert/strict";
import { spawnGroup, stopGroup } from "./run_suite.ts";

Deno.test({
  name: "run_suite's stop reaches what a test process started, and their children",
  ignore: Deno.build.os === "windows", // no process groups
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      // A shell whose child shell starts a grandchild that appends to a file every 20 ms until it is stopped.
      const tick = `while :; do echo x >> '${dir}/ticks'; sleep 0.02; done`;
      const shell = spawnGroup("sh", {
        args: ["-c", `sh -c "${tick}" & wait`],
        stdout: "null",
        stderr: "null",
      });
      const size = async () => {
        try {
          return (await Deno.stat(`${dir}/ticks`)).size;
        } catch {
          return 0;
        }
      };
      const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
      for (let i = 0; i < 200 && await size() === 0; i++) await pause(20);
      assert.ok(await size() > 0, "the grandchild runs");
      stopGroup(shell);
      assert.equal((await shell.status).signal, "SIGTERM");
      await pause(200); // a write under way when the signal came may still land
      const after = await size();
      await pause(300);
      assert.equal(await size(), after, "the grandchild was stopped with the group");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
