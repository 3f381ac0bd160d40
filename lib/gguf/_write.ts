// Streaming GGUF writer: header, metadata, tensor table, then aligned tensor data.
// Layout (GGUF v2/v3, little-endian): magic u32, version u32, tensor count u64, metadata count
// u64, metadata (key string, type u32, value), tensor infos (name string, n_dims u32,
// ne u64 x n_dims, type u32, offset u64 from the data start), padding to the alignment, data.
// A string is a u64 byte length then UTF-8 bytes; an array is an element type u32, a count u64,
// then the elements.

import { dirname, join } from "node:path";
import { GGML_TYPES, GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GgufValueType } from "./_types.ts";
import type { GgufValueTypeName } from "./reader.ts";

/** Name of a scalar GGUF metadata type (a number type: not `bool` or `string`). */
export type GgufScalarTypeName = Exclude<GgufValueTypeName, "bool" | "string">;

/** A GGUF metadata value with its on-disk type. */
export type GgufMetaValue =
  | { type: GgufScalarTypeName; value: number | bigint }
  | { type: "bool"; value: boolean }
  | { type: "string"; value: string }
  | {
    type: "array";
    elementType: GgufScalarTypeName | "bool" | "string";
    values: readonly (number | bigint | boolean | string)[];
  };

/** One tensor of a GGUF file: name, shape in ggml order (ne0 first) and ggml type code. */
export interface GgufTensorSpec {
  name: string;
  shape: readonly number[];
  type: number;
}

/** Options for {@linkcode writeGguf}. */
export interface WriteGgufOptions {
  /**
   * GGUF version written in the header (the layout is always the 64-bit v2/v3 one).
   * @default {3}
   */
  version?: number;
  /**
   * Alignment of the tensor data. When it is not 32, `general.alignment` (uint32) is added to
   * the metadata unless the metadata already has that key.
   * @default {32}
   */
  alignment?: number;
  /** Called after each write with the bytes written so far and the final file size. */
  onProgress?: (bytesWritten: number, totalBytes: number) => void;
}

/** Fills one tensor: its raw bytes in the tensor's ggml type, whole or in chunks. */
export type GgufTensorFill = (
  index: number,
  spec: GgufTensorSpec,
) => Uint8Array | AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

const SCALAR_CODES: Readonly<Record<GgufScalarTypeName | "bool" | "string", number>> = {
  uint8: GgufValueType.UINT8,
  int8: GgufValueType.INT8,
  uint16: GgufValueType.UINT16,
  int16: GgufValueType.INT16,
  uint32: GgufValueType.UINT32,
  int32: GgufValueType.INT32,
  float32: GgufValueType.FLOAT32,
  bool: GgufValueType.BOOL,
  string: GgufValueType.STRING,
  uint64: GgufValueType.UINT64,
  int64: GgufValueType.INT64,
  float64: GgufValueType.FLOAT64,
};

const encoder = new TextEncoder();

/** Grows as needed; little-endian writes of GGUF primitives. */
class ByteBuilder {
  #buf = new Uint8Array(1 << 16);
  #view = new DataView(this.#buf.buffer);
  length = 0;

  #reserve(n: number): void {
    if (this.length + n <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.#buf.subarray(0, this.length));
    this.#buf = next;
    this.#view = new DataView(next.buffer);
  }

  u8(v: number): void {
    this.#reserve(1);
    this.#view.setUint8(this.length, v);
    this.length += 1;
  }
  i8(v: number): void {
    this.#reserve(1);
    this.#view.setInt8(this.length, v);
    this.length += 1;
  }
  u16(v: number): void {
    this.#reserve(2);
    this.#view.setUint16(this.length, v, true);
    this.length += 2;
  }
  i16(v: number): void {
    this.#reserve(2);
    this.#view.setInt16(this.length, v, true);
    this.length += 2;
  }
  u32(v: number): void {
    this.#reserve(4);
    this.#view.setUint32(this.length, v, true);
    this.length += 4;
  }
  i32(v: number): void {
    this.#reserve(4);
    this.#view.setInt32(this.length, v, true);
    this.length += 4;
  }
  f32(v: number): void {
    this.#reserve(4);
    this.#view.setFloat32(this.length, v, true);
    this.length += 4;
  }
  f64(v: number): void {
    this.#reserve(8);
    this.#view.setFloat64(this.length, v, true);
    this.length += 8;
  }
  u64(v: number | bigint): void {
    this.#reserve(8);
    this.#view.setBigUint64(this.length, BigInt(v), true);
    this.length += 8;
  }
  i64(v: number | bigint): void {
    this.#reserve(8);
    this.#view.setBigInt64(this.length, BigInt(v), true);
    this.length += 8;
  }
  bytes(b: Uint8Array): void {
    this.#reserve(b.length);
    this.#buf.set(b, this.length);
    this.length += b.length;
  }
  string(s: string): void {
    const b = encoder.encode(s);
    this.u64(b.length);
    this.bytes(b);
  }
  padTo(alignment: number): void {
    const pad = (alignment - (this.length % alignment)) % alignment;
    this.#reserve(pad);
    this.#buf.fill(0, this.length, this.length + pad);
    this.length += pad;
  }
  result(): Uint8Array {
    return this.#buf.subarray(0, this.length);
  }
}

function writeScalar(
  b: ByteBuilder,
  key: string,
  type: GgufScalarTypeName | "bool" | "string",
  v: number | bigint | boolean | string,
): void {
  const expect = type === "bool" ? "boolean" : type === "string" ? "string" : "number";
  const ok = typeof v === expect || (typeof v === "bigint" && expect === "number");
  if (!ok) {
    throw new TypeError(
      `Cannot write GGUF metadata "${key}": a ${type} value must be a ${expect}, found ${typeof v}`,
    );
  }
  switch (type) {
    case "uint8":
      return b.u8(Number(v));
    case "int8":
      return b.i8(Number(v));
    case "uint16":
      return b.u16(Number(v));
    case "int16":
      return b.i16(Number(v));
    case "uint32":
      return b.u32(Number(v));
    case "int32":
      return b.i32(Number(v));
    case "float32":
      return b.f32(Number(v));
    case "float64":
      return b.f64(Number(v));
    case "uint64":
      return b.u64(v as number | bigint);
    case "int64":
      return b.i64(v as number | bigint);
    case "bool":
      return b.u8(v ? 1 : 0);
    case "string":
      return b.string(v as string);
  }
}

/** Bytes of a tensor of the given shape and ggml type; throws if the shape does not fit. */
export function ggmlTensorBytes(spec: GgufTensorSpec): number {
  const info = GGML_TYPES[spec.type];
  if (info === undefined) {
    throw new RangeError(
      `Cannot size tensor "${spec.name}": unknown ggml type code ${spec.type}`,
    );
  }
  const ne0 = spec.shape[0] ?? 1;
  if (ne0 % info.blockSize !== 0) {
    throw new RangeError(
      `Cannot size tensor "${spec.name}": ne0 must be a multiple of ${info.blockSize} for ${info.name}, found ${ne0}`,
    );
  }
  let rows = 1;
  for (let i = 1; i < spec.shape.length; i++) rows *= spec.shape[i]!;
  return (ne0 / info.blockSize) * info.typeSize * rows;
}

function buildHeader(
  metadata: ReadonlyArray<readonly [string, GgufMetaValue]>,
  tensors: readonly GgufTensorSpec[],
  sizes: readonly number[],
  version: number,
  alignment: number,
): Uint8Array {
  const meta = [...metadata];
  if (alignment !== GGUF_DEFAULT_ALIGNMENT && !meta.some(([k]) => k === "general.alignment")) {
    meta.push(["general.alignment", { type: "uint32", value: alignment }]);
  }
  const b = new ByteBuilder();
  b.u32(GGUF_MAGIC);
  b.u32(version);
  b.u64(tensors.length);
  b.u64(meta.length);
  for (const [key, value] of meta) {
    b.string(key);
    if (value.type === "array") {
      b.u32(GgufValueType.ARRAY);
      b.u32(SCALAR_CODES[value.elementType]);
      b.u64(value.values.length);
      for (const v of value.values) writeScalar(b, key, value.elementType, v);
    } else {
      b.u32(SCALAR_CODES[value.type]);
      writeScalar(b, key, value.type, value.value);
    }
  }
  let offset = 0;
  tensors.forEach((t, i) => {
    b.string(t.name);
    b.u32(t.shape.length);
    for (const n of t.shape) b.u64(n);
    b.u32(t.type);
    b.u64(offset);
    offset += sizes[i]!;
    offset += (alignment - (offset % alignment)) % alignment;
  });
  b.padTo(alignment);
  return b.result();
}

/** Coalesces small chunks into large writes. */
class Sink {
  #file: Deno.FsFile;
  #buf = new Uint8Array(1 << 20);
  #used = 0;
  written = 0;
  constructor(file: Deno.FsFile) {
    this.#file = file;
  }
  async #writeAll(b: Uint8Array): Promise<void> {
    let off = 0;
    while (off < b.length) off += await this.#file.write(b.subarray(off));
  }
  async write(b: Uint8Array): Promise<void> {
    if (this.#used + b.length > this.#buf.length) await this.flush();
    if (b.length >= this.#buf.length) await this.#writeAll(b);
    else {
      this.#buf.set(b, this.#used);
      this.#used += b.length;
    }
    this.written += b.length;
  }
  async zeros(n: number): Promise<void> {
    if (n > 0) await this.write(new Uint8Array(n));
  }
  async flush(): Promise<void> {
    if (this.#used > 0) await this.#writeAll(this.#buf.subarray(0, this.#used));
    this.#used = 0;
  }
}

function isAsyncIterable(x: unknown): x is AsyncIterable<Uint8Array> {
  return typeof x === "object" && x !== null && Symbol.asyncIterator in x;
}

/**
 * Writes a GGUF file by streaming: the header is built in memory, then each tensor's bytes
 * come from `fill` (whole or in chunks) and go to disk at once, so memory stays bounded by
 * the largest chunk. The file is written under a temporary name in the same directory (not
 * ending in `.gguf`) and renamed to `path` at the end; on error the temporary file is removed.
 *
 * @param path Output file path.
 * @param metadata Metadata key/value pairs, written in this order.
 * @param tensors Tensor table, written in this order; data offsets are computed.
 * @param fill Returns tensor `index`'s raw bytes, already in its ggml type.
 * @param options Version, alignment and progress callback.
 * @throws {RangeError} If a tensor's shape does not fit its type or `fill` returns a wrong size.
 *
 * @example Write a one-tensor file
 * ```ts
 * import { writeGguf } from "./_write.ts";
 * import assert from "node:assert/strict";
 *
 * const path = await Deno.makeTempFile({ suffix: ".gguf" });
 * await writeGguf(path, [["general.architecture", { type: "string", value: "llama" }]], [
 *   { name: "w", shape: [4], type: 0 },
 * ], () => new Uint8Array(new Float32Array([1, 2, 3, 4]).buffer));
 * const bytes = await Deno.readFile(path);
 * assert.equal(new TextDecoder().decode(bytes.subarray(0, 4)), "GGUF");
 * await Deno.remove(path);
 * ```
 */
export async function writeGguf(
  path: string,
  metadata: ReadonlyArray<readonly [string, GgufMetaValue]>,
  tensors: readonly GgufTensorSpec[],
  fill: GgufTensorFill,
  options: WriteGgufOptions = {},
): Promise<void> {
  const { version = 3, alignment = GGUF_DEFAULT_ALIGNMENT, onProgress } = options;
  if (!Number.isInteger(alignment) || alignment <= 0 || alignment % 8 !== 0) {
    throw new RangeError(
      `Cannot write GGUF "${path}": alignment must be a positive multiple of 8, found ${alignment}`,
    );
  }
  const sizes = tensors.map(ggmlTensorBytes);
  const header = buildHeader(metadata, tensors, sizes, version, alignment);
  let total = header.length;
  for (const s of sizes) total += s + ((alignment - (s % alignment)) % alignment);

  const base = path.split(/[\\/]/).pop() ?? "out";
  const tmp = join(
    dirname(path),
    `.${base}.tmp-${Deno.pid}-${crypto.getRandomValues(new Uint32Array(1))[0]!.toString(16)}`,
  );
  const file = await Deno.open(tmp, { write: true, createNew: true });
  let closed = false;
  try {
    const sink = new Sink(file);
    await sink.write(header);
    onProgress?.(sink.written, total);
    for (let i = 0; i < tensors.length; i++) {
      const spec = tensors[i]!;
      const expected = sizes[i]!;
      const start = sink.written;
      const data = fill(i, spec);
      if (data instanceof Uint8Array) await sink.write(data);
      else if (isAsyncIterable(data)) {
        for await (const chunk of data) {
          await sink.write(chunk);
          onProgress?.(sink.written, total);
        }
      } else {
        for (const chunk of data) {
          await sink.write(chunk);
          onProgress?.(sink.written, total);
        }
      }
      const got = sink.written - start;
      if (got !== expected) {
        throw new RangeError(
          `Cannot write GGUF tensor "${spec.name}": expected ${expected} bytes, fill gave ${got}`,
        );
      }
      await sink.zeros((alignment - (expected % alignment)) % alignment);
      onProgress?.(sink.written, total);
    }
    await sink.flush();
    file.close();
    closed = true;
    await Deno.rename(tmp, path);
  } catch (e) {
    if (!closed) file.close();
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}
