/**
 * Spectral Relevance Analysis (SpRAy; Lapuschkin et al. 2019, "Unmasking Clever Hans predictors"): clusters
 * one class's relevance maps by spectral clustering, so that a class decided by more than one strategy (the
 * object for most images, a stamped artifact for some) shows up as more than one cluster. Pure CPU over maps
 * that are already computed.
 * @module
 */
import { EigenvalueDecomposition, kmeans, Matrix } from "../deps.ts";
import { HansError } from "../errors.ts";
import { Rng } from "../rng.ts";

/** How each map is scaled before maps are compared: by its sum of absolute values, or by its largest one. */
export type SprayNormalization = "sum" | "max";

/** Options of {@link sprayClass}; every field has a default. */
export interface SprayOptions {
  /** Target side of the downsized maps: maps are average-pooled by `round(height / size)`. Default 14. */
  size?: number;
  /** Per-map scaling so maps are comparable: "sum" divides by sum |v|, "max" by max |v|. Default "sum". */
  normalize?: SprayNormalization;
  /** Graph: binary k-nearest neighbours ("knn", the default) or a dense Gaussian kernel whose bandwidth is the
   * median pairwise distance ("gaussian"). */
  affinity?: "knn" | "gaussian";
  /** Neighbours per map in the kNN graph. Default `max(5, round(sqrt(count)))`, at most `count - 1`. */
  neighbors?: number;
  /** Largest number of clusters the eigengap heuristic may pick. Default 8. */
  maxClusters?: number;
  /** k-means restarts; the one with the lowest inertia is kept. Default 10. */
  restarts?: number;
  /** Seed of the k-means initialisations; the same seed gives the same assignments. Default 0. */
  seed?: number;
}

/** What {@link sprayClass} found for one class's maps. */
export interface SprayResult {
  /** The first `min(count, 2 * maxClusters)` eigenvalues of the normalized Laplacian, ascending, in [0, 2]. */
  eigenvalues: number[];
  /** Number of clusters: the eigengap's choice (non-empty clusters only; 1 when there are too few maps). */
  clusters: number;
  /** The largest gap `λ(k+1) − λ(k)` over k = 1..maxClusters, the one that chose `clusters`; 0 for one map. */
  eigengap: number;
  /** Cluster of each map, 0..clusters-1; cluster 0 is the largest, then by size (ties: first map first). */
  assignments: Int32Array;
  /** 2-D point per map for scatter plots: entries of eigenvectors 2 and 3 (0 where there are none). */
  embedding2d: [number, number][];
  /**
   * Per cluster, its conductance in the affinity graph: the weight of edges leaving it over the smaller of its
   * volume and the rest's (0: cut off from the other maps; near 1: no boundary at all).
   */
  conductance: number[];
  /** Number of maps in each cluster, indexed like `assignments` (so descending). */
  clusterSizes: number[];
  /** Per cluster, the mean of its normalized maps at the original `height * width` resolution. */
  meanMaps: Float32Array[];
  /**
   * The best two-way split of the maps (k-means with k = 2 on the spectral embedding), whatever the eigengap
   * chose: its conductance (low: a group of maps nearly cut off from the rest, as a second strategy is) and the
   * share of maps on its smaller side. What {@link flagClasses} compares across classes.
   */
  split: { conductance: number; share: number };
}

/**
 * Clusters `count` relevance maps of one class by spectral clustering (SpRAy) and picks the number of
 * clusters with the eigengap heuristic.
 *
 * `maps` holds `count` maps of `height * width` values each, row-major, signed or not. Steps: average-pool each
 * map to about `size` per side; normalize it (see {@link SprayNormalization}); build a binary k-nearest-neighbour
 * graph on Euclidean distance, symmetrised with max (i and j are linked when either is among the other's k
 * nearest; ties by index); take the normalized Laplacian `L = I − D^{-1/2} W D^{-1/2}` and its eigenvalues
 * `λ1 ≤ λ2 ≤ …`; choose `k* = argmax_{k=1..maxClusters} λ(k+1) − λ(k)`; when `k* > 1`, run seeded k-means
 * on the row-normalized first `k*` eigenvectors (Ng–Jordan–Weiss). Throws {@link HansError} on a size mismatch,
 * on bad options, on zero maps, and on NaN or infinite values. Cost is O(count³) for the eigen-decomposition.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * // 12 maps of 4×4: six put their relevance in the top-left corner, six in the bottom-right one.
 * const maps = new Float32Array(12 * 16);
 * for (let i = 0; i < 12; i++) maps[i * 16 + (i < 6 ? 0 : 15)] = 1;
 * const result = sprayClass(maps, 12, 4, 4, { size: 4, seed: 1 });
 * assert.equal(result.clusters, 2);
 * assert.deepEqual(result.clusterSizes, [6, 6]);
 * assert.deepEqual(Array.from(result.assignments), [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1]);
 * ```
 */
export function sprayClass(
  maps: Float32Array,
  count: number,
  height: number,
  width: number,
  options: SprayOptions = {},
): SprayResult {
  checkInput(maps, count, height, width);
  const size = options.size ?? 14;
  const normalize = options.normalize ?? "sum";
  const maxClusters = options.maxClusters ?? 8;
  const restarts = options.restarts ?? 10;
  const seed = options.seed ?? 0;
  checkPositiveInteger("size", size);
  checkPositiveInteger("maxClusters", maxClusters);
  checkPositiveInteger("restarts", restarts);
  if (normalize !== "sum" && normalize !== "max") {
    throw new HansError(`SpRAy normalize must be "sum" or "max", got ${JSON.stringify(normalize)}.`);
  }
  if (options.neighbors !== undefined) checkPositiveInteger("neighbors", options.neighbors);
  const neighbors = Math.min(options.neighbors ?? Math.max(5, Math.round(Math.sqrt(count))), count - 1);

  const features = downsizeAndNormalize(maps, count, height, width, size, normalize);
  if (count === 1) {
    const assignments = new Int32Array(1);
    return {
      conductance: [1],
      eigenvalues: [0],
      clusters: 1,
      eigengap: 0,
      assignments,
      embedding2d: [[0, 0]],
      clusterSizes: [1],
      meanMaps: meanMaps(maps, count, height * width, normalize, assignments, 1),
      split: { conductance: 1, share: 0 },
    };
  }

  const affinity = options.affinity === "gaussian"
    ? gaussianAffinity(features)
    : knnAffinity(features, neighbors);
  const { values, vectors } = laplacianSpectrum(affinity);
  let chosen = 1;
  let eigengap = -Infinity;
  for (let k = 1; k <= Math.min(maxClusters, count - 1); k++) {
    const gap = values[k] - values[k - 1];
    if (gap > eigengap) {
      eigengap = gap;
      chosen = k;
    }
  }

  let labels: Int32Array = new Int32Array(count);
  if (chosen > 1) labels = clusterEmbedding(vectors, chosen, restarts, seed);
  const { assignments, sizes } = relabelBySize(labels);
  const embedding2d: [number, number][] = vectors.map((row) => [row[1] ?? 0, row[2] ?? 0]);
  const halves = chosen === 2 ? labels : clusterEmbedding(vectors, 2, restarts, seed);
  const zeros = halves.reduce((n, c) => n + (c === 0 ? 1 : 0), 0);
  const smaller = Math.min(zeros, count - zeros);
  const split = {
    conductance: smaller === 0 ? 1 : conductances(affinity, halves, 2)[0],
    share: smaller / count,
  };
  return {
    conductance: conductances(affinity, assignments, sizes.length),
    eigenvalues: values.slice(0, Math.min(count, 2 * maxClusters)),
    clusters: sizes.length,
    eigengap,
    assignments,
    embedding2d,
    clusterSizes: sizes,
    meanMaps: meanMaps(maps, count, height * width, normalize, assignments, sizes.length),
    split,
  };
}

/** Thresholds of {@link flagClasses}; the defaults are stated on each field. */
export interface FlagOptions {
  /** A class is flagged when its split's conductance is at most this share of the classes' median. Default 0.4. */
  ratio?: number;
  /** Smallest share of a class's maps the smaller side of its split must hold. Default 0.05 (5%). */
  minShare?: number;
}

/**
 * Which classes SpRAy says are decided by more than one strategy: those whose best two-way split cuts off a
 * group of maps far more cleanly than the other classes' splits do. Class `i` is flagged when
 * `split.share ≥ minShare` and `split.conductance ≤ ratio × median(split.conductance over all classes)`.
 *
 * Why relative, and why the two-way split: the eigengap alone did not separate a stamped class from honest
 * ones. On MNIST with a square or a timestamp on 30% of class 3 (|gradient × input| pooled to 4x4, max-scaled),
 * class 3's eigengaps (0.10–0.16) sat among the clean classes' (0.09–0.20), yet over 4 runs (2 artifacts × 2
 * seeds) its stamped maps formed a group whose cut had a conductance of 0.00–0.26 × the median over the ten
 * classes, against 0.43–2.2 × for the clean classes (the lowest, the digit 1 with its upright and slanted
 * writers). A relative threshold assumes that most classes are honest: with fewer than three classes, when
 * every class cheats alike, or when the median is 0, nothing is flagged. Look at the mean maps before calling a flagged cluster a shortcut.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * // Only `split` is read: the third class cuts off a group of its maps far more cleanly than the others.
 * const split = (conductance: number) => ({ split: { conductance, share: 0.3 } }) as SprayResult;
 * assert.deepEqual(flagClasses([split(0.5), split(0.6), split(0.05)]), [false, false, true]);
 * ```
 */
export function flagClasses(results: SprayResult[], options: FlagOptions = {}): boolean[] {
  const ratio = options.ratio ?? 0.4;
  const minShare = options.minShare ?? 0.05;
  if (results.length < 3) return results.map(() => false);
  const sorted = results.map((r) => r.split.conductance).sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  // A median of 0 means most classes split off a group with no link to the rest: nothing stands out.
  return results.map((r) => median > 0 && r.split.share >= minShare && r.split.conductance <= ratio * median);
}

/** How well one cluster captures the stamped (artifact) samples; see {@link artifactPurityRecall}. */
export interface PurityRecall {
  /** Share of the cluster's samples that are stamped. */
  purity: number;
  /** Share of all stamped samples that fall in the cluster. */
  recall: number;
  /** The cluster holding the most stamped samples (ties: the lowest index); -1 when none is stamped. */
  cluster: number;
}

/**
 * Purity and recall of the cluster that holds the most stamped samples, to check that SpRAy found the
 * artifact's strategy. `assignments` and `isStamped` are per sample and must have the same length. With no
 * stamped sample the result is `{ purity: 0, recall: 0, cluster: -1 }`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 *
 * const assignments = Int32Array.of(0, 0, 1, 1);
 * const stamped = [false, true, true, true];
 * // Cluster 1 holds 2 of the 3 stamped maps, and nothing else.
 * assert.deepEqual(artifactPurityRecall(assignments, stamped), { purity: 1, recall: 2 / 3, cluster: 1 });
 * ```
 */
export function artifactPurityRecall(
  assignments: Int32Array,
  isStamped: ArrayLike<boolean>,
): PurityRecall {
  if (assignments.length !== isStamped.length) {
    throw new HansError(
      `artifactPurityRecall got ${assignments.length} assignments but ${isStamped.length} stamped flags; ` +
        "pass one flag per sample.",
    );
  }
  const sizes = new Map<number, number>();
  const stamped = new Map<number, number>();
  let totalStamped = 0;
  for (let i = 0; i < assignments.length; i++) {
    const c = assignments[i];
    sizes.set(c, (sizes.get(c) ?? 0) + 1);
    if (isStamped[i]) {
      stamped.set(c, (stamped.get(c) ?? 0) + 1);
      totalStamped++;
    }
  }
  if (totalStamped === 0) return { purity: 0, recall: 0, cluster: -1 };
  let cluster = -1;
  let best = 0;
  for (const [c, n] of stamped) {
    if (n > best || (n === best && c < cluster)) {
      best = n;
      cluster = c;
    }
  }
  return { purity: best / sizes.get(cluster)!, recall: best / totalStamped, cluster };
}

function checkPositiveInteger(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) {
    throw new HansError(`SpRAy option ${name} must be a positive integer, got ${value}.`);
  }
}

function checkInput(maps: Float32Array, count: number, height: number, width: number): void {
  for (const [name, value] of [["count", count], ["height", height], ["width", width]] as const) {
    if (!Number.isInteger(value) || value < 1) {
      throw new HansError(
        `sprayClass needs a positive integer ${name}, got ${value}; SpRAy needs at least one map.`,
      );
    }
  }
  const pixels = height * width;
  if (maps.length !== count * pixels) {
    throw new HansError(
      `sprayClass got ${maps.length} values but ${count} maps of ${height}x${width} need ${count * pixels}.`,
    );
  }
  for (let i = 0; i < maps.length; i++) {
    if (!Number.isFinite(maps[i])) {
      const map = Math.floor(i / pixels);
      const pixel = i - map * pixels;
      throw new HansError(
        `Relevance map ${map} has a non-finite value (${maps[i]}) at row ${Math.floor(pixel / width)}, ` +
          `column ${pixel % width}; fix or drop that map before running SpRAy.`,
      );
    }
  }
}

/** Scale that normalizes a vector: 1 / (sum |v|) or 1 / (max |v|); 0 for an all-zero vector. */
function normalizer(
  values: ArrayLike<number>,
  start: number,
  length: number,
  mode: SprayNormalization,
): number {
  let total = 0;
  for (let i = start; i < start + length; i++) {
    const v = Math.abs(values[i]);
    total = mode === "sum" ? total + v : Math.max(total, v);
  }
  return total > 0 ? 1 / total : 0;
}

/** Average-pools each map by `round(height / size)` (partial edge blocks average what they have), then normalizes. */
function downsizeAndNormalize(
  maps: Float32Array,
  count: number,
  height: number,
  width: number,
  size: number,
  mode: SprayNormalization,
): Float64Array[] {
  const factor = Math.max(1, Math.round(height / size));
  const rows = Math.ceil(height / factor);
  const cols = Math.ceil(width / factor);
  const features: Float64Array[] = [];
  for (let n = 0; n < count; n++) {
    const base = n * height * width;
    const pooled = new Float64Array(rows * cols);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        let sum = 0;
        let cells = 0;
        for (let y = r * factor; y < Math.min(height, (r + 1) * factor); y++) {
          for (let x = c * factor; x < Math.min(width, (c + 1) * factor); x++) {
            sum += maps[base + y * width + x];
            cells++;
          }
        }
        pooled[r * cols + c] = sum / cells;
      }
    }
    const scale = normalizer(pooled, 0, pooled.length, mode);
    for (let i = 0; i < pooled.length; i++) pooled[i] *= scale;
    features.push(pooled);
  }
  return features;
}

function conductances(affinity: Float64Array[], assignments: Int32Array, k: number): number[] {
  const cut = new Array(k).fill(0);
  const volume = new Array(k).fill(0);
  let total = 0;
  for (let i = 0; i < affinity.length; i++) {
    for (let j = 0; j < affinity.length; j++) {
      const w = affinity[i][j];
      volume[assignments[i]] += w;
      total += w;
      if (assignments[i] !== assignments[j]) cut[assignments[i]] += w;
    }
  }
  return cut.map((c, i) => (k === 1 ? 1 : c / Math.max(1e-12, Math.min(volume[i], total - volume[i]))));
}

/** Dense Gaussian affinity exp(−d² / 2σ²) with σ the median pairwise Euclidean distance; zero diagonal. */
function gaussianAffinity(features: Float64Array[]): Float64Array[] {
  const d2 = squaredDistances(features);
  const n = features.length;
  const all: number[] = [];
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) all.push(d2[i][j]);
  all.sort((a, b) => a - b);
  const median = all[Math.floor(all.length / 2)] || 1;
  return d2.map((row, i) => row.map((d, j) => (i === j ? 0 : Math.exp(-d / (2 * median)))));
}

function squaredDistances(features: Float64Array[]): Float64Array[] {
  const n = features.length;
  const distances = Array.from({ length: n }, () => new Float64Array(n));
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      let d = 0;
      const a = features[i];
      const b = features[j];
      for (let t = 0; t < a.length; t++) d += (a[t] - b[t]) ** 2;
      distances[i][j] = d;
      distances[j][i] = d;
    }
  }
  return distances;
}

/** Binary kNN adjacency on Euclidean distance, symmetrised with max; ties go to the lower index. */
function knnAffinity(features: Float64Array[], k: number): Float64Array[] {
  const n = features.length;
  const distances = squaredDistances(features);
  const affinity = Array.from({ length: n }, () => new Float64Array(n));
  const others = new Array<number>(n - 1);
  for (let i = 0; i < n; i++) {
    for (let j = 0, t = 0; j < n; j++) if (j !== i) others[t++] = j;
    const row = distances[i];
    others.sort((a, b) => (row[a] - row[b]) || (a - b));
    for (let t = 0; t < k; t++) {
      affinity[i][others[t]] = 1;
      affinity[others[t]][i] = 1;
    }
  }
  return affinity;
}

/**
 * Eigenvalues (ascending, clamped into [0, 2] when rounding pushed them out by less than 1e-9) and eigenvectors
 * of the normalized Laplacian, as rows: `vectors[i][k]` is entry i of eigenvector k. Each eigenvector's sign
 * is fixed so its largest-magnitude entry is positive, so results do not depend on the solver's sign choice.
 */
function laplacianSpectrum(affinity: Float64Array[]): { values: number[]; vectors: number[][] } {
  const n = affinity.length;
  const scale = affinity.map((row) => {
    const degree = row.reduce((sum, w) => sum + w, 0);
    return degree > 0 ? 1 / Math.sqrt(degree) : 0;
  });
  const laplacian = new Matrix(n, n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      laplacian.set(i, j, (i === j ? 1 : 0) - scale[i] * affinity[i][j] * scale[j]);
    }
  }
  const decomposition = new EigenvalueDecomposition(laplacian, { assumeSymmetric: true });
  const raw = decomposition.realEigenvalues;
  const matrix = decomposition.eigenvectorMatrix;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => (raw[a] - raw[b]) || (a - b));
  const values = order.map((k) => {
    const v = raw[k];
    if (v < 0 && v > -1e-9) return 0;
    if (v > 2 && v < 2 + 1e-9) return 2;
    return v;
  });
  const vectors = Array.from({ length: n }, () => new Array<number>(n));
  order.forEach((source, k) => {
    let largest = 0;
    for (let i = 1; i < n; i++) {
      if (Math.abs(matrix.get(i, source)) > Math.abs(matrix.get(largest, source)) + 1e-12) largest = i;
    }
    const sign = matrix.get(largest, source) < 0 ? -1 : 1;
    for (let i = 0; i < n; i++) vectors[i][k] = sign * matrix.get(i, source);
  });
  return { values, vectors };
}

/** k-means (ml-kmeans, k-means++ init) on the row-normalized first `k` eigenvectors; best of `restarts` by inertia. */
function clusterEmbedding(vectors: number[][], k: number, restarts: number, seed: number): Int32Array {
  const points = vectors.map((row) => {
    const point = row.slice(0, k);
    const norm = Math.hypot(...point);
    return norm > 0 ? point.map((v) => v / norm) : point;
  });
  const distinct = new Set(points.map((p) => p.map((v) => v.toFixed(9)).join(","))).size;
  if (distinct < k) k = distinct;
  if (k < 2) return new Int32Array(points.length);
  const rng = new Rng(seed);
  let best: number[] | undefined;
  let bestInertia = Infinity;
  for (let r = 0; r < restarts; r++) {
    const result = kmeans(points, k, { seed: rng.fork(), initialization: "kmeans++", maxIterations: 300 });
    let inertia = 0;
    points.forEach((p, i) => {
      const centre = result.centroids[result.clusters[i]];
      for (let t = 0; t < k; t++) inertia += (p[t] - centre[t]) ** 2;
    });
    if (inertia < bestInertia) {
      bestInertia = inertia;
      best = result.clusters;
    }
  }
  return Int32Array.from(best!);
}

/** Renames clusters 0.. by decreasing size (ties: the cluster whose first map comes first); drops empty ones. */
function relabelBySize(labels: Int32Array): { assignments: Int32Array; sizes: number[] } {
  const size = new Map<number, number>();
  const first = new Map<number, number>();
  labels.forEach((c, i) => {
    size.set(c, (size.get(c) ?? 0) + 1);
    if (!first.has(c)) first.set(c, i);
  });
  const order = [...size.keys()].sort((a, b) =>
    (size.get(b)! - size.get(a)!) || (first.get(a)! - first.get(b)!)
  );
  const rename = new Map(order.map((c, i) => [c, i]));
  return { assignments: labels.map((c) => rename.get(c)!), sizes: order.map((c) => size.get(c)!) };
}

/** Per cluster, the mean of its members' maps at full resolution, each normalized like the pooled ones. */
function meanMaps(
  maps: Float32Array,
  count: number,
  pixels: number,
  mode: SprayNormalization,
  assignments: Int32Array,
  clusters: number,
): Float32Array[] {
  const sums = Array.from({ length: clusters }, () => new Float64Array(pixels));
  const members = new Array<number>(clusters).fill(0);
  for (let n = 0; n < count; n++) {
    const c = assignments[n];
    const scale = normalizer(maps, n * pixels, pixels, mode);
    for (let i = 0; i < pixels; i++) sums[c][i] += maps[n * pixels + i] * scale;
    members[c]++;
  }
  return sums.map((sum, c) => Float32Array.from(sum, (v) => v / members[c]));
}
