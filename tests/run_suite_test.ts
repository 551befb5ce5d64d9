import assert from "node:assert/strict";
import { descendants } from "./run_suite.ts";

Deno.test({
  name: "run_suite finds what a test process started, and its children, so a time-out stops them too",
  ignore: Deno.build.os !== "linux", // reads /proc
  fn: async () => {
    // sh starts a sleep that starts nothing, and a second sh that starts a sleep of its own.
    const shell = new Deno.Command("sh", {
      args: ["-c", "sleep 30 & sh -c 'sleep 31 & wait' & wait"],
      stdout: "null",
      stderr: "null",
    }).spawn();
    try {
      let found: number[] = [];
      for (let i = 0; i < 100 && found.length < 3; i++) {
        await new Promise((r) => setTimeout(r, 20));
        found = descendants(shell.pid);
      }
      const names = found.map((pid) => Deno.readTextFileSync(`/proc/${pid}/comm`).trim()).sort();
      assert.deepEqual(names, ["sh", "sleep", "sleep"]);
      for (const pid of found) Deno.kill(pid, "SIGTERM");
      // With its children gone, the shell's wait returns and it ends by itself.
      await shell.status;
      assert.deepEqual(descendants(shell.pid), []);
    } finally {
      try {
        shell.kill("SIGKILL");
      } catch { /* ended */ }
    }
    assert.deepEqual(descendants(2 ** 30), [], "no such process: nothing");
  },
});
