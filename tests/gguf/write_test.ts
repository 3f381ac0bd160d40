import assert from "node:assert/strict";
import { join } from "node:path";
import { readGguf } from "../../lib/gguf/reader.ts";
import { ggmlTensorBytes, type GgufMetaValue, writeGguf } from "../../lib/gguf/_write.ts";
import { GgmlType } from "../../lib/gguf/_types.ts";

const META: [string, GgufMetaValue][] = [
  ["general.architecture", { type: "string", value: "llama" }],
  ["t.u8", { type: "uint8", value: 200 }],
  ["t.i8", { type: "int8", value: -100 }],
  ["t.u16", { type: "uint16", value: 60000 }],
  ["t.i16", { type: "int16", value: -30000 }],
  ["t.u32", { type: "uint32", value: 4000000000 }],
  ["t.i32", { type: "int32", value: -2000000000 }],
  ["t.f32", { type: "float32", value: 1e-5 }],
  ["t.f64", { type: "float64", value: Math.PI }],
  ["t.u64", { type: "uint64", value: 2n ** 63n + 5n }],
  ["t.i64", { type: "int64", value: -(2n ** 62n) }],
  ["t.bool", { type: "bool", value: true }],
  ["t.str", { type: "string", value: "naïve 東京 🚀" }],
  ["t.arr", { type: "array", elementType: "int32", values: [1, -2, 3] }],
  ["t.strs", { type: "array", elementType: "string", values: ["a", "", "ü"] }],
];

function f32Bytes(values: number[]): Uint8Array {
  return new Uint8Array(new Float32Array(values).buffer);
}

async function* chunks(): AsyncGenerator<Uint8Array> {
  yield f32Bytes([1]);
  yield f32Bytes([2, 3]);
}

async function listDir(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  return names.sort();
}

Deno.test("`writeGguf()` writes metadata of every type and aligned tensors that read back", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "m.gguf");
    const tensors = [
      { name: "a", shape: [3], type: GgmlType.F32 },
      { name: "b", shape: [32, 2], type: GgmlType.Q8_0 },
      { name: "c", shape: [5, 1], type: GgmlType.F16 },
    ];
    const fills = [f32Bytes([1, 2, 3]), new Uint8Array(68).fill(7), new Uint8Array(10).fill(9)];
    const seen: [number, number][] = [];
    await writeGguf(path, META, tensors, (i) => fills[i]!, {
      onProgress: (done, total) => seen.push([done, total]),
    });
    const info = await readGguf(path);
    assert.equal(info.version, 3);
    for (const [key, value] of META) {
      const got = info.metadata[key];
      assert.ok(got !== undefined, key);
      assert.equal(got.type, value.type);
      if (value.type === "array" && got.type === "array") {
        assert.equal(got.elementType, value.elementType);
        assert.deepEqual(got.values, value.values);
      } else if (value.type === "float32") {
        assert.equal(got.type !== "array" && got.value, Math.fround(value.value as number));
      } else if (value.type !== "array" && got.type !== "array") {
        assert.equal(got.value, value.value);
      }
    }
    assert.deepEqual(info.tensors.map((t) => [t.name, t.offset]), [["a", 0], ["b", 32], [
      "c",
      128,
    ]]);
    const bytes = await Deno.readFile(path);
    assert.equal(info.dataOffset % 32, 0);
    assert.deepEqual(bytes.subarray(info.dataOffset, info.dataOffset + 12), fills[0]);
    assert.deepEqual(bytes.subarray(info.dataOffset + 32, info.dataOffset + 100), fills[1]);
    assert.equal(bytes.length, info.dataOffset + 128 + 32);
    assert.deepEqual(seen.at(-1), [bytes.length, bytes.length]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("`writeGguf()` streams chunks from sync and async iterables", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "m.gguf");
    await writeGguf(path, META.slice(0, 1), [
      { name: "a", shape: [3], type: GgmlType.F32 },
      { name: "b", shape: [2], type: GgmlType.F32 },
    ], (i) => i === 0 ? chunks() : [f32Bytes([4]), f32Bytes([5])]);
    const info = await readGguf(path);
    const bytes = await Deno.readFile(path);
    const data = new Float32Array(bytes.slice(info.dataOffset, info.dataOffset + 40).buffer);
    assert.deepEqual([...data.subarray(0, 3)], [1, 2, 3]);
    assert.deepEqual([...data.subarray(8, 10)], [4, 5]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("`writeGguf()` honours a custom alignment and records it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "m.gguf");
    await writeGguf(
      path,
      META.slice(0, 1),
      [
        { name: "a", shape: [1], type: GgmlType.F32 },
        { name: "b", shape: [1], type: GgmlType.F32 },
      ],
      () => f32Bytes([1]),
      { alignment: 64, version: 2 },
    );
    const info = await readGguf(path);
    assert.equal(info.version, 2);
    assert.equal(info.alignment, 64);
    assert.deepEqual(info.metadata["general.alignment"], { type: "uint32", value: 64 });
    assert.equal(info.dataOffset % 64, 0);
    assert.deepEqual(info.tensors.map((t) => t.offset), [0, 64]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("`writeGguf()` leaves no file behind when a fill has the wrong size or throws", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "m.gguf");
    const tensors = [{ name: "a", shape: [4], type: GgmlType.F32 }];
    await assert.rejects(
      writeGguf(path, META, tensors, () => f32Bytes([1, 2, 3])),
      new RangeError('Cannot write GGUF tensor "a": expected 16 bytes, fill gave 12'),
    );
    assert.deepEqual(await listDir(dir), []);
    await assert.rejects(
      writeGguf(path, META, tensors, function* () {
        yield f32Bytes([1]);
        throw new Error("boom");
      }),
      new Error("boom"),
    );
    assert.deepEqual(await listDir(dir), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("`ggmlTensorBytes()` sizes blocks and rejects a row that does not fill them", () => {
  assert.equal(ggmlTensorBytes({ name: "q", shape: [64, 3], type: GgmlType.Q8_0 }), 2 * 34 * 3);
  assert.equal(ggmlTensorBytes({ name: "q", shape: [32, 2], type: GgmlType.Q4_0 }), 36);
  assert.equal(ggmlTensorBytes({ name: "h", shape: [3, 5], type: GgmlType.F16 }), 30);
  assert.throws(
    () => ggmlTensorBytes({ name: "q", shape: [48, 2], type: GgmlType.Q8_0 }),
    new RangeError('Cannot size tensor "q": ne0 must be a multiple of 32 for Q8_0, found 48'),
  );
  assert.throws(
    () => ggmlTensorBytes({ name: "x", shape: [4], type: 4 }),
    new RangeError('Cannot size tensor "x": unknown ggml type code 4'),
  );
});
