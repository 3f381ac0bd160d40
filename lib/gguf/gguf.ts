/**
 * GGUF reader and validator: the header, metadata and tensor table of a model file, read
 * from the head of the file only, and the checks that stand between a file and a native
 * abort in llama.cpp.
 *
 * @module
 */

import {
  GGML_TYPES,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GGUF_VALUE_TYPE_NAMES,
  GgufValueType,
} from "./_types.ts";

/** Name of a GGUF metadata value type other than `array`. */
export type GgufValueTypeName =
  | "uint8"
  | "int8"
  | "uint16"
  | "int16"
  | "uint32"
  | "int32"
  | "float32"
  | "bool"
  | "string"
  | "uint64"
  | "int64"
  | "float64";

/** A decoded GGUF scalar: 64-bit integers are `bigint`, other numbers `number`. */
export type GgufScalar = number | bigint | boolean | string;

/** One metadata value with its GGUF type: a scalar, or an array with its element type and length. */
export type GgufMetadataValue =
  | { readonly type: GgufValueTypeName; readonly value: GgufScalar }
  | {
    readonly type: "array";
    readonly elementType: GgufValueTypeName;
    readonly length: number;
    readonly values: readonly GgufScalar[];
  };

/** One entry of the tensor table. */
export interface GgufTensorInfo {
  /** Tensor name, e.g. `blk.0.attn_q.weight`. */
  readonly name: string;
  /** Dimensions in ggml order (`ne0` first: the row length). */
  readonly shape: readonly number[];
  /** ggml type name, e.g. `F32`, `Q8_0`. */
  readonly dtype: string;
  /** ggml type code, e.g. 8 for `Q8_0`. */
  readonly type: number;
  /** Bytes of tensor data. */
  readonly byteSize: number;
  /** Offset of the data from the start of the data section (file offset = `dataOffset + offset`). */
  readonly offset: number;
}

/** Everything the head of a GGUF file tells about the model. */
export interface GgufInfo {
  /** The path the file was read from. */
  readonly path: string;
  /** File size in bytes. */
  readonly fileBytes: number;
  /** GGUF format version (2 or 3). */
  readonly version: number;
  /** Alignment of tensor data in bytes (`general.alignment`, default 32). */
  readonly alignment: number;
  /** File offset of the tensor data section. */
  readonly dataOffset: number;
  /** `general.architecture`, or `undefined` if missing or not a string. */
  readonly architecture: string | undefined;
  /** `general.name`, or the file name without `.gguf`. */
  readonly name: string;
  /** True when the file was written by tokentrace's synthetic-model writer (`tokentrace.synthetic`). */
  readonly synthetic: boolean;
  /** Every metadata key, in file order, with its GGUF type and value. */
  readonly metadata: Readonly<Record<string, GgufMetadataValue>>;
  /** The tensor table, in file order. */
  readonly tensors: readonly GgufTensorInfo[];
  /** Total number of tensor elements (weights). */
  readonly parameterCount: number;
  /** Total bytes of tensor data (without alignment padding). */
  readonly tensorBytes: number;
  /** The dtype holding the most bytes among matrices (tensors of 2+ dimensions). */
  readonly dominantQuantization: string | undefined;
  /** Number of tokens: `tokenizer.ggml.tokens` length, else `{arch}.vocab_size`, else the embedding rows. */
  readonly vocabSize: number | undefined;
  /** `{arch}.context_length`: the training context. */
  readonly contextLength: number | undefined;
  /** `{arch}.block_count`: the number of layers. */
  readonly blockCount: number | undefined;
  /** `{arch}.embedding_length`: the hidden size. */
  readonly embeddingLength: number | undefined;
  /** `{arch}.feed_forward_length` (the largest value when given per layer). */
  readonly feedForwardLength: number | undefined;
  /** `{arch}.attention.head_count` (the largest value when given per layer). */
  readonly headCount: number | undefined;
  /** `{arch}.attention.head_count_kv` (the largest value when given per layer; defaults to `headCount`). */
  readonly headCountKv: number | undefined;
  /** For `lfm2`: each layer's kind, `"shortconv"` where `head_count_kv` is 0. Undefined for other architectures. */
  readonly layerKinds: readonly ("attention" | "shortconv")[] | undefined;
}

/** Which key or tensor a {@linkcode GgufError} is about. */
export interface GgufErrorOptions {
  /** The file the error is about. */
  path: string;
  /** The metadata key at fault, if any. */
  key?: string;
  /** The tensor at fault, if any. */
  tensor?: string;
}

/**
 * A GGUF file that cannot be read, or that llama.cpp would refuse or abort on.
 *
 * @example Catching a bad file
 * ```ts
 * import { GgufError } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const error = new GgufError('Cannot load "m.gguf": key "llama.block_count" is missing', {
 *   path: "m.gguf",
 *   key: "llama.block_count",
 * });
 * assert.ok(error instanceof Error);
 * assert.equal(error.name, "GgufError");
 * assert.equal(error.key, "llama.block_count");
 * ```
 */
export class GgufError extends Error {
  /** The file the error is about. */
  readonly path: string;
  /** The metadata key at fault, if any. */
  readonly key: string | undefined;
  /** The tensor at fault, if any. */
  readonly tensor: string | undefined;

  /**
   * Makes an error about a GGUF file.
   *
   * @param message What is wrong: file, key or tensor, expected and found.
   * @param options The file, and the key or tensor at fault.
   */
  constructor(message: string, options: GgufErrorOptions) {
    super(message);
    this.name = "GgufError";
    this.path = options.path;
    this.key = options.key;
    this.tensor = options.tensor;
  }
}

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
// ggml.h
const GGML_MAX_DIMS = 4;
const GGML_MAX_NAME = 64;

const READ_CHUNK_BYTES = 1 << 20;
const SCALAR_BYTES: Readonly<Record<number, number>> = {
  [GgufValueType.UINT8]: 1,
  [GgufValueType.INT8]: 1,
  [GgufValueType.UINT16]: 2,
  [GgufValueType.INT16]: 2,
  [GgufValueType.UINT32]: 4,
  [GgufValueType.INT32]: 4,
  [GgufValueType.FLOAT32]: 4,
  [GgufValueType.BOOL]: 1,
  [GgufValueType.UINT64]: 8,
  [GgufValueType.INT64]: 8,
  [GgufValueType.FLOAT64]: 8,
};

const utf8 = new TextDecoder();
const SHORT_STRING_BYTES = 64;
const shortUnits = new Uint16Array(SHORT_STRING_BYTES);

/** Reads the head of a file in chunks, on demand; never more than the caller asks for plus a chunk. */
class HeadReader {
  buf: Uint8Array = new Uint8Array(READ_CHUNK_BYTES);
  view: DataView = new DataView(this.buf.buffer);
  /** Next byte to parse, as an index into `buf`. */
  pos = 0;
  /** End of the valid bytes in `buf`. */
  end = 0;
  /** File offset of `buf[0]`. */
  base = 0;

  constructor(
    readonly file: Deno.FsFile,
    readonly fileBytes: number,
    readonly path: string,
  ) {}

  get offset(): number {
    return this.base + this.pos;
  }

  /** Makes at least `n` bytes available at `pos`, or throws that the file ends while reading `what`. */
  async need(n: number, what: string): Promise<void> {
    if (this.end - this.pos >= n) return;
    if (this.offset + n > this.fileBytes) {
      throw new GgufError(
        `Cannot read GGUF "${this.path}": file ends at byte ${this.fileBytes} while reading ${what}` +
          ` (${n} bytes needed at byte ${this.offset}); the file is truncated`,
        { path: this.path },
      );
    }
    const kept = this.end - this.pos;
    if (n > this.buf.length) {
      const grown = new Uint8Array(Math.max(n, 2 * this.buf.length));
      grown.set(this.buf.subarray(this.pos, this.end));
      this.buf = grown;
      this.view = new DataView(grown.buffer);
    } else {
      this.buf.copyWithin(0, this.pos, this.end);
    }
    this.base += this.pos;
    this.pos = 0;
    this.end = kept;
    while (this.end < n) {
      const got = await this.file.read(this.buf.subarray(this.end));
      if (got === null) {
        throw new Error(`Cannot read GGUF "${this.path}": file shrank while reading`);
      }
      this.end += got;
    }
  }

  u32(): number {
    const value = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return value;
  }

  /**
   * A u64 as a number: exact up to 2^53, approximate above (callers compare lengths and counts
   * with the file size, and check dimensions and offsets with `Number.isSafeInteger`).
   */
  u64(): number {
    const low = this.view.getUint32(this.pos, true);
    const high = this.view.getUint32(this.pos + 4, true);
    this.pos += 8;
    return high * 0x1_0000_0000 + low;
  }

  /** Decodes `length` bytes of UTF-8 (already made available). */
  string(length: number): string {
    const buf = this.buf;
    const start = this.pos;
    const end = start + length;
    this.pos = end;
    if (length > SHORT_STRING_BYTES) return utf8.decode(buf.subarray(start, end));
    // Short strings (tokens, merges) decode faster by hand than through TextDecoder. Only
    // 1- to 3-byte sequences are decoded here; anything else goes to TextDecoder.
    const units = shortUnits;
    let n = 0;
    for (let i = start; i < end;) {
      const byte = buf[i]!;
      if (byte < 0x80) {
        units[n++] = byte;
        i += 1;
      } else if (byte >= 0xc2 && byte < 0xe0 && i + 1 < end && (buf[i + 1]! & 0xc0) === 0x80) {
        units[n++] = ((byte & 0x1f) << 6) | (buf[i + 1]! & 0x3f);
        i += 2;
      } else if (
        byte >= 0xe0 && byte < 0xf0 && i + 2 < end && (buf[i + 1]! & 0xc0) === 0x80 &&
        (buf[i + 2]! & 0xc0) === 0x80
      ) {
        const unit = ((byte & 0x0f) << 12) | ((buf[i + 1]! & 0x3f) << 6) | (buf[i + 2]! & 0x3f);
        if (unit < 0x800 || (unit >= 0xd800 && unit < 0xe000)) {
          return utf8.decode(buf.subarray(start, end)); // overlong or surrogate: invalid
        }
        units[n++] = unit;
        i += 3;
      } else {
        return utf8.decode(buf.subarray(start, end));
      }
    }
    return String.fromCharCode.apply(null, units.subarray(0, n) as unknown as number[]);
  }

  /** Reads one scalar of `type` (bytes already made available). */
  scalar(type: number): GgufScalar {
    const view = this.view;
    const at = this.pos;
    this.pos += SCALAR_BYTES[type]!;
    switch (type) {
      case GgufValueType.UINT8:
        return view.getUint8(at);
      case GgufValueType.INT8:
        return view.getInt8(at);
      case GgufValueType.UINT16:
        return view.getUint16(at, true);
      case GgufValueType.INT16:
        return view.getInt16(at, true);
      case GgufValueType.UINT32:
        return view.getUint32(at, true);
      case GgufValueType.INT32:
        return view.getInt32(at, true);
      case GgufValueType.FLOAT32:
        return view.getFloat32(at, true);
      case GgufValueType.BOOL:
        return view.getUint8(at) !== 0;
      case GgufValueType.UINT64:
        return view.getBigUint64(at, true);
      case GgufValueType.INT64:
        return view.getBigInt64(at, true);
      default:
        return view.getFloat64(at, true);
    }
  }

  /** Reads a length-prefixed string. */
  async readString(what: string): Promise<string> {
    if (this.end - this.pos < 8) await this.need(8, what);
    const length = this.u64();
    if (this.end - this.pos < length) await this.need(length, what);
    return this.string(length);
  }

  /** Reads a metadata value of `type` (a scalar type, or `array`). */
  async readValue(type: number, key: string): Promise<GgufMetadataValue> {
    const what = `the value of key "${key}"`;
    if (type === GgufValueType.STRING) {
      return { type: "string", value: await this.readString(what) };
    }
    if (type === GgufValueType.ARRAY) {
      await this.need(12, what);
      const elementType = this.u32();
      const length = this.u64();
      const elementTypeName = this.typeName(elementType, key);
      if (elementType === GgufValueType.ARRAY) {
        throw new GgufError(
          `Cannot read GGUF "${this.path}": key "${key}" is an array of arrays, which llama.cpp does not support`,
          { path: this.path, key },
        );
      }
      // Each string takes at least its 8-byte length: a larger count means a truncated file.
      if (elementType === GgufValueType.STRING && this.offset + length * 8 > this.fileBytes) {
        await this.need(length * 8, what); // throws
      }
      const values: GgufScalar[] = new Array(length);
      if (elementType === GgufValueType.STRING) {
        for (let i = 0; i < length; i++) {
          if (this.end - this.pos < 8) await this.need(8, what);
          const bytes = this.u64();
          if (this.end - this.pos < bytes) await this.need(bytes, what);
          values[i] = this.string(bytes);
        }
      } else {
        const size = SCALAR_BYTES[elementType]!;
        if (this.offset + length * size > this.fileBytes) await this.need(length * size, what); // throws
        // Fill by slices of at most one chunk, so a huge array never needs a huge buffer twice.
        const perSlice = Math.max(1, Math.floor(READ_CHUNK_BYTES / size));
        for (let i = 0; i < length;) {
          const count = Math.min(perSlice, length - i);
          await this.need(count * size, what);
          for (const stop = i + count; i < stop; i++) values[i] = this.scalar(elementType);
        }
      }
      return { type: "array", elementType: elementTypeName, length, values };
    }
    const typeName = this.typeName(type, key);
    await this.need(SCALAR_BYTES[type]!, what);
    return { type: typeName, value: this.scalar(type) };
  }

  typeName(type: number, key: string): GgufValueTypeName {
    const name = GGUF_VALUE_TYPE_NAMES[type];
    if (name === undefined) {
      throw new GgufError(
        `Cannot read GGUF "${this.path}": key "${key}" has value type ${type}; valid types are 0 to 12`,
        { path: this.path, key },
      );
    }
    return name as GgufValueTypeName;
  }
}

/** Shows 4 magic bytes as text, escaping non-printable bytes as `\xNN`. */
function showBytes(bytes: Uint8Array): string {
  let text = "";
  for (const byte of bytes) {
    text += byte >= 0x20 && byte < 0x7f && byte !== 0x22 && byte !== 0x5c
      ? String.fromCharCode(byte)
      : `\\x${byte.toString(16).padStart(2, "0").toUpperCase()}`;
  }
  return text;
}

/**
 * Reads a GGUF v2/v3 file's header, metadata and tensor table, without reading tensor data:
 * only the head of the file is read, in chunks, however large the file. Does not check that
 * llama.cpp can load the model: call {@linkcode validateGguf} for that.
 *
 * @param path Path of the `.gguf` file.
 * @returns The file's metadata, tensor table and the model facts derived from them.
 * @throws {GgufError} If the file is not GGUF (wrong magic), is GGUF v1, big-endian or of an
 * unknown version, ends inside the header, or holds a value or tensor type llama.cpp cannot read.
 *
 * @example Reading a model's geometry
 * ```ts ignore
 * // Needs a model file: run `deno task synth` first.
 * import { readGguf } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const info = await readGguf("data/models/lfm2-350m-q8_0.gguf");
 * assert.equal(info.architecture, "lfm2");
 * assert.equal(info.blockCount, 16);
 * assert.equal(info.dominantQuantization, "Q8_0");
 * assert.equal(info.layerKinds?.filter((kind) => kind === "attention").length, 6);
 * ```
 *
 * @example Not a GGUF file
 * ```ts
 * import { GgufError, readGguf } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const path = await Deno.makeTempFile({ suffix: ".gguf" });
 * await Deno.writeFile(path, new TextEncoder().encode("PK\x03\x04 not a model"));
 * await assert.rejects(readGguf(path), GgufError);
 * await Deno.remove(path);
 * ```
 */
export async function readGguf(path: string): Promise<GgufInfo> {
  const file = await Deno.open(path, { read: true });
  try {
    const fileBytes = (await file.stat()).size;
    return await readHead(new HeadReader(file, fileBytes, path));
  } finally {
    file.close();
  }
}

async function readHead(reader: HeadReader): Promise<GgufInfo> {
  const { path, fileBytes } = reader;
  const fail = (message: string, key?: string): GgufError =>
    new GgufError(`Cannot read GGUF "${path}": ${message}`, { path, key });

  if (fileBytes < 4) {
    throw fail(`file is ${fileBytes} bytes, too short for the magic "GGUF"`);
  }
  await reader.need(4, "the magic");
  if (reader.view.getUint32(0, true) !== GGUF_MAGIC) {
    throw fail(`expected magic "GGUF", found "${showBytes(reader.buf.subarray(0, 4))}"`);
  }
  reader.pos = 4;
  await reader.need(4, "the version");
  const version = reader.u32();
  if ((version & 0xffff) === 0 && version !== 0) {
    const field = `0x${version.toString(16).padStart(8, "0")}`;
    throw fail(
      `unsupported version field ${field}: the file is big-endian GGUF; only little-endian GGUF is supported`,
    );
  }
  if (version !== 2 && version !== 3) {
    throw fail(`unsupported version ${version}; supported versions are 2 and 3`);
  }
  await reader.need(16, "the header");
  const tensorCount = reader.u64();
  const keyCount = reader.u64();
  // Every key needs at least 12 bytes and every tensor at least 24: more is not a GGUF header.
  if (keyCount * 12 + tensorCount * 24 > fileBytes) {
    throw fail(
      `header declares ${keyCount} metadata keys and ${tensorCount} tensors, more than a ${fileBytes}-byte file can hold; the file is truncated or corrupt`,
    );
  }

  const metadata: Record<string, GgufMetadataValue> = {};
  for (let i = 0; i < keyCount; i++) {
    const key = await reader.readString(`the name of metadata key ${i}`);
    if (key === "") throw fail(`metadata key ${i} has an empty name`);
    if (Object.hasOwn(metadata, key)) throw fail(`key "${key}" appears twice`, key);
    await reader.need(4, `the type of key "${key}"`);
    // defineProperty, not assignment: a key named "__proto__" must stay an ordinary key.
    Object.defineProperty(metadata, key, {
      value: await reader.readValue(reader.u32(), key),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }

  const alignmentValue = metadata["general.alignment"];
  let alignment = GGUF_DEFAULT_ALIGNMENT;
  if (alignmentValue !== undefined) {
    if (alignmentValue.type !== "uint32") {
      throw fail(
        `key "general.alignment" has type ${alignmentValue.type}; llama.cpp requires uint32`,
        "general.alignment",
      );
    }
    alignment = alignmentValue.value as number;
    if (alignment === 0 || (alignment & (alignment - 1)) !== 0) {
      throw fail(
        `key "general.alignment" is ${alignment}; llama.cpp requires a power of 2`,
        "general.alignment",
      );
    }
  }

  const tensors: GgufTensorInfo[] = [];
  for (let i = 0; i < tensorCount; i++) {
    const name = await reader.readString(`the name of tensor ${i}`);
    const what = `the shape of tensor "${name}"`;
    await reader.need(4, what);
    const dims = reader.u32();
    if (dims > GGML_MAX_DIMS) {
      throw new GgufError(
        `Cannot read GGUF "${path}": tensor "${name}" has ${dims} dimensions; llama.cpp allows at most ${GGML_MAX_DIMS}`,
        { path, tensor: name },
      );
    }
    await reader.need(8 * dims + 12, what);
    const shape: number[] = [];
    for (let d = 0; d < dims; d++) shape.push(reader.u64());
    const type = reader.u32();
    const offset = reader.u64();
    const ggmlType = GGML_TYPES[type];
    if (ggmlType === undefined) {
      throw new GgufError(
        `Cannot read GGUF "${path}": tensor "${name}" has ggml type ${type}, which this llama.cpp does not know`,
        { path, tensor: name },
      );
    }
    const elements = shape.reduce((product, n) => product * n, 1);
    if (!Number.isSafeInteger(elements) || !Number.isSafeInteger(offset)) {
      throw new GgufError(
        `Cannot read GGUF "${path}": tensor "${name}" has shape ${
          formatShape(shape)
        } and data offset ${offset}, beyond 2^53; the file is corrupt`,
        { path, tensor: name },
      );
    }
    const rows = shape.slice(1).reduce((product, n) => product * n, 1);
    const rowBytes = Math.floor((shape[0] ?? 1) / ggmlType.blockSize) * ggmlType.typeSize;
    tensors.push({ name, shape, dtype: ggmlType.name, type, byteSize: rowBytes * rows, offset });
  }
  const headerEnd = reader.offset;
  const dataOffset = tensorCount > 0 ? Math.ceil(headerEnd / alignment) * alignment : headerEnd;
  return describe({ path, fileBytes, version, alignment, dataOffset, metadata, tensors });
}

interface RawGguf {
  path: string;
  fileBytes: number;
  version: number;
  alignment: number;
  dataOffset: number;
  metadata: Readonly<Record<string, GgufMetadataValue>>;
  tensors: readonly GgufTensorInfo[];
}

/** Numeric metadata value(s) of a key as numbers: one for a scalar, one per element for an array. */
function numbers(
  metadata: Readonly<Record<string, GgufMetadataValue>>,
  key: string,
): number[] | undefined {
  const value = metadata[key];
  if (value === undefined) return undefined;
  const items = value.type === "array" ? value.values : [value.value];
  const result: number[] = [];
  for (const item of items) {
    if (typeof item === "number") result.push(item);
    else if (typeof item === "bigint") result.push(Number(item));
    else if (typeof item === "boolean") result.push(item ? 1 : 0);
    else return undefined;
  }
  return result;
}

function largest(values: readonly number[] | undefined): number | undefined {
  return values === undefined || values.length === 0 ? undefined : Math.max(...values);
}

function describe(raw: RawGguf): GgufInfo {
  const { metadata, tensors, path } = raw;
  const archValue = metadata["general.architecture"];
  const architecture = archValue?.type === "string" ? archValue.value as string : undefined;
  const nameValue = metadata["general.name"];
  const fileName = path.split(/[\\/]/).pop()!.replace(/\.gguf$/i, "");
  const name = nameValue?.type === "string" && nameValue.value !== ""
    ? nameValue.value as string
    : fileName;
  const syntheticValue = metadata["tokentrace.synthetic"];
  const synthetic = syntheticValue?.type === "bool" && syntheticValue.value === true;

  let parameterCount = 0;
  let tensorBytes = 0;
  const matrixBytes = new Map<string, number>();
  for (const tensor of tensors) {
    parameterCount += tensor.shape.reduce((product, n) => product * n, 1);
    tensorBytes += tensor.byteSize;
    if (tensor.shape.length >= 2) {
      matrixBytes.set(tensor.dtype, (matrixBytes.get(tensor.dtype) ?? 0) + tensor.byteSize);
    }
  }
  let dominantQuantization: string | undefined;
  let dominantBytes = -1;
  for (const [dtype, bytes] of matrixBytes) {
    if (bytes > dominantBytes) [dominantQuantization, dominantBytes] = [dtype, bytes];
  }

  const arch = (key: string): number[] | undefined =>
    architecture === undefined ? undefined : numbers(metadata, `${architecture}.${key}`);
  const tokens = metadata["tokenizer.ggml.tokens"];
  const embedding = tensors.find((tensor) => tensor.name === "token_embd.weight");
  const vocabSize = tokens?.type === "array"
    ? tokens.length
    : arch("vocab_size")?.[0] ?? embedding?.shape[1];
  const headCount = largest(arch("attention.head_count"));
  const headCountKvs = arch("attention.head_count_kv");
  const blockCount = arch("block_count")?.[0];

  let layerKinds: ("attention" | "shortconv")[] | undefined;
  if (architecture === "lfm2") {
    const perLayer = metadata["lfm2.attention.head_count_kv"]?.type === "array"
      ? headCountKvs
      : Array.from({ length: blockCount ?? 0 }, () => headCountKvs?.[0] ?? headCount ?? 1);
    layerKinds = perLayer?.map((kv) => kv === 0 ? "shortconv" : "attention");
  }

  return {
    ...raw,
    architecture,
    name,
    synthetic,
    parameterCount,
    tensorBytes,
    dominantQuantization,
    vocabSize,
    contextLength: arch("context_length")?.[0],
    blockCount,
    embeddingLength: arch("embedding_length")?.[0],
    feedForwardLength: largest(arch("feed_forward_length")),
    headCount,
    headCountKv: largest(headCountKvs) ?? headCount,
    layerKinds,
  };
}

// ---------------------------------------------------------------------------------------------
// Validation

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

function formatShape(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

/** Hyperparameters the tensor shapes follow, per layer where llama.cpp allows it. */
interface Geometry {
  embedding: number;
  layers: number;
  vocab: number;
  heads: number[];
  headsKv: number[];
  feedForward: number[];
  headDimK: number;
  headDimV: number;
  experts: number;
  convCache: number;
}

interface ExpectedTensor {
  shape: readonly number[];
  required: boolean;
}

function llamaTensors(g: Geometry, present: ReadonlySet<string>): Map<string, ExpectedTensor> {
  const expected = new Map<string, ExpectedTensor>();
  const add = (name: string, shape: readonly number[], required = true) =>
    expected.set(name, { shape, required });
  const E = g.embedding;
  add("token_embd.weight", [E, g.vocab]);
  add("output_norm.weight", [E]);
  add("output.weight", [E, g.vocab], false);
  add("rope_freqs.weight", [Math.floor(g.headDimK / 2)], false);
  for (let i = 0; i < g.layers; i++) {
    const blk = `blk.${i}`;
    const q = g.headDimK * g.heads[i]!;
    addQkv(add, present, i, E, q, g.headDimK * g.headsKv[i]!, g.headDimV * g.headsKv[i]!);
    add(`${blk}.attn_norm.weight`, [E]);
    add(`${blk}.attn_output.weight`, [q, E]);
    add(`${blk}.attn_output.bias`, [E], false);
    add(`${blk}.ffn_norm.weight`, [E]);
    if (g.experts === 0) {
      const F = g.feedForward[i]!;
      add(`${blk}.ffn_gate.weight`, [E, F]);
      add(`${blk}.ffn_up.weight`, [E, F]);
      add(`${blk}.ffn_down.weight`, [F, E]);
      add(`${blk}.ffn_gate.bias`, [F], false);
      add(`${blk}.ffn_up.bias`, [F], false);
      add(`${blk}.ffn_down.bias`, [E], false);
    }
  }
  return expected;
}

function lfm2Tensors(g: Geometry, present: ReadonlySet<string>): Map<string, ExpectedTensor> {
  const expected = new Map<string, ExpectedTensor>();
  const add = (name: string, shape: readonly number[], required = true) =>
    expected.set(name, { shape, required });
  const E = g.embedding;
  add("token_embd.weight", [E, g.vocab]);
  add("token_embd_norm.weight", [E]);
  add("output.weight", [E, g.vocab], false);
  for (let i = 0; i < g.layers; i++) {
    const blk = `blk.${i}`;
    const F = g.feedForward[i]!;
    add(`${blk}.attn_norm.weight`, [E]);
    add(`${blk}.ffn_norm.weight`, [E]);
    add(`${blk}.ffn_gate.weight`, [E, F]);
    add(`${blk}.ffn_up.weight`, [E, F]);
    add(`${blk}.ffn_down.weight`, [F, E]);
    if (g.headsKv[i] === 0) {
      add(`${blk}.shortconv.conv.weight`, [g.convCache, E]);
      add(`${blk}.shortconv.in_proj.weight`, [E, 3 * E]);
      add(`${blk}.shortconv.out_proj.weight`, [E, E]);
    } else {
      add(`${blk}.attn_q_norm.weight`, [g.headDimK]);
      add(`${blk}.attn_k_norm.weight`, [g.headDimK]);
      addQkv(add, present, i, E, E, g.headDimK * g.headsKv[i]!, g.headDimV * g.headsKv[i]!);
      add(`${blk}.attn_output.weight`, [E, E]);
    }
  }
  return expected;
}

// llama_model_base::create_tensor_qkv: a fused attn_qkv, or separate attn_q, attn_k, attn_v.
function addQkv(
  add: (name: string, shape: readonly number[], required?: boolean) => void,
  present: ReadonlySet<string>,
  layer: number,
  embedding: number,
  q: number,
  k: number,
  v: number,
): void {
  const blk = `blk.${layer}`;
  if (present.has(`${blk}.attn_qkv.weight`)) {
    add(`${blk}.attn_qkv.weight`, [embedding, q + k + v]);
    add(`${blk}.attn_qkv.bias`, [q + k + v], false);
    return;
  }
  for (const [part, rows] of [["q", q], ["k", k], ["v", v]] as const) {
    add(`${blk}.attn_${part}.weight`, [embedding, rows]);
    add(`${blk}.attn_${part}.bias`, [rows], false);
  }
}

/** Collects problems as {@linkcode GgufError}s naming the file and the key or tensor. */
class Problems {
  readonly list: GgufError[] = [];
  readonly #prefix: string;

  constructor(readonly path: string) {
    this.#prefix = `Cannot load "${path}"`;
  }

  key(key: string, message: string): void {
    this.list.push(
      new GgufError(`${this.#prefix}: key "${key}" ${message}`, { path: this.path, key }),
    );
  }

  tensor(tensor: string, message: string): void {
    this.list.push(
      new GgufError(`${this.#prefix}: tensor "${tensor}" ${message}`, { path: this.path, tensor }),
    );
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

/** The `{arch}.*` hyperparameters whose keys passed their checks. */
interface Hyperparameters {
  readonly arch: string;
  /** `{arch}.<suffix>` as a number, if it is a numeric scalar. */
  readonly scalar: (suffix: string) => number | undefined;
  /** `{arch}.<suffix>` as a metadata value. */
  readonly value: (suffix: string) => GgufMetadataValue | undefined;
  readonly layers: number | undefined;
  /** Per-layer values, undefined when the key is missing or wrong. */
  readonly heads: number[] | undefined;
  readonly headsKv: number[] | undefined;
  readonly feedForward: number[] | undefined;
  readonly experts: number;
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
 * The geometry the tensor shapes follow, once the hyperparameters are known to be valid:
 * head counts that divide, and no size of 0 (a tensor dimension of 0 aborts the loader in
 * `GGML_ASSERT(t_meta.ne[dim] >= 1)`).
 */
function checkGeometry(
  hyper: Hyperparameters,
  vocab: number,
  problems: Problems,
): Geometry | undefined {
  const { arch, scalar, value, layers, heads, headsKv, feedForward } = hyper;
  if (
    layers === undefined || heads === undefined || headsKv === undefined ||
    feedForward === undefined
  ) {
    return undefined;
  }
  for (let i = 0; i < layers; i++) {
    const [h, hKv] = [heads[i]!, headsKv[i]!];
    if (h === 0) {
      problems.key(
        `${arch}.attention.head_count`,
        `is 0 for layer ${i}; architecture "${arch}" requires at least 1 head`,
      );
    } else if (arch === "llama" && hKv === 0) {
      problems.key(
        `${arch}.attention.head_count_kv`,
        `is 0 for layer ${i}; architecture "llama" requires at least 1 KV head`,
      );
    } else if (hKv !== 0 && h % hKv !== 0) {
      problems.key(
        `${arch}.attention.head_count_kv`,
        `is ${hKv} for layer ${i}; llama.cpp requires a divisor of head_count (${h})`,
      );
    } else if (feedForward[i] === 0) {
      problems.key(
        `${arch}.feed_forward_length`,
        `is 0 for layer ${i}; architecture "${arch}" requires a dense feed-forward size`,
      );
    } else {
      continue;
    }
    return undefined;
  }
  const embedding = scalar("embedding_length")!;
  const headDimK = scalar("attention.key_length") ?? Math.floor(embedding / heads[0]!);
  const headDimV = scalar("attention.value_length") ?? Math.floor(embedding / heads[0]!);
  const convCache = scalar("shortconv.l_cache") ?? 0;
  const sizes: [string, number][] = [
    ["embedding_length", embedding],
    ["attention.key_length", headDimK],
    ["attention.value_length", headDimV],
  ];
  if (arch === "lfm2") sizes.push(["shortconv.l_cache", convCache]);
  for (const [suffix, size] of sizes) {
    if (size >= 1) continue;
    if (value(suffix) !== undefined) {
      problems.key(`${arch}.${suffix}`, `is ${size}; llama.cpp requires at least 1`);
    } else {
      problems.key(
        `${arch}.attention.head_count`,
        `is ${
          heads[0]
        }, more than embedding_length (${embedding}); llama.cpp requires a head size of at least 1`,
      );
    }
    return undefined;
  }
  if (vocab === 0) {
    problems.key(
      value("vocab_size") === undefined ? "tokenizer.ggml.tokens" : `${arch}.vocab_size`,
      "holds no token; llama.cpp requires at least one",
    );
    return undefined;
  }
  if (arch === "lfm2" && headDimK * heads[0]! !== embedding) {
    // The attention graph reshapes Q [E] into [head size, heads]: a mismatch aborts at decode.
    problems.key(
      `${arch}.attention.head_count`,
      `is ${
        heads[0]
      } with head size ${headDimK}; architecture "lfm2" requires head_count × head size = embedding_length (${embedding})`,
    );
    return undefined;
  }
  const rot = scalar("rope.dimension_count");
  if (arch === "llama" && rot !== undefined && rot !== headDimK) {
    problems.key(
      `${arch}.rope.dimension_count`,
      `is ${rot}; architecture "llama" requires the head size (${headDimK})`,
    );
    return undefined;
  }
  return {
    embedding,
    layers,
    vocab,
    heads,
    headsKv,
    feedForward,
    headDimK,
    headDimV,
    experts: hyper.experts,
    convCache,
  };
}

/** Every tensor the architecture needs, with the shape the geometry gives, and no unused tensor. */
function checkTensorShapes(
  tensors: readonly GgufTensorInfo[],
  arch: string,
  geometry: Geometry,
  problems: Problems,
): void {
  const byName = new Map(tensors.map((tensor) => [tensor.name, tensor]));
  const present = new Set(byName.keys());
  const expected = arch === "llama"
    ? llamaTensors(geometry, present)
    : lfm2Tensors(geometry, present);
  for (const [name, { shape, required }] of expected) {
    const tensor = byName.get(name);
    if (tensor === undefined) {
      if (required) {
        problems.tensor(name, `is missing; llama.cpp requires it for architecture "${arch}"`);
      }
    } else if (!sameShape(tensor.shape, shape)) {
      problems.tensor(
        name,
        `has shape ${formatShape(tensor.shape)}; llama.cpp expects ${
          formatShape(shape)
        } for architecture "${arch}"`,
      );
    }
  }
  // Mixture-of-experts tensors are not modelled here, so unused tensors are only known without experts.
  if (geometry.experts > 0) return;
  for (const tensor of tensors) {
    if (!expected.has(tensor.name)) {
      problems.tensor(
        tensor.name,
        `is not used by architecture "${arch}"; llama.cpp refuses files with unused tensors`,
      );
    }
  }
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

// ggml pads missing trailing dimensions with 1 (llama_model_loader::check_tensor_dims).
function sameShape(found: readonly number[], expected: readonly number[]): boolean {
  for (let d = 0; d < GGML_MAX_DIMS; d++) {
    if ((found[d] ?? 1) !== (expected[d] ?? 1)) return false;
  }
  return true;
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
