/**
 * What a comparison warns about and lists beside its estimates: too few runs, drift or
 * stalls on one side, cells left out, and the environment fields whose values differ
 * between the sides.
 *
 * @module
 */

import { detectStalls, sessionDrift } from "../analysis/stalls.ts";
import type { Side } from "./_sides.ts";
import type { CompareWarning, EnvironmentDifference } from "./types.ts";

export function sideWarnings(
  side: Side,
  shared: Set<string>,
  thresholdPct: number,
  minRuns: number,
  warnings: CompareWarning[],
): void {
  const inShared = side.cell.map((k) => shared.has(k));
  const runs = inShared.filter(Boolean).length;
  if (runs < minRuns) {
    warnings.push({
      kind: "few-runs",
      side: side.name,
      message:
        `${side.name} has only ${runs} measured runs in the shared cells (at least ${minRuns} a side give a dependable interval)`,
    });
  }
  // slow first run: the first measured run of each session against the other runs of its cell
  const total = side.logs.e2eTokensPerS; // log(output / total): lower is slower
  const cellRuns = new Map<string, number[]>();
  side.cell.forEach((k, i) => {
    if (!inShared[i] || !Number.isFinite(total[i]!)) return;
    if (!cellRuns.has(k)) cellRuns.set(k, []);
    cellRuns.get(k)!.push(i);
  });
  let ss = 0, df = 0;
  for (const members of cellRuns.values()) {
    const mean = members.reduce((s, i) => s + total[i]!, 0) / members.length;
    for (const i of members) ss += (total[i]! - mean) ** 2;
    df += members.length - 1;
  }
  const sd = df > 0 ? Math.sqrt(ss / df) : Number.NaN;
  const first = new Map<string, number>();
  side.sessionOf.forEach((s, i) => {
    if (inShared[i] && !first.has(s)) first.set(s, i);
  });
  for (const [session, i] of first) {
    const others = cellRuns.get(side.cell[i]!)!.filter((k) => k !== i);
    if (others.length < 2 || !(sd > 0)) continue;
    const rest = others.reduce((s, k) => s + total[k]!, 0) / others.length;
    const z = (total[i]! - rest) / sd;
    if (z < -3) {
      warnings.push({
        kind: "slow-first-run",
        side: side.name,
        message: `${side.name}: the first measured run of session ${session} (${
          side.cell[i]
        }) took ${
          ((Math.exp(rest - total[i]!) - 1) * 100).toFixed(0)
        }% longer than the rest of its cell (${
          (-z).toFixed(1)
        } sd); add warm-up runs or leave it out`,
      });
    }
  }
  // drift within the session
  try {
    const prep = side.prep;
    const drift = sessionDrift(prep);
    const s = drift.slopeUsPerMinute;
    let medianMs = 0, count = 0;
    for (let t = 0; t < prep.tokens.count; t += 1) {
      if (!prep.runs.warmup[prep.tokens.run[t]!]) {
        medianMs += prep.tokens.latencyMs[t]!;
        count++;
      }
    }
    medianMs /= count;
    const changePct = (s.value / 1000) * drift.spanMinutes / medianMs * 100;
    if ((s.low > 0 || s.high < 0) && Math.abs(changePct) > thresholdPct) {
      warnings.push({
        kind: "drift",
        side: side.name,
        message: `${side.name}: decode latency drifts by ${
          changePct.toFixed(1)
        }% over the session (${s.value.toFixed(0)} µs per minute, 95% CI ${s.low.toFixed(0)} to ${
          s.high.toFixed(0)
        }); interleave the runs or check for other load`,
      });
    }
  } catch (e) {
    if (!(e instanceof RangeError)) throw e; // fewer than 3 runs: no drift fit
  }
}

export function stallWarning(
  b: Side,
  c: Side,
  shared: Set<string>,
  warnings: CompareWarning[],
): void {
  const count = (side: Side): { stalls: number; tokens: number; rule: string } => {
    const keep = new Set(side.runId.filter((_, i) => shared.has(side.cell[i]!)));
    try {
      const s = detectStalls(side.prep, { includeWarmup: false, resamples: 50 });
      const ids = s.byRun.getColumn("run_id").toArray() as string[];
      const st = s.byRun.getColumn("stalls").toArray() as number[];
      const tk = s.byRun.getColumn("tokens").toArray() as number[];
      let stalls = 0, tokens = 0;
      ids.forEach((id, i) => {
        if (!keep.has(id)) return;
        stalls += Number(st[i]);
        tokens += Number(tk[i]);
      });
      return { stalls, tokens, rule: s.rule };
    } catch (e) {
      if (!(e instanceof RangeError)) throw e;
      return { stalls: 0, tokens: 0, rule: "" };
    }
  };
  const sb = count(b), sc = count(c);
  const rate = (s: { stalls: number; tokens: number }): number =>
    s.tokens > 0 ? (s.stalls / s.tokens) * 1000 : 0;
  const [hi, lo, hiName] = rate(sb) >= rate(sc) ? [sb, sc, "baseline"] : [sc, sb, "candidate"];
  // one-sided binomial test of the split of all stalls between the sides, given their tokens
  const n = hi.stalls + lo.stalls;
  const p = hi.tokens / (hi.tokens + lo.tokens);
  if (hi.stalls >= 3 && rate(hi) >= 3 * rate(lo) && binomialUpperTail(hi.stalls, n, p) < 0.01) {
    warnings.push({
      kind: "stalls",
      side: hiName as "baseline" | "candidate",
      message:
        `stalls on one side: ${hiName} has ${hi.stalls} stalls in ${hi.tokens} decode tokens (${
          rate(hi).toFixed(1)
        } per 1000) against ${lo.stalls} in ${lo.tokens} (${
          rate(lo).toFixed(1)
        } per 1000; one-sided binomial p < 0.01; ${hi.rule}); ITL p99 and decode rates reflect them`,
    });
  }
}

/** P(X >= k) for X ~ Binomial(n, p), summed in log space. */
export function binomialUpperTail(k: number, n: number, p: number): number {
  if (k <= 0) return 1;
  if (p <= 0) return 0;
  if (p >= 1) return 1;
  let logPmf = n * Math.log(1 - p); // P(X = 0)
  const odds = Math.log(p / (1 - p));
  let tail = 0;
  for (let j = 0; j < n; j++) {
    if (j >= k) tail += Math.exp(logPmf);
    logPmf += Math.log((n - j) / (j + 1)) + odds;
  }
  return tail + Math.exp(logPmf); // j = n
}

export function environmentDifferences(b: Side, c: Side): EnvironmentDifference[] {
  const out: EnvironmentDifference[] = [];
  const compare = (mb: Map<string, string>, mc: Map<string, string>): void => {
    for (const field of new Set([...mb.keys(), ...mc.keys()])) {
      const vb = mb.get(field) ?? "(not recorded)", vc = mc.get(field) ?? "(not recorded)";
      if (vc !== vb) out.push({ field, baseline: vb, candidate: vc });
    }
  };
  compare(b.env, c.env);
  compare(b.runEnv, c.runEnv);
  return out;
}
