/**
 * The dataset columns the comparison reads, in one place: the run columns behind each
 * per-run metric and cell key, and the session columns listed as environment differences.
 * A schema change that renames a column is adapted here only.
 *
 * @module
 */

/** Run columns the comparison reads, by role. */
export const RUN_COLUMNS = {
  sessionId: "session_id",
  runId: "run_id",
  orderIndex: "order_index",
  warmup: "warmup",
  promptId: "prompt_id",
  promptTokens: "prompt_tokens",
  depthTokens: "depth_tokens",
  maxTokens: "max_tokens",
  threads: "threads",
  batchSize: "batch_size",
  contextSize: "context_size",
  cpuAffinity: "cpu_affinity",
  outputTokens: "output_tokens",
  prefillMs: "prefill_ms",
  ttftMs: "ttft_ms",
  decodeMs: "decode_ms",
  totalMs: "total_ms",
} as const;

/**
 * Run settings that make a cell when they vary within a side (else they are environment):
 * role in `RUN_COLUMNS` and label.
 */
export const CELL_SETTINGS: readonly { role: "threads" | "batchSize"; label: string }[] = [
  { role: "threads", label: "threads" },
  { role: "batchSize", label: "batch" },
];

/** Run columns whose distinct values are compared as environment (role and label). */
export const RUN_ENVIRONMENT: readonly {
  role: "threads" | "batchSize" | "contextSize" | "cpuAffinity";
  label: string;
}[] = [
  { role: "threads", label: "threads" },
  { role: "batchSize", label: "batch size" },
  { role: "contextSize", label: "context size" },
  { role: "cpuAffinity", label: "CPU affinity" },
];

/**
 * Session columns compared as environment, in display order: column and label. Columns a
 * dataset lacks (older or newer schema) are skipped.
 */
export const SESSION_ENVIRONMENT: readonly { column: string; label: string }[] = [
  { column: "model_sha256", label: "model SHA-256" },
  { column: "model_quantization", label: "model file type (dominant tensor type)" },
  { column: "model_name", label: "model name" },
  { column: "model_path", label: "model path" },
  { column: "model_synthetic", label: "synthetic model" },
  { column: "source", label: "source" },
  { column: "endpoint_url", label: "endpoint URL" },
  { column: "engine_name", label: "engine" },
  { column: "engine_version", label: "engine version" },
  { column: "backend", label: "backend" },
  { column: "gpu_name", label: "GPU" },
  { column: "flash_attention", label: "flash attention" },
  { column: "tool_version", label: "tokentrace version" },
  { column: "node_llama_cpp_version", label: "node-llama-cpp version" },
  { column: "llama_cpp_release", label: "llama.cpp release" },
  { column: "runtime_version", label: "runtime version" },
  { column: "host", label: "host" },
  { column: "os", label: "OS" },
  { column: "arch", label: "architecture" },
  { column: "cpu_model", label: "CPU" },
  { column: "cpu_cores", label: "CPU cores" },
  { column: "memory_bytes", label: "memory bytes" },
];
