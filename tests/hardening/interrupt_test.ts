/**
 * Ctrl-C, `kill` and a closed terminal during a run: the results folder's SIGINT, SIGTERM and SIGHUP handlers
 * delete the hidden partial folder and exit with 128 + the signal's number (130, 143, 129), so neither the
 * results folder nor a `.run.partial-*` is left.
 */
import assert from "node:assert/strict";
import { CHILD_PERMISSIONS, CLI_TS, entries } from "./cli.ts";

/** How long the child may take to print its first training progress line. */
const PROGRESS_TIMEOUT_MS = 180_000;

for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143], ["SIGHUP", 129]] as const) {
  Deno.test({
    name: `${signal} during training exits ${code} and leaves no results folder`,
    ignore: Deno.build.os === "windows",
    async fn() {
      const dir = await Deno.makeTempDir({ prefix: "hans-interrupt-" });
      const child = new Deno.Command(Deno.execPath(), {
        // progress is printed once per epoch here: a small epoch ends soon, and many keep the training going
        args: [
          "run",
          ...CHILD_PERMISSIONS,
          CLI_TS,
          "clever-hans",
          "--quick",
          "--train-size=128",
          "--epochs=100",
          "--out",
          `${dir}/run`,
        ],
        stdout: "null",
        stderr: "piped",
        env: { NO_COLOR: "1" },
      }).spawn();
      let stderr = "";
      let sawProgress: () => void = () => {};
      const progress = new Promise<void>((resolve) => (sawProgress = resolve));
      const drained = (async () => {
        const decoder = new TextDecoder();
        for await (const chunk of child.stderr) {
          stderr += decoder.decode(chunk, { stream: true });
          if (/train epoch/.test(stderr)) sawProgress();
        }
      })();
      let timer: ReturnType<typeof setTimeout> | undefined;
      try {
        const timeout = new Promise<"timeout">((
          resolve,
        ) => (timer = setTimeout(() => resolve("timeout"), PROGRESS_TIMEOUT_MS)));
        const first = await Promise.race([
          progress.then(() => "progress" as const),
          child.status.then(() => "exited" as const),
          timeout,
        ]);
        assert.equal(first, "progress", `no training progress before ${first}; stderr:\n${stderr}`);
        child.kill(signal);
        const status = await child.status;
        await drained;
        assert.equal(status.signal, null, `the child handled ${signal} itself; stderr:\n${stderr}`);
        assert.equal(status.code, code, `exit code; stderr:\n${stderr}`);
        assert.deepEqual(entries(dir), [], "neither run nor .run.partial-* is left");
      } finally {
        clearTimeout(timer);
        try {
          child.kill("SIGKILL");
        } catch {
          // already exited
        }
        await child.status;
        await drained.catch(() => {});
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}
