/**
 * The clever-hans metrics.json: the experiment's numbers in the schema the README documents.
 * @module
 */
import type { ForwardEngineChoice } from "../model/forward_engine.ts";
import type { TrainResult } from "../model/train.ts";
import type { CleverHansResult, MethodRelevance, ShortcutResult } from "./clever_hans.ts";

/** One method's localization scores for one artifact, as written to metrics.json. */
export type RelevanceMetrics = Omit<MethodRelevance, "mapsPerSecond"> & { mapsPerSecond: number };

/** The clever-hans metrics.json document. */
export interface CleverHansMetrics {
  task: "clever-hans";
  dataset: string;
  seed: number;
  backend: string;
  adapter: string;
  /** Whose kernels ran the hot ops: `hans` (WGSL, software adapters) or `tfjs`. */
  kernels: string;
  /** The engine that ran the forward-only work (occlusion, RISE, deletion/insertion), measured; null if none. */
  forwardEngine: ForwardEngineChoice | null;
  hans: { deno: string; tfjs: string };
  accuracy: { clean: number; perClass: Record<string, number> };
  train: {
    size: number;
    epochs: number;
    seconds: number;
    samplesPerSecond: number;
    finalLoss: number;
    /** The CNN's head: `flatten` (the default) or `average` (global average pooling). */
    head: string;
    /** `none` (the default) or `pixel` (a first layer standardizes every pixel). */
    standardize: string;
    /** The floor under a pixel's standard deviation (`pixel` only; null otherwise). */
    stdFloor: number | null;
    /** Power of the contrast normalization after the first conv layer; 0 when the CNN has none. */
    contrastNorm: number;
  };
  test: { size: number };
  shortcuts: {
    class: number;
    className: string;
    artifact: string;
    rate: number;
    accuracy: { withArtifact: number; withoutArtifact: number };
    flipRate: number;
    baseFlipRate: number;
    /** The verdict; null when the test set holds too few images to tell. */
    cheats: boolean | null;
    /** Why `cheats` is null ("only 3 test images of the class; a verdict needs at least 20"), else null. */
    verdictNote: string | null;
    relevance: Record<string, RelevanceMetrics>;
  }[];
  /** SpRAy per class (absent with `--spray-method none`). */
  spray?: {
    method: string;
    classes: {
      class: number;
      className: string;
      count: number;
      stamped: number;
      clusters: number;
      eigengap: number;
      /** Null when the class had too few maps (fewer than 20) to flag or clear. */
      flagged: boolean | null;
      /** Why `flagged` is null, else null. */
      flagNote: string | null;
      artifactPurity: number | null;
      artifactRecall: number | null;
      clusterSizes: number[];
      /** The best two-way split: its conductance and the share on its smaller side (the flag's inputs). */
      split: { conductance: number; share: number };
      conductance: number[];
      eigenvalues: number[];
    }[];
  };
  /** The control model (with `--control`): same fields as the poisoned model's. */
  control?: {
    accuracy: { clean: number };
    train: CleverHansMetrics["train"];
    shortcuts: CleverHansMetrics["shortcuts"];
  };
  /** Per method: deletion/insertion AUC (mean over the artifacts) and the randomization check's correlation. */
  methods: Record<string, { deletionAuc: number; insertionAuc: number; sanity: number }>;
  /** Per method and artifact: does the method put relevance on it (concentration ≥ 2)? null where the artifact
   * covers half the image or more, so concentration cannot tell. */
  methodFindsArtifact: Record<string, Record<string, boolean | null>>;
  seconds: number;
}

/** Concentration (mass / area) from which a method counts as finding an artifact. */
export const FINDS_CONCENTRATION = 2;

/** Builds metrics.json from a result. */
export function cleverHansMetrics(
  result: CleverHansResult,
  meta: {
    dataset: string;
    seed: number;
    testSize: number;
    seconds: number;
    tfjs: string;
    sprayMethod: string;
  },
): CleverHansMetrics {
  const finds: Record<string, Record<string, boolean | null>> = {};
  for (const m of result.methods) {
    finds[m.name] = {};
    for (const s of result.shortcuts) {
      const r = s.relevance[m.name];
      finds[m.name][`${s.class}:${s.artifact}`] = !r || r.areaFraction >= 0.5
        ? null
        : r.concentration >= FINDS_CONCENTRATION;
    }
  }
  return {
    task: "clever-hans",
    dataset: meta.dataset,
    seed: meta.seed,
    backend: result.backend,
    adapter: result.adapter,
    kernels: result.kernels,
    forwardEngine: result.forwardEngine,
    hans: { deno: Deno.version.deno, tfjs: meta.tfjs },
    accuracy: {
      clean: result.cleanAccuracy,
      perClass: Object.fromEntries(result.classNames.map((n, k) => [n, result.classAccuracy[k]])),
    },
    train: trainMetrics(result.train, result),
    test: { size: meta.testSize },
    shortcuts: result.shortcuts.map(shortcutMetrics),
    spray: result.spray && {
      method: meta.sprayMethod,
      classes: result.spray.map((c) => ({
        class: c.class,
        className: c.className,
        count: c.count,
        stamped: c.stamped,
        clusters: c.clusters,
        eigengap: c.eigengap,
        flagged: c.flagged,
        flagNote: c.flagNote,
        artifactPurity: c.artifactPurity,
        artifactRecall: c.artifactRecall,
        clusterSizes: c.result.clusterSizes,
        conductance: c.result.conductance,
        eigenvalues: c.result.eigenvalues,
        split: c.result.split,
      })),
    },
    control: result.control && {
      accuracy: { clean: result.control.cleanAccuracy },
      train: trainMetrics(result.control.train, result),
      shortcuts: result.control.shortcuts.map(shortcutMetrics),
    },
    methods: result.methodChecks,
    methodFindsArtifact: finds,
    seconds: meta.seconds,
  };
}

function trainMetrics(
  t: TrainResult,
  model: Pick<CleverHansResult, "head" | "standardize" | "contrastNorm">,
): CleverHansMetrics["train"] {
  return {
    head: model.head,
    standardize: model.standardize.kind,
    stdFloor: model.standardize.kind === "pixel" ? model.standardize.floor : null,
    contrastNorm: model.contrastNorm,
    size: t.size,
    epochs: t.epochs,
    seconds: t.seconds,
    samplesPerSecond: t.samplesPerSecond,
    finalLoss: t.finalLoss,
  };
}

function shortcutMetrics(s: ShortcutResult): CleverHansMetrics["shortcuts"][number] {
  return {
    class: s.class,
    className: s.className,
    artifact: s.artifact,
    rate: s.rate,
    accuracy: { withArtifact: s.reliance.withArtifact, withoutArtifact: s.reliance.withoutArtifact },
    flipRate: s.reliance.flipRate,
    baseFlipRate: s.reliance.baseFlipRate,
    cheats: s.cheats,
    verdictNote: s.verdictNote,
    relevance: s.relevance,
  };
}

/** The lines a run prints at its end: per artifact the reliance figures and verdict, SpRAy's, the control's. */
export function cleverHansSummary(metrics: CleverHansMetrics): string[] {
  const lines = metrics.shortcuts.map((s) =>
    `class ${s.class} ${s.artifact}: with ${fixed(s.accuracy.withArtifact)} without ` +
    `${fixed(s.accuracy.withoutArtifact)} flip ${fixed(s.flipRate)} ${verdictText(s)}`
  );
  for (const c of metrics.spray?.classes ?? []) {
    if (!c.flagged && c.artifactPurity === null) continue;
    lines.push(
      `SpRAy class ${c.class}: ${c.clusters} clusters, eigengap ${c.eigengap.toFixed(3)}, ${
        c.flagged === null ? `no verdict (${c.flagNote ?? "too few maps"})` : `flagged ${c.flagged}`
      }` +
        (c.artifactPurity === null
          ? ""
          : `, artifact purity ${c.artifactPurity.toFixed(3)} recall ${c.artifactRecall!.toFixed(3)}`),
    );
  }
  for (const s of metrics.control?.shortcuts ?? []) {
    lines.push(`control class ${s.class} ${s.artifact}: flip ${fixed(s.flipRate)} ${verdictText(s)}`);
  }
  return lines;
}

/** `0.123`, or `n/a` for a figure that could not be measured (no images behind it). */
function fixed(x: number): string {
  return Number.isFinite(x) ? x.toFixed(3) : "n/a";
}

/** `cheats true`, `cheats false`, or `no verdict (only 3 test images of the class; …)`. */
function verdictText(s: { cheats: boolean | null; verdictNote?: string | null }): string {
  return s.cheats === null ? `no verdict (${s.verdictNote ?? "too few test images"})` : `cheats ${s.cheats}`;
}
