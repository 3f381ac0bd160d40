import assert from "node:assert/strict";
import { clusterSlope } from "../../mod.ts";
import { Rng } from "../../lib/stats/rng.ts";

type M = number[][];
const zeros = (r: number, c: number): M => Array.from({ length: r }, () => new Array(c).fill(0));
const mul = (a: M, b: M): M =>
  a.map((row) => b[0]!.map((_, j) => row.reduce((s, v, k) => s + v * b[k]![j]!, 0)));
const tr = (a: M): M => a[0]!.map((_, j) => a.map((row) => row[j]!));

/** Inverse by Gauss-Jordan (small, well-conditioned matrices). */
function inverse(a: M): M {
  const n = a.length;
  const m = a.map((row, i) => [...row, ...Array.from({ length: n }, (_, j) => (i === j ? 1 : 0))]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r]![c]!) > Math.abs(m[p]![c]!)) p = r;
    [m[c], m[p]] = [m[p]!, m[c]!];
    const d = m[c]![c]!;
    for (let j = 0; j < 2 * n; j++) m[c]![j]! /= d;
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = m[r]![c]!;
      for (let j = 0; j < 2 * n; j++) m[r]![j]! -= f * m[c]![j]!;
    }
  }
  return m.map((row) => row.slice(n));
}

/** Symmetric pseudo-inverse square root by cyclic Jacobi rotations. */
function pinvSqrt(s: M): M {
  const n = s.length;
  const a = s.map((r) => [...r]);
  const v = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => +(i === j)));
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p]![q]! ** 2;
    if (off < 1e-30) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        if (Math.abs(a[p]![q]!) < 1e-300) continue;
        const theta = (a[q]![q]! - a[p]![p]!) / (2 * a[p]![q]!);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1), sn = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k]![p]!, akq = a[k]![q]!;
          a[k]![p] = c * akp - sn * akq;
          a[k]![q] = sn * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p]![k]!, aqk = a[q]![k]!;
          a[p]![k] = c * apk - sn * aqk;
          a[q]![k] = sn * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k]![p]!, vkq = v[k]![q]!;
          v[k]![p] = c * vkp - sn * vkq;
          v[k]![q] = sn * vkp + c * vkq;
        }
      }
    }
  }
  const out = zeros(n, n);
  for (let e = 0; e < n; e++) {
    const lambda = a[e]![e]!;
    if (lambda < 1e-10) continue;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) out[i]![j]! += (v[i]![e]! * v[j]![e]!) / Math.sqrt(lambda);
    }
  }
  return out;
}

Deno.test("`clusterSlope()` equals CR2 and Bell-McCaffrey df computed from the full dummy design", () => {
  const rng = new Rng(3);
  const sizes = [3, 4, 5, 6, 9];
  const G = sizes.length;
  const rows: { g: number; x: number; y: number }[] = [];
  sizes.forEach((n, g) => {
    for (let k = 0; k < n; k++) {
      const x = k + 2 * rng.uniform();
      rows.push({ g, x, y: g + 0.3 * x + rng.normal() * (1 + g) });
    }
  });
  const N = rows.length, p = G + 1;
  const X: M = rows.map((r) => [...sizes.map((_, g) => +(r.g === g)), r.x]);
  const y: M = rows.map((r) => [r.y]);
  const XtXi = inverse(mul(tr(X), X));
  const beta = mul(XtXi, mul(tr(X), y));
  const H = mul(mul(X, XtXi), tr(X));
  const e = rows.map((_, i) => y[i]![0]! - X[i]!.reduce((s, v, j) => s + v * beta[j]![0]!, 0));
  const IH = H.map((row, i) => row.map((v, j) => +(i === j) - v));
  const c = Array.from({ length: p }, (_, j) => +(j === G));
  const cB = XtXi.map((row) => row.reduce((s, v, j) => s + v * c[j]!, 0)); // (X'X)^-1 c
  let V = 0;
  const g: number[][] = [];
  const wxx: number[] = [], wxy: number[] = [];
  for (let cl = 0; cl < G; cl++) {
    const idx = rows.map((r, i) => (r.g === cl ? i : -1)).filter((i) => i >= 0);
    const A = pinvSqrt(idx.map((i) => idx.map((j) => IH[i]![j]!)));
    const Xi = idx.map((i) => X[i]!);
    // w = A_i X_i (X'X)^-1 c
    const XiB = Xi.map((row) => row.reduce((s, v, j) => s + v * cB[j]!, 0));
    const w = A.map((row) => row.reduce((s, v, k) => s + v * XiB[k]!, 0));
    const score = w.reduce((s, v, k) => s + v * e[idx[k]!]!, 0);
    V += score * score;
    // g_cl = (I - H)' embed(w)
    g.push(rows.map((_, r) => idx.reduce((s, i, k) => s + IH[i]![r]! * w[k]!, 0)));
    const xs = idx.map((i) => rows[i]!.x), ys = idx.map((i) => rows[i]!.y);
    const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
    wxx.push(xs.reduce((s, x) => s + (x - mx) ** 2, 0));
    wxy.push(xs.reduce((s, x, k) => s + (x - mx) * ys[k]!, 0));
  }
  const omega = g.map((gi) => g.map((gj) => gi.reduce((s, v, k) => s + v * gj[k]!, 0)));
  const trO = omega.reduce((s, row, i) => s + row[i]!, 0);
  const trO2 = omega.reduce(
    (s, row, i) => s + row.reduce((t, v, j) => t + v * omega[j]![i]!, 0),
    0,
  );
  const fit = clusterSlope(wxx, wxy);
  const close = (a: number, b: number): boolean => Math.abs(a - b) <= 1e-9 * Math.abs(b);
  assert.ok(close(fit.slope, beta[G]![0]!), `${fit.slope} vs ${beta[G]![0]}`);
  assert.ok(close(fit.se, Math.sqrt(V)), `${fit.se} vs ${Math.sqrt(V)}`);
  assert.ok(close(fit.df, (trO * trO) / trO2), `${fit.df} vs ${(trO * trO) / trO2}`);
  assert.ok(fit.df < G - 1, "unequal leverages give fewer df than clusters - 1");
  assert.equal(fit.clusters, G);
  assert.equal(N, 27);
});

Deno.test("`clusterSlope()` gives clusters - 1 df with equal leverages and rejects mismatched input", () => {
  const fit = clusterSlope([2, 2, 2, 2], [3.8, 4, 4.2, 4.1]);
  assert.ok(Math.abs(fit.df - 3) < 1e-12);
  assert.ok(Number.isNaN(clusterSlope([0, 0], [0, 0]).slope));
  assert.throws(
    () => clusterSlope([1, 2], [1]),
    new RangeError(
      "Cannot fit a cluster slope: wxx and wxy must have one entry per cluster, found 2 and 1",
    ),
  );
});
