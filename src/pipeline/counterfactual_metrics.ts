/**
 * The counterfactual experiment's metrics.json: per example and summarized (success rate, medians over the
 * successes, transfer rate, the saliency correlations), without and with the prior.
 * @module
 */
import type { ForwardEngineChoice } from "../model/forward_engine.ts";
import { CHANGE_SALIENCY_METHODS } from "../counterfactual/saliency.ts";
import type { CounterfactualResult, ExampleRow } from "./counterfactual.ts";

/** What metrics.json says about the run besides the result. */
export interface CounterfactualMeta {
  model: string;
  dataset: string;
  backend: string;
  adapter: string;
  /** The engine that ran the model's predictions (its mistakes are found from them), or null. */
  forwardEngine: ForwardEngineChoice | null;
  seed: number;
  transferModel: string;
  seconds: number;
  /** Every setting that shaped the result: the flags as the run took them (input range, steps, rounds, …). */
  settings: Record<string, unknown>;
}

/** The median (the upper one for an even count); NaN for no values. */
export function median(values: number[]): number {
  return values.length ? [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] : NaN;
}

/**
 * Success rate, median L1 and L0 of the successes, the share of successes that transfer, and per saliency
 * method the median ρ of the successes with their own and with another mistake's map (NaNs left out).
 */
export function summarize(rows: ExampleRow[]) {
  const ok = rows.filter((r) => r.success);
  const medianOf = (pick: (r: ExampleRow) => Record<string, number>) =>
    Object.fromEntries(
      CHANGE_SALIENCY_METHODS.map((name) => [
        name,
        median(ok.map((r) => pick(r)[name]).filter((v) => Number.isFinite(v))),
      ]),
    );
  return {
    successRate: ok.length / rows.length,
    medianL1: median(ok.map((r) => r.l1)),
    medianL0: median(ok.map((r) => r.l0)),
    transferRate: ok.length ? ok.filter((r) => r.transfers).length / ok.length : NaN,
    medianSaliencyCorrelation: medianOf((r) => r.saliencyCorrelation),
    medianSaliencyCorrelationBaseline: medianOf((r) => r.saliencyCorrelationBaseline),
  };
}

/** Summary statistics of one run (without or with the prior). */
export type CounterfactualSummary = ReturnType<typeof summarize>;

/** The metrics.json document. */
export function counterfactualMetrics(result: CounterfactualResult, meta: CounterfactualMeta) {
  const rows = result.plain.rows;
  const p = result.withPrior;
  const ae = result.autoencoder;
  return {
    task: "counterfactual",
    model: meta.model,
    dataset: meta.dataset,
    backend: meta.backend,
    adapter: meta.adapter,
    forwardEngine: meta.forwardEngine,
    seed: meta.seed,
    settings: meta.settings,
    examples: rows,
    ...summarize(rows),
    transferModel: meta.transferModel,
    withPrior: p && ae
      ? {
        gamma: p.gamma,
        ...summarize(p.rows),
        medianReconstructionError: {
          original: median(Array.from(ae.originalErrors)),
          withoutPrior: median(rows.filter((r) => r.success).map((r) => r.reconstructionError!)),
          withPrior: median(p.rows.filter((r) => r.success).map((r) => r.reconstructionError!)),
        },
        autoencoder: { trainSize: ae.size, epochs: ae.epochs, seconds: ae.seconds, finalLoss: ae.finalLoss },
        examples: p.rows.map((r) => ({
          index: r.index,
          success: r.success,
          steps: r.steps,
          lambda1: r.lambda1,
          l0: r.l0,
          l1: r.l1,
          l2: r.l2,
          probTrue: r.probTrue,
          transfers: r.transfers,
          reconstructionError: r.reconstructionError,
          saliencyCorrelation: r.saliencyCorrelation,
          saliencyCorrelationBaseline: r.saliencyCorrelationBaseline,
        })),
      }
      : null,
    seconds: meta.seconds,
  };
}

/** The metrics.json document's type. */
export type CounterfactualMetrics = ReturnType<typeof counterfactualMetrics>;
