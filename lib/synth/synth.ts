/**
 * Synthetic GGUF models: the real geometry of LFM2 and llama models with seeded random
 * weights and GPT-2's real BPE vocabulary. Their text is meaningless; their compute and
 * memory cost per token is that of the real architecture.
 *
 * Folder `lib/synth/`: synthetic models: presets, quantizers and the tokenizer. May import:
 * gguf, schema, stats.
 *
 * @module
 */

import { GGML_TYPES, GgmlType } from "../gguf/_types.ts";
import { type GgufMetaValue, type GgufTensorSpec, writeGguf } from "../gguf/_write.ts";
import { streamSeed, Xoshiro128 } from "./_prng.ts";
import { encodeTensorData, typeBytes } from "./_quant.ts";
import { buildVocab, type SynthVocab, tokenizerMetadata } from "./_tokenizer.ts";

/** Names of the built-in model geometries. */
export type PresetName =
  | "lfm2-350m"
  | "lfm2-700m"
  | "lfm2-1.2b"
  | "lfm2-small"
  | "lfm2-tiny"
  | "llama-tiny";

/** Tensor data types a synthetic model can be written in. */
export type SynthDtype = "f32" | "f16" | "q8_0" | "q4_0" | "q4_k_m" | "q6_k";

/** A model geometry: the hyperparameters written to the GGUF file. */
export interface Preset {
  /** GGUF `general.architecture`. */
  readonly architecture: "llama" | "lfm2";
  /** Hidden size (`embedding_length`). */
  readonly embeddingLength: number;
  /** Number of layers (`block_count`). */
  readonly blockCount: number;
  /** FFN hidden size as stored in GGUF (`feed_forward_length`, after LFM2's auto-adjust). */
  readonly feedForwardLength: number;
  /** Attention (query) heads. */
  readonly headCount: number;
  /** Key/value heads of each attention layer. */
  readonly headCountKv: number;
  /** Indices of the attention layers (LFM2: the others are short-convolution layers). */
  readonly attentionLayers: readonly number[];
  /** Vocabulary size (GPT-2's tokens, control tokens, then padding). */
  readonly vocabSize: number;
  /** Training context length (`context_length`). */
  readonly contextLength: number;
  /** RoPE base frequency. */
  readonly ropeFreqBase: number;
  /** RMS norm epsilon. */
  readonly rmsEpsilon: number;
}

const ALL = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

// LFM2 geometries from Liquid AI's config.json files on Hugging Face (LiquidAI/LFM2-350M,
// LiquidAI/LFM2-700M, LiquidAI/LFM2-1.2B): hidden_size, num_attention_heads,
// num_key_value_heads, full_attn_idxs [2, 5, 8, 10, 12, 14], 16 layers, vocab 65536,
// rope_theta 1e6, norm_eps 1e-5, max_position_embeddings 128000, tied embeddings.
// feed_forward_length is block_ff_dim after llama.cpp's conversion auto-adjust
// (conversion/lfm2.py `_add_feed_forward_length`: int(2 * ff / 3), times
// block_ffn_dim_multiplier 1.0, rounded up to block_multiple_of 256):
// 6656 -> 4608, 10240 -> 6912, 12288 -> 8192. llama.cpp's src/models/lfm2.cpp maps these
// three n_ff values to its 350M, 700M and 1.2B model types.
const LFM2_LAYOUT = {
  architecture: "lfm2",
  blockCount: 16,
  attentionLayers: [2, 5, 8, 10, 12, 14],
  vocabSize: 65536,
  contextLength: 128000,
  ropeFreqBase: 1e6,
  rmsEpsilon: 1e-5,
} as const;

/**
 * Built-in geometries. The `-tiny` presets are for tests (a few MB, load in milliseconds);
 * `lfm2-small` is LFM2-350M's layer layout at a width of 256 (rows a multiple of the
 * K-quants' 256-element blocks) for tests of the K-quant mixes (about 30 M weights).
 *
 * @example LFM2-350M's hybrid layout
 * ```ts
 * import { PRESETS } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const p = PRESETS["lfm2-350m"];
 * assert.equal(p.embeddingLength, 1024);
 * assert.deepEqual(p.attentionLayers, [2, 5, 8, 10, 12, 14]); // the other 10 are short-conv
 * ```
 */
export const PRESETS: Readonly<Record<PresetName, Preset>> = {
  "lfm2-350m": {
    ...LFM2_LAYOUT,
    embeddingLength: 1024,
    feedForwardLength: 4608,
    headCount: 16,
    headCountKv: 8,
  },
  "lfm2-700m": {
    ...LFM2_LAYOUT,
    embeddingLength: 1536,
    feedForwardLength: 6912,
    headCount: 24,
    headCountKv: 8,
  },
  "lfm2-1.2b": {
    ...LFM2_LAYOUT,
    embeddingLength: 2048,
    feedForwardLength: 8192,
    headCount: 32,
    headCountKv: 8,
  },
  "lfm2-small": {
    ...LFM2_LAYOUT,
    embeddingLength: 256,
    feedForwardLength: 768,
    headCount: 4,
    headCountKv: 2,
  },
  "lfm2-tiny": {
    architecture: "lfm2",
    embeddingLength: 32,
    blockCount: 4,
    feedForwardLength: 96,
    headCount: 2,
    headCountKv: 1,
    attentionLayers: [1, 3],
    vocabSize: 65536,
    contextLength: 2048,
    ropeFreqBase: 1e6,
    rmsEpsilon: 1e-5,
  },
  "llama-tiny": {
    architecture: "llama",
    embeddingLength: 32,
    blockCount: 4,
    feedForwardLength: 96,
    headCount: 2,
    headCountKv: 1,
    attentionLayers: ALL(4),
    vocabSize: 50304,
    contextLength: 2048,
    ropeFreqBase: 1e4,
    rmsEpsilon: 1e-5,
  },
};

/** The dtypes {@linkcode writeSyntheticModel} accepts. */
export const SYNTH_DTYPES: readonly SynthDtype[] = ["f32", "f16", "q8_0", "q4_0", "q4_k_m", "q6_k"];

/** Options for {@linkcode writeSyntheticModel}. */
export interface SyntheticModelOptions {
  /**
   * Model geometry.
   * @default {"lfm2-350m"}
   */
  preset?: PresetName;
  /**
   * Data type of the weight matrices (norm vectors and the LFM2 conv kernel stay F32).
   * `q4_k_m` and `q6_k` are llama.cpp's mixed file types: each matrix gets the type
   * `llama-quantize` gives it when it quantizes this preset's `f16` file to `Q4_K_M` or
   * `Q6_K` (without an importance matrix), and its values are the `f16` file's values,
   * quantized by the same reference code.
   * @default {"q8_0"}
   */
  dtype?: SynthDtype;
  /**
   * PRNG seed (an unsigned 32-bit integer): same preset, dtype and seed give the same bytes.
   * @default {0}
   */
  seed?: number;
  /** Called as the file is written, with the bytes written so far and the file size. */
  onProgress?: (bytesWritten: number, totalBytes: number) => void;
}

/** What {@linkcode writeSyntheticModel} wrote. */
export interface SyntheticModel {
  /** Path of the GGUF file. */
  path: string;
  /** File size in bytes. */
  bytes: number;
  /** Number of weights (elements of all tensors). */
  parameters: number;
  /** Wall time of the write, in seconds. */
  seconds: number;
}

type Init = "ones" | "normal" | "output" | "embedding";
interface PlannedTensor {
  spec: GgufTensorSpec;
  init: Init;
  std: number;
}

const DTYPE_CODES: Readonly<Record<SynthDtype, number>> = {
  f32: GgmlType.F32,
  f16: GgmlType.F16,
  q8_0: GgmlType.Q8_0,
  q4_0: GgmlType.Q4_0,
  q4_k_m: GgmlType.Q4_K,
  q6_k: GgmlType.Q6_K,
};

// llama.cpp `enum llama_ftype` (include/llama.h): ALL_F32 0, MOSTLY_F16 1, MOSTLY_Q4_0 2,
// MOSTLY_Q8_0 7, MOSTLY_Q4_K_M 15, MOSTLY_Q6_K 18.
const FILE_TYPES: Readonly<Record<SynthDtype, number>> = {
  f32: 0,
  f16: 1,
  q8_0: 7,
  q4_0: 2,
  q4_k_m: 15,
  q6_k: 18,
};

const K_MIXES: ReadonlySet<SynthDtype> = new Set(["q4_k_m", "q6_k"]);

// llama-quantize's `use_more_bits` (src/llama-quant.cpp): the first and last eighth of the
// layers and every third layer between them get more bits.
const useMoreBits = (i: number, n: number): boolean =>
  i < Math.trunc(n / 8) || i >= Math.trunc((7 * n) / 8) ||
  (i - Math.trunc(n / 8)) % 3 === 2;

/**
 * The type `llama-quantize` (src/llama-quant.cpp of the bundled llama.cpp:
 * `llama_tensor_get_type_impl`, then `tensor_type_fallback`) gives a matrix of this preset
 * for file type Q4_K_M or Q6_K, without an importance matrix. The synthetic presets have tied
 * embeddings (no `output.weight`), no experts and are not 70B, which leaves these rules: the
 * token embedding is Q6_K (Q8_0 when its rows are not a multiple of 256); for Q4_K_M, the
 * `attn_v` matrices numbered `i` of `n` (in layer order) and the `ffn_down` of layer `i` of
 * `n` are Q6_K where `useMoreBits(i, n)`; every other matrix gets the file type's base type;
 * rows not a multiple of the block size fall back (Q4_K to Q5_0, Q6_K to Q8_0, then F16).
 */
function kQuantType(
  dtype: SynthDtype,
  name: string,
  ne0: number,
  counters: { attnV: number; nAttnV: number; layers: number },
): number {
  let type: number = dtype === "q6_k" ? GgmlType.Q6_K : GgmlType.Q4_K;
  const layer = Number(/^blk\.(\d+)\./.exec(name)?.[1] ?? -1);
  if (name === "token_embd.weight") {
    type = ne0 % GGML_TYPES[type]!.blockSize !== 0 ? GgmlType.Q8_0 : GgmlType.Q6_K;
  } else if (name.includes("attn_v.weight")) {
    if (dtype === "q4_k_m" && useMoreBits(counters.attnV, counters.nAttnV)) type = GgmlType.Q6_K;
    counters.attnV++;
  } else if (name.includes("ffn_down") && dtype === "q4_k_m") {
    if (useMoreBits(layer, counters.layers)) type = GgmlType.Q6_K;
  }
  if (ne0 % GGML_TYPES[type]!.blockSize !== 0) {
    type = type === GgmlType.Q4_K ? GgmlType.Q5_0 : type === GgmlType.Q6_K ? GgmlType.Q8_0 : type;
    if (ne0 % GGML_TYPES[type]!.blockSize !== 0) type = GgmlType.F16;
  }
  return type;
}

/**
 * Standard deviation of the logits of ordinary tokens (tied embedding rows have standard
 * deviation LOGIT_STD / sqrt(E), and the final norm gives the hidden state norm sqrt(E)).
 * Padding and control rows are zero, so their logit is 0: against 50,000 ordinary logits of
 * standard deviation 5 their total probability is about 4e-6 per token (measured on lfm2-350m
 * at temperature 1 without top-k or top-p; at most 1e-5 over 32 tokens).
 */
const LOGIT_STD = 5;

/**
 * Gain of the projections that write into the residual stream (attention output, conv
 * out_proj, FFN down). With tied embeddings the current token's own row scores
 * |e|^2 / rms(x) = LOGIT_STD^2 / rms(x) against the hidden state x; a residual stream several
 * times larger than LOGIT_STD keeps that self-score within the ordinary spread, so the model
 * does not just repeat its input token.
 */
const OUTPUT_GAIN = 8;

/** Elements generated per chunk: bounds memory and fixes the PRNG streams. */
const CHUNK_ELEMENTS = 1 << 18;

function planTensors(p: Preset, dtype: SynthDtype): PlannedTensor[] {
  const E = p.embeddingLength;
  const hd = E / p.headCount;
  const kv = p.headCountKv * hd;
  const matrixType = DTYPE_CODES[dtype];
  const counters = { attnV: 0, nAttnV: p.attentionLayers.length, layers: p.blockCount };
  const out: PlannedTensor[] = [];
  const vec = (name: string, n: number): void => {
    out.push({ spec: { name, shape: [n], type: GgmlType.F32 }, init: "ones", std: 0 });
  };
  const mat = (name: string, ne0: number, ne1: number, init: Init = "normal"): void => {
    const quantized = matrixType === GgmlType.Q8_0 || matrixType === GgmlType.Q4_0;
    const type = K_MIXES.has(dtype)
      ? kQuantType(dtype, name, ne0, counters)
      : quantized && ne0 % 32 !== 0
      ? GgmlType.F32
      : matrixType;
    const gain = init === "embedding" ? LOGIT_STD : init === "output" ? OUTPUT_GAIN : 1;
    const std = gain / Math.sqrt(init === "embedding" ? E : ne0);
    out.push({ spec: { name, shape: [ne0, ne1], type }, init, std });
  };
  mat("token_embd.weight", E, p.vocabSize, "embedding");
  vec(p.architecture === "lfm2" ? "token_embd_norm.weight" : "output_norm.weight", E);
  const attention = new Set(p.attentionLayers);
  for (let i = 0; i < p.blockCount; i++) {
    const b = `blk.${i}.`;
    vec(`${b}attn_norm.weight`, E);
    if (attention.has(i)) {
      if (p.architecture === "lfm2") {
        vec(`${b}attn_q_norm.weight`, hd);
        vec(`${b}attn_k_norm.weight`, hd);
      }
      mat(`${b}attn_q.weight`, E, E);
      mat(`${b}attn_k.weight`, E, kv);
      mat(`${b}attn_v.weight`, E, kv);
      mat(`${b}attn_output.weight`, E, E, "output");
    } else {
      out.push({
        spec: { name: `${b}shortconv.conv.weight`, shape: [3, E], type: GgmlType.F32 },
        init: "normal",
        std: 1 / Math.sqrt(3),
      });
      mat(`${b}shortconv.in_proj.weight`, E, 3 * E);
      mat(`${b}shortconv.out_proj.weight`, E, E, "output");
    }
    vec(`${b}ffn_norm.weight`, E);
    mat(`${b}ffn_gate.weight`, E, p.feedForwardLength);
    mat(`${b}ffn_up.weight`, E, p.feedForwardLength);
    mat(`${b}ffn_down.weight`, p.feedForwardLength, E, "output");
  }
  return out;
}

function modelMetadata(
  name: PresetName,
  p: Preset,
  dtype: SynthDtype,
  seed: number,
  vocab: SynthVocab,
): [string, GgufMetaValue][] {
  const a = p.architecture;
  const u32 = (value: number): GgufMetaValue => ({ type: "uint32", value });
  const headCountKv: GgufMetaValue = a === "lfm2"
    ? {
      type: "array",
      elementType: "uint32",
      values: ALL(p.blockCount).map((i) => p.attentionLayers.includes(i) ? p.headCountKv : 0),
    }
    : u32(p.headCountKv);
  const meta: [string, GgufMetaValue][] = [
    ["general.architecture", { type: "string", value: a }],
    ["general.type", { type: "string", value: "model" }],
    ["general.name", { type: "string", value: `tokentrace synthetic ${name}` }],
    [
      "general.description",
      {
        type: "string",
        value:
          `Synthetic ${name} model written by tokentrace: real geometry, seeded random weights (seed ${seed}), GPT-2 BPE vocabulary. Its text output is meaningless.`,
      },
    ],
    ["general.file_type", u32(FILE_TYPES[dtype])],
    ["general.quantization_version", u32(2)],
    ["tokentrace.synthetic", { type: "bool", value: true }],
    ["tokentrace.preset", { type: "string", value: name }],
    ["tokentrace.dtype", { type: "string", value: dtype }],
    ["tokentrace.seed", u32(seed)],
    [`${a}.vocab_size`, u32(p.vocabSize)],
    [`${a}.context_length`, u32(p.contextLength)],
    [`${a}.embedding_length`, u32(p.embeddingLength)],
    [`${a}.block_count`, u32(p.blockCount)],
    [`${a}.feed_forward_length`, u32(p.feedForwardLength)],
    [`${a}.attention.head_count`, u32(p.headCount)],
    [`${a}.attention.head_count_kv`, headCountKv],
    [`${a}.attention.layer_norm_rms_epsilon`, { type: "float32", value: p.rmsEpsilon }],
    [`${a}.rope.freq_base`, { type: "float32", value: p.ropeFreqBase }],
  ];
  if (a === "lfm2") meta.push(["lfm2.shortconv.l_cache", u32(3)]);
  else {
    meta.push([`${a}.rope.dimension_count`, u32(p.embeddingLength / p.headCount)]);
  }
  return [...meta, ...tokenizerMetadata(vocab)];
}

function* tensorChunks(
  t: PlannedTensor,
  tensorIndex: number,
  seed: number,
  normalCount: number,
  viaF16: boolean,
): Generator<Uint8Array> {
  const [ne0 = 1, ne1 = 1] = t.spec.shape;
  const rowsPerChunk = Math.max(1, Math.floor(CHUNK_ELEMENTS / ne0));
  const values = new Float32Array(Math.min(rowsPerChunk, ne1) * ne0);
  const bytes = new Uint8Array(typeBytes(t.spec.type, values.length));
  for (let r0 = 0, chunk = 0; r0 < ne1; r0 += rowsPerChunk, chunk++) {
    const rows = Math.min(rowsPerChunk, ne1 - r0);
    const x = values.subarray(0, rows * ne0);
    if (t.init === "ones") x.fill(1);
    else new Xoshiro128(streamSeed(seed, tensorIndex, chunk)).fillNormal(x, t.std);
    if (t.init === "embedding" && r0 + rows > normalCount) {
      // Control and padding tokens: zero rows, so their logits (0) lose to real word pieces.
      x.fill(0, Math.max(0, normalCount - r0) * ne0);
    }
    // K mixes hold the f16 file's values (what llama-quantize reads), so their blocks are
    // the ones llama-quantize writes from that file; F32 tensors stay as generated.
    if (viaF16 && t.spec.type !== GgmlType.F32) x.set(new Float16Array(x));
    const n = typeBytes(t.spec.type, x.length);
    encodeTensorData(t.spec.type, x, bytes);
    yield bytes.subarray(0, n);
  }
}

/**
 * Writes a synthetic GGUF model: the preset's real geometry, weights drawn from a seeded PRNG
 * (approximately normal, standard deviation 1/sqrt(fan-in); norm weights 1), and GPT-2's BPE
 * vocabulary with ChatML control tokens, padded to the preset's vocabulary size. Padding and
 * control tokens have zero embedding rows so they are practically never generated. The
 * metadata marks the file: `tokentrace.synthetic` (true), `tokentrace.preset`,
 * `tokentrace.dtype`, `tokentrace.seed`. Memory stays bounded (the file is streamed) and the
 * file appears under `out` only once complete.
 *
 * @param out Output path (its directory must exist).
 * @param options Preset, dtype, seed and progress callback.
 * @returns The path, file size, parameter count and seconds taken.
 * @throws {RangeError} If the preset, dtype or seed is invalid.
 *
 * @example Write a tiny model
 * ```ts
 * import { writeSyntheticModel } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * const model = await writeSyntheticModel(`${dir}/tiny.gguf`, { preset: "llama-tiny" });
 * assert.ok(model.bytes > 1_000_000 && model.parameters > 1_000_000);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeSyntheticModel(
  out: string,
  options: SyntheticModelOptions = {},
): Promise<SyntheticModel> {
  const { preset = "lfm2-350m", dtype = "q8_0", seed = 0, onProgress } = options;
  const p = Object.hasOwn(PRESETS, preset) ? PRESETS[preset] : undefined;
  if (p === undefined) {
    throw new RangeError(
      `Cannot write a synthetic model: preset must be one of ${
        Object.keys(PRESETS).join(", ")
      }, found ${JSON.stringify(preset)}`,
    );
  }
  if (!SYNTH_DTYPES.includes(dtype)) {
    throw new RangeError(
      `Cannot write a synthetic model: dtype must be one of ${SYNTH_DTYPES.join(", ")}, found ${
        JSON.stringify(dtype)
      }`,
    );
  }
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new RangeError(
      `Cannot write a synthetic model: seed must be an integer from 0 to 4294967295, found ${seed}`,
    );
  }
  const start = performance.now();
  const vocab = await buildVocab(p.vocabSize);
  const planned = planTensors(p, dtype);
  const specs = planned.map((t) => t.spec);
  await writeGguf(
    out,
    modelMetadata(preset, p, dtype, seed, vocab),
    specs,
    (i) => tensorChunks(planned[i]!, i, seed, vocab.normalCount, K_MIXES.has(dtype)),
    onProgress === undefined ? {} : { onProgress },
  );
  let parameters = 0;
  for (const s of specs) parameters += s.shape.reduce((a, b) => a * b, 1);
  const { size } = await Deno.stat(out);
  return { path: out, bytes: size, parameters, seconds: (performance.now() - start) / 1000 };
}
