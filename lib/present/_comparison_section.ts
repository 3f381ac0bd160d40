/**
 * The comparison section of the HTML report: a `compareSessions()` result as the ratio
 * chart, the metrics table, the cells compared, the environment differences and warnings.
 *
 * @module
 */

import { COMPARE_METRICS, type SessionComparison } from "../compare/types.ts";
import { escapeHtml, figure, htmlTable } from "./html.ts";
import { plotComparison } from "./plots_rows.ts";

/** The report's comparison section: the ratio chart, the table, environment and warnings. */
export function comparisonSection(result: SessionComparison): string {
  const rows = COMPARE_METRICS.map((m) => result.metrics[m]);
  const chart = plotComparison(
    rows.filter((r) => Number.isFinite(r.ratio.value)).map((r) => ({
      label: `${r.label} (${r.higherIsFaster ? "higher" : "lower"} is faster)`,
      value: r.ratio.value,
      low: r.ratio.low,
      high: r.ratio.high,
      verdict: r.verdict,
    })),
    { width: 820, thresholdPct: result.thresholdPct },
  );
  const parts = [
    `<h2>6. Baseline against candidate</h2>`,
    `<p>Baseline: <code>${
      escapeHtml(result.baselineSessions.join(", "))
    }</code>; candidate: <code>${
      escapeHtml(result.candidateSessions.join(", "))
    }</code>. Each metric is a candidate/baseline ratio with its 95% interval; the grey band is the no-change band of ±${result.thresholdPct}%. An interval inside the band is <em>no change</em>, one wholly beyond it on the faster side <em>faster</em> (the slower side <em>slower</em>), and one that crosses a band edge <em>inconclusive</em>.</p>`,
    figure(
      chart,
      `Candidate/baseline ratio per metric with 95% intervals and the ±${result.thresholdPct}% band.`,
    ),
    htmlTable(
      rows.map((r) => ({
        metric: r.label,
        baseline: r.baseline,
        candidate: r.candidate,
        ratio: Number.isFinite(r.ratio.low)
          ? `${r.ratio.value.toFixed(3)} [${r.ratio.low.toFixed(3)}-${r.ratio.high.toFixed(3)}]`
          : Number.isFinite(r.ratio.value)
          ? r.ratio.value.toFixed(3)
          : "n/a",
        verdict: r.verdict,
        detectable: Number.isFinite(r.detectablePct) ? `${r.detectablePct.toFixed(1)}%` : "n/a",
      })),
      [
        { key: "metric", label: "metric" },
        { key: "baseline", label: "baseline" },
        { key: "candidate", label: "candidate" },
        { key: "ratio", label: "ratio [95% CI]" },
        { key: "verdict", label: "verdict" },
        { key: "detectable", label: "smallest detectable change" },
      ],
    ),
    `<p class="meta">Method: ${
      escapeHtml(result.metrics.decodeTokensPerS.ratio.method)
    }. Cells compared: ${
      escapeHtml(
        result.cells.map((c) => `${c.key} (${c.baselineRuns}+${c.candidateRuns} runs)`).join("; "),
      )
    }${
      result.leftOut.length > 0
        ? `; left out (one side only): ${
          escapeHtml(result.leftOut.map((c) => `${c.key} (${c.side})`).join("; "))
        }`
        : ""
    }.</p>`,
    result.environment.length === 0
      ? `<p>No environment difference is recorded between the sides.</p>`
      : `<p>Environment differences:</p>\n<ul>\n${
        result.environment.map((d) =>
          `<li>${escapeHtml(d.field)}: ${escapeHtml(d.baseline || "(empty)")} → ${
            escapeHtml(d.candidate || "(empty)")
          }</li>`
        ).join("\n")
      }\n</ul>`,
  ];
  if (result.warnings.length > 0) {
    parts.push(
      `<p>Warnings:</p>\n<ul>\n${
        result.warnings.map((w) => `<li>${escapeHtml(w.message)}</li>`).join("\n")
      }\n</ul>`,
    );
  }
  return parts.join("\n");
}
