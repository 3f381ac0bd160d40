// Conversions from float32 to the ggml tensor types the synthetic models use. The quantizers
// reproduce ggml's reference code (ggml/src/ggml-quants.c, `quantize_row_q8_0_ref`,
// `quantize_row_q4_0_ref`, `quantize_row_q5_0_ref`, `quantize_row_q4_K_ref` and
// `quantize_row_q6_K_ref`, as in the llama.cpp source bundled with node-llama-cpp 3.21.1)
// bit for bit: float32 arithmetic (Math.fround after every operation, in C's evaluation order;
// ggml-base is built without FMA contraction), roundf rounding half away from zero where C
// uses it, ggml's `nearest_int` (round half to even through the 1.5 * 2^23 trick) where C
// uses that, and float16 scales rounded to nearest even. Without an importance matrix,
// llama-quantize calls exactly these reference functions (`quantize_q4_K` and
// `quantize_q6_K` fall back to them when `quant_weights` is NULL).
//   block_q8_0 (34 bytes): f16 d = amax / 127, then 32 int8 q = roundf(x / d).
//   block_q4_0 (18 bytes): f16 d = max / -8 (max = the value of largest magnitude), then
//   16 bytes of nibbles q = min(15, trunc(x / d + 8.5)); element j in the low nibble of
//   byte j and element j + 16 in its high nibble.
//   block_q5_0 (22 bytes): f16 d = max / -16, a u32 of fifth bits, then 16 bytes of nibbles
//   as Q4_0; q = min(31, trunc(x / d + 16.5)).
//   block_q4_K (144 bytes, 256 elements): f16 d, f16 dmin, 12 bytes of 6-bit scales and mins
//   of 8 sub-blocks of 32 (each fitted by `make_qkx2_quants`: weighted least squares over 21
//   candidate scales), then 128 bytes of nibbles (elements j..j+31 low, j+32..j+63 high).
//   block_q6_K (210 bytes, 256 elements): 128 bytes of low nibbles, 64 bytes of high bit pairs,
//   16 int8 scales of sub-blocks of 16 (each fitted by `make_qx_quants`, weights x^2), f16 d.

import { GGML_TYPES, GgmlType } from "../gguf/_types.ts";

/** Elements per quantization block of Q8_0, Q5_0 and Q4_0. */
const QK = 32;
/** Elements per super-block of the K-quants. */
const QK_K = 256;
// ggml-quants.c: groups whose largest magnitude is below this are all zero.
const GROUP_MAX_EPS = Math.fround(1e-15);

const fr = Math.fround;

const f16Scratch = new Float16Array(1);
const f16Bits = new Uint16Array(f16Scratch.buffer);

/** float32 to IEEE half bits, round to nearest even (as ggml's GGML_FP32_TO_FP16). */
function f16(x: number): number {
  f16Scratch[0] = x;
  return f16Bits[0]!;
}

/** IEEE half bits to float32. */
function f32(bits: number): number {
  f16Bits[0] = bits;
  return f16Scratch[0]!;
}

/** ggml's `nearest_int`: round half to even, for |v| < 2^22 (v a float32). */
function nearestInt(v: number): number {
  return fr(v + 12582912) - 12582912;
}

const WRITTEN = "F32, F16, Q8_0, Q5_0, Q4_0, Q4_K and Q6_K";

const WRITTEN_TYPES: ReadonlySet<number> = new Set(Object.values(GgmlType));

/** Bytes that `n` elements of ggml `type` take (n a multiple of the type's block size). */
export function typeBytes(type: number, n: number): number {
  if (!WRITTEN_TYPES.has(type)) {
    throw new RangeError(`Cannot size ggml type ${type}: only ${WRITTEN} are written`);
  }
  const { blockSize, typeSize } = GGML_TYPES[type]!;
  return (n / blockSize) * typeSize;
}

/** Quantizes `x` (length a multiple of 32) to Q8_0 blocks in `out` starting at byte `o`. */
export function quantizeQ8_0(x: Float32Array, out: Uint8Array, o = 0): void {
  const n = x.length;
  // Sign bits of x (id > 0, so x * id has the sign of x): branch-free roundf, several times
  // faster than a sign test on random data.
  const bits = new Int32Array(x.buffer, x.byteOffset, n);
  for (let b = 0; b < n; b += QK) {
    let amax = 0;
    for (let j = b; j < b + QK; j++) {
      const a = Math.abs(x[j]!);
      if (a > amax) amax = a;
    }
    const d = Math.fround(amax / 127);
    const id = d !== 0 ? Math.fround(1 / d) : 0;
    const h = f16(d);
    out[o] = h & 0xff;
    out[o + 1] = h >>> 8;
    o += 2;
    for (let j = b; j < b + QK; j++) {
      const r = Math.floor(Math.abs(Math.fround(x[j]! * id)) + 0.5) | 0;
      const s = bits[j]! >> 31;
      out[o++] = (r ^ s) - s;
    }
  }
}

/** The value of largest magnitude among `x[b]` .. `x[b + 31]` (the first one on a tie). */
function largestMagnitude(x: Float32Array, b: number): number {
  let amax = 0;
  let max = 0;
  for (let j = b; j < b + QK; j++) {
    const v = x[j]!;
    const a = Math.abs(v);
    if (amax < a) {
      amax = a;
      max = v;
    }
  }
  return max;
}

/** Quantizes `x` (length a multiple of 32) to Q4_0 blocks in `out` starting at byte `o`. */
export function quantizeQ4_0(x: Float32Array, out: Uint8Array, o = 0): void {
  const n = x.length;
  for (let b = 0; b < n; b += QK) {
    const max = largestMagnitude(x, b);
    const d = Math.fround(max / -8);
    const id = d !== 0 ? Math.fround(1 / d) : 0;
    const h = f16(d);
    out[o] = h & 0xff;
    out[o + 1] = h >>> 8;
    o += 2;
    for (let j = b; j < b + 16; j++) {
      const x0 = Math.fround(x[j]! * id);
      const x1 = Math.fround(x[j + 16]! * id);
      const q0 = Math.min(15, Math.trunc(Math.fround(x0 + 8.5)));
      const q1 = Math.min(15, Math.trunc(Math.fround(x1 + 8.5)));
      out[o++] = q0 | (q1 << 4);
    }
  }
}

/** Quantizes `x` (length a multiple of 32) to Q5_0 blocks in `out` starting at byte `o`. */
export function quantizeQ5_0(x: Float32Array, out: Uint8Array, o = 0): void {
  const n = x.length;
  for (let b = 0; b < n; b += QK) {
    const max = largestMagnitude(x, b);
    const d = fr(max / -16);
    const id = d !== 0 ? fr(1 / d) : 0;
    const h = f16(d);
    out[o] = h & 0xff;
    out[o + 1] = h >>> 8;
    let qh = 0;
    for (let j = 0; j < 16; j++) {
      const q0 = Math.min(31, Math.trunc(fr(fr(x[b + j]! * id) + 16.5)));
      const q1 = Math.min(31, Math.trunc(fr(fr(x[b + j + 16]! * id) + 16.5)));
      out[o + 6 + j] = (q0 & 0x0f) | ((q1 & 0x0f) << 4);
      qh |= ((q0 & 0x10) >>> 4) << j;
      qh |= ((q1 & 0x10) >>> 4) << (j + 16);
    }
    out[o + 2] = qh & 0xff;
    out[o + 3] = (qh >>> 8) & 0xff;
    out[o + 4] = (qh >>> 16) & 0xff;
    out[o + 5] = (qh >>> 24) & 0xff;
    o += 22;
  }
}

// Scratch of the K-quantizers (one call at a time: the writer is single-threaded).
const kL = new Uint8Array(QK_K);
const kLaux = new Uint8Array(32);
const kWeights = new Float32Array(32);
const kScales = new Float32Array(16);
const kMins = new Float32Array(8);
const kScaleBytes = new Uint8Array(12);

/**
 * ggml's `make_qkx2_quants` for one sub-block of 32 at `x[o..]` with nmax 15, rmin -1,
 * rdelta 0.1, 20 steps and squared error: levels into `kL[lo..]`, the min into `kMins[j]`,
 * returns the scale.
 */
function makeQkx2(x: Float32Array, o: number, lo: number, j: number): number {
  const n = 32;
  const nmax = 15;
  const w = kWeights;
  let min = x[o]!;
  let max = x[o]!;
  let sumW = w[0]!;
  let sumX = fr(sumW * x[o]!);
  for (let i = 1; i < n; i++) {
    const xi = x[o + i]!;
    if (xi < min) min = xi;
    if (xi > max) max = xi;
    const wi = w[i]!;
    sumW = fr(sumW + wi);
    sumX = fr(sumX + fr(wi * xi));
  }
  if (min > 0) min = 0;
  if (max === min) {
    kL.fill(0, lo, lo + n);
    kMins[j] = -min;
    return 0;
  }
  // `min` changes with the best fit so far, and the next candidates' scales follow it.
  let iscale = fr(nmax / fr(max - min));
  let scale = fr(1 / iscale);
  let bestError = 0;
  for (let i = 0; i < n; i++) {
    const l = Math.max(0, Math.min(nmax, nearestInt(fr(iscale * fr(x[o + i]! - min)))));
    kL[lo + i] = l;
    let diff = fr(fr(fr(scale * l) + min) - x[o + i]!);
    diff = fr(diff * diff);
    bestError = fr(bestError + fr(w[i]! * diff));
  }
  const rdelta = fr(0.1);
  for (let is = 0; is <= 20; is++) {
    iscale = fr(fr(fr(-1 + fr(rdelta * is)) + nmax) / fr(max - min));
    let sumL = 0;
    let sumL2 = 0;
    let sumXL = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[o + i]!;
      const l = Math.max(0, Math.min(nmax, nearestInt(fr(iscale * fr(xi - min)))));
      kLaux[i] = l;
      const wl = fr(w[i]! * l);
      sumL = fr(sumL + wl);
      sumL2 = fr(sumL2 + fr(wl * l));
      sumXL = fr(sumXL + fr(wl * xi));
    }
    const D = fr(fr(sumW * sumL2) - fr(sumL * sumL));
    if (D > 0) {
      let thisScale = fr(fr(fr(sumW * sumXL) - fr(sumX * sumL)) / D);
      let thisMin = fr(fr(fr(sumL2 * sumX) - fr(sumL * sumXL)) / D);
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = fr(sumXL / sumL2);
      }
      let curError = 0;
      for (let i = 0; i < n; i++) {
        let diff = fr(fr(fr(thisScale * kLaux[i]!) + thisMin) - x[o + i]!);
        diff = fr(diff * diff);
        curError = fr(curError + fr(w[i]! * diff));
      }
      if (curError < bestError) {
        kL.set(kLaux, lo);
        bestError = curError;
        scale = thisScale;
        min = thisMin;
      }
    }
  }
  kMins[j] = -min;
  return scale;
}

/** Quantizes `x` (length a multiple of 256) to Q4_K blocks in `out` starting at byte `o`. */
export function quantizeQ4_K(x: Float32Array, out: Uint8Array, o = 0): void {
  const n = x.length;
  const sc = kScaleBytes;
  for (let b = 0; b < n; b += QK_K) {
    let maxScale = 0;
    let maxMin = 0;
    for (let j = 0; j < 8; j++) {
      const s0 = b + 32 * j;
      let sumX2 = 0;
      for (let l = 0; l < 32; l++) sumX2 = fr(sumX2 + fr(x[s0 + l]! * x[s0 + l]!));
      const avX = fr(Math.sqrt(fr(sumX2 / 32)));
      for (let l = 0; l < 32; l++) kWeights[l] = fr(avX + Math.abs(x[s0 + l]!));
      const scale = makeQkx2(x, s0, 32 * j, j);
      kScales[j] = scale;
      if (scale > maxScale) maxScale = scale;
      if (kMins[j]! > maxMin) maxMin = kMins[j]!;
    }
    const invScale = maxScale > 0 ? fr(63 / maxScale) : 0;
    const invMin = maxMin > 0 ? fr(63 / maxMin) : 0;
    sc.fill(0);
    for (let j = 0; j < 8; j++) {
      const ls = Math.min(63, nearestInt(fr(invScale * kScales[j]!)) & 0xff);
      const lm = Math.min(63, nearestInt(fr(invMin * kMins[j]!)) & 0xff);
      if (j < 4) {
        sc[j] = ls;
        sc[j + 4] = lm;
      } else {
        sc[j + 4] = (ls & 0xf) | ((lm & 0xf) << 4);
        sc[j - 4]! |= (ls >> 4) << 6;
        sc[j]! |= (lm >> 4) << 6;
      }
    }
    const hd = f16(fr(maxScale / 63));
    const hm = f16(fr(maxMin / 63));
    const d0 = f32(hd);
    const m0 = f32(hm);
    for (let j = 0; j < 8; j++) {
      // get_scale_min_k4
      const s = j < 4 ? sc[j]! & 63 : (sc[j + 4]! & 0xf) | ((sc[j - 4]! >> 6) << 4);
      const m = j < 4 ? sc[j + 4]! & 63 : (sc[j + 4]! >> 4) | ((sc[j]! >> 6) << 4);
      const d = fr(d0 * s);
      if (d === 0) continue;
      const dm = fr(m0 * m);
      for (let ii = 0; ii < 32; ii++) {
        const l = nearestInt(fr(fr(x[b + 32 * j + ii]! + dm) / d));
        kL[32 * j + ii] = Math.max(0, Math.min(15, l));
      }
    }
    out[o] = hd & 0xff;
    out[o + 1] = hd >>> 8;
    out[o + 2] = hm & 0xff;
    out[o + 3] = hm >>> 8;
    out.set(sc, o + 4);
    let q = o + 16;
    for (let j = 0; j < QK_K; j += 64) {
      for (let l = 0; l < 32; l++) out[q + l] = kL[j + l]! | (kL[j + l + 32]! << 4);
      q += 32;
    }
    o += 144;
  }
}

const kL6 = new Int8Array(QK_K);
const kScales6 = new Int8Array(16);

/**
 * ggml's `make_qx_quants` for 16 values at `x[o..]` with nmax 32 and weights x^2 (rmse_type
 * 1, no quant weights): levels (0..63) into `kL6[o - base..]`, returns the scale.
 */
function makeQx(x: Float32Array, o: number, lo: number): number {
  const n = 16;
  const nmax = 32;
  let max = 0;
  let amax = 0;
  for (let i = 0; i < n; i++) {
    const ax = Math.abs(x[o + i]!);
    if (ax > amax) {
      amax = ax;
      max = x[o + i]!;
    }
  }
  if (amax < GROUP_MAX_EPS) {
    kL6.fill(0, lo, lo + n);
    return 0;
  }
  let iscale = fr(-nmax / max);
  let sumlx = 0;
  let suml2 = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[o + i]!;
    const l = Math.max(-nmax, Math.min(nmax - 1, nearestInt(fr(iscale * xi))));
    kL6[lo + i] = l + nmax;
    const w = fr(xi * xi);
    sumlx = fr(sumlx + fr(fr(w * xi) * l));
    suml2 = fr(suml2 + fr(fr(w * l) * l));
  }
  let scale = suml2 !== 0 ? fr(sumlx / suml2) : 0;
  let best = fr(scale * sumlx);
  const tenth = fr(0.1);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    iscale = fr(-fr(nmax + fr(tenth * is)) / max);
    sumlx = 0;
    suml2 = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[o + i]!;
      const l = Math.max(-nmax, Math.min(nmax - 1, nearestInt(fr(iscale * xi))));
      const w = fr(xi * xi);
      sumlx = fr(sumlx + fr(fr(w * xi) * l));
      suml2 = fr(suml2 + fr(fr(w * l) * l));
    }
    if (suml2 > 0 && fr(sumlx * sumlx) > fr(best * suml2)) {
      for (let i = 0; i < n; i++) {
        const l = nearestInt(fr(iscale * x[o + i]!));
        kL6[lo + i] = nmax + Math.max(-nmax, Math.min(nmax - 1, l));
      }
      scale = fr(sumlx / suml2);
      best = fr(scale * sumlx);
    }
  }
  return scale;
}

/** Quantizes `x` (length a multiple of 256) to Q6_K blocks in `out` starting at byte `o`. */
export function quantizeQ6_K(x: Float32Array, out: Uint8Array, o = 0): void {
  const n = x.length;
  for (let b = 0; b < n; b += QK_K) {
    let maxScale = 0;
    let maxAbsScale = 0;
    for (let ib = 0; ib < 16; ib++) {
      const scale = makeQx(x, b + 16 * ib, 16 * ib);
      kScales[ib] = scale;
      const abs = Math.abs(scale);
      if (abs > maxAbsScale) {
        maxAbsScale = abs;
        maxScale = scale;
      }
    }
    if (maxAbsScale < GROUP_MAX_EPS) {
      out.fill(0, o, o + 210);
      o += 210;
      continue;
    }
    const iscale = fr(-128 / maxScale);
    const hd = f16(fr(1 / iscale));
    const d0 = f32(hd);
    for (let ib = 0; ib < 16; ib++) {
      kScales6[ib] = Math.min(127, nearestInt(fr(iscale * kScales[ib]!)));
    }
    for (let j = 0; j < 16; j++) {
      const d = fr(d0 * kScales6[j]!);
      if (d === 0) continue;
      for (let ii = 0; ii < 16; ii++) {
        const l = nearestInt(fr(x[b + 16 * j + ii]! / d));
        kL6[16 * j + ii] = Math.max(-32, Math.min(31, l)) + 32;
      }
    }
    let ql = o;
    let qh = o + 128;
    for (let j = 0; j < QK_K; j += 128) {
      for (let l = 0; l < 32; l++) {
        const a = kL6[j + l]!;
        const b2 = kL6[j + l + 32]!;
        const c = kL6[j + l + 64]!;
        const e = kL6[j + l + 96]!;
        out[ql + l] = (a & 0xf) | ((c & 0xf) << 4);
        out[ql + l + 32] = (b2 & 0xf) | ((e & 0xf) << 4);
        out[qh + l] = (a >> 4) | ((b2 >> 4) << 2) | ((c >> 4) << 4) | ((e >> 4) << 6);
      }
      ql += 64;
      qh += 32;
    }
    out.set(new Uint8Array(kScales6.buffer), o + 192);
    out[o + 208] = hd & 0xff;
    out[o + 209] = hd >>> 8;
    o += 210;
  }
}

/** Converts `x` to ggml `type` bytes in `out` starting at byte `o`. */
export function encodeTensorData(type: number, x: Float32Array, out: Uint8Array, o = 0): void {
  switch (type) {
    case GgmlType.F32:
      out.set(new Uint8Array(x.buffer, x.byteOffset, x.byteLength), o);
      return;
    case GgmlType.F16: {
      const h = new Float16Array(x);
      out.set(new Uint8Array(h.buffer), o);
      return;
    }
    case GgmlType.Q8_0:
      return quantizeQ8_0(x, out, o);
    case GgmlType.Q4_0:
      return quantizeQ4_0(x, out, o);
    case GgmlType.Q5_0:
      return quantizeQ5_0(x, out, o);
    case GgmlType.Q4_K:
      return quantizeQ4_K(x, out, o);
    case GgmlType.Q6_K:
      return quantizeQ6_K(x, out, o);
  }
  throw new RangeError(`Cannot encode ggml type ${type}: only ${WRITTEN} are written`);
}
