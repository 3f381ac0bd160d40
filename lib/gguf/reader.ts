/**
 * GGUF reader: the header, metadata and tensor table of a model file, read from the head of
 * the file only, the model facts derived from them ({@linkcode GgufInfo}), and
 * {@linkcode GgufError}, the error every GGUF reader and validator problem is reported as.
 * The checks that llama.cpp can load the file live in lib/gguf/validate.ts.
 *
 * Folder `lib/gguf/`: reading, validating and writing GGUF files, with ggml's type table and
 * llama.cpp's file types. May import: schema, stats.
 *
 * @module
 */

import {
  GGML_MAX_DIMS,
  GGML_TYPES,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GGUF_VALUE_TYPE_NAMES,
  GgufValueType,
  LLAMA_FILE_TYPES,
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
  /**
   * llama.cpp's file type from `general.file_type`, named as `llama-quantize` names it
   * (`Q4_K_M`, `Q8_0`, `IQ4_XS`, ...); undefined when the key is absent or holds a code this
   * llama.cpp does not know.
   */
  readonly fileType: string | undefined;
  /** The file's quantization as users name it: {@linkcode GgufInfo.fileType}, else {@linkcode GgufInfo.dominantQuantization}. */
  readonly quantization: string | undefined;
  /** Bytes of tensor data per dtype, over all tensors (they add up to {@linkcode GgufInfo.tensorBytes}). */
  readonly tensorTypeBytes: Readonly<Record<string, number>>;
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
 * assert.equal(info.quantization, "Q8_0"); // general.file_type 7
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

/**
 * Numeric metadata value(s) of a key as numbers: one for a scalar, one per element for an
 * array; undefined when the key is missing or holds a string. Not part of mod.ts: shared with
 * the validator.
 */
export function numbers(
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
  const tensorTypeBytes: Record<string, number> = {};
  for (const tensor of tensors) {
    parameterCount += tensor.shape.reduce((product, n) => product * n, 1);
    tensorBytes += tensor.byteSize;
    tensorTypeBytes[tensor.dtype] = (tensorTypeBytes[tensor.dtype] ?? 0) + tensor.byteSize;
    if (tensor.shape.length >= 2) {
      matrixBytes.set(tensor.dtype, (matrixBytes.get(tensor.dtype) ?? 0) + tensor.byteSize);
    }
  }
  let dominantQuantization: string | undefined;
  let dominantBytes = -1;
  for (const [dtype, bytes] of matrixBytes) {
    if (bytes > dominantBytes) [dominantQuantization, dominantBytes] = [dtype, bytes];
  }
  const fileTypeValue = metadata["general.file_type"];
  const fileType = fileTypeValue !== undefined && fileTypeValue.type !== "array" &&
      typeof fileTypeValue.value === "number"
    ? LLAMA_FILE_TYPES[fileTypeValue.value]
    : undefined;

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
    fileType,
    quantization: fileType ?? dominantQuantization,
    tensorTypeBytes,
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

/** A tensor shape as text, e.g. `[1024, 65536]`. Not part of mod.ts: shared with the validator. */
export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

/**
 * The `sessions.model_type_shares` text of a file's tensor bytes per type
 * ({@linkcode GgufInfo.tensorTypeBytes}): `TYPE:share` pairs, largest first, shares to 4
 * decimals; empty for a file without tensors.
 */
export function formatTypeShares(bytes: Readonly<Record<string, number>>): string {
  const total = Object.values(bytes).reduce((a, b) => a + b, 0);
  if (total === 0) return "";
  return Object.entries(bytes)
    .sort((a, b) => b[1] - a[1])
    .map(([type, n]) => `${type}:${(n / total).toFixed(4)}`)
    .join(",");
}
