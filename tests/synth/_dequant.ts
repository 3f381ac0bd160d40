// Dequantizers of the block layouts the synthetic writer produces (ggml/src/ggml-quants.c,
// `dequantize_row_*`), for round-trip tests of the quantizers in lib/synth/_quant.ts.

const h = new Float16Array(1);
const hBits = new Uint16Array(h.buffer);
function half(bytes: Uint8Array, o: number): number {
  hBits[0] = bytes[o]! | (bytes[o + 1]! << 8);
  return h[0]!;
}

/** Q5_0 blocks (22 bytes per 32 values) back to float32. */
export function dequantizeQ5_0(bytes: Uint8Array, n: number): Float32Array {
  const y = new Float32Array(n);
  for (let b = 0, o = 0; b < n; b += 32, o += 22) {
    const d = half(bytes, o);
    const qh = (bytes[o + 2]! | (bytes[o + 3]! << 8) | (bytes[o + 4]! << 16) |
      (bytes[o + 5]! << 24)) >>> 0;
    for (let j = 0; j < 16; j++) {
      const hi0 = ((qh >>> j) << 4) & 0x10;
      const hi1 = (qh >>> (j + 12)) & 0x10;
      y[b + j] = (((bytes[o + 6 + j]! & 0x0f) | hi0) - 16) * d;
      y[b + j + 16] = (((bytes[o + 6 + j]! >> 4) | hi1) - 16) * d;
    }
  }
  return y;
}

/** Q4_K blocks (144 bytes per 256 values) back to float32. */
export function dequantizeQ4_K(bytes: Uint8Array, n: number): Float32Array {
  const y = new Float32Array(n);
  const scaleMin = (j: number, s: number): [number, number] =>
    j < 4 ? [bytes[s + j]! & 63, bytes[s + j + 4]! & 63] : [
      (bytes[s + j + 4]! & 0xf) | ((bytes[s + j - 4]! >> 6) << 4),
      (bytes[s + j + 4]! >> 4) | ((bytes[s + j]! >> 6) << 4),
    ];
  for (let b = 0, o = 0; b < n; b += 256, o += 144) {
    const d = half(bytes, o);
    const dmin = half(bytes, o + 2);
    let q = o + 16;
    for (let j = 0, is = 0; j < 256; j += 64, is += 2, q += 32) {
      const [s1, m1] = scaleMin(is, o + 4);
      const [s2, m2] = scaleMin(is + 1, o + 4);
      for (let l = 0; l < 32; l++) {
        y[b + j + l] = d * s1 * (bytes[q + l]! & 0xf) - dmin * m1;
        y[b + j + l + 32] = d * s2 * (bytes[q + l]! >> 4) - dmin * m2;
      }
    }
  }
  return y;
}

/** Q6_K blocks (210 bytes per 256 values) back to float32. */
export function dequantizeQ6_K(bytes: Uint8Array, n: number): Float32Array {
  const y = new Float32Array(n);
  for (let b = 0, o = 0; b < n; b += 256, o += 210) {
    const d = half(bytes, o + 208);
    const sc = new Int8Array(bytes.buffer, bytes.byteOffset + o + 192, 16);
    for (let half128 = 0; half128 < 2; half128++) {
      const ql = o + 64 * half128;
      const qh = o + 128 + 32 * half128;
      const s = 8 * half128;
      const base = b + 128 * half128;
      for (let l = 0; l < 32; l++) {
        const is = l >> 4;
        const hq = bytes[qh + l]!;
        const q1 = ((bytes[ql + l]! & 0xf) | ((hq & 3) << 4)) - 32;
        const q2 = ((bytes[ql + l + 32]! & 0xf) | (((hq >> 2) & 3) << 4)) - 32;
        const q3 = ((bytes[ql + l]! >> 4) | (((hq >> 4) & 3) << 4)) - 32;
        const q4 = ((bytes[ql + l + 32]! >> 4) | (((hq >> 6) & 3) << 4)) - 32;
        y[base + l] = d * sc[s + is]! * q1;
        y[base + l + 32] = d * sc[s + is + 2]! * q2;
        y[base + l + 64] = d * sc[s + is + 4]! * q3;
        y[base + l + 96] = d * sc[s + is + 6]! * q4;
      }
    }
  }
  return y;
}
