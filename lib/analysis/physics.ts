/**
 * Physics check: the bytes a decode step must read (weights plus the KV cache up to the
 * current position) against the machine's memory bandwidth, as a floor on ms per token, and
 * the KV read cost per context token against the fitted slope b.
 *
 * @module
 */

import { type AnalysisInput, prepareTrace } from "./prepare.ts";
import { fitSlowdown } from "./slowdown.ts";
import { medianInPlace } from "../stats/stats.ts";
import type { Estimate } from "./types.ts";
import { eligibleRuns } from "./_runstats.ts";

/** Attention geometry of a model, enough to size its KV cache. */
export interface ModelGeometry {
  /**
   * KV heads of every layer, 0 for layers without a KV cache (LFM2's short-convolution
   * layers), e.g. `[0, 0, 8, 0, 0, 8, ...]`.
   */
  readonly kvHeadsPerLayer: readonly number[];
  /** Dimension of one attention head. */
  readonly headDim: number;
  /** Bytes per cached K or V element (2 for an F16 cache). */
  readonly kvBytesPerElement: number;
}

/** Machine and model inputs of `physicsCheck()`. */
export interface PhysicsInputs {
  /** Measured memory read bandwidth, GB/s (1e9 bytes per second). */
  readonly bandwidthGBps: number;
  /** The model's attention geometry. */
  readonly geometry: ModelGeometry;
}

/** Options of `physicsCheck()`. */
export interface PhysicsOptions {
  /**
   * Fitted slope b to compare (default: fitted here with `fitSlowdown()` defaults).
   *
   * @default {undefined}
   */
  slope?: Estimate;
  /**
   * Include warm-up runs in the measured latency.
   *
   * @default {false}
   */
  includeWarmup?: boolean;
}

/** Result of `physicsCheck()`. */
export interface PhysicsResult {
  /** Weight bytes a decode step reads (`model_tensor_bytes`). */
  readonly weightBytes: number;
  /** KV-cache bytes per context position: 2 (K and V) x sum of KV heads x head dim x bytes. */
  readonly kvBytesPerToken: number;
  /** Mean context position of the decode tokens. */
  readonly meanPosition: number;
  /** Bytes a decode step reads at the mean position. */
  readonly bytesPerToken: number;
  /** Floor: bytes per token / bandwidth, ms. */
  readonly floorMs: number;
  /** Median measured decode latency, ms. */
  readonly medianLatencyMs: number;
  /** Mean measured decode latency, ms. */
  readonly meanLatencyMs: number;
  /** Median latency as a multiple of the floor. */
  readonly medianOverFloor: number;
  /** Mean latency as a multiple of the floor. */
  readonly meanOverFloor: number;
  /** Predicted slope: KV bytes per token / bandwidth, µs per context token. */
  readonly predictedSlopeUsPerToken: number;
  /** Fitted slope b. */
  readonly slope: Estimate;
  /** b as a multiple of the prediction (interval scaled from b's). */
  readonly slopeOverPredicted: Estimate;
  /** `matches` when b's interval contains the prediction, else `above` or `below` it. */
  readonly slopeVerdict: "matches" | "above" | "below";
}

/**
 * Compares measured decode latency with the memory-bandwidth floor. A decode step reads every
 * weight once (`sessions.model_tensor_bytes`) and the KV cache of every attention layer up to
 * the current position; at `bandwidthGBps` that takes at least bytes / bandwidth. The KV read
 * per extra context token predicts the slope b; compares it with the fitted b and its interval.
 *
 * @param input A trace or a prepared trace (all sessions must hold the same model).
 * @param inputs Bandwidth and attention geometry (the analysis reads no files).
 * @param options A fitted slope to reuse, warm-up handling.
 * @returns The floor, the ratios and the slope comparison.
 * @throws {RangeError} When sessions hold different models, or an input is not positive.
 *
 * @example LFM2-350M geometry on a simulated trace
 * ```ts
 * import { physicsCheck, simulateTrace } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const geometry = {
 *   kvHeadsPerLayer: [0, 0, 8, 0, 0, 8, 0, 0, 8, 0, 8, 0, 8, 0, 8, 0],
 *   headDim: 64,
 *   kvBytesPerElement: 2,
 * };
 * const p = physicsCheck(simulateTrace(), { bandwidthGBps: 27, geometry });
 * assert.equal(p.kvBytesPerToken, 2 * 48 * 64 * 2);
 * assert.ok(p.floorMs > 13 && p.floorMs < 15);
 * ```
 */
export function physicsCheck(
  input: AnalysisInput,
  inputs: PhysicsInputs,
  options: PhysicsOptions = {},
): PhysicsResult {
  const { slope: slopeOption, includeWarmup = false } = options;
  const { bandwidthGBps, geometry } = inputs;
  if (!(bandwidthGBps > 0)) {
    throw new RangeError(
      `Cannot run the physics check: bandwidthGBps must be > 0, found ${bandwidthGBps}`,
    );
  }
  if (!(geometry.headDim > 0) || !(geometry.kvBytesPerElement > 0)) {
    throw new RangeError(
      `Cannot run the physics check: headDim and kvBytesPerElement must be > 0, found ${geometry.headDim} and ${geometry.kvBytesPerElement}`,
    );
  }
  const prep = prepareTrace(input);
  const models = [...new Set(prep.sessions.modelTensorBytes)];
  if (models.length !== 1) {
    throw new RangeError(
      `Cannot run the physics check: every session must hold the same model, found ${models.length} different model_tensor_bytes values`,
    );
  }
  const weightBytes = models[0]!;
  const kvHeads = geometry.kvHeadsPerLayer.reduce((s, h) => s + h, 0);
  const kvBytesPerToken = 2 * kvHeads * geometry.headDim * geometry.kvBytesPerElement;
  const units = eligibleRuns(prep, includeWarmup);
  const inFit = new Uint8Array(prep.runs.count);
  for (const i of units) inFit[i] = 1;
  const { run, position, latencyMs, count } = prep.tokens;
  let n = 0, sumPos = 0, sumLat = 0;
  const lat = new Float64Array(count);
  for (let t = 0; t < count; t++) {
    if (!inFit[run[t]!]) continue;
    sumPos += position[t]!;
    sumLat += latencyMs[t]!;
    lat[n++] = latencyMs[t]!;
  }
  if (n === 0) {
    throw new RangeError(
      "Cannot run the physics check: the trace must have a run with decode tokens, found none",
    );
  }
  const meanPosition = sumPos / n;
  const bytesPerToken = weightBytes + kvBytesPerToken * meanPosition;
  const bytesPerMs = bandwidthGBps * 1e6;
  const floorMs = bytesPerToken / bytesPerMs;
  const medianLatencyMs = medianInPlace(lat, 0, n);
  const meanLatencyMs = sumLat / n;
  const predicted = (kvBytesPerToken / bytesPerMs) * 1000;
  const slope = slopeOption ?? fitSlowdown(prep, { includeWarmup }).slopeUsPerToken;
  const verdict = slope.low > predicted ? "above" : slope.high < predicted ? "below" : "matches";
  return {
    weightBytes,
    kvBytesPerToken,
    meanPosition,
    bytesPerToken,
    floorMs,
    medianLatencyMs,
    meanLatencyMs,
    medianOverFloor: medianLatencyMs / floorMs,
    meanOverFloor: meanLatencyMs / floorMs,
    predictedSlopeUsPerToken: predicted,
    slope,
    slopeOverPredicted: {
      value: slope.value / predicted,
      low: slope.low / predicted,
      high: slope.high / predicted,
      unit: "times the predicted KV read cost",
      method: slope.method,
    },
    slopeVerdict: verdict,
  };
}
