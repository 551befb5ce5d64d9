/**
 * Bad input on the command line, end to end: every case exits with code 2, says what is wrong in exactly
 * one `hans:` line on stderr, and leaves no results folder (nor a hidden partial one) behind. And class names
 * from a folder data set reach report.html escaped.
 */
import assert from "node:assert/strict";
import { cifarBatch } from "../data/helpers.ts";
import { cli, entries, SMALL_RUN, stderrLines, writeFolderDataset, writeGrayPng } from "./cli.ts";

/** One bad command line: the arguments (given a scratch folder and the --out to use), and the message. */
interface BadCase {
  name: string;
  args: (data: string, out: string) => string[];
  message: RegExp;
}

/** Runs every case with --out in an empty folder and checks exit code, stderr and what is left there. */
async function expectRefusals(data: string, cases: BadCase[]): Promise<void> {
  for (const c of cases) {
    const parent = await Deno.makeTempDir({ prefix: "hans-bad-out-" });
    try {
      const { code, stderr } = await cli(c.args(data, `${parent}/run`));
      assert.equal(code, 2, `${c.name}: exit code ${code}, stderr:\n${stderr}`);
      const lines = stderrLines(stderr);
      assert.equal(lines.length, 1, `${c.name}: expected one line, stderr:\n${stderr}`);
      assert.match(lines[0], /^hans: /, c.name);
      assert.match(lines[0], c.message, c.name);
      assert.deepEqual(entries(parent), [], `${c.name}: nothing is left in the --out folder's parent`);
    } finally {
      await Deno.remove(parent, { recursive: true });
    }
  }
}

function cleverHans(dataset: string | undefined, ...rest: string[]): (data: string, out: string) => string[] {
  return (_data, out) => [
    "clever-hans",
    ...(dataset === undefined ? [] : ["--dataset", dataset]),
    ...SMALL_RUN,
    ...rest,
    "--out",
    out,
  ];
}

Deno.test("broken data sets: truncated files, mixed image sizes, an empty class folder", async () => {
  const data = await Deno.makeTempDir({ prefix: "hans-bad-data-" });
  try {
    const batch = cifarBatch([0, 1, 2, 3, 4, 5]);
    await Deno.writeFile(`${data}/cut.bin`, batch.subarray(0, batch.length - 100));
    const idx = new Uint8Array(4 + 12 + 3 * 28 * 28);
    idx.set([0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 28, 0, 0, 0, 28]);
    await Deno.writeFile(`${data}/cut.idx`, idx.subarray(0, idx.length - 7));
    await writeFolderDataset(`${data}/sizes`, ["a", "b"], 3);
    await writeGrayPng(`${data}/sizes/b/3.png`, 17, 16, () => 9);
    await writeFolderDataset(`${data}/empty`, ["a", "b"], 3);
    await Deno.mkdir(`${data}/empty/c`);
    await expectRefusals(data, [
      {
        name: "truncated CIFAR-10 batch",
        args: (d, out) => cleverHans(`cifar10:${d}/cut.bin`)(d, out),
        message: /cut\.bin: 18338 bytes is not a CIFAR-10 batch.*cut short/,
      },
      {
        name: "truncated IDX file given as CIFAR-10",
        args: (d, out) => cleverHans(`cifar10:${d}/cut.idx`)(d, out),
        message: /cut\.idx: \d+ bytes is not a CIFAR-10 batch/,
      },
      {
        name: "images of different sizes",
        args: (d, out) => cleverHans(`folder:${d}/sizes`)(d, out),
        message: /3\.png is 17x16 but .*0\.png is 16x16; this task needs images of one size/,
      },
      {
        name: "empty class folder",
        args: (d, out) => cleverHans(`folder:${d}/empty`)(d, out),
        message: /class folder .*empty\/c holds no \.png, \.jpg or \.jpeg files/,
      },
    ]);
  } finally {
    await Deno.remove(data, { recursive: true });
  }
});

Deno.test("downloads that fail: a 404 and a closed port", async () => {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response("not here", { status: 404 }),
  );
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const closedPort = closed.addr.port;
  closed.close();
  try {
    await expectRefusals("", [
      {
        name: "404",
        args: cleverHans(`cifar10:http://127.0.0.1:${server.addr.port}/x.bin`),
        message: /http:\/\/127\.0\.0\.1:\d+\/x\.bin: the server answered 404/,
      },
      {
        name: "closed port",
        args: cleverHans(`cifar10:http://127.0.0.1:${closedPort}/x.bin`),
        message: /127\.0\.0\.1:\d+\/x\.bin cannot be reached .*check the URL and the connection/,
      },
    ]);
  } finally {
    await server.shutdown();
  }
});

Deno.test("--out under a regular file, and --out that exists", async () => {
  const data = await Deno.makeTempDir({ prefix: "hans-bad-data-" });
  try {
    await Deno.writeTextFile(`${data}/file`, "not a folder");
    await Deno.mkdir(`${data}/taken`);
    await Deno.writeTextFile(`${data}/taken/keep.txt`, "mine");
    await expectRefusals(data, [
      {
        name: "--out under a regular file",
        args: (d) => ["clever-hans", ...SMALL_RUN, "--out", `${d}/file/run`],
        message: /cannot write the results folder in .*\/file .*pass --out with a folder you can write/,
      },
      {
        name: "--out exists",
        args: (d) => ["clever-hans", ...SMALL_RUN, "--out", `${d}/taken`],
        message: /results folder .*\/taken exists; pass another --out or remove it/,
      },
    ]);
    assert.deepEqual(entries(data), ["file", "taken"], "no partial folder beside the existing one");
    assert.deepEqual(entries(`${data}/taken`), ["keep.txt"]);
    assert.equal(await Deno.readTextFile(`${data}/file`), "not a folder");
  } finally {
    await Deno.remove(data, { recursive: true });
  }
});

Deno.test("non-numeric and out-of-range --seed, --epochs, --maps; unknown --head, --kernels", async () => {
  const cases: BadCase[] = [];
  const bad: [string, string, RegExp][] = [
    ["seed", "abc", /--seed abc: expected a whole number from 0 to 2147483648/],
    ["seed", "-1", /--seed -1: expected a whole number from 0/],
    ["seed", "1.5", /--seed 1\.5: expected a whole number/],
    ["seed", "1e12", /--seed 1e12: expected a whole number from 0 to 2147483648/],
    ["epochs", "two", /--epochs two: expected a whole number from 1 to 1000/],
    ["epochs", "0", /--epochs 0: expected a whole number from 1 to 1000/],
    ["epochs", "1001", /--epochs 1001: expected a whole number from 1 to 1000/],
    ["maps", "", /--maps : expected a whole number from 1 to 10000/],
    ["maps", "NaN", /--maps NaN: expected a whole number/],
    ["maps", "Infinity", /--maps Infinity: expected a whole number/],
    ["maps", "10001", /--maps 10001: expected a whole number from 1 to 10000/],
    ["head", "global", /--head global: use average or flatten/],
    ["kernels", "fast", /--kernels fast: use auto, hans or tfjs/],
  ];
  for (const [flag, value, message] of bad) {
    cases.push({
      name: `--${flag}=${value}`,
      // the flag comes after SMALL_RUN so that it overrides --maps=1
      args: (d, out) => cleverHans(undefined, `--${flag}=${value}`)(d, out),
      message,
    });
  }
  await expectRefusals("", cases);
});

Deno.test("contrastive --model: missing, malformed model.json, weights file missing", async () => {
  const data = await Deno.makeTempDir({ prefix: "hans-bad-data-" });
  try {
    await Deno.mkdir(`${data}/malformed`);
    await Deno.writeTextFile(`${data}/malformed/model.json`, '{"format": "layers-model", "modelTopology": ');
    await Deno.mkdir(`${data}/noweights`);
    await Deno.writeTextFile(
      `${data}/noweights/model.json`,
      JSON.stringify({
        format: "layers-model",
        modelTopology: { class_name: "Sequential", config: { name: "m", layers: [] } },
        weightsManifest: [{
          paths: ["weights.bin"],
          weights: [{ name: "dense/kernel", shape: [784, 10], dtype: "float32" }],
        }],
      }),
    );
    const contrastive = (model: string) => (d: string, out: string) => [
      "contrastive",
      "--model",
      `${d}/${model}`,
      "--quick",
      "--methods=gradient",
      "--out",
      out,
    ];
    await expectRefusals(data, [
      {
        name: "missing model",
        args: contrastive("missing"),
        message: /missing cannot be read .*pass a folder holding model\.json/,
      },
      {
        name: "malformed model.json",
        args: contrastive("malformed"),
        message: /malformed\/model\.json is not valid JSON/,
      },
      {
        name: "model.json given directly, weights missing",
        args: contrastive("noweights/model.json"),
        message: /weights file "weights\.bin" of .*noweights\/model\.json cannot be read/,
      },
    ]);
  } finally {
    await Deno.remove(data, { recursive: true });
  }
});

Deno.test("class names from a folder are escaped in report.html", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hans-escape-" });
  try {
    const evil = "<img src=x onerror=alert(1)>";
    const data = `${dir}/data`;
    // sorted, "<" comes before "p": the evil name is class 0, the one with the shortcut
    await writeFolderDataset(data, [evil, "plain"], 20);
    const { code, stderr } = await cli([
      "clever-hans",
      "--dataset",
      `folder:${data}`,
      "--shortcut",
      "0=square",
      ...SMALL_RUN,
      "--out",
      `${dir}/run`,
    ]);
    assert.equal(code, 0, stderr);
    const html = await Deno.readTextFile(`${dir}/run/report.html`);
    assert.ok(
      html.includes("&lt;img src=x onerror=alert(1)&gt;"),
      "the class name is in the report, escaped",
    );
    assert.ok(!html.includes("<img src=x"), "no raw tag from the class name");
    for (const tag of html.match(/<img\b[^>]*>/g) ?? []) {
      assert.match(tag, /^<img src="data:image\/png;base64,[A-Za-z0-9+/=]+" alt="[^"<>]*"/, tag.slice(0, 80));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
