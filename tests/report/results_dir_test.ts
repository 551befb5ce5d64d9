import assert from "node:assert/strict";
import { join } from "node:path";
import { HansError } from "../../src/errors.ts";
import { defaultResultsPath, ResultsDir } from "../../src/report/results_dir.ts";

async function names(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(dir)) out.push(entry.name);
  return out.sort();
}

Deno.test("defaultResultsPath is results/<task>-<UTC timestamp>", () => {
  const now = new Date(Date.UTC(2026, 10, 25, 19, 30, 5, 678));
  assert.equal(defaultResultsPath("clever-hans", now), "results/clever-hans-2026-11-25T19-30-05Z");
  assert.match(defaultResultsPath("x"), /^results\/x-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ$/);
});

Deno.test("commit leaves only the final folder, with the files in it", async () => {
  const base = await Deno.makeTempDir();
  try {
    const finalPath = join(base, "out", "run-1");
    const dir = await ResultsDir.create(finalPath);
    assert.ok(dir.tempPath.startsWith(join(base, "out", ".run-1.partial-")));
    await dir.writeJson("metrics.json", { accuracy: 0.99, backend: "webgpu" });
    await dir.writeFile("report.html", "<!DOCTYPE html>");
    await dir.writeFile("maps/7.png", new Uint8Array([1, 2, 3]));
    assert.equal(dir.path("report.html"), join(dir.tempPath, "report.html"));
    assert.deepEqual(await names(join(base, "out")), [dir.tempPath.split("/").at(-1)]);
    assert.equal(await dir.commit(), finalPath);
    assert.deepEqual(await names(join(base, "out")), ["run-1"]);
    assert.deepEqual(await names(finalPath), ["maps", "metrics.json", "report.html"]);
    assert.deepEqual(JSON.parse(await Deno.readTextFile(join(finalPath, "metrics.json"))), {
      accuracy: 0.99,
      backend: "webgpu",
    });
    assert.deepEqual(await Deno.readFile(join(finalPath, "maps", "7.png")), new Uint8Array([1, 2, 3]));
    assert.equal(dir.path("report.html"), join(finalPath, "report.html"));
    await assert.rejects(() => dir.writeFile("late.txt", "x"), /already committed/);
    await dir.abort(); // no-op after commit
    assert.deepEqual(await names(finalPath), ["maps", "metrics.json", "report.html"]);
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("abort leaves nothing behind", async () => {
  const base = await Deno.makeTempDir();
  try {
    const dir = await ResultsDir.create(join(base, "run"));
    await dir.writeFile("a/b/c.txt", "partial");
    await dir.abort();
    assert.deepEqual(await names(base), []);
    await dir.abort();
    assert.equal(dir.isOpen, false);
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("an existing final path is a HansError that says to pass another --out", async () => {
  const base = await Deno.makeTempDir();
  try {
    await Deno.mkdir(join(base, "run"));
    await assert.rejects(
      () => ResultsDir.create(join(base, "run")),
      (error: unknown) =>
        error instanceof HansError && /exists; pass another --out or remove it/.test(error.message),
    );
    await Deno.writeTextFile(join(base, "file"), "x");
    await assert.rejects(() => ResultsDir.create(join(base, "file")), HansError);
    assert.deepEqual(await names(base), ["file", "run"], "nothing else created");
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("an unwritable parent is a HansError that says to pass --out", async () => {
  const base = await Deno.makeTempDir();
  try {
    // Root ignores permission bits, so make the parent unwritable by putting it under a plain file.
    await Deno.writeTextFile(join(base, "file"), "x");
    await assert.rejects(
      () => ResultsDir.create(join(base, "file", "child", "run")),
      (error: unknown) =>
        error instanceof HansError && /cannot write the results folder/.test(error.message) &&
        /--out/.test(error.message),
    );
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("file names must stay inside the folder", async () => {
  const base = await Deno.makeTempDir();
  const dir = await ResultsDir.create(join(base, "run"));
  try {
    assert.throws(() => dir.path("../escape.txt"), /stay inside/);
    assert.throws(() => dir.path("a/../../escape.txt"), /stay inside/);
    assert.throws(() => dir.path("/etc/passwd"), /stay inside/);
    assert.equal(dir.path("a/../b.txt"), join(dir.tempPath, "b.txt"));
  } finally {
    await dir.abort();
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("commit refuses to replace a folder that appeared meanwhile, keeping the results", async () => {
  const base = await Deno.makeTempDir();
  try {
    const dir = await ResultsDir.create(join(base, "run"));
    await dir.writeFile("metrics.json", "{}");
    await Deno.mkdir(join(base, "run"));
    await assert.rejects(
      () => dir.commit(),
      (e: unknown) => e instanceof HansError && e.message.includes(dir.tempPath),
    );
    await dir.abort();
    assert.equal(await Deno.readTextFile(join(dir.tempPath, "metrics.json")), "{}");
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

const canRun = Deno.permissions.querySync({ name: "run" }).state === "granted";

Deno.test({
  name: "Ctrl-C while open removes the temporary folder and exits 130",
  ignore: !canRun || Deno.build.os === "windows",
  async fn() {
    const base = await Deno.makeTempDir();
    try {
      const module = new URL("../../src/report/results_dir.ts", import.meta.url).href;
      const script = `import { ResultsDir } from ${JSON.stringify(module)};
const dir = await ResultsDir.create(${JSON.stringify(join(base, "run"))});
await dir.writeFile("half.txt", "x");
console.log(dir.tempPath);
setTimeout(() => {}, 60_000);`;
      const child = new Deno.Command(Deno.execPath(), {
        args: ["eval", "--no-config", script],
        stdout: "piped",
        stderr: "piped",
        env: { NO_COLOR: "1" },
      }).spawn();
      const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let printed = "";
      while (!printed.includes("\n")) {
        const { value, done } = await reader.read();
        if (done) break;
        printed += value;
      }
      const tempPath = printed.trim();
      assert.ok(tempPath.includes(".run.partial-"), `child printed ${printed}`);
      assert.deepEqual(await names(base), [tempPath.split("/").at(-1)]);
      child.kill("SIGINT");
      const status = await child.status;
      while (!(await reader.read()).done) {
        // drain stdout so the stream closes
      }
      const stderr = await new Response(child.stderr).text();
      assert.equal(status.code, 130, stderr);
      assert.deepEqual(await names(base), []);
    } finally {
      await Deno.remove(base, { recursive: true });
    }
  },
});

Deno.test({
  name: "create removes the temporary folders of runs that were killed, and only those",
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const partial = async (name: string, owner: boolean) => {
        await Deno.mkdir(`${dir}/${name}`);
        await Deno.writeTextFile(`${dir}/${name}/metrics.json`, "{}");
        if (owner) await Deno.writeTextFile(`${dir}/${name}/.owner`, "");
      };
      // A killed run's owner file: nobody holds it locked.
      await partial(".killed.partial-0123456789ab", true);
      // A running one's, held locked (by this process, through another open file: flock locks per open).
      await partial(".running.partial-ba9876543210", true);
      const held = await Deno.open(`${dir}/.running.partial-ba9876543210/.owner`, { read: true });
      await held.lock(true);
      await partial(".unowned.partial-aaaaaaaaaaaa", false); // an older hans's: left alone
      await partial("results-of-a-user.partial-0123456789ab", true); // not hidden: not hans's
      const out = await ResultsDir.create(`${dir}/run`);
      held.close();
      const names = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => !n.startsWith(".run."));
      assert.deepEqual(names.sort(), [
        ".running.partial-ba9876543210",
        ".unowned.partial-aaaaaaaaaaaa",
        "results-of-a-user.partial-0123456789ab",
      ]);
      await out.writeJson("metrics.json", {});
      const path = await out.commit();
      assert.deepEqual([...Deno.readDirSync(path)].map((e) => e.name), ["metrics.json"], "no .owner is kept");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("a failed run removes the --out parents it created, and only while they are empty", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const failed = await ResultsDir.create(`${dir}/a/b/run`);
    await failed.abort();
    assert.deepEqual([...Deno.readDirSync(dir)], [], "a/b created for the run and removed with it");
    await Deno.mkdir(`${dir}/kept`);
    await Deno.writeTextFile(`${dir}/kept/other.txt`, "");
    const second = await ResultsDir.create(`${dir}/kept/new/run`);
    await second.abort();
    assert.deepEqual([...Deno.readDirSync(`${dir}/kept`)].map((e) => e.name), ["other.txt"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
