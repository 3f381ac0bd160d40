/**
 * tokentrace: time every token a local LLM generates, keep every run in a versioned
 * Parquet dataset, and explain tokens/s variation with fitted numbers and intervals.
 *
 * @module
 */

// --- schema
export {
  type Column,
  type ColumnType,
  LAYOUT,
  SCHEMA,
  SCHEMA_VERSION,
  schemaMarkdown,
  type TableName,
} from "./lib/schema.ts";

// --- gguf (reader, validate)

// --- synth (synthetic models)

// --- tracer

// --- dataset

// --- suite / experiment / summary

// --- analysis

// --- plots / report
