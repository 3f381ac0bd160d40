/**
 * The project's one seeded pseudo-random generator, {@linkcode Rng}, for resampling,
 * permutations, simulation and the run order of experiment plans, so every result is
 * reproducible from one integer seed. Also the cluster-bootstrap resampling helpers.
 *
 * @module
 */

/**
 * Which 32-bit stream an {@linkcode Rng} draws from.
 *
 * - `"xoshiro128**"`: xoshiro128** seeded through splitmix32; every bootstrap, permutation
 *   and simulated trace uses it.
 * - `"mulberry32"`: mulberry32 with both 32-bit halves of the seed mixed into its state; the
 *   run order of experiment plans uses it, so a suite's seed gives the same plan as before
 *   the generators were merged.
 */
export type RngStream = "xoshiro128**" | "mulberry32";

/** Options of {@linkcode Rng}. */
export interface RngOptions {
  /**
   * The stream to draw from.
   *
   * @default {"xoshiro128**"}
   */
  stream?: RngStream;
}

/** A seeded generator of uniform, integer and normal draws, with an in-place shuffle. */
export class Rng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;
  #mulberry: boolean;
  #spare = Number.NaN;

  /**
   * Creates a generator from an integer seed (any finite number; its low 32 bits and high
   * bits are mixed).
   */
  constructor(seed: number, options: RngOptions = {}) {
    const { stream = "xoshiro128**" } = options;
    this.#mulberry = stream === "mulberry32";
    if (this.#mulberry) {
      this.#a = (Math.imul(Math.floor(seed / 4294967296) >>> 0, 0x9e3779b1) ^ seed) >>> 0;
      this.#b = this.#c = this.#d = 0;
      return;
    }
    let s = (seed >>> 0) ^ Math.floor(seed / 4294967296);
    const next = (): number => {
      s = (s + 0x9e3779b9) | 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.#a = next();
    this.#b = next();
    this.#c = next();
    this.#d = next();
  }

  /** Next 32-bit unsigned integer. */
  nextUint32(): number {
    if (this.#mulberry) {
      this.#a = (this.#a + 0x6d2b79f5) >>> 0;
      let t = this.#a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return (t ^ (t >>> 14)) >>> 0;
    }
    const r = Math.imul(rotl(Math.imul(this.#b, 5), 7), 9) >>> 0;
    const t = this.#b << 9;
    this.#c ^= this.#a;
    this.#d ^= this.#b;
    this.#b ^= this.#c;
    this.#a ^= this.#d;
    this.#c ^= t;
    this.#d = rotl(this.#d, 11);
    return r;
  }

  /** Uniform float in [0, 1) with 32 bits of resolution. */
  uniform(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /** Standard normal deviate (Box-Muller, pairs cached). */
  normal(): number {
    if (!Number.isNaN(this.#spare)) {
      const z = this.#spare;
      this.#spare = Number.NaN;
      return z;
    }
    let u = this.uniform();
    while (u === 0) u = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    const theta = 2 * Math.PI * this.uniform();
    this.#spare = r * Math.sin(theta);
    return r * Math.cos(theta);
  }

  /** Shuffles `items` in place (Fisher-Yates, one `int()` draw per position from the end) and returns it. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = items[i]!;
      items[i] = items[j]!;
      items[j] = t;
    }
    return items;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/**
 * Fills `counts` (one entry per unit) with the multiplicities of one bootstrap resample:
 * `counts.length` draws of a unit with replacement.
 */
export function resampleCounts(rng: Rng, counts: Float64Array): void {
  counts.fill(0);
  const n = counts.length;
  for (let k = 0; k < n; k++) counts[rng.int(n)]! += 1;
}

/** Size of a cluster bootstrap (see {@linkcode clusterBootstrap}). */
export interface ClusterBootstrapSize {
  /** Units (runs) resampled whole, with replacement. */
  readonly units: number;
  /** Resamples drawn. */
  readonly resamples: number;
  /** Values the statistic returns per resample. */
  readonly width: number;
}

/**
 * The cluster-bootstrap loop over runs: `resamples` times, draws `units` units with
 * replacement (see {@linkcode resampleCounts}) and records the `width` values of
 * `statistic(counts)`, where `counts[u]` is how often unit u was drawn (the statistic
 * weights unit u by it). Returns one array of replicates per value: entry j, index r is
 * value j in resample r. The statistic must not draw from `rng`; resample r then depends
 * only on the seed and r's place in the stream.
 */
export function clusterBootstrap(
  rng: Rng,
  size: ClusterBootstrapSize,
  statistic: (counts: Float64Array) => ArrayLike<number>,
): Float64Array[] {
  const { units, resamples, width } = size;
  const replicates = Array.from({ length: width }, () => new Float64Array(resamples));
  const counts = new Float64Array(units);
  for (let r = 0; r < resamples; r++) {
    resampleCounts(rng, counts);
    const values = statistic(counts);
    for (let j = 0; j < width; j++) replicates[j]![r] = values[j]!;
  }
  return replicates;
}

/**
 * Weighted totals of per-unit columns: entry c is the sum over units u of
 * `weights[u] * columns[c][u]`, units taken in order and units of weight 0 left out;
 * `weights` null counts every unit once (the point estimate). Used with the counts of
 * {@linkcode clusterBootstrap} to total per-run sums over one resample.
 */
export function weightedTotals(
  columns: readonly ArrayLike<number>[],
  weights: ArrayLike<number> | null,
): Float64Array {
  const totals = new Float64Array(columns.length);
  const units = columns.length > 0 ? columns[0]!.length : 0;
  for (let u = 0; u < units; u++) {
    const w = weights ? weights[u]! : 1;
    if (w === 0) continue;
    for (let c = 0; c < columns.length; c++) totals[c]! += w * columns[c]![u]!;
  }
  return totals;
}

/**
 * Multiplicities of `resamples` bootstrap resamples of `units` units, unit-major:
 * entry `u * resamples + b` is how often unit u appears in resample b.
 */
export function resampleMatrix(rng: Rng, units: number, resamples: number): Uint16Array {
  const w = new Uint16Array(units * resamples);
  for (let b = 0; b < resamples; b++) {
    for (let k = 0; k < units; k++) w[rng.int(units) * resamples + b]! += 1;
  }
  return w;
}

/**
 * Weighted sums of per-unit vectors for the point estimate and every resample at once:
 * `vectorOf(u, out)` writes unit u's vector (length `width`) into `out`; returns
 * `(resamples + 1) * width` sums, row 0 with every weight 1, row b + 1 with resample b's
 * multiplicities. Each unit's vector is computed once.
 */
export function weightedSums(
  units: number,
  width: number,
  matrix: Uint16Array,
  resamples: number,
  vectorOf: (u: number, out: Float64Array) => void,
): Float64Array {
  const acc = new Float64Array((resamples + 1) * width);
  const v = new Float64Array(width);
  for (let u = 0; u < units; u++) {
    vectorOf(u, v);
    for (let j = 0; j < width; j++) acc[j]! += v[j]!;
    const row = u * resamples;
    for (let b = 0; b < resamples; b++) {
      const w = matrix[row + b]!;
      if (w === 0) continue;
      const off = (b + 1) * width;
      for (let j = 0; j < width; j++) acc[off + j]! += w * v[j]!;
    }
  }
  return acc;
}
