// Small statistics and formatting helpers shared by the bench driver and its children.

import tQuantile from "@stdlib/stats-base-dists-t-quantile";

/** Median (mean of the two middle values for an even count); NaN for no values. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Quantile with linear interpolation (R type 7). */
export function quantile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const h = (s.length - 1) * p;
  const lo = Math.floor(h);
  return s[lo]! + (h - lo) * ((s[Math.min(lo + 1, s.length - 1)] ?? s[lo]!) - s[lo]!);
}

/** Arithmetic mean; NaN for no values. */
export function mean(xs: readonly number[]): number {
  return xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** Median with the range of the values. */
export interface Spread {
  median: number;
  min: number;
  max: number;
  n: number;
}

/** Median and range of values. */
export function spread(xs: readonly number[]): Spread {
  return {
    median: median(xs),
    min: xs.length ? Math.min(...xs) : Number.NaN,
    max: xs.length ? Math.max(...xs) : Number.NaN,
    n: xs.length,
  };
}

/** `12.3 (11.9–12.8)`: median and range with a fixed number of decimals. */
export function fmtSpread(s: Spread, digits = 1): string {
  if (!Number.isFinite(s.median)) return "n/a";
  if (s.n < 2) return s.median.toFixed(digits);
  return `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})`;
}

/** Decode rate of a run from per-token latencies (entry 0 is prefill + first token). */
export function decodeRate(latenciesMs: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 1; i < latenciesMs.length; i++) sum += latenciesMs[i]!;
  return (latenciesMs.length - 1) / (sum / 1000);
}

/** Fisher–Yates shuffle with a seeded LCG (reproducible interleaving orders). */
export function shuffled<T>(xs: readonly T[], seed: number): T[] {
  const a = [...xs];
  let s = (seed * 2654435761) >>> 0 || 1;
  for (let i = a.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const j = s % (i + 1);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

/** Peak resident set size of this process in MB (Linux VmHWM), or NaN elsewhere. */
export function peakRssMb(): number {
  try {
    const m = Deno.readTextFileSync("/proc/self/status").match(/VmHWM:\s+(\d+) kB/);
    return m === null ? Number.NaN : Number(m[1]) / 1024;
  } catch {
    return Number.NaN;
  }
}

/** A ratio's geometric mean with its 95% interval. */
export interface RatioCi {
  /** Geometric mean of the ratios. */
  mean: number;
  low: number;
  high: number;
  n: number;
}

/**
 * Geometric mean of per-repetition ratios with a 95% Student t interval on their logarithms
 * (repetitions independent; a ratio's log is roughly symmetric). NaN bounds below 2 ratios.
 */
export function ratioCi(ratios: readonly number[]): RatioCi {
  const logs = ratios.filter((r) => r > 0 && Number.isFinite(r)).map(Math.log);
  const n = logs.length;
  const m = mean(logs);
  if (n < 2) return { mean: Math.exp(m), low: Number.NaN, high: Number.NaN, n };
  const sd = Math.sqrt(logs.reduce((a, x) => a + (x - m) ** 2, 0) / (n - 1));
  const half = tQuantile(0.975, n - 1) * sd / Math.sqrt(n);
  return { mean: Math.exp(m), low: Math.exp(m - half), high: Math.exp(m + half), n };
}

/** `0.982 [0.886–1.088]`: a ratio's geometric mean and 95% interval. */
export function fmtCi(c: RatioCi, digits = 3): string {
  if (!Number.isFinite(c.mean)) return "n/a";
  if (!Number.isFinite(c.low)) return c.mean.toFixed(digits);
  return `${c.mean.toFixed(digits)} [${c.low.toFixed(digits)}–${c.high.toFixed(digits)}]`;
}
