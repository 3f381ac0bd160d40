/**
 * Least squares from cross-product matrices: packed symmetric storage for per-run sums and
 * the sweep operator (Goodnight 1979) with a collinearity tolerance for fits on subsets of
 * columns.
 *
 * @module
 */

/** Number of entries of a packed upper triangle of a p x p symmetric matrix. */
export function packedSize(p: number): number {
  return (p * (p + 1)) / 2;
}

/** Index of entry (a, b), a <= b, in packed upper-triangle storage. */
export function packedIndex(a: number, b: number, p: number): number {
  return a <= b ? (a * (2 * p - a - 1)) / 2 + b : (b * (2 * p - b - 1)) / 2 + a;
}

/** Expands a packed upper triangle (at `offset`) into a full row-major p x p matrix. */
export function unpack(packed: ArrayLike<number>, p: number, offset = 0): Float64Array {
  const m = new Float64Array(p * p);
  let k = offset;
  for (let a = 0; a < p; a++) {
    for (let b = a; b < p; b++, k++) {
      m[a * p + b] = packed[k]!;
      m[b * p + a] = packed[k]!;
    }
  }
  return m;
}

/** Result of a least-squares fit from a cross-product matrix. */
export interface CrossFit {
  /** Residual sum of squares. */
  rss: number;
  /** Coefficient of each requested predictor (NaN when dropped as collinear or constant). */
  coef: Float64Array;
  /** Number of predictors kept (rank of the design). */
  rank: number;
  /** Diagonal of (X'X)^-1 for each predictor (NaN when dropped): coefficient variance / sigma². */
  inverseDiagonal: Float64Array;
}

const TOLERANCE = 1e-9;

/**
 * Sweeps column k of the full p x p matrix `m` in place (the sweep operator). After sweeping a
 * set of predictor columns of `[X y]'[X y]`, `m[k][y]` holds their coefficients and `m[y][y]` the
 * residual sum of squares.
 */
export function sweep(m: Float64Array, p: number, k: number): void {
  const d = m[k * p + k]!;
  const rowK = k * p;
  for (let j = 0; j < p; j++) m[rowK + j] = m[rowK + j]! / d;
  for (let i = 0; i < p; i++) {
    if (i === k) continue;
    const b = m[i * p + k]!;
    if (b === 0) continue;
    const rowI = i * p;
    for (let j = 0; j < p; j++) m[rowI + j] = m[rowI + j]! - b * m[rowK + j]!;
    m[rowI + k] = -b / d;
  }
  m[rowK + k] = 1 / d;
}

/**
 * Fits y (column `yCol`) on the intercept (column `oneCol`, the all-ones column whose
 * cross-products are counts and sums) plus `predictors`, from the full cross-product matrix
 * `m` (p x p, not modified). A predictor whose remaining sum of squares is below 1e-9 of its
 * centred sum of squares is dropped as collinear; pass `oneCol = -1` for data already
 * centred (within-run fits), where no intercept is swept.
 */
export function fitCross(
  m: Float64Array,
  p: number,
  predictors: readonly number[],
  yCol: number,
  oneCol: number,
): CrossFit {
  const w = m.slice();
  if (oneCol >= 0) {
    if (!(w[oneCol * p + oneCol]! > 0)) {
      const nan = new Float64Array(predictors.length).fill(Number.NaN);
      return { rss: Number.NaN, coef: nan, rank: 0, inverseDiagonal: nan };
    }
    sweep(w, p, oneCol);
  }
  const ref = predictors.map((k) => w[k * p + k]!);
  const coef = new Float64Array(predictors.length).fill(Number.NaN);
  const kept: number[] = [];
  predictors.forEach((k, i) => {
    const d = w[k * p + k]!;
    if (ref[i]! > 0 && d > TOLERANCE * ref[i]!) {
      sweep(w, p, k);
      kept.push(i);
    }
  });
  const inverseDiagonal = new Float64Array(predictors.length).fill(Number.NaN);
  for (const i of kept) {
    const k = predictors[i]!;
    coef[i] = w[k * p + yCol]!;
    inverseDiagonal[i] = w[k * p + k]!;
  }
  return { rss: w[yCol * p + yCol]!, coef, rank: kept.length, inverseDiagonal };
}

/**
 * Inverse of a symmetric positive-definite k x k matrix (row-major) by Cholesky
 * factorisation; null when a pivot falls below 1e-12 of its diagonal entry (singular or
 * indefinite).
 */
export function invertSpd(a: ArrayLike<number>, k: number): Float64Array | null {
  const l = new Float64Array(k * k);
  for (let j = 0; j < k; j++) {
    let d = a[j * k + j]!;
    for (let m = 0; m < j; m++) d -= l[j * k + m]! ** 2;
    if (!(d > 1e-12 * Math.abs(a[j * k + j]!)) || !(d > 0)) return null;
    const ljj = Math.sqrt(d);
    l[j * k + j] = ljj;
    for (let i = j + 1; i < k; i++) {
      let s = a[i * k + j]!;
      for (let m = 0; m < j; m++) s -= l[i * k + m]! * l[j * k + m]!;
      l[i * k + j] = s / ljj;
    }
  }
  // inverse of L by forward substitution, then (L^-1)' L^-1
  const li = new Float64Array(k * k);
  for (let j = 0; j < k; j++) {
    li[j * k + j] = 1 / l[j * k + j]!;
    for (let i = j + 1; i < k; i++) {
      let s = 0;
      for (let m = j; m < i; m++) s -= l[i * k + m]! * li[m * k + j]!;
      li[i * k + j] = s / l[i * k + i]!;
    }
  }
  const inv = new Float64Array(k * k);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j <= i; j++) {
      let s = 0;
      for (let m = i; m < k; m++) s += li[m * k + i]! * li[m * k + j]!;
      inv[i * k + j] = s;
      inv[j * k + i] = s;
    }
  }
  return inv;
}
