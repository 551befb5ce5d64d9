import assert from "node:assert/strict";
import { svgTexts } from "../report/svg_figure.ts";
import { cleverHansTask } from "../../tasks/clever_hans.ts";
import { METHODS } from "../../src/explain/registry.ts";
import { gpuTest } from "../gpu.ts";
import { checkCleverHansReport } from "../report/answer_checks.ts";
import { filesUnder } from "./files.ts";

const root = new URL("../../", import.meta.url);
const attributionMethods = METHODS.filter((x) => x.attribution).map((x) => x.name);
const labels = Object.fromEntries(METHODS.map((x) => [x.name, x.label]));

function isNumber(v: unknown): boolean {
  return typeof v === "number" && Number.isFinite(v);
}

gpuTest("clever-hans --quick writes a complete results folder with the documented schema", async () => {
  const dir = await Deno.makeTempDir();
  const out = `${dir}/run`;
  try {
    const path = await cleverHansTask([
      "--quick",
      "--train-size=400",
      "--test-size=200",
      "--maps=4",
      "--shortcut=0=square",
      "--shortcut=7=timestamp",
      "--rate=7=0.5",
      "--standardize=pixel",
      `--out=${out}`,
    ]);
    assert.equal(path, out);
    assert.deepEqual(
      [...Deno.readDirSync(`${dir}`)].map((e) => e.name),
      ["run"],
      "no temporary folder is left",
    );
    const m = JSON.parse(await Deno.readTextFile(`${out}/metrics.json`));
    assert.equal(m.task, "clever-hans");
    // The files a user gets: the figures of the two planted artifacts, SpRAy's figure of each class that holds
    // stamped images (0 and 7) and of any other class it flags, the report, metrics and the model.
    const flaggedOthers = m.spray.classes.filter((c: { class: number; flagged: boolean | null }) =>
      c.flagged === true && c.class !== 0 && c.class !== 7
    ).map((c: { class: number }) => `spray-class${c.class}.svg`);
    assert.deepEqual(
      filesUnder(out),
      [
        "metrics.json",
        "model/model.json",
        "model/weights.bin",
        "report.html",
        "saliency-class0-square.svg",
        "saliency-class7-timestamp.svg",
        "spray-class0.svg",
        "spray-class7.svg",
        ...flaggedOthers,
      ].sort(),
    );
    assert.equal(m.dataset, "mnist");
    assert.equal(m.seed, 1);
    assert.ok(["webgpu", "cpu"].includes(m.backend));
    assert.equal(typeof m.adapter, "string");
    assert.equal(m.hans.deno, Deno.version.deno);
    assert.equal(m.test.size, 200);
    assert.deepEqual(Object.keys(m.accuracy.perClass), ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);
    assert.ok(isNumber(m.accuracy.clean) && m.accuracy.clean >= 0 && m.accuracy.clean <= 1);
    assert.equal(m.train.size, 400);
    assert.equal(m.train.epochs, 1);
    assert.equal(m.train.head, "flatten");
    assert.equal(m.train.standardize, "pixel");
    assert.equal(m.train.stdFloor, 0.05);
    assert.equal(
      m.train.contrastNorm,
      0,
      "no faint artifact planted: auto leaves the contrast normalization out",
    );
    assert.ok(isNumber(m.train.seconds) && isNumber(m.train.samplesPerSecond));
    assert.deepEqual(
      m.shortcuts.map((
        s: { class: number; artifact: string; rate: number },
      ) => [s.class, s.artifact, s.rate]),
      [
        [0, "square", 1],
        [7, "timestamp", 0.5],
      ],
    );
    for (const s of m.shortcuts) {
      assert.equal(s.className, String(s.class), "MNIST's classes are named by their digits");
      assert.ok(isNumber(s.accuracy.withArtifact) && isNumber(s.accuracy.withoutArtifact));
      assert.ok(isNumber(s.flipRate) && isNumber(s.baseFlipRate));
      assert.equal(typeof s.cheats, "boolean", "200 test images hold at least 20 of classes 0 and 7");
      assert.equal(s.verdictNote, null);
      assert.deepEqual(Object.keys(s.relevance), attributionMethods, "every method, in the registry's order");
      // One artifact, one mask: every method measures against the same area.
      const areas = new Set(
        Object.values(s.relevance).map((r) => (r as { areaFraction: number }).areaFraction),
      );
      assert.equal(areas.size, 1, `${s.artifact}: ${[...areas]}`);
      // The "finds" table is concentration ≥ 2 below half the image, and no verdict (null) above it.
      for (const [name, r] of Object.entries(s.relevance) as [string, Record<string, number>][]) {
        const finds = m.methodFindsArtifact[name][`${s.class}:${s.artifact}`];
        assert.equal(
          finds,
          r.areaFraction >= 0.5 ? null : r.concentration >= 2,
          `${name} finds ${s.artifact}`,
        );
      }
      for (const r of Object.values(s.relevance) as Record<string, number>[]) {
        for (
          const k of [
            "massInArtifact",
            "areaFraction",
            "rankAccuracy",
            "pointingGame",
            "deletionAuc",
            "insertionAuc",
          ]
        ) {
          assert.ok(isNumber(r[k]) && r[k] >= 0 && r[k] <= 1, k);
        }
      }
    }
    assert.deepEqual(Object.keys(m.methods), attributionMethods);
    for (const c of Object.values(m.methods) as Record<string, number>[]) {
      assert.ok(isNumber(c.deletionAuc) && isNumber(c.insertionAuc));
      assert.ok(isNumber(c.sanity) && c.sanity >= -1 && c.sanity <= 1);
    }
    assert.equal(m.spray.method, "gradient_input");
    assert.deepEqual(m.spray.classes.map((c: { class: number }) => c.class), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.equal(
      m.spray.classes.reduce((n: number, c: { count: number }) => n + c.count, 0),
      200,
      "one map per test image",
    );
    for (const c of m.spray.classes) {
      assert.ok(Number.isInteger(c.clusters) && c.clusters >= 1);
      // A class of fewer than 20 maps gets no SpRAy verdict.
      if (c.count >= 20) assert.equal(typeof c.flagged, "boolean");
      else assert.equal(c.flagged, null);
      assert.ok(isNumber(c.eigengap));
      assert.equal(c.clusterSizes.reduce((a: number, b: number) => a + b, 0), c.count);
      if (c.class === 0 || c.class === 7) assert.ok(isNumber(c.artifactPurity) && isNumber(c.artifactRecall));
      else assert.deepEqual([c.artifactPurity, c.stamped], [null, 0], "nothing stamped in a clean class");
    }
    assert.equal(
      m.spray.classes[0].stamped,
      m.spray.classes[0].count,
      "rate 1 stamps every test image of class 0",
    );
    // The square is unmissable even after one quick epoch.
    assert.equal(m.shortcuts[0].cheats, true);
    assert.ok(m.shortcuts[0].flipRate >= 0.8, `square flip rate ${m.shortcuts[0].flipRate}`);
    const html = await Deno.readTextFile(`${out}/report.html`);
    // Every sentence, caption and verdict cell of the report says what metrics.json says.
    checkCleverHansReport(html, m, labels);
    assert.ok(!/<script/i.test(html));
    assert.match(
      html,
      /input standardization<\/td><td>per pixel, clean-data statistics, std floored at 0\.05/,
    );
    assert.ok(!/(src|href)="https?:/i.test(html), "self-contained");
    // Every figure written beside the report is inline in it (the answer adds small images of its own).
    const svgs = [...Deno.readDirSync(out)].filter((e) => e.name.endsWith(".svg"));
    assert.ok(svgs.length > 0);
    for (const f of svgs) {
      const svg = (await Deno.readTextFile(`${out}/${f.name}`)).trimEnd();
      assert.ok(html.includes(svg), `${f.name} is inline`);
    }
    // Method names in full, as text, in the saliency figure.
    const figure = svgTexts(await Deno.readTextFile(`${out}/saliency-class0-square.svg`)).map((t) =>
      t.content
    );
    for (const w of ["clean", "stamped", "mask", "Gradient", "Integrated Gradients"]) {
      assert.ok(figure.includes(w), `"${w}" in ${JSON.stringify(figure)}`);
    }
    const modelJson = JSON.parse(await Deno.readTextFile(`${out}/model/model.json`));
    assert.equal(modelJson.format, "layers-model");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Runs the CLI in a child process and returns its exit code and stderr. */
async function cli(args: string[]): Promise<{ code: number; stderr: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-net",
      new URL("cli.ts", root).pathname,
      ...args,
    ],
    stdout: "null",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  });
  const { code, stderr } = await child.output();
  return { code, stderr: new TextDecoder().decode(stderr) };
}

Deno.test("bad flags give one line, exit code 2, and no results folder", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const cases: [string[], RegExp][] = [
      [["--shortcut", "0=blob"], /unknown shortcut "blob"/],
      [["--dataset", "imagenet"], /unknown data set "imagenet"/],
      [["--shortcut", "12=square"], /class "12" is not a class index from 0 to 9/],
      [["--shortcut", "1=square", "--rate", "1=1.5"], /from 0 to 1/],
      [["--train-size", "many"], /--train-size many: expected a whole number/],
      [["--epochs", "0"], /--epochs 0/],
      [["--frobnicate"], /frobnicate/],
      [["--methods", "gradient,magic"], /unknown saliency method "magic"/],
      [["--standardize", "channel"], /--standardize channel: use pixel or none/],
      [["--std-floor", "0"], /--std-floor 0/],
      [["--contrast-norm", "1.5"], /--contrast-norm 1\.5: expected a number from 0 to 1/],
    ];
    for (const [args, message] of cases) {
      const out = `${dir}/out`;
      const { code, stderr } = await cli(["clever-hans", ...args, "--out", out]);
      assert.equal(code, 2, `${args.join(" ")}: ${stderr}`);
      const lines = stderr.trim().split("\n").filter((l) => !/^error: XDG_RUNTIME_DIR/.test(l));
      assert.equal(lines.length, 1, `one line for ${args.join(" ")}: ${stderr}`);
      assert.match(lines[0], /^hans: /);
      assert.match(lines[0], message);
      assert.deepEqual([...Deno.readDirSync(dir)], [], `no folder left for ${args.join(" ")}`);
    }
    const unknown = await cli(["frobnicate"]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown task "frobnicate"/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

gpuTest(
  "clever-hans --shortcut none: a clean model, the default artifacts as probes, no class found cheating",
  async () => {
    const dir = await Deno.makeTempDir();
    try {
      const out = `${dir}/run`;
      await cleverHansTask([
        "--quick",
        "--shortcut=none",
        "--methods=gradient",
        "--spray-method=none",
        `--out=${out}`,
      ]);
      const m = JSON.parse(await Deno.readTextFile(`${out}/metrics.json`));
      assert.equal(m.train.contrastNorm, 0, "nothing planted, nothing faint: the plain CNN");
      assert.deepEqual(
        m.shortcuts.map((
          s: { class: number; artifact: string; rate: number },
        ) => [s.class, s.artifact, s.rate]),
        [[0, "square", 0], [1, "timestamp", 0], [3, "gradient", 0], [8, "watermark", 0]],
      );
      for (const s of m.shortcuts) {
        assert.equal(
          s.cheats,
          false,
          `${s.artifact}: flip ${s.flipRate}, accuracy ${JSON.stringify(s.accuracy)}`,
        );
      }
      assert.ok(m.accuracy.clean > 0.5, `the clean model learned the digits (${m.accuracy.clean})`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
