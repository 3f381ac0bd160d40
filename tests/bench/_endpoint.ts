// The `endpoint` bench row: the same model traced in-process and through llama-server (built
// from the llama.cpp source bundled in node-llama-cpp) on 127.0.0.1, interleaved repetitions:
// what the HTTP path adds per decoded token.

import { openEndpointSession, openSession } from "../../mod.ts";
import { startLlamaServer } from "../endpoint/_server.ts";
import {
  fmtCi,
  fmtSpread,
  type RatioCi,
  ratioCi,
  shuffled,
  type Spread,
  spread,
} from "./_stats.ts";

/** One thread count's result. */
export interface EndpointRow {
  threads: number;
  /** In-process decode ms per token, per repetition. */
  inProcessMs: number[];
  /** Endpoint decode ms per token (client side), per repetition. */
  endpointMs: number[];
  /** llama-server's own `predicted_ms` per decode step, per repetition. */
  serverMs: number[];
  /** Endpoint / in-process ms per token. */
  ratio: RatioCi;
  /** Endpoint minus in-process ms per token. */
  overheadMs: Spread;
  /** Endpoint client minus server ms per token (transport, framing, event loop). */
  transportMs: Spread;
}

const perToken = (decodeMs: number, n: number): number => decodeMs / (n - 1);

/** Runs the row: `reps` interleaved pairs of `tokens`-token raw runs per thread count. */
export async function rowEndpoint(
  o: { model: string; threads: readonly number[]; reps: number; root: string },
  prompt: string,
  log: (line: string) => void,
): Promise<EndpointRow[]> {
  const tokens = 128;
  const model = o.model.startsWith("/") ? o.model : `${o.root}${o.model}`;
  const rows: EndpointRow[] = [];
  for (const threads of o.threads) {
    const server = await startLlamaServer(model, { threads, args: ["-c", "4096"] });
    const local = await openSession(model, { threads, gpu: "cpu" });
    try {
      const remote = await openEndpointSession(server.url);
      const options = { mode: "raw" as const, maxTokens: tokens, temperature: 0 };
      await local.trace(prompt, options); // warm-up, not kept
      await remote.trace(prompt, options);
      const inProcessMs: number[] = [];
      const endpointMs: number[] = [];
      const serverMs: number[] = [];
      for (let rep = 0; rep < o.reps; rep++) {
        for (const which of shuffled(["local", "remote"], rep + 1)) {
          if (which === "local") {
            const { summary: s } = await local.trace(prompt, options);
            inProcessMs.push(perToken(s.decode_ms, s.output_tokens));
          } else {
            const { summary: s } = await remote.trace(prompt, options);
            if (s.stop_reason !== "max_tokens") {
              throw new Error(`endpoint run ended with ${s.stop_reason}: ${remote.lastError}`);
            }
            endpointMs.push(perToken(s.decode_ms, s.output_tokens));
            serverMs.push(s.engine_decode_ms! / (s.engine_decode_tokens! - 1));
          }
        }
        log(`endpoint: threads ${threads}, repetition ${rep + 1}/${o.reps}`);
      }
      rows.push({
        threads,
        inProcessMs,
        endpointMs,
        serverMs,
        ratio: ratioCi(endpointMs.map((e, i) => e / inProcessMs[i]!)),
        overheadMs: spread(endpointMs.map((e, i) => e - inProcessMs[i]!)),
        transportMs: spread(endpointMs.map((e, i) => e - serverMs[i]!)),
      });
    } finally {
      await local.close();
      await server.stop();
    }
  }
  return rows;
}

/** The row's Markdown table. */
export function endpointSection(rows: readonly EndpointRow[]): string {
  return [
    "| threads | in-process ms/token | llama-server, client side ms/token | server's own predicted_ms/token | endpoint / in-process: geometric mean [95% CI] | endpoint − in-process ms/token, median (range) | client − server ms/token, median (range) |",
    "| --- | --- | --- | --- | --- | --- | --- |",
    ...rows.map((r) =>
      `| ${r.threads} | ${fmtSpread(spread(r.inProcessMs), 2)} | ${
        fmtSpread(spread(r.endpointMs), 2)
      } | ${fmtSpread(spread(r.serverMs), 2)} | **${fmtCi(r.ratio)}** | ${
        fmtSpread(r.overheadMs, 3)
      } | ${fmtSpread(r.transportMs, 3)} |`
    ),
    "",
    "Raw 128-token greedy runs of the bench model, in-process (tokentrace's decode loop) and through llama-server on 127.0.0.1 (same GGUF, same thread count, built from the llama.cpp source node-llama-cpp bundles), interleaved in a seeded order after one untimed warm-up each. Per token = decode_ms / (output_tokens − 1). The endpoint's client-side interval includes the server's decode, its sampling and detokenization, SSE framing, the loopback socket and this process's event loop; the server's own `predicted_ms` leaves out the last three.",
  ].join("\n");
}
