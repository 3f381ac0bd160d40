import assert from "node:assert/strict";
import { plotLatencyByGroup, plotSlowdown, plotTimeline } from "../../lib/present/plots_latency.ts";
import { plotEffects, plotRunRates, plotVarianceShares } from "../../lib/present/plots_rows.ts";

const points = Array.from({ length: 200 }, (_, i) => ({
  position: 10 + (i % 40),
  latencyMs: 20 + (i % 40) * 0.02 + (i % 3) * 0.4,
}));
const fit = [10, 49].map((position) => ({
  position,
  value: 20.4 + (position - 10) * 0.02,
  low: 20.2 + (position - 10) * 0.015,
  high: 20.6 + (position - 10) * 0.025,
}));

function count(svg: string, pattern: RegExp): number {
  return svg.match(pattern)?.length ?? 0;
}

Deno.test("`plotSlowdown()` returns a standalone SVG with a dot per point, the band and the line", () => {
  const svg = plotSlowdown({ points, fit });
  assert.match(svg, /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.ok(svg.endsWith("</svg>"));
  assert.equal(count(svg, /<circle /g), points.length);
  assert.equal(count(svg, /aria-label="area"/g), 1);
  assert.equal(count(svg, /aria-label="line"/g), 1);
  assert.doesNotMatch(svg, /\d\.\d{3}/, "coordinates are rounded to two decimals");
});

Deno.test("`plotSlowdown()` leaves stalls off the axis and counts them in a note", () => {
  const withStalls = [...points, { position: 20, latencyMs: 900 }, {
    position: 30,
    latencyMs: 1200,
  }];
  const svg = plotSlowdown({ points: withStalls, fit });
  assert.equal(count(svg, /<circle /g), points.length);
  assert.match(svg, />2 slower tokens above [\d.]+ ms not shown</);
});

Deno.test("`plotSlowdown()` thins points to maxPoints", () => {
  const svg = plotSlowdown({ points, fit }, { maxPoints: 50 });
  assert.equal(count(svg, /<circle /g), 50);
});

Deno.test("`plotSlowdown()` rejects empty data and bad options", () => {
  assert.throws(
    () => plotSlowdown({ points: [], fit }),
    new RangeError("Cannot plot slowdown curve points: expected at least one row, found 0"),
  );
  assert.throws(
    () => plotSlowdown({ points, fit }, { maxPoints: 0 }),
    new RangeError("Cannot plot slowdown curve: maxPoints must be a positive integer, found 0"),
  );
  assert.throws(
    () => plotSlowdown({ points: [{ position: 1, latencyMs: NaN }], fit }),
    new TypeError("Cannot plot slowdown curve: latencyMs must be a finite number, found NaN"),
  );
});

Deno.test("`plotLatencyByGroup()` draws one box per group, sorted", () => {
  const rows = points.map((p, i) => ({
    group: i % 2 === 0 ? "simple" : "complex",
    latencyMs: p.latencyMs,
  }));
  const svg = plotLatencyByGroup(rows, { groupLabel: "class" });
  assert.ok(svg.indexOf(">complex<") < svg.indexOf(">simple<"));
  assert.match(svg, />class</);
  assert.throws(
    () => plotLatencyByGroup(rows, { fence: -1 }),
    new RangeError("Cannot plot latency by group: fence must be a finite number >= 0, found -1"),
  );
});

Deno.test("`plotEffects()` draws each interval and rejects an interval that misses its value", () => {
  const svg = plotEffects([
    { label: "digits", value: 12, low: -30, high: 55 },
    { label: "punctuation", value: -8, low: -40, high: 20 },
  ], { valueLabel: "effect (µs)" });
  assert.match(svg, />digits</);
  assert.match(svg, />effect \(µs\) →</);
  assert.equal(count(svg, /<circle /g), 2);
  assert.throws(
    () => plotEffects([{ label: "digits", value: 60, low: -30, high: 55 }]),
    new RangeError(
      'Cannot plot effects: the interval of "digits" must contain its value, found 60 outside [-30, 55]',
    ),
  );
});

Deno.test("`plotTimeline()` keeps every stall when thinning and rejects non-positive latencies", () => {
  const rows = Array.from({ length: 300 }, (_, i) => ({
    timeS: i / 50,
    latencyMs: i % 100 === 7 ? 500 : 20,
    warmup: i < 30,
    stall: i % 100 === 7,
  }));
  const svg = plotTimeline({ points: rows, trend: [] }, { maxPoints: 20 });
  assert.equal(count(svg, /<circle fill="#d62728" r="3"/g), 3);
  assert.match(svg, />warm-up</);
  assert.throws(
    () =>
      plotTimeline({
        points: [{ timeS: 0, latencyMs: 0, warmup: false, stall: false }],
        trend: [],
      }),
    new RangeError(
      "Cannot plot session timeline: latencyMs must be positive on a log scale, found 0",
    ),
  );
});

Deno.test("`plotVarianceShares()` labels each bar with its percentage and checks shares", () => {
  const svg = plotVarianceShares([
    { factor: "context position", share: 0.25, low: 0.2, high: 0.3 },
    { factor: "residual", share: 0.75 },
  ]);
  assert.match(svg, />25\.0%</);
  assert.match(svg, />75\.0%</);
  assert.throws(
    () => plotVarianceShares([{ factor: "run", share: 1.5 }]),
    new RangeError('Cannot plot variance shares: share of "run" must be in [0, 1], found 1.5'),
  );
});

Deno.test("`plotRunRates()` draws two dots per run and rejects repeated labels", () => {
  const svg = plotRunRates([
    { label: "a", e2eTokensPerS: 50, decodeTokensPerS: 60 },
    { label: "b", e2eTokensPerS: 45, decodeTokensPerS: 59 },
  ]);
  // 4 data dots and 2 legend dots.
  assert.equal(count(svg, /<circle /g), 6);
  assert.throws(
    () =>
      plotRunRates([
        { label: "a", e2eTokensPerS: 50, decodeTokensPerS: 60 },
        { label: "a", e2eTokensPerS: 45, decodeTokensPerS: 59 },
      ]),
    new RangeError('Cannot plot run rates: labels must be unique, found "a" twice'),
  );
});
