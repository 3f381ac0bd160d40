/**
 * What a GGUF file tells about its model, as the `sessions` columns from `model_architecture`
 * to `model_preset`: shared by an in-process session and an endpoint whose server names a
 * model file on this machine. Also the typed reads of GGUF metadata both need.
 *
 * @module
 */

import { formatTypeShares, type GgufInfo } from "../gguf/reader.ts";
import type { SessionInfo } from "./source.ts";

/** The `sessions` columns a model file gives. */
export type ModelColumns = Pick<
  SessionInfo,
  | "model_architecture"
  | "model_parameters"
  | "model_file_bytes"
  | "model_tensor_bytes"
  | "model_quantization"
  | "model_dominant_type"
  | "model_type_shares"
  | "model_sha256"
  | "model_synthetic"
  | "model_preset"
>;

/** A string metadata value, or "" when the key is missing or not a string. */
export function stringMeta(info: Pick<GgufInfo, "metadata">, key: string): string {
  const entry = info.metadata[key] as { type?: string; value?: unknown } | undefined;
  return entry?.type === "string" ? String(entry.value) : "";
}

/** An array metadata value, or [] when the key is missing or not an array. */
export function arrayMeta(info: Pick<GgufInfo, "metadata">, key: string): readonly unknown[] {
  const entry = info.metadata[key] as { type?: string; values?: readonly unknown[] } | undefined;
  return entry?.type === "array" ? entry.values ?? [] : [];
}

/** The model columns of a GGUF file, given its SHA-256 (hex). */
export function modelColumns(gguf: GgufInfo, sha256: string): ModelColumns {
  return {
    model_architecture: gguf.architecture ?? "",
    model_parameters: gguf.parameterCount,
    model_file_bytes: gguf.fileBytes,
    model_tensor_bytes: gguf.tensorBytes,
    model_quantization: gguf.quantization ?? "",
    model_dominant_type: gguf.dominantQuantization ?? "",
    model_type_shares: formatTypeShares(gguf.tensorTypeBytes),
    model_sha256: sha256,
    model_synthetic: gguf.synthetic,
    model_preset: stringMeta(gguf, "tokentrace.preset"),
  };
}
