/**
 * GGUF validator: the checks that stand between a model file and a native abort in llama.cpp
 * (as bundled with node-llama-cpp 3.21.1): the tensor table, the architecture, the exact type
 * of every key llama.cpp reads, the hyperparameters and the tokenizer; the tensor shapes of
 * llama and lfm2 are checked in lib/gguf/_shapes.ts.
 *
 * @module
 */

import { GGML_MAX_NAME, GGML_TYPES } from "./_types.ts";
import { type Hyperparameters, Problems } from "./_check.ts";
import { checkGeometry, checkTensorShapes } from "./_shapes.ts";
import {
  GgufError,
  type GgufInfo,
  type GgufMetadataValue,
  type GgufValueTypeName,
  numbers,
} from "./reader.ts";

// Architecture names of the llama.cpp build bundled with node-llama-cpp 3.21.1: the values of
// `LLM_ARCH_NAMES` in src/llama-arch.cpp (llama.cpp commit 80fb11ac73e6, from
// node-llama-cpp/llama/gitRelease.bundle), without "clip" (a dummy used only by llama-quantize)
// and "(unknown)". Any other `general.architecture` makes llama.cpp throw "unknown model architecture".
// deno-fmt-ignore
const LLAMA_CPP_ARCHITECTURES: ReadonlySet<string> = new Set([
  "llama", "llama4", "deci", "falcon", "grok", "gpt2", "gptj", "gptneox", "mpt", "baichuan",
  "starcoder", "refact", "bert", "modern-bert", "nomic-bert", "nomic-bert-moe", "neo-bert",
  "jina-bert-v2", "jina-bert-v3", "eurobert", "bloom", "stablelm", "qwen", "qwen2", "qwen2moe",
  "qwen2vl", "qwen3", "qwen3moe", "qwen3next", "qwen3vl", "qwen3vlmoe", "qwen35", "qwen35moe",
  "qwen4exp", "phi2", "phi3", "phimoe", "plamo", "plamo2", "plamo3", "codeshell", "orion", "internlm2",
  "minicpm", "minicpm3", "gemma", "gemma2", "gemma3", "gemma3n", "gemma4", "gemma4-assistant",
  "gemma-embedding", "starcoder2", "mamba", "mamba2", "jamba", "falcon-h1", "xverse", "command-r",
  "cohere2", "cohere2moe", "dbrx", "olmo", "olmo2", "olmoe", "muse-glimmer", "openelm", "arctic",
  "deepseek", "deepseek2", "deepseek2-ocr", "deepseek32", "deepseek4", "chatglm", "glm4", "glm4moe",
  "glm-dsa", "bitnet", "t5", "t5encoder", "jais", "jais2", "nemotron", "nemotron_h", "nemotron_h_moe",
  "exaone", "exaone4", "exaone-moe", "rwkv6", "rwkv6qwen2", "rwkv7", "arwkv7", "granite",
  "granitemoe", "granitehybrid", "graniteswitch", "granite_swa", "chameleon", "wavtokenizer-dec",
  "plm", "bailingmoe", "bailingmoe2", "bailingmoe3", "dots1", "dots3note", "arcee", "afmoe", "laguna",
  "ernie4_5", "ernie4_5-moe", "hunyuan-moe", "hunyuan-dense", "hunyuan_vl", "hy_v3", "smollm3",
  "gpt-oss", "lfm2", "lfm2moe", "dream", "smallthinker", "llada", "llada-moe", "seed_oss", "grovemoe",
  "apertus", "minimax-01", "minimax-m2", "minimax-m3", "cogvlm", "rnd1", "pangu-embedded",
  "mistral3", "eagle3", "dflash", "mistral4", "paddleocr", "mimo2", "step35", "llama-embed",
  "maincoder", "kimi-linear", "kimi-k3", "talkie", "mellum", "nanbeige", "qwen3tts", "pockettts",
]);

// Tokenizer models `llama_vocab::impl::load` (src/llama-vocab.cpp, same commit) accepts.
// deno-fmt-ignore
const TOKENIZER_MODELS: ReadonlySet<string> = new Set([
  "no_vocab", "none", "llama", "bert", "gpt2", "hybriddna", "whitespace", "t5", "rwkv", "plamo2",
  "gemma4",
]);

// BPE pre-tokenizers (`tokenizer.ggml.pre`) the same function accepts for the "gpt2", "hybriddna"
// and "whitespace" models; any other non-empty value throws "unknown pre-tokenizer type".
// deno-fmt-ignore
const BPE_PRE_TOKENIZERS: ReadonlySet<string> = new Set([
  "a.x-4.0", "afmoe", "bailingmoe", "bailingmoe2", "bloom", "chameleon", "chatglm-bpe", "codeshell",
  "cohere2moe", "command-r", "dbrx", "deepseek-coder", "deepseek-llm", "deepseek-r1-qwen",
  "deepseek-v3", "default", "exaone", "exaone-moe", "exaone4", "f2llmv2", "falcon", "falcon-h1",
  "falcon3", "gemma4", "gigachat", "glm4", "gpt-2", "gpt-4o", "gpt3-finnish", "granite-docling",
  "granite-embed-multi-311m", "granite-embed-multi-97m", "grok-2", "hunyuan", "hunyuan-dense", "jais",
  "jais-2", "jina-de", "jina-es", "jina-v1-en", "jina-v2-code", "jina-v2-de", "jina-v2-es",
  "jina-v5-nano", "joyai-llm", "kanana2", "kimi-k2", "kormo", "laguna", "lfm2", "llada-moe",
  "llama-bpe", "llama-v3", "llama3", "llama4", "megrez", "mellum", "mellum2", "midm-2.0",
  "minerva-7b", "minicpm5", "minimax-m2", "modern-bert", "mpt", "olmo", "phi-2", "pixtral",
  "poro-chat", "qwen2", "qwen35", "refact", "roberta-bpe", "sarvam-moe", "seed-coder", "smaug-bpe",
  "smollm", "solar-open", "stablelm2", "starcoder", "superbpe", "talkie", "tekken", "tiny_aya",
  "trillion", "viking", "whitespace", "youtu",
]);

// Special-token id keys read by llama_vocab (each must be uint32 when present).
// deno-fmt-ignore
const SPECIAL_TOKEN_KEYS: readonly string[] = [
  "bos", "eos", "eot", "eom", "unknown", "seperator", "padding", "mask", "fim_pre", "fim_suf",
  "fim_mid", "fim_pad", "fim_rep", "fim_sep", "prefix", "suffix", "middle",
].map((name) => `tokenizer.ggml.${name}_token_id`);

const ROPE_SCALING_TYPES: readonly string[] = ["none", "linear", "yarn", "longrope"];

// llama-hparams.h
const LLAMA_MAX_LAYERS = 512;
const LLAMA_MAX_EXPERTS = 1024;

/** What a key must hold. */
type KeyRule =
  | { kind: "scalar"; type: GgufValueTypeName }
  /** `get_key_or_arr`: a uint32, or an array of uint32/int32/bool with one element per layer. */
  | { kind: "perLayer" }
  | { kind: "array"; elementTypes: readonly GgufValueTypeName[] };

const U32: KeyRule = { kind: "scalar", type: "uint32" };
const F32: KeyRule = { kind: "scalar", type: "float32" };
const BOOL: KeyRule = { kind: "scalar", type: "bool" };
const STRING: KeyRule = { kind: "scalar", type: "string" };
const PER_LAYER: KeyRule = { kind: "perLayer" };

// Keys llama_model_base::load_hparams (src/llama-model.cpp) reads for every architecture, with the
// exact type it accepts; a present key of another type makes llama.cpp throw.
const ARCH_KEY_RULES: readonly (readonly [string, KeyRule])[] = [
  ["context_length", U32],
  ["embedding_length", U32],
  ["embedding_length_out", U32],
  ["attention.causal", BOOL],
  ["pooling_type", U32],
  ["block_count", U32],
  ["nextn_predict_layers", U32],
  ["expert_count", U32],
  ["expert_used_count", PER_LAYER],
  ["expert_group_count", U32],
  ["expert_group_used_count", U32],
  ["feed_forward_length", PER_LAYER],
  ["attention.head_count", PER_LAYER],
  ["attention.head_count_kv", PER_LAYER],
  ["rope.scaling.finetuned", BOOL],
  ["rope.scaling.original_context_length", U32],
  ["rope.freq_base", F32],
  ["rope.scaling.type", STRING],
  ["rope.scaling.factor", F32],
  ["rope.scale_linear", F32],
  ["rope.scaling.attn_factor", F32],
  ["rope.scaling.alpha", F32],
  ["attention.key_length", U32],
  ["attention.value_length", U32],
  ["rope.dimension_count", U32],
  ["vocab_size", U32],
  ["attention.layer_norm_rms_epsilon", F32],
];

// Keys llama.cpp requires for every architecture (get_key with required = true).
const REQUIRED_FOR_ALL = ["context_length", "embedding_length", "block_count"];
// Architectures whose tensor shapes are checked against their hyperparameters.
const DEEP_CHECKED_ARCHITECTURES: ReadonlySet<string> = new Set(["llama", "lfm2"]);
// Keys required for the architectures whose tensors are checked here. Measured by loading
// hand-made files with node-llama-cpp 3.21.1: without feed_forward_length or head_count the
// process ends at a GGML_ASSERT (exit code 134) instead of throwing, so they are checked first.
const REQUIRED_FOR_CHECKED = [
  "feed_forward_length",
  "attention.head_count",
  "attention.layer_norm_rms_epsilon",
];
const LFM2_KEY_RULES: readonly (readonly [string, KeyRule])[] = [
  ["shortconv.l_cache", U32],
  ["attention.sliding_window", U32],
];

const TOKENIZER_KEY_RULES: readonly (readonly [string, KeyRule])[] = [
  ["tokenizer.ggml.model", STRING],
  ["tokenizer.ggml.pre", STRING],
  ["tokenizer.ggml.token_type_count", U32],
  ["tokenizer.ggml.tokens", { kind: "array", elementTypes: ["string"] }],
  ["tokenizer.ggml.merges", { kind: "array", elementTypes: ["string"] }],
  ["tokenizer.ggml.scores", { kind: "array", elementTypes: ["float32", "int32"] }],
  ["tokenizer.ggml.token_type", { kind: "array", elementTypes: ["int32"] }],
  ["tokenizer.ggml.add_bos_token", BOOL],
  ["tokenizer.ggml.add_eos_token", BOOL],
  ["tokenizer.ggml.add_sep_token", BOOL],
  ...SPECIAL_TOKEN_KEYS.map((key) => [key, U32] as const),
];

function describeRule(rule: KeyRule): string {
  switch (rule.kind) {
    case "scalar":
      return rule.type;
    case "perLayer":
      return "uint32 or a per-layer array";
    case "array":
      return `an array of ${rule.elementTypes.join(" or ")}`;
  }
}

function describeValue(value: GgufMetadataValue): string {
  return value.type === "array" ? `an array of ${value.elementType}` : value.type;
}

function fitsRule(value: GgufMetadataValue, rule: KeyRule): boolean {
  switch (rule.kind) {
    case "scalar":
      return value.type === rule.type;
    case "perLayer":
      return value.type === "uint32" ||
        (value.type === "array" && ["uint32", "int32", "bool"].includes(value.elementType));
    case "array":
      return value.type === "array" && rule.elementTypes.includes(value.elementType);
  }
}

/** The tensor table as gguf_init_from_file (ggml/src/gguf.cpp) checks it, and data in the file. */
function checkTensorTable(info: GgufInfo, problems: Problems): void {
  const names = new Set<string>();
  const encoder = new TextEncoder();
  let expectedOffset = 0;
  for (const tensor of info.tensors) {
    const { name, shape } = tensor;
    const bytes = encoder.encode(name).length;
    if (bytes >= GGML_MAX_NAME) {
      problems.tensor(
        name,
        `has a ${bytes}-byte name; llama.cpp allows at most ${GGML_MAX_NAME - 1}`,
      );
    }
    if (names.has(name)) problems.tensor(name, "appears twice in the tensor table");
    names.add(name);
    const { blockSize } = GGML_TYPES[tensor.type]!;
    if ((shape[0] ?? 1) % blockSize !== 0) {
      problems.tensor(
        name,
        `has rows of ${
          shape[0]
        } elements; type ${tensor.dtype} stores blocks of ${blockSize}, so llama.cpp requires a multiple of ${blockSize}`,
      );
    }
    if (tensor.offset !== expectedOffset) {
      problems.tensor(
        name,
        `starts at data offset ${tensor.offset}; llama.cpp requires ${expectedOffset} (tensors stored in table order, each padded to the alignment of ${info.alignment} bytes)`,
      );
    }
    expectedOffset = tensor.offset + Math.ceil(tensor.byteSize / info.alignment) * info.alignment;
  }
  // llama_model_loader: "tensor data is not within the file bounds".
  for (const tensor of info.tensors) {
    const end = info.dataOffset + tensor.offset + tensor.byteSize;
    if (end > info.fileBytes) {
      problems.tensor(
        tensor.name,
        `has data up to byte ${end} but the file is ${info.fileBytes} bytes; the file is truncated`,
      );
      return;
    }
  }
}

/** `general.architecture`, if it names an architecture this llama.cpp knows. */
function checkArchitecture(info: GgufInfo, problems: Problems): string | undefined {
  const key = "general.architecture";
  const found = info.metadata[key];
  if (found === undefined) {
    problems.list.push(
      new GgufError(`Cannot load "${info.path}": key "${key}" is missing; llama.cpp requires it`, {
        path: info.path,
        key,
      }),
    );
  } else if (found.type !== "string") {
    problems.key(key, `has type ${describeValue(found)}; llama.cpp requires string`);
  } else if (!LLAMA_CPP_ARCHITECTURES.has(found.value as string)) {
    problems.key(
      key,
      `is "${found.value}", an architecture this llama.cpp (bundled with node-llama-cpp 3.21.1) does not know`,
    );
  } else {
    return found.value as string;
  }
  return undefined;
}

/** Presence and exact type of every `{arch}.*` key llama.cpp reads, and values that assert. */
function checkHyperparameters(
  metadata: Readonly<Record<string, GgufMetadataValue>>,
  arch: string,
  problems: Problems,
): Hyperparameters {
  const deep = DEEP_CHECKED_ARCHITECTURES.has(arch);
  const rules = arch === "lfm2" ? [...ARCH_KEY_RULES, ...LFM2_KEY_RULES] : ARCH_KEY_RULES;
  const required = new Set(
    deep ? [...REQUIRED_FOR_ALL, ...REQUIRED_FOR_CHECKED] : REQUIRED_FOR_ALL,
  );
  if (arch === "lfm2") required.add("shortconv.l_cache");
  for (const [suffix, rule] of rules) {
    const key = `${arch}.${suffix}`;
    const found = metadata[key];
    if (found === undefined) {
      if (required.has(suffix)) {
        problems.key(key, `is missing; llama.cpp requires it for architecture "${arch}"`);
      }
    } else if (!fitsRule(found, rule)) {
      problems.key(
        key,
        `has type ${describeValue(found)}; llama.cpp requires ${describeRule(rule)}`,
      );
    }
  }

  const value = (suffix: string) => metadata[`${arch}.${suffix}`];
  const scalar = (suffix: string): number | undefined => {
    const found = value(suffix);
    return found?.type !== "array" && typeof found?.value === "number" ? found.value : undefined;
  };
  const blockCount = value("block_count");
  const layers = blockCount?.type === "uint32" ? blockCount.value as number : undefined;
  if (layers !== undefined && (layers < 1 || layers > LLAMA_MAX_LAYERS)) {
    problems.key(
      `${arch}.block_count`,
      `is ${layers}; llama.cpp requires 1 to ${LLAMA_MAX_LAYERS}`,
    );
  }
  const perLayer = (suffix: string): number[] | undefined => {
    const found = value(suffix);
    if (found === undefined || !fitsRule(found, PER_LAYER) || layers === undefined) {
      return undefined;
    }
    if (found.type === "array" && found.length !== layers) {
      problems.key(
        `${arch}.${suffix}`,
        `has ${found.length} elements; llama.cpp requires one per layer (block_count ${layers})`,
      );
      return undefined;
    }
    const values = numbers(metadata, `${arch}.${suffix}`)!;
    return found.type === "array" ? values : Array.from({ length: layers }, () => values[0]!);
  };
  const heads = perLayer("attention.head_count");
  const headsKv = value("attention.head_count_kv") === undefined
    ? heads
    : perLayer("attention.head_count_kv");
  const feedForward = perLayer("feed_forward_length");

  const experts = scalar("expert_count") ?? 0;
  const expertsUsed = Math.max(0, ...(perLayer("expert_used_count") ?? []));
  if (experts > LLAMA_MAX_EXPERTS) {
    problems.key(
      `${arch}.expert_count`,
      `is ${experts}; llama.cpp allows at most ${LLAMA_MAX_EXPERTS}`,
    );
  } else if (expertsUsed > experts) {
    problems.key(
      `${arch}.expert_used_count`,
      `is ${expertsUsed}; llama.cpp requires at most expert_count (${experts})`,
    );
  } else if (experts > 0 && expertsUsed === 0) {
    problems.key(
      `${arch}.expert_used_count`,
      `is 0 or missing; llama.cpp requires at least 1 with expert_count ${experts}`,
    );
  }
  const ropeScaling = value("rope.scaling.type");
  if (ropeScaling?.type === "string" && !ROPE_SCALING_TYPES.includes(ropeScaling.value as string)) {
    const allowed = ROPE_SCALING_TYPES.map((type) => `"${type}"`).join(", ");
    problems.key(
      `${arch}.rope.scaling.type`,
      `is "${ropeScaling.value}"; llama.cpp requires one of ${allowed}`,
    );
  }
  return { arch, scalar, value, layers, heads, headsKv, feedForward, experts };
}

/**
 * The tokenizer keys as llama_vocab::impl::load (src/llama-vocab.cpp) reads them.
 * Returns the vocabulary size, if known.
 */
function checkTokenizer(
  metadata: Readonly<Record<string, GgufMetadataValue>>,
  hyper: Hyperparameters,
  problems: Problems,
): number | undefined {
  for (const [key, rule] of TOKENIZER_KEY_RULES) {
    const found = metadata[key];
    if (found !== undefined && !fitsRule(found, rule)) {
      problems.key(
        key,
        `has type ${describeValue(found)}; llama.cpp requires ${describeRule(rule)}`,
      );
    }
  }
  const modelValue = metadata["tokenizer.ggml.model"];
  if (modelValue === undefined) {
    problems.key(
      "tokenizer.ggml.model",
      "is missing; llama.cpp requires it to load the vocabulary",
    );
    return undefined;
  }
  if (modelValue.type !== "string") return undefined;
  const model = modelValue.value as string;
  if (!TOKENIZER_MODELS.has(model)) {
    problems.key("tokenizer.ggml.model", `is "${model}", a tokenizer this llama.cpp does not know`);
    return undefined;
  }
  if (model === "none" || model === "no_vocab") return hyper.scalar("vocab_size") ?? 0;

  const pre = metadata["tokenizer.ggml.pre"];
  const preName = pre?.type === "string" ? pre.value as string : "";
  const bpe = model === "gpt2" || model === "hybriddna" || model === "whitespace";
  if (
    ((bpe && preName !== "kimi-k2") || model === "gemma4") && !metadata["tokenizer.ggml.merges"]
  ) {
    problems.key(
      "tokenizer.ggml.merges",
      `is missing; llama.cpp requires it for tokenizer model "${model}"`,
    );
  }
  if (bpe && preName !== "" && !BPE_PRE_TOKENIZERS.has(preName)) {
    problems.key(
      "tokenizer.ggml.pre",
      `is "${preName}", a pre-tokenizer this llama.cpp does not know`,
    );
  }
  const tokens = metadata["tokenizer.ggml.tokens"];
  if (tokens === undefined) {
    problems.key(
      "tokenizer.ggml.tokens",
      `is missing; llama.cpp requires it for tokenizer model "${model}"`,
    );
    return undefined;
  }
  if (tokens.type !== "array" || tokens.elementType !== "string") return undefined;
  for (const key of ["tokenizer.ggml.scores", "tokenizer.ggml.token_type"]) {
    const found = metadata[key];
    if (found?.type === "array" && found.length < tokens.length) {
      problems.key(
        key,
        `has ${found.length} elements; llama.cpp requires one per token (${tokens.length})`,
      );
    }
  }
  // llama.cpp maps token text to id and asserts both maps have the same size: a repeated
  // token aborts the process. Empty tokens are renamed "[EMPTY_<id>]" first.
  const seen = new Map<string, number>();
  for (let id = 0; id < tokens.length; id++) {
    const text = (tokens.values[id] as string) || `[EMPTY_${id}]`;
    const first = seen.get(text);
    if (first !== undefined) {
      problems.key(
        "tokenizer.ggml.tokens",
        `holds ${
          JSON.stringify(text)
        } twice (ids ${first} and ${id}); llama.cpp requires unique tokens`,
      );
      break;
    }
    seen.set(text, id);
  }
  return tokens.length;
}

/**
 * Lists every problem that would make llama.cpp (as bundled with node-llama-cpp 3.21.1) refuse
 * the file or abort the process while loading or running it, in the order llama.cpp meets them.
 * An empty list means the file passed every check; see {@linkcode validateGguf} for the list of checks.
 *
 * @param info What {@linkcode readGguf} returned.
 * @returns One {@linkcode GgufError} per problem found.
 *
 * @example A file that is only a header
 * ```ts
 * import { findGgufProblems, type GgufInfo } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const info = { path: "m.gguf", metadata: {}, tensors: [] } as unknown as GgufInfo;
 * const problems = findGgufProblems(info);
 * assert.equal(
 *   problems[0]?.message,
 *   'Cannot load "m.gguf": key "general.architecture" is missing; llama.cpp requires it',
 * );
 * ```
 */
export function findGgufProblems(info: GgufInfo): GgufError[] {
  const problems = new Problems(info.path);
  checkTensorTable(info, problems);
  const arch = checkArchitecture(info, problems);
  if (arch === undefined) return problems.list;
  const before = problems.list.length;
  const hyper = checkHyperparameters(info.metadata, arch, problems);
  const vocab = checkTokenizer(info.metadata, hyper, problems);
  // Shapes follow from the hyperparameters: check them only when every key above is right.
  if (
    !DEEP_CHECKED_ARCHITECTURES.has(arch) || problems.list.length > before || vocab === undefined
  ) {
    return problems.list;
  }
  const geometry = checkGeometry(hyper, vocab, problems);
  if (geometry !== undefined) checkTensorShapes(info.tensors, arch, geometry, problems);
  return problems.list;
}

/**
 * Checks that llama.cpp (as bundled with node-llama-cpp 3.21.1) can load the file without
 * refusing it or aborting the process, and throws the first problem found. Call it before
 * handing a file to node-llama-cpp: some bad files abort the whole process instead of throwing.
 *
 * Checks, for every file: tensor names (under 64 bytes, unique), row lengths that are a multiple
 * of the type's block size, tensor data packed in table order at the alignment, tensor data
 * inside the file (not truncated), a known `general.architecture`, the keys llama.cpp requires
 * (`{arch}.context_length`, `embedding_length`, `block_count`), the exact type of every
 * hyperparameter key llama.cpp reads (a uint32 written as int32 is refused; float keys must be
 * float32), per-layer arrays with one element per layer, `block_count` from 1 to 512, expert
 * counts, `rope.scaling.type`, and the tokenizer keys (a known `tokenizer.ggml.model` and
 * pre-tokenizer, `tokens` as unique strings, `merges` for BPE, `scores`/`token_type` lengths and
 * types, special token ids as uint32). For `llama` and `lfm2` also: `feed_forward_length`,
 * `attention.head_count` and `attention.layer_norm_rms_epsilon` (float32) present, head counts
 * that divide, no size of 0, `rope.dimension_count` equal to the head size (llama),
 * head_count × head size = embedding_length and `shortconv.l_cache` (lfm2), and every tensor
 * present with the shape the hyperparameters give, with no unused tensor. The aborts among these
 * (e.g. a missing `feed_forward_length`, a repeated token, `block_count` 0, an unknown
 * `rope.scaling.type`) were reproduced in node-llama-cpp 3.21.1 with hand-made files.
 *
 * @param info What {@linkcode readGguf} returned.
 * @throws {GgufError} The first problem {@linkcode findGgufProblems} reports, naming the file,
 * the key or tensor, and what was expected and found.
 *
 * @example Checking a model before loading it
 * ```ts ignore
 * // Needs a model file: run `deno task synth` first.
 * import { readGguf, validateGguf } from "@tokentrace/tokentrace";
 *
 * validateGguf(await readGguf("data/models/lfm2-350m-q8_0.gguf"));
 * ```
 *
 * @example A file without an architecture
 * ```ts
 * import { GgufError, type GgufInfo, validateGguf } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const info = { path: "m.gguf", metadata: {}, tensors: [] } as unknown as GgufInfo;
 * assert.throws(() => validateGguf(info), GgufError);
 * ```
 */
export function validateGguf(info: GgufInfo): void {
  const [first] = findGgufProblems(info);
  if (first !== undefined) throw first;
}
