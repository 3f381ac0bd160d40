// GGUF format constants shared by the reader (lib/gguf/reader.ts), the validator
// (lib/gguf/validate.ts) and the writer (lib/gguf/_write.ts).
// Values follow the GGUF specification and ggml's type table (ggml.h `enum ggml_type`,
// ggml.c `type_traits`: block size and bytes per block). GGML_TYPES was checked against the
// llama.cpp source bundled with node-llama-cpp 3.21.1 (commit 80fb11ac73e6) by compiling its
// `type_traits` table with `ggml-common.h` and printing every block size and `sizeof(block_*)`.

/** "GGUF" read as a little-endian u32. */
export const GGUF_MAGIC = 0x46554747;

/** Default tensor-data alignment when `general.alignment` is absent. */
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** Most dimensions a ggml tensor has (ggml.h `GGML_MAX_DIMS`). */
export const GGML_MAX_DIMS = 4;

/** Bytes a ggml tensor name may take, its terminating NUL included (ggml.h `GGML_MAX_NAME`). */
export const GGML_MAX_NAME = 64;

/** Metadata value types. */
export const GgufValueType = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;

/** A metadata value type code. */
export type GgufValueTypeCode = typeof GgufValueType[keyof typeof GgufValueType];

/** Name of each metadata value type code, for messages. */
export const GGUF_VALUE_TYPE_NAMES: Readonly<Record<number, string>> = {
  0: "uint8",
  1: "int8",
  2: "uint16",
  3: "int16",
  4: "uint32",
  5: "int32",
  6: "float32",
  7: "bool",
  8: "string",
  9: "array",
  10: "uint64",
  11: "int64",
  12: "float64",
};

/** A ggml tensor type: name, elements per block and bytes per block. */
export interface GgmlTypeInfo {
  readonly name: string;
  readonly blockSize: number;
  readonly typeSize: number;
}

/** ggml tensor types by code (codes 4, 5 and 31-33, 36-38 were removed from ggml and are invalid). */
export const GGML_TYPES: Readonly<Record<number, GgmlTypeInfo>> = {
  0: { name: "F32", blockSize: 1, typeSize: 4 },
  1: { name: "F16", blockSize: 1, typeSize: 2 },
  2: { name: "Q4_0", blockSize: 32, typeSize: 18 },
  3: { name: "Q4_1", blockSize: 32, typeSize: 20 },
  6: { name: "Q5_0", blockSize: 32, typeSize: 22 },
  7: { name: "Q5_1", blockSize: 32, typeSize: 24 },
  8: { name: "Q8_0", blockSize: 32, typeSize: 34 },
  9: { name: "Q8_1", blockSize: 32, typeSize: 36 },
  10: { name: "Q2_K", blockSize: 256, typeSize: 84 },
  11: { name: "Q3_K", blockSize: 256, typeSize: 110 },
  12: { name: "Q4_K", blockSize: 256, typeSize: 144 },
  13: { name: "Q5_K", blockSize: 256, typeSize: 176 },
  14: { name: "Q6_K", blockSize: 256, typeSize: 210 },
  15: { name: "Q8_K", blockSize: 256, typeSize: 292 },
  16: { name: "IQ2_XXS", blockSize: 256, typeSize: 66 },
  17: { name: "IQ2_XS", blockSize: 256, typeSize: 74 },
  18: { name: "IQ3_XXS", blockSize: 256, typeSize: 98 },
  19: { name: "IQ1_S", blockSize: 256, typeSize: 50 },
  20: { name: "IQ4_NL", blockSize: 32, typeSize: 18 },
  21: { name: "IQ3_S", blockSize: 256, typeSize: 110 },
  22: { name: "IQ2_S", blockSize: 256, typeSize: 82 },
  23: { name: "IQ4_XS", blockSize: 256, typeSize: 136 },
  24: { name: "I8", blockSize: 1, typeSize: 1 },
  25: { name: "I16", blockSize: 1, typeSize: 2 },
  26: { name: "I32", blockSize: 1, typeSize: 4 },
  27: { name: "I64", blockSize: 1, typeSize: 8 },
  28: { name: "F64", blockSize: 1, typeSize: 8 },
  29: { name: "IQ1_M", blockSize: 256, typeSize: 56 },
  30: { name: "BF16", blockSize: 1, typeSize: 2 },
  34: { name: "TQ1_0", blockSize: 256, typeSize: 54 },
  35: { name: "TQ2_0", blockSize: 256, typeSize: 66 },
  39: { name: "MXFP4", blockSize: 32, typeSize: 17 },
  40: { name: "NVFP4", blockSize: 64, typeSize: 36 },
  41: { name: "Q1_0", blockSize: 128, typeSize: 18 },
  42: { name: "Q2_0", blockSize: 64, typeSize: 18 },
};

/** ggml type codes of the dtypes the synthetic-model writer produces. */
export const GgmlType = {
  F32: 0,
  F16: 1,
  Q4_0: 2,
  Q5_0: 6,
  Q8_0: 8,
  Q4_K: 12,
  Q6_K: 14,
} as const;

/**
 * llama.cpp file types (`general.file_type`) by code: the values of `enum llama_ftype` in
 * include/llama.h of the bundled llama.cpp (commit 80fb11ac73e6), named as `llama-quantize`
 * names them on its command line (tools/quantize/quantize.cpp, `QUANT_OPTIONS`; `ALL_F32` is
 * "F32"). Codes 4-6 and 33-35 were removed from llama.cpp and are absent here.
 */
// deno-fmt-ignore
export const LLAMA_FILE_TYPES: Readonly<Record<number, string>> = {
  0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K",
  11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S",
  17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS",
  23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S", 29: "IQ2_M",
  30: "IQ4_XS", 31: "IQ1_M", 32: "BF16", 36: "TQ1_0", 37: "TQ2_0", 38: "MXFP4_MOE", 39: "NVFP4",
  40: "Q1_0", 41: "Q2_0",
};
