import assert from "node:assert/strict";
import { Xoshiro128 } from "../../lib/synth/_prng.ts";
import { quantizeQ4_K, quantizeQ5_0, quantizeQ6_K, typeBytes } from "../../lib/synth/_quant.ts";
import { GgmlType } from "../../lib/gguf/_types.ts";
import { dequantizeQ4_K, dequantizeQ5_0, dequantizeQ6_K } from "./_dequant.ts";

function relativeRms(x: Float32Array, y: Float32Array): number {
  let err = 0;
  let ref = 0;
  for (let i = 0; i < x.length; i++) {
    err += (x[i]! - y[i]!) ** 2;
    ref += x[i]! ** 2;
  }
  return Math.sqrt(err / ref);
}

const N = 256 * 512;
const x = new Float32Array(N);
new Xoshiro128(7).fillNormal(x, 0.05);

// Bounds: the rounding error of a uniform quantizer with step s is s/sqrt(12) rms; for normal
// data the steps here are about 2*max/levels with max ~ 2.5-3 sd of a block, so roughly 0.09
// (16 levels), 0.045 (32 levels) and 0.02 (64 levels) of the rms. Measured on this data:
// Q4_K 0.0713, Q5_0 0.0426, Q6_K 0.0177; the bounds sit 15-40% above.
const CASES = [
  { name: "Q4_K", type: GgmlType.Q4_K, q: quantizeQ4_K, dq: dequantizeQ4_K, bound: 0.085 },
  { name: "Q5_0", type: GgmlType.Q5_0, q: quantizeQ5_0, dq: dequantizeQ5_0, bound: 0.05 },
  { name: "Q6_K", type: GgmlType.Q6_K, q: quantizeQ6_K, dq: dequantizeQ6_K, bound: 0.021 },
];

for (const { name, type, q, dq, bound } of CASES) {
  Deno.test(`quantize${name}() round-trips normal data within ${bound} relative rms error`, () => {
    const bytes = new Uint8Array(typeBytes(type, N));
    q(x, bytes);
    const y = dq(bytes, N);
    const e = relativeRms(x, y);
    assert.ok(e < bound, `${name}: relative rms error ${e}`);
    // Not a trivially coarse code either: better than half the bound's levels would give.
    assert.ok(e > bound / 4, `${name}: relative rms error ${e} is implausibly small`);
  });

  Deno.test(`quantize${name}() writes zero blocks for zero data`, () => {
    const zeros = new Float32Array(512);
    const bytes = new Uint8Array(typeBytes(type, zeros.length)).fill(0xaa);
    q(zeros, bytes);
    assert.ok(dq(bytes, zeros.length).every((v) => v === 0)); // 0 or -0
    assert.equal(bytes.indexOf(0xaa), -1, "every byte written");
  });
}
