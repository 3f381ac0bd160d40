/**
 * A digest of simulated output that changes when any value changes by one bit: used to pin
 * the default output of the simulator across changes that must not move it.
 *
 * @module
 */

import type pl from "nodejs-polars";
import type { PreparedTrace } from "../../lib/analysis/prepare.ts";
import type { SimulatedTrace } from "../../lib/simulate/simulate.ts";

/**
 * The simulated measurements: the columns whose values the simulator draws. Session metadata
 * and engine counters are left out, so a schema change that adds or renames such columns does
 * not move the digest.
 */
const MEASURED: Readonly<Record<"runs" | "tokens", readonly string[]>> = {
  runs: [
    "order_index",
    "repetition",
    "warmup",
    "prompt_id",
    "depth_tokens",
    "output_tokens",
    "started_at_ms",
    "prefill_ms",
    "ttft_ms",
    "decode_ms",
    "total_ms",
    "e2e_tokens_per_s",
    "decode_tokens_per_s",
  ],
  tokens: [
    "token_index",
    "position",
    "phase",
    "token_id",
    "piece",
    "piece_bytes",
    "t_ms",
    "latency_ms",
  ],
};

/** SHA-256 (hex) of every simulated measurement of a trace's runs and tokens, column by column. */
export async function traceDigest(trace: SimulatedTrace): Promise<string> {
  const parts: string[] = [];
  for (const name of ["runs", "tokens"] as const) {
    const frame = trace[name] as pl.DataFrame;
    for (const c of MEASURED[name]) {
      // String() of a double is its shortest round-trip form, so it pins every bit
      parts.push(`${name}.${c}=${frame.getColumn(c).toArray().map(String).join(",")}`);
    }
  }
  return await sha256(parts.join("\n"));
}

/** SHA-256 (hex) of every field of a `PreparedTrace`. */
export async function preparedDigest(trace: PreparedTrace): Promise<string> {
  const parts: string[] = [];
  const walk = (prefix: string, value: unknown): void => {
    if (ArrayBuffer.isView(value) || Array.isArray(value)) {
      parts.push(`${prefix}=${Array.from(value as ArrayLike<unknown>, String).join(",")}`);
    } else if (value !== null && typeof value === "object") {
      for (const [k, v] of Object.entries(value)) walk(`${prefix}.${k}`, v);
    } else parts.push(`${prefix}=${String(value)}`);
  };
  walk("trace", trace);
  return await sha256(parts.join("\n"));
}

async function sha256(text: string): Promise<string> {
  const hash = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(hash), (b) => b.toString(16).padStart(2, "0")).join("");
}
