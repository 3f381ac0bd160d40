// Seeded pseudo-random numbers for synthetic weights: xoshiro128** (Blackman and Vigna, 2018)
// seeded through splitmix32, and approximately normal values from a 65,536-level inverse-CDF
// table (two normals per 32-bit draw). The table gives exact symmetry (mean 0) and tails cut
// at about 4.4 standard deviations: plenty for random weights, and several times faster than
// Box-Muller.

/** splitmix32 step: a well-mixed 32-bit hash of `x`. */
function mix32(x: number): number {
  x = (x + 0x9e3779b9) | 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** Hashes a seed and stream ids (e.g. tensor index, chunk index) into one 32-bit seed. */
export function streamSeed(seed: number, ...ids: readonly number[]): number {
  let h = mix32(seed >>> 0);
  for (const id of ids) h = mix32(h ^ mix32(id >>> 0));
  return h;
}

/** Inverse standard-normal CDF (Acklam's rational approximation, relative error < 1.2e-9). */
function normalQuantile(p: number): number {
  const a = [
    -39.69683028665376,
    220.9460984245205,
    -275.9285104469687,
    138.357751867269,
    -30.66479806614716,
    2.506628277459239,
  ];
  const b = [
    -54.47609879822406,
    161.5858368580409,
    -155.6989798598866,
    66.80131188771972,
    -13.28068155288572,
  ];
  const c = [
    -0.007784894002430293,
    -0.3223964580411365,
    -2.400758277161838,
    -2.549732539343734,
    4.374664141464968,
    2.938163982698783,
  ];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const lo = 0.02425;
  if (p < lo) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) /
      ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
  }
  if (p > 1 - lo) return -normalQuantile(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return (((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q /
    (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1);
}

let normalTable: Float32Array | undefined;

/** 65,536 standard-normal quantiles at (k + 0.5) / 65536, antisymmetric by construction. */
function getNormalTable(): Float32Array {
  if (normalTable !== undefined) return normalTable;
  const t = new Float32Array(65536);
  for (let k = 0; k < 32768; k++) {
    const v = normalQuantile((k + 0.5) / 65536);
    t[k] = v;
    t[65535 - k] = -v;
  }
  normalTable = t;
  return t;
}

/** xoshiro128** generator with 32-bit state words. */
export class Xoshiro128 {
  #s0: number;
  #s1: number;
  #s2: number;
  #s3: number;

  /** Seeds the state from a 32-bit seed through splitmix32 (never all zero). */
  constructor(seed: number) {
    let x = seed >>> 0;
    x = mix32(x);
    this.#s0 = x;
    x = mix32(x);
    this.#s1 = x;
    x = mix32(x);
    this.#s2 = x;
    x = mix32(x);
    this.#s3 = x | 1;
  }

  /** Fills `out` with approximately normal values of mean 0 and standard deviation `std`. */
  fillNormal(out: Float32Array, std: number): void {
    const table = getNormalTable();
    let s0 = this.#s0, s1 = this.#s1, s2 = this.#s2, s3 = this.#s3;
    const n = out.length;
    let i = 0;
    for (; i < n; i += 2) {
      const r = Math.imul(s1, 5);
      const x = Math.imul((r << 7) | (r >>> 25), 9);
      const t = s1 << 9;
      s2 ^= s0;
      s3 ^= s1;
      s1 ^= s2;
      s0 ^= s3;
      s2 ^= t;
      s3 = (s3 << 11) | (s3 >>> 21);
      out[i] = table[x & 0xffff]! * std;
      if (i + 1 < n) out[i + 1] = table[x >>> 16]! * std;
    }
    this.#s0 = s0;
    this.#s1 = s1;
    this.#s2 = s2;
    this.#s3 = s3;
  }
}
