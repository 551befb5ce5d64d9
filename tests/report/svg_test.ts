import assert from "node:assert/strict";
import { barPlot, linePlot, niceTicks, PALETTE, scatterPlot } from "../../src/report/svg.ts";
import { assertWellFormed } from "./well_formed.ts";

const HOSTILE = `a<b & "c" </svg><script>`;
const HOSTILE_ESCAPED = "a&lt;b &amp; &quot;c&quot; &lt;/svg&gt;&lt;script&gt;";

Deno.test("the well-formedness check itself catches broken markup", () => {
  assert.throws(() => assertWellFormed(`<svg a="1"><g></svg>`));
  assert.throws(() => assertWellFormed(`<svg a="1"><text>a<b</text></svg>`));
  assert.throws(() => assertWellFormed(`<svg a="1"><text>a & b</text></svg>`));
  assertWellFormed(`<svg a="1"><g><rect/></g><text>a &amp; b</text></svg>`);
});

Deno.test("niceTicks gives round, readable ticks enclosing the data", () => {
  assert.deepEqual(niceTicks(0.03, 0.97).labels, ["0", "0.2", "0.4", "0.6", "0.8", "1"]);
  assert.deepEqual(niceTicks(0, 0.3, 3).labels, ["0", "0.1", "0.2", "0.3"]);
  assert.deepEqual(niceTicks(1000, 1010, 5).labels, ["1000", "1002", "1004", "1006", "1008", "1010"]);
  assert.deepEqual(niceTicks(-1e-6, 3e-6, 4).labels, ["-1e-6", "0", "1e-6", "2e-6", "3e-6"]);
  const flat = niceTicks(5, 5);
  assert.ok(flat.values[0] < 5 && flat.values.at(-1)! > 5);
  assert.deepEqual(niceTicks(NaN, NaN).values.at(-1), 1);
});

Deno.test("linePlot is well-formed, escapes text and lists every series in the legend", () => {
  const svg = linePlot({
    title: `Deletion ${HOSTILE}`,
    xLabel: "fraction removed",
    yLabel: "p(target)",
    series: [
      { name: HOSTILE, x: [0, 0.25, 0.5, 0.75, 1], y: [0.95, 0.6, NaN, 0.2, 0.1] },
      { name: "integrated gradients", x: [0, 0.5, 1], y: [0.95, 0.3, 0.05] },
      { name: "empty", x: [], y: [] },
    ],
  });
  assertWellFormed(svg);
  assert.ok(svg.includes(HOSTILE_ESCAPED));
  assert.ok(!svg.includes("<script"));
  assert.ok(svg.includes("integrated gradients"));
  assert.ok(svg.includes(PALETTE[0]) && svg.includes(PALETTE[1]));
  assert.equal((svg.match(/<path /g) ?? []).length, 2, "two non-empty lines");
  assert.match(svg, /M[\d.]+ [\d.]+L[\d.]+ [\d.]+M/, "NaN breaks the line");
  assert.ok(svg.includes(">0.4<") && svg.includes(">fraction removed<"));
  assert.throws(() =>
    linePlot({ title: "", xLabel: "", yLabel: "", series: [{ name: "x", x: [1], y: [] }] })
  );
});

Deno.test("linePlot with no data still draws axes", () => {
  assertWellFormed(linePlot({ title: "nothing", xLabel: "", yLabel: "", series: [] }));
  assertWellFormed(linePlot({ title: "fixed", xLabel: "x", yLabel: "y", series: [], yRange: [0, 1] }));
});

Deno.test("scatterPlot colours by group and names the groups", () => {
  const points = Array.from(
    { length: 60 },
    (_, i) => ({ x: Math.cos(i), y: Math.sin(i) * 1e-3, group: i % 3 }),
  );
  const svg = scatterPlot({ title: "SpRAy", points, groupNames: ["digit", "stamp", HOSTILE] });
  assertWellFormed(svg);
  assert.equal((svg.match(/<circle /g) ?? []).length, 60 + 3);
  for (const name of ["digit", "stamp", HOSTILE_ESCAPED]) assert.ok(svg.includes(name), name);
  assert.ok(svg.includes(PALETTE[2]));
  const unnamed = scatterPlot({ title: "t", points: [{ x: 1, y: 2, group: 4 }] });
  assertWellFormed(unnamed);
  assert.ok(unnamed.includes(">group 4<"));
});

Deno.test("barPlot draws one bar per entry, negative ones included", () => {
  const svg = barPlot({
    title: "Relevance mass in the stamp",
    bars: [{ label: "gradient", value: 0.82 }, { label: HOSTILE, value: -0.1 }, { label: "nan", value: NaN }], // not measured: shown as n/a
    valueLabel: "fraction",
  });
  assertWellFormed(svg);
  assert.equal((svg.match(/<rect /g) ?? []).length, 1 + 2, "background and two bars");
  assert.ok(svg.includes(HOSTILE_ESCAPED));
  assert.ok(svg.includes(">0.82<") && svg.includes(">-0.1<") && svg.includes(">n/a<"));
  assertWellFormed(barPlot({ title: "empty", bars: [] }));
});
