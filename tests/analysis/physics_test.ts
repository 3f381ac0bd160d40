import assert from "node:assert/strict";
import { physicsCheck } from "../../mod.ts";
import { simulatePrepared } from "../../lib/simulate/_columns.ts";

const LFM2_350M = {
  kvHeadsPerLayer: [0, 0, 8, 0, 0, 8, 0, 0, 8, 0, 8, 0, 8, 0, 8, 0],
  headDim: 64,
  kvBytesPerElement: 2,
};

Deno.test("`physicsCheck()` computes the bandwidth floor and the KV read slope", () => {
  const trace = simulatePrepared({ seed: 1, modelTensorBytes: 27e6 });
  const p = physicsCheck(trace, { bandwidthGBps: 27, geometry: LFM2_350M });
  assert.equal(p.weightBytes, 27e6);
  assert.equal(p.kvBytesPerToken, 2 * 6 * 8 * 64 * 2);
  // 27 MB at 27 GB/s is 1 ms, plus the KV cache up to the mean position
  assert.ok(Math.abs(p.floorMs - (1 + (p.kvBytesPerToken * p.meanPosition) / 27e6)) < 1e-12);
  assert.ok(Math.abs(p.predictedSlopeUsPerToken - (12288 / 27e9) * 1e6) < 1e-12);
  assert.ok(Math.abs(p.medianOverFloor - p.medianLatencyMs / p.floorMs) < 1e-12);
  assert.ok(p.medianLatencyMs > 19 && p.medianLatencyMs < 22);
});

Deno.test("`physicsCheck()` says whether the fitted slope matches the KV read cost", () => {
  // 12,288 bytes per token read at 6.144 GB/s cost 2 µs: the injected slope
  const trace = simulatePrepared({
    seed: 1,
    slopeUsPerToken: 2,
    depths: [0, 2000],
    noiseSdMs: 0.2,
  });
  const match = physicsCheck(trace, { bandwidthGBps: 6.144, geometry: LFM2_350M });
  assert.ok(Math.abs(match.predictedSlopeUsPerToken - 2) < 1e-12);
  assert.equal(match.slopeVerdict, "matches", JSON.stringify(match.slope));
  const fast = physicsCheck(trace, { bandwidthGBps: 100, geometry: LFM2_350M });
  assert.equal(fast.slopeVerdict, "above");
});

Deno.test("`physicsCheck()` rejects a bandwidth that is not positive", () => {
  assert.throws(
    () => physicsCheck(simulatePrepared(), { bandwidthGBps: 0, geometry: LFM2_350M }),
    new RangeError("Cannot run the physics check: bandwidthGBps must be > 0, found 0"),
  );
});
