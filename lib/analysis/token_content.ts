/**
 * Does what a token is (its bytes, character class, word-initial piece, id rank) change its
 * decode latency? Within-run effects with bootstrap intervals and a within-run permutation
 * test.
 *
 * @module
 */

import pl from "nodejs-polars";
import type { Frame } from "../schema/frame.ts";
import { fitCross, packedSize, unpack } from "../stats/linalg.ts";
import { resampleMatrix, Rng, weightedSums } from "../stats/rng.ts";
import { eligibleRuns, fullStats, stallFlags, withinWriter } from "./_runstats.ts";
import { bootstrapEstimate, bootstrapMethod, missingEstimate } from "../stats/stats.ts";
import { type AnalysisInput, prepareTrace } from "./prepare.ts";
import type { Estimate, PermutationTest } from "./types.ts";

/** Options of `testTokenContent()`. */
export interface TokenContentOptions {
  /**
   * Seed of the permutations, the token subset and the bootstrap.
   *
   * @default {1}
   */
  seed?: number;
  /**
   * Permutations of the token features within runs.
   *
   * @default {199}
   */
  permutations?: number;
  /**
   * Bootstrap resamples (of runs) for the effect intervals.
   *
   * @default {200}
   */
  resamples?: number;
  /**
   * Include warm-up runs.
   *
   * @default {false}
   */
  includeWarmup?: boolean;
  /**
   * Largest number of tokens the permutation test uses; above it, the test runs on a seeded
   * random subset of whole runs of about this many tokens (effects always use every token).
   *
   * @default {200000}
   */
  maxTestTokens?: number;
  /**
   * Leave out stalls (tokens flagged by `detectStalls()`'s default rule), so rare long pauses
   * do not drive the fit; `detectStalls()` reports them.
   *
   * @default {true}
   */
  excludeStalls?: boolean;
}

/** Effect of one token-content feature. */
export interface ContentEffect {
  /** Feature column: `piece_bytes`, `digits`, `punctuation`, `whitespace`, `non-ascii`, `mixed`, `word_initial` or `id_rank`. */
  readonly feature: string;
  /** What the effect compares, in words. */
  readonly label: string;
  /** Decode tokens with the feature (for `piece_bytes` and `id_rank`: all tokens). */
  readonly tokens: number;
  /** The effect, with the position and the run held fixed. */
  readonly effectUs: Estimate;
}

/** Result of `testTokenContent()`. */
export interface TokenContentResult {
  /** Runs in the fit. */
  readonly runs: number;
  /** Decode tokens in the fit. */
  readonly tokens: number;
  /** The model fitted. */
  readonly model: string;
  /** One effect per feature. */
  readonly effects: readonly ContentEffect[];
  /** Standard deviation of the latency part the content features predict. */
  readonly contentSdUs: Estimate;
  /** Share of the within-run variance (after position) the content features explain, %. */
  readonly partialR2Pct: number;
  /** Permutation test of "token content has no effect". */
  readonly test: PermutationTest;
  /** Columns `feature`, `label`, `tokens`, `effect_us`, `low_us`, `high_us`. */
  readonly table: Frame;
}

const FEATURES: readonly { feature: string; label: string; unit: string }[] = [
  { feature: "piece_bytes", label: "per byte of the piece", unit: "µs per byte" },
  { feature: "digits", label: "digit pieces vs letter pieces", unit: "µs" },
  { feature: "punctuation", label: "punctuation pieces vs letter pieces", unit: "µs" },
  { feature: "whitespace", label: "whitespace pieces vs letter pieces", unit: "µs" },
  { feature: "non-ascii", label: "non-ASCII pieces vs letter pieces", unit: "µs" },
  { feature: "mixed", label: "mixed pieces vs letter pieces", unit: "µs" },
  { feature: "word_initial", label: "word-initial pieces vs the rest", unit: "µs" },
  { feature: "id_rank", label: "highest vs lowest token id rank", unit: "µs" },
];

// indices in the within-run matrix (FULL_COLUMNS without "one")
const POS = 0;
const CONTENT = [1, 2, 3, 4, 5, 6, 7, 8];
const Y = 9;
const D = 10;

/**
 * Tests whether token content changes decode latency. Model: latency = a_run + b * position +
 * content' * g + e, fitted within runs (fixed effects), where content is the piece's byte
 * length, its character class (dummies against letters), a word-initial indicator and the
 * token id's rank scaled to [0, 1]. The test shuffles the content features across the tokens
 * of each run (keeping latency and position) and compares the partial F statistic of the
 * content terms; effects in µs get percentile cluster bootstrap intervals.
 *
 * @param input A trace or a prepared trace.
 * @param options Seed, permutations, resamples, warm-up handling and the test's token cap.
 * @returns Effects with intervals and the permutation test.
 * @throws {RangeError} When no run has decode tokens.
 *
 * @example No content effect in a simulated trace
 * ```ts
 * import { simulateTrace, testTokenContent } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const r = testTokenContent(simulateTrace({ seed: 3 }), { permutations: 99, resamples: 100 });
 * assert.equal(r.effects.length, 8);
 * assert.ok(r.test.pValue > 0.01);
 * ```
 */
export function testTokenContent(
  input: AnalysisInput,
  options: TokenContentOptions = {},
): TokenContentResult {
  const {
    seed = 1,
    permutations = 199,
    resamples = 200,
    includeWarmup = false,
    maxTestTokens = 200000,
    excludeStalls = true,
  } = options;
  const prep = prepareTrace(input);
  const stats = fullStats(prep, excludeStalls);
  const units = eligibleRuns(prep, includeWarmup).filter((i) => stats.packed[i * stats.q]! > 0);
  if (units.length === 0) {
    throw new RangeError(
      "Cannot test token content: the trace must have a run with decode tokens, found none",
    );
  }
  const predictors = [POS, ...CONTENT];
  // within-run X'X for the point estimate and every resample at once
  const width = packedSize(D) + 1;
  const sums = weightedSums(
    units.length,
    width,
    resampleMatrix(new Rng(seed), units.length, resamples),
    resamples,
    withinWriter(stats, units),
  );
  const w0 = unpack(sums, D, 0);
  const reducedFit = fitCross(w0, D, [POS], Y, -1);
  const fullFit = fitCross(w0, D, predictors, Y, -1);
  let nTokens = 0;
  for (const i of units) nTokens += stats.packed[i * stats.q]!;
  const skip = excludeStalls ? stallFlags(prep).flags : new Uint8Array(prep.tokens.count);

  // summary: sd of content' g over tokens, within runs
  const sdOf = (w: Float64Array, coef: Float64Array, n: number): number => {
    let v = 0;
    for (let a = 0; a < CONTENT.length; a++) {
      const ga = coef[a + 1]!;
      if (!Number.isFinite(ga)) continue;
      for (let b = 0; b < CONTENT.length; b++) {
        const gb = coef[b + 1]!;
        if (!Number.isFinite(gb)) continue;
        v += ga * gb * w[CONTENT[a]! * D + CONTENT[b]!]!;
      }
    }
    return Math.sqrt(Math.max(0, v / n)) * 1000;
  };

  const reps = Array.from({ length: CONTENT.length + 1 }, () => new Float64Array(resamples));
  for (let r = 0; r < resamples; r++) {
    const w = unpack(sums, D, (r + 1) * width);
    const fit = fitCross(w, D, predictors, Y, -1);
    for (let a = 0; a < CONTENT.length; a++) reps[a]![r] = fit.coef[a + 1]! * 1000;
    reps[CONTENT.length]![r] = sdOf(w, fit.coef, sums[(r + 2) * width - 1]!);
  }
  const boot = bootstrapMethod(units.length, resamples, seed);
  const featureTokens = countFeatures(prep, units, skip);
  const effects: ContentEffect[] = FEATURES.map((f, a) => {
    const value = fullFit.coef[a + 1]!;
    return {
      feature: f.feature,
      label: f.label,
      tokens: featureTokens[a]!,
      effectUs: Number.isFinite(value)
        ? bootstrapEstimate(value * 1000, reps[a]!, f.unit, boot)
        : missingEstimate(f.unit, `no variation in ${f.feature} within runs`),
    };
  });

  const sizes = Int32Array.from({ length: prep.runs.count }, (_, i) => stats.packed[i * stats.q]!);
  const test = permutationTest(prep, units, skip, sizes, { seed, permutations, maxTestTokens });
  return {
    runs: units.length,
    tokens: nTokens,
    model:
      `latency_ms = a_run + b * position + content' * g + e, within-run (fixed-effects) least squares${
        excludeStalls ? ", stalls left out" : ""
      }`,
    effects,
    contentSdUs: bootstrapEstimate(
      sdOf(w0, fullFit.coef, nTokens),
      reps[CONTENT.length]!,
      "µs",
      boot,
    ),
    partialR2Pct: ((reducedFit.rss - fullFit.rss) / reducedFit.rss) * 100,
    test,
    table: pl.DataFrame({
      feature: effects.map((e) => e.feature),
      label: effects.map((e) => e.label),
      tokens: pl.Series("tokens", effects.map((e) => e.tokens), pl.Int32),
      effect_us: pl.Series("effect_us", effects.map((e) => e.effectUs.value), pl.Float64),
      low_us: pl.Series("low_us", effects.map((e) => e.effectUs.low), pl.Float64),
      high_us: pl.Series("high_us", effects.map((e) => e.effectUs.high), pl.Float64),
    }),
  };
}

function countFeatures(
  prep: ReturnType<typeof prepareTrace>,
  units: Int32Array,
  skip: Uint8Array,
): number[] {
  const inFit = new Uint8Array(prep.runs.count);
  for (const i of units) inFit[i] = 1;
  const out = new Array<number>(FEATURES.length).fill(0);
  const { run, charClass, wordInitial, count } = prep.tokens;
  let all = 0;
  for (let t = 0; t < count; t++) {
    if (inFit[run[t]!] === 0 || skip[t] === 1) continue;
    all++;
    const c = charClass[t]!;
    if (c > 0) out[c]!++;
    if (wordInitial[t] === 1) out[6]!++;
  }
  out[0] = all;
  out[7] = all;
  return out;
}

function permutationTest(
  prep: ReturnType<typeof prepareTrace>,
  units: Int32Array,
  skip: Uint8Array,
  sizes: Int32Array,
  opts: { seed: number; permutations: number; maxTestTokens: number },
): PermutationTest {
  const { seed, permutations, maxTestTokens } = opts;
  const rng = new Rng(seed ^ 0x5bd1e995);
  // runs of the test: all, or a seeded random subset of whole runs
  let chosen = units;
  let total = 0;
  for (const i of units) total += sizes[i]!;
  const subset = total > maxTestTokens;
  if (subset) {
    const order = units.slice();
    for (let a = order.length - 1; a > 0; a--) {
      const b = rng.int(a + 1);
      const t = order[a]!;
      order[a] = order[b]!;
      order[b] = t;
    }
    const picked: number[] = [];
    let n = 0;
    for (const i of order) {
      if (n >= maxTestTokens) break;
      picked.push(i);
      n += sizes[i]!;
    }
    chosen = Int32Array.from(picked).sort();
    total = n;
  }
  // tokens of the chosen runs, grouped by run
  const slot = new Int32Array(prep.runs.count).fill(-1);
  chosen.forEach((i, k) => (slot[i] = k));
  const start = new Int32Array(chosen.length + 1);
  for (let k = 0; k < chosen.length; k++) {
    start[k + 1] = start[k]! + sizes[chosen[k]!]!;
  }
  const fill = start.slice(0, chosen.length);
  const { run, position, latencyMs, pieceBytes, charClass, wordInitial, idRank, count } =
    prep.tokens;
  const xt = new Float64Array(total);
  const yt = new Float64Array(total);
  const bytes = new Float64Array(total);
  const cls = new Uint8Array(total);
  const wi = new Uint8Array(total);
  const rank = new Float64Array(total);
  for (let t = 0; t < count; t++) {
    const k = slot[run[t]!]!;
    if (k < 0 || skip[t] === 1) continue;
    const j = fill[k]!++;
    xt[j] = position[t]!;
    yt[j] = latencyMs[t]!;
    bytes[j] = pieceBytes[t]!;
    cls[j] = charClass[t]!;
    wi[j] = wordInitial[t]!;
    rank[j] = idRank[t]!;
  }
  // demean position and latency within runs; content needs no centring then
  const w = new Float64Array(D * D);
  for (let k = 0; k < chosen.length; k++) {
    const a = start[k]!, b = start[k + 1]!;
    let mx = 0, my = 0;
    for (let j = a; j < b; j++) {
      mx += xt[j]!;
      my += yt[j]!;
    }
    mx /= b - a;
    my /= b - a;
    for (let j = a; j < b; j++) {
      xt[j]! -= mx;
      yt[j]! -= my;
    }
    // content x content block, invariant under permutation within the run
    const sums = new Float64Array(9);
    const block = new Float64Array(81);
    const v = new Float64Array(9);
    for (let j = a; j < b; j++) {
      v.fill(0);
      v[0] = bytes[j]!;
      if (cls[j]! > 0) v[cls[j]!] = 1;
      v[6] = wi[j]!;
      v[7] = rank[j]!;
      for (let c = 0; c < 8; c++) {
        sums[c]! += v[c]!;
        for (let e = 0; e < 8; e++) block[c * 9 + e]! += v[c]! * v[e]!;
      }
    }
    const n = b - a;
    for (let c = 0; c < 8; c++) {
      for (let e = 0; e < 8; e++) {
        w[CONTENT[c]! * D + CONTENT[e]!]! += block[c * 9 + e]! - (sums[c]! * sums[e]!) / n;
      }
    }
    for (let j = a; j < b; j++) {
      w[POS * D + POS]! += xt[j]! * xt[j]!;
      w[POS * D + Y]! += xt[j]! * yt[j]!;
      w[Y * D + Y]! += yt[j]! * yt[j]!;
    }
  }
  w[Y * D + POS] = w[POS * D + Y]!;
  const reduced = fitCross(w, D, [POS], Y, -1);
  const statistic = (perm: Int32Array | null): number => {
    const cx = new Float64Array(8);
    const cy = new Float64Array(8);
    for (let j = 0; j < total; j++) {
      const f = perm ? perm[j]! : j;
      const x = xt[j]!, y = yt[j]!;
      const bt = bytes[f]!;
      cx[0]! += bt * x;
      cy[0]! += bt * y;
      const c = cls[f]!;
      if (c > 0) {
        cx[c]! += x;
        cy[c]! += y;
      }
      if (wi[f] === 1) {
        cx[6]! += x;
        cy[6]! += y;
      }
      const rk = rank[f]!;
      cx[7]! += rk * x;
      cy[7]! += rk * y;
    }
    for (let c = 0; c < 8; c++) {
      const ci = CONTENT[c]!;
      w[ci * D + POS] = w[POS * D + ci] = cx[c]!;
      w[ci * D + Y] = w[Y * D + ci] = cy[c]!;
    }
    const full = fitCross(w, D, [POS, ...CONTENT], Y, -1);
    const q = full.rank - reduced.rank;
    const df2 = total - chosen.length - full.rank;
    return q > 0 && df2 > 0 ? ((reduced.rss - full.rss) / q) / (full.rss / df2) : Number.NaN;
  };
  const observed = statistic(null);
  const perm = Int32Array.from({ length: total }, (_, j) => j);
  let exceed = 0;
  for (let r = 0; r < permutations; r++) {
    for (let k = 0; k < chosen.length; k++) {
      const a = start[k]!;
      for (let j = start[k + 1]! - 1; j > a; j--) {
        const b = a + rng.int(j - a + 1);
        const t = perm[j]!;
        perm[j] = perm[b]!;
        perm[b] = t;
      }
    }
    if (statistic(perm) >= observed - 1e-12 * Math.abs(observed)) exceed++;
  }
  const scope = subset
    ? `a seeded random subset of ${chosen.length} of ${units.length} runs (${total} tokens)`
    : `all ${units.length} runs (${total} tokens)`;
  return {
    statistic: observed,
    statisticName: "F",
    pValue: Number.isFinite(observed) ? (1 + exceed) / (1 + permutations) : Number.NaN,
    permutations,
    method:
      `token features shuffled across the tokens of each run (latency and position kept), on ${scope}, ${permutations} permutations, seed ${seed}`,
  };
}
