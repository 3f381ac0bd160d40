/**
 * The node-llama-cpp 3.21.1 internals the decode loop drives directly: the native context's
 * batch, decode and sampling calls and the native sampler, found (or found missing) once per
 * context by {@linkcode nativeInternals}.
 *
 * @module
 */

import type { Llama, LlamaContext, LlamaContextSequence, LlamaModel, Token } from "node-llama-cpp";

// node-llama-cpp 3.21.1 internals the decode loop drives directly. LlamaContext#_ctx is the
// native context: initBatch/addToBatch fill llama.cpp's batch, decodeBatch() runs llama_decode
// + llama_synchronize on a worker thread, sampleToken() samples (and accepts) a token from a
// logits row on a worker thread. Going through sequence.evaluate() instead costs ~0.45 ms of
// JS per token (queue, locks, generators, sampler configuration through N-API every token)
// and cannot tell prefill from the first sampling; see BENCHMARKS.md.
/** node-llama-cpp's native context calls the decode loop uses (internal). */
export interface NativeContext {
  initBatch(size: number): void;
  addToBatch(
    sequenceId: number,
    firstPosition: number,
    tokens: Uint32Array,
    logitIndexes: Uint32Array,
  ): ArrayLike<number>;
  decodeBatch(): Promise<void>;
  sampleToken(batchLogitIndex: number, sampler: NativeSampler): Promise<Token>;
  removeTokenCellsFromSequence(sequenceId: number, start: number, end: number): boolean;
  setThreads(threads: number): void;
}

/** node-llama-cpp 3.21.1's native sampler, `llama._bindings.AddonSampler` (internal). */
export interface NativeSampler {
  applyConfig(config: object): void;
  dispose(): void;
}

/** The node-llama-cpp internals the decode loop uses (internal; the overhead bench uses it). */
export interface NativeInternals {
  context: NativeContext;
  sequenceId: number;
  newSampler(): NativeSampler;
  samplerConfig(options: { temperature: number; topK: number; topP: number; seed: number }): object;
}

const NATIVE_METHODS = [
  "initBatch",
  "addToBatch",
  "decodeBatch",
  "sampleToken",
  "removeTokenCellsFromSequence",
  "setThreads",
] as const;

/** The internals of node-llama-cpp the decode loop uses, or undefined when one is missing. */
export function nativeInternals(
  llama: Llama,
  model: LlamaModel,
  context: LlamaContext,
  sequence: LlamaContextSequence,
): NativeInternals | undefined {
  const native = (context as unknown as { _ctx?: Record<string, unknown> })._ctx;
  const Sampler = (llama as unknown as {
    _bindings?: { AddonSampler?: new (model: unknown) => NativeSampler };
  })._bindings?.AddonSampler;
  const nativeModel = (model as unknown as { _model?: unknown })._model;
  const seq = sequence as unknown as {
    _sequenceId?: unknown;
    _resolveSamplerConfig?: (options: object) => object;
  };
  if (
    native === undefined || NATIVE_METHODS.some((name) => typeof native[name] !== "function") ||
    typeof Sampler !== "function" || nativeModel === undefined ||
    typeof seq._sequenceId !== "number" || typeof seq._resolveSamplerConfig !== "function"
  ) {
    return undefined;
  }
  return {
    context: native as unknown as NativeContext,
    sequenceId: seq._sequenceId,
    newSampler: () => new Sampler(nativeModel),
    // The configuration sequence.evaluate() would apply, so sampling is the same.
    samplerConfig: (options) => seq._resolveSamplerConfig!.call(sequence, options),
  };
}
