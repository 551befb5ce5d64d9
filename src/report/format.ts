/**
 * Number formatting shared by tables, plot ticks and figure labels, so a value reads the same everywhere.
 * @module
 */

/**
 * Formats a number to `digits` significant digits (default 3) in the shortest readable form: plain decimals
 * between 0.001 and 100000 (`0.00123`, `42.5`, `12300`), exponent form outside (`1.23e-5`, `4.5e+6`), and
 * `n/a` (not measured: no images behind it), `inf`, `-inf` for non-finite values. Trailing zeros are dropped.
 *
 * @example
 * ```ts
 * formatNumber(0.123456); // "0.123"
 * formatNumber(-2e-7); // "-2e-7"
 * ```
 */
export function formatNumber(value: number, digits = 3): string {
  if (Number.isNaN(value)) return "n/a";
  if (value === Infinity) return "inf";
  if (value === -Infinity) return "-inf";
  if (value === 0) return "0";
  const rounded = Number(value.toPrecision(digits));
  const magnitude = Math.abs(rounded);
  if (magnitude >= 1e-3 && magnitude < 1e5) return String(rounded);
  const [mantissa, exponent] = rounded.toExponential(digits - 1).split("e");
  const trimmed = mantissa.includes(".") ? mantissa.replace(/\.?0+$/, "") : mantissa;
  return `${trimmed}e${exponent}`;
}

/**
 * A share in [0, 1] as a percentage for sentences: whole percent, one decimal below 10% (`0.4%`, `7.5%`), and
 * `n/a` when it was not measured (NaN).
 *
 * @example
 * ```ts
 * formatPercent(0.834); // "83%"
 * formatPercent(0.075); // "7.5%"
 * formatPercent(NaN); // "n/a"
 * ```
 */
export function formatPercent(share: number): string {
  if (!Number.isFinite(share)) return "n/a";
  return `${(100 * share).toFixed(share < 0.1 && share > 0 ? 1 : 0)}%`;
}

/**
 * The colour scale of a map divided by its own largest |value| `max`, as a caption: `±0.31` for a signed map
 * (colours span −max…+max), `0…0.31` for an unsigned one; two significant digits, exponent form outside
 * 0.01…100.
 *
 * @example
 * ```ts
 * mapScale(0.0312, true); // "±0.031"
 * mapScale(250, false); // "0…2.5e+2"
 * ```
 */
export function mapScale(max: number, signed: boolean): string {
  const x = max === 0 ? "0" : max >= 100 || max < 0.01 ? max.toExponential(1) : max.toPrecision(2);
  return signed ? `±${x}` : `0…${x}`;
}

/**
 * The run's engines for a report's subtitle: `webgpu on <adapter>`, and where forward-only work or the
 * gradient methods ran elsewhere, on which engine.
 *
 * @example
 * ```ts
 * engines("webgpu", "llvmpipe", { engine: "wasm" }); // "webgpu on llvmpipe; gradient-free work (predictions, occlusion, RISE, perturbation curves) on wasm, measured faster"
 * engines("webgpu", "llvmpipe", { engine: "wasm" }, { engine: "wasm" }); // "…; gradient-free work (…) and gradient methods on wasm, measured faster"
 * engines("webgpu", "llvmpipe", null); // "webgpu on llvmpipe"
 * ```
 */
export function engines(
  backend: string,
  adapter: string,
  forward?: { engine: string } | null,
  gradient?: { engine: string } | null,
): string {
  const elsewhere = (e?: { engine: string } | null) => e && e.engine !== backend ? e.engine : undefined;
  const [f, g] = [elsewhere(forward), elsewhere(gradient)];
  const free = "gradient-free work (predictions, occlusion, RISE, perturbation curves)";
  const parts = f && f === g
    ? [`${free} and gradient methods on ${f}`]
    : [...(f ? [`${free} on ${f}`] : []), ...(g ? [`gradient methods on ${g}`] : [])];
  return [`${backend} on ${adapter}`, ...parts.map((p) => `${p}, measured faster`)].join("; ");
}
