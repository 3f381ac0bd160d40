// Conversions from float32 to the ggml tensor types the synthetic models use. The quantizers
// reproduce ggml's reference code (ggml/src/ggml-quants.c, `quantize_row_q8_0_ref` and
// `quantize_row_q4_0_ref`, as in the llama.cpp source bundled with node-llama-cpp 3.21.1)
// bit for bit: float32 arithmetic (Math.fround), roundf rounding half away from zero, and
// float16 scales rounded to nearest even.
//   block_q8_0 (34 bytes): f16 d = amax / 127, then 32 int8 q = roundf(x / d).
//   block_q4_0 (18 bytes): f16 d = max / -8 (max = the value of largest magnitude), then
//   16 bytes of nibbles q = min(15, trunc(x / d + 8.5)); element j in the low nibble of
//   byte j and element j + 16 in its high nibble.

import { GgmlType } from "../gguf/_types.ts";

/** Elements per quantization block of Q8_0 and Q4_0. */
const QK = 32;

const f16Scratch = new Float16Array(1);
const f16Bits = new Uint16Array(f16Scratch.buffer);

/** float32 to IEEE half bits, round to nearest even (as ggml's GGML_FP32_TO_FP16). */
function f16(x: number): number {
  f16Scratch[0] = x;
  return f16Bits[0]!;
}

/** Bytes that `n` elements of ggml `type` take (n a multiple of 32 for quantized types). */
export function typeBytes(type: number, n: number): number {
  switch (type) {
    case GgmlType.F32:
      return n * 4;
    case GgmlType.F16:
      return n * 2;
    case GgmlType.Q8_0:
      return (n / QK) * 34;
    case GgmlType.Q4_0:
      return (n / QK) * 18;
  }
  throw new RangeError(`Cannot size ggml type ${type}: only F32, F16, Q8_0 and Q4_0 are written`);
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

/** Quantizes `x` (length a multiple of 32) to Q4_0 blocks in `out` starting at byte `o`. */
export function quantizeQ4_0(x: Float32Array, out: Uint8Array, o = 0): void {
  const n = x.length;
  for (let b = 0; b < n; b += QK) {
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
  }
  throw new RangeError(`Cannot encode ggml type ${type}: only F32, F16, Q8_0 and Q4_0 are written`);
}
