/**
 * Plain-language sentences for each finding: the number, its interval and the method.
 *
 * @module
 */

import { intervalSide } from "../stats/stats.ts";
import type { TraceAnalysis } from "./analyze.ts";
import type { Estimate, PermutationTest } from "./types.ts";

/** One finding as a sentence. */
export interface Finding {
  /** Stable identifier: `slope`, `slowdown`, `position-vs-drift`, `windows`, `depth`, `variance`, `prompt-class`, `token-content`, `run-story`, `original-table`, `stalls`, `autocorrelation`, `warmup`, `drift`, `physics`. */
  readonly id: string;
  /** The finding in one sentence, with its number, interval and method. */
  readonly sentence: string;
}

/**
 * Formats a number with 3 significant digits (at most 2 decimals from 10 up, none from 100 up).
 *
 * @param value The number.
 * @param decimals Decimals to use instead of the automatic choice.
 * @returns The formatted number (`n/a` for NaN).
 *
 * @example Format numbers
 * ```ts
 * import { formatNumber } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * assert.equal(formatNumber(1.8349), "1.83");
 * assert.equal(formatNumber(539.4), "539");
 * assert.equal(formatNumber(-0.01234), "-0.0123");
 * ```
 */
export function formatNumber(value: number, decimals?: number): string {
  if (!Number.isFinite(value)) return "n/a";
  const text = value.toFixed(decimals ?? decimalsFor(Math.abs(value)));
  return /^-0(\.0*)?$/.test(text) ? text.slice(1) : text;
}

function decimalsFor(magnitude: number): number {
  if (magnitude >= 100) return 0;
  if (magnitude >= 10) return 1;
  if (magnitude >= 1 || magnitude === 0) return 2;
  return Math.min(6, 2 - Math.floor(Math.log10(magnitude)));
}

/** Options for {@linkcode formatEstimate}. */
export interface FormatEstimateOptions {
  /**
   * How the estimate is laid out: `"sentence"` gives `value unit (95% CI low–high, method)`,
   * for prose; `"cell"` gives `value [low-high]` (the value alone when there is no interval),
   * for a table cell or a line whose header or text names the unit, level and method.
   *
   * @default {"sentence"}
   */
  layout?: "sentence" | "cell";
  /**
   * Decimals of the value and of the interval ends.
   *
   * @default {3 significant digits of the value, as formatNumber() chooses}
   */
  decimals?: number;
  /**
   * Text right after the value, e.g. `x` for a ratio.
   *
   * @default {""}
   */
  valueSuffix?: string;
}

/**
 * Formats an estimate with its interval: the one estimate formatter of the project, for
 * sentences (`value unit (95% CI low–high, method)`) and for table cells (`value [low-high]`).
 * Numbers are written by {@linkcode formatNumber}.
 *
 * @param estimate The estimate.
 * @param options The layout and the decimals.
 * @returns The text.
 *
 * @example Format an estimate
 * ```ts
 * import { formatEstimate } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const text = formatEstimate({
 *   value: 1.8, low: 0.9, high: 2.7, unit: "µs per context token",
 *   method: "cluster bootstrap over 42 runs, 1000 resamples",
 * });
 * assert.equal(text, "1.80 µs per context token (95% CI 0.90–2.70, cluster bootstrap over 42 runs, 1000 resamples)");
 * ```
 *
 * @example Format estimates for table cells
 * ```ts
 * import { formatEstimate } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const ratio = { value: 1.5, low: 1.354, high: 1.661, unit: "ratio", method: "t interval" };
 * assert.equal(formatEstimate(ratio, { layout: "cell", decimals: 3, valueSuffix: "x" }), "1.500x [1.354-1.661]");
 * const alone = { ...ratio, low: NaN, high: NaN };
 * assert.equal(formatEstimate(alone, { layout: "cell", decimals: 1 }), "1.5");
 * ```
 */
export function formatEstimate(estimate: Estimate, options: FormatEstimateOptions = {}): string {
  const { layout = "sentence", decimals = digits(estimate), valueSuffix = "" } = options;
  const value = `${formatNumber(estimate.value, decimals)}${valueSuffix}`;
  const bounded = Number.isFinite(estimate.low) && Number.isFinite(estimate.high);
  if (layout === "cell") {
    return bounded
      ? `${value} [${formatNumber(estimate.low, decimals)}-${
        formatNumber(estimate.high, decimals)
      }]`
      : value;
  }
  const space = estimate.unit.startsWith("%") ? "" : " ";
  if (!bounded) return `${value}${space}${estimate.unit} (no interval: ${estimate.method})`;
  const sep = estimate.low < 0 || estimate.high < 0 ? " to " : "–";
  return `${value}${space}${estimate.unit} (95% CI ${formatNumber(estimate.low, decimals)}${sep}${
    formatNumber(estimate.high, decimals)
  }, ${estimate.method})`;
}

function digits(e: Estimate): number {
  const anchor = Number.isFinite(e.value) && e.value !== 0
    ? e.value
    : Math.max(Math.abs(e.low), Math.abs(e.high));
  return Number.isFinite(anchor) ? decimalsFor(Math.abs(anchor)) : 2;
}

function pText(p: number): string {
  if (!Number.isFinite(p)) return "p n/a";
  return p < 0.001 ? "p < 0.001" : `p = ${p.toFixed(3)}`;
}

function testText(t: PermutationTest): string {
  return `${pText(t.pValue)}, ${t.statisticName} = ${formatNumber(t.statistic)}; ${t.method}`;
}

const count = (n: number): string => n.toLocaleString("en-US");

/**
 * Renders every finding of an analysis as one sentence with its number, interval and method.
 *
 * @param analysis The result of `analyzeTrace()`.
 * @returns One finding per section that was computed.
 *
 * @example Describe a simulated trace
 * ```ts
 * import { analyzeTrace, describeFindings, simulateTrace } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const a = analyzeTrace(simulateTrace({ slopeUsPerToken: 30 }), {
 *   slowdown: { resamples: 100 },
 *   variance: { resamples: 20 },
 *   promptClass: { permutations: 99, resamples: 100 },
 *   tokenContent: { permutations: 19, resamples: 20 },
 *   stalls: { resamples: 100 },
 * });
 * const slope = describeFindings(a).find((f) => f.id === "slope")!;
 * assert.match(slope.sentence, /^Decode latency rises .* µs per context token \(95% CI /);
 * ```
 */
export function describeFindings(analysis: TraceAnalysis): Finding[] {
  const out: Finding[] = [];
  const add = (id: string, sentence: string): void => {
    out.push({ id, sentence });
  };
  // a section analyzeTrace() computed only when the trace allowed it
  const addIf = <T>(
    id: string,
    section: T | null | undefined,
    sentence: (s: T) => string,
  ): void => {
    if (section) add(id, sentence(section));
  };
  const s = analysis.slowdown;
  const b = s.slopeUsPerToken;
  const side = intervalSide(b);
  const verb = { above: "rises", below: "falls", within: "changes" }[side];
  add(
    "slope",
    `Decode latency ${verb} ${formatEstimate(b)} (${
      verb === "changes" ? "not distinguishable from zero; " : ""
    }fitted within ${count(s.runs)} runs, ${count(s.tokens)} decode tokens).`,
  );
  const verdictText = {
    consistent: "is consistent with this interval",
    overstated: "is overstated: the whole interval lies below it",
    understated: "is understated: the whole interval lies above it",
  }[s.claim.verdict];
  add(
    "slowdown",
    `That is ${formatEstimate(s.slowdownPctPer10)} of the ${
      formatNumber(s.startLatencyMs.value)
    } ms fitted latency at the start of decode; the claimed ${s.claim.lowPct}–${s.claim.highPct}% per 10 tokens ${verdictText}${
      s.claim.driftCanExplainSlope
        ? ", but session drift alone could produce this within-run slope, so the verdict is on position cost and drift together"
        : ""
    }.`,
  );
  const dr = s.drift;
  const shares = [dr.explainedUsPerToken.low, dr.explainedUsPerToken.high].map((e) =>
    (100 * e) / b.value
  ).sort((x, y) => x - y);
  // a share of the slope means something only when the slope is distinguishable from zero
  const fraction = shares.every(Number.isFinite) && side !== "within"
    ? ` (${formatNumber(shares[0]!)}% to ${formatNumber(shares[1]!)}% of the within-run slope)`
    : "";
  const sweep = s.depthSweep
    ? "the depth sweep below compares depths at equal within-run positions and separates them"
    : "only a depth sweep (runs at several depths, compared at equal within-run positions) can separate them";
  add(
    "position-vs-drift",
    `Within a run, position and elapsed time advance together (${
      formatNumber(dr.msPerToken)
    } ms per token), so the slope is position cost plus drift rate x ms per token. Drift between runs is ${
      formatEstimate(dr.rateMsPerS)
    }; times ${formatNumber(dr.msPerToken)} ms per token it explains ${
      formatNumber(dr.explainedUsPerToken.value)
    } µs per context token (95% CI ${formatNumber(dr.explainedUsPerToken.low)} to ${
      formatNumber(dr.explainedUsPerToken.high)
    })${fraction}; ${
      dr.canExplainSlope
        ? `that reaches the whole slope, so the within-run slope cannot tell position cost from drift: ${sweep}`
        : `position cost without it is ${formatEstimate(dr.positionUsPerToken)}; ${sweep}`
    }.`,
  );
  const windows = s.windows.map((w) =>
    `tokens ${w.firstToken}–${w.lastToken} average ${formatNumber(w.meanLatencyMs.value)} ms (${
      formatNumber(w.tokensPerS.value)
    } tokens/s, 95% CI ${formatNumber(w.tokensPerS.low)}–${formatNumber(w.tokensPerS.high)}; ${
      count(w.runs)
    } runs)`
  );
  add(
    "windows",
    `Generated ${windows.join(", ")}; intervals by ${s.windows[0]?.meanLatencyMs.method ?? "n/a"}.`,
  );
  if (s.depthSweep) {
    const d = s.depthSweep;
    const lin = d.linearity;
    const linText = Number.isFinite(lin.pValue)
      ? `${
        lin.pValue < 0.05 ? "the curve departs from a straight line" : "a straight line fits"
      } (F = ${formatNumber(lin.statistic)} on ${lin.df1} and ${lin.df2} df, ${
        pText(lin.pValue)
      }, ${lin.method})`
      : "two depths cannot test linearity";
    add(
      "depth",
      `Across ${d.depths} depths, per-run mean latency changes ${
        formatEstimate(d.slopeUsPerToken)
      }; ${linText}.`,
    );
  }
  const v = analysis.variance;
  const parts = v.groups.map((g) =>
    `${g.label} ${formatNumber(g.share.value)}% (95% CI ${formatNumber(g.share.low)}–${
      formatNumber(g.share.high)
    })`
  );
  add(
    "variance",
    `Of the variance of decode latency (${count(v.tokens)} tokens, ${count(v.runs)} runs), ${
      parts.join(", ")
    }; ${formatNumber(v.residual.value)}% is unexplained (${
      formatNumber(v.residualBetweenRunsPct)
    }% between runs, ${formatNumber(v.residualWithinRunsPct)}% within runs); ${v.method}.`,
  );
  const pc = analysis.promptClass;
  if (pc.test) {
    const effects = pc.effects.map((e) =>
      `"${e.class}" prompts decode ${formatEstimate(e.effectUs)} ${
        e.effectUs.value >= 0 ? "slower" : "faster"
      } than "${pc.reference}" ones`
    );
    add(
      "prompt-class",
      `At matched prompt length (${pc.strata} strata, ${count(pc.runs)} runs), ${
        effects.join("; ")
      }; ${testText(pc.test)}.`,
    );
  } else {
    add(
      "prompt-class",
      `Prompt class was not tested: ${pc.effects[0]?.effectUs.method ?? "fewer than two classes"}.`,
    );
  }
  const tc = analysis.tokenContent;
  const perByte = tc.effects.find((e) => e.feature === "piece_bytes")!;
  add(
    "token-content",
    `Token content explains ${
      formatNumber(tc.partialR2Pct)
    }% of the within-run variance left after position; the latency part it predicts has a standard deviation of ${
      formatEstimate(tc.contentSdUs)
    }, and one more byte in a piece changes latency by ${formatEstimate(perByte.effectUs)}; ${
      testText(tc.test)
    }.`,
  );
  if (analysis.runStory) {
    const r = analysis.runStory;
    const moves = (["per10OutputTokens", "per100PromptTokens"] as const)
      .filter((k) => Number.isFinite(r.e2e[k].value))
      .map((k) =>
        `e2e speed changes ${formatEstimate(r.e2e[k])} while the decode rate changes ${
          formatEstimate(r.decode[k])
        }`
      );
    add(
      "run-story",
      `Across ${count(r.runs)} runs, ${
        moves.length > 0 ? moves.join("; ") : "output and prompt length do not vary"
      }; the time to first token is ${
        formatNumber(r.meanTtftSharePct.value)
      }% of run time on average, and one common decode rate of ${
        formatNumber(r.pooledDecodeTokensPerS)
      } tokens/s reproduces ${formatNumber(r.constantRateR2Pct)}% of the spread in e2e tokens/s.`,
    );
  }
  const o = analysis.originalTable;
  add(
    "original-table",
    `Averaging the ${o.rows.height} rows' e2e rates gives ${
      formatNumber(o.naiveMeanTokensPerS)
    } tokens/s, but total tokens over total time is ${
      formatNumber(o.pooledTokensPerS)
    } tokens/s and the pooled decode rate ${formatNumber(o.pooledDecodeTokensPerS)} tokens/s.`,
  );
  const st = analysis.stalls;
  add(
    "stalls",
    `${count(st.stalls)} of ${
      count(st.tokens)
    } decode tokens are stalls (${st.rule}, i.e. more than ${
      formatNumber(st.thresholdMs)
    } ms above the run median): ${formatEstimate(st.ratePer1000)}, taking ${
      formatEstimate(st.excessTimePct)
    }.`,
  );
  addIf(
    "autocorrelation",
    analysis.autocorrelation,
    (ac) =>
      `Consecutive decode latencies within a run ${
        {
          above: "are correlated",
          below: "are negatively correlated",
          within: "show no clear correlation",
        }[intervalSide(ac.lag1)]
      }: lag-1 ${formatEstimate(ac.lag1)}, lag-2 ${formatNumber(ac.lag2.value)} (95% CI ${
        formatNumber(ac.lag2.low)
      }${ac.lag2.low < 0 || ac.lag2.high < 0 ? " to " : "–"}${formatNumber(ac.lag2.high)}) over ${
        count(ac.runs)
      } runs (per-run lag-1 median ${
        formatNumber(ac.perRunLag1Median)
      }); tokens need not be independent, so every interval and test here treats whole runs (or blocks of tokens), not single tokens, as the independent units.`,
  );
  addIf(
    "warmup",
    analysis.warmup,
    (w) =>
      `The ${w.group} (${w.warmupRuns}) decode ${
        formatEstimate({ ...w.effectMs, unit: "ms per token" })
      } ${w.effectMs.value >= 0 ? "slower" : "faster"} than ${w.comparison} (${w.otherRuns}), ${
        pText(w.pValue)
      }.`,
  );
  addIf(
    "drift",
    analysis.drift,
    (d) =>
      `Per-run median latency drifts ${formatEstimate(d.slopeUsPerMinute)} over ${
        formatNumber(d.spanMinutes)
      } minutes of session.`,
  );
  addIf(
    "physics",
    analysis.physics,
    (p) =>
      `Reading ${formatNumber(p.weightBytes / 1e6)} MB of weights plus ${
        count(p.kvBytesPerToken)
      } bytes of KV cache per context token takes at least ${
        formatNumber(p.floorMs)
      } ms per token at the given bandwidth; the median decode latency of ${
        formatNumber(p.medianLatencyMs)
      } ms is ${formatNumber(p.medianOverFloor)}x that floor. The KV read predicts ${
        formatNumber(p.predictedSlopeUsPerToken)
      } µs per context token; the fitted slope is ${formatEstimate(p.slopeOverPredicted)}, ${
        p.slopeVerdict === "matches"
          ? "consistent with the prediction"
          : `${p.slopeVerdict} the prediction`
      }.`,
  );
  return out;
}
