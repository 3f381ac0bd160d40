// Ollama cannot be installed here: its protocol is tested against a fixture server written
// from Ollama's documented API (docs/api.md: /api/version, /api/tags, streaming NDJSON from
// /api/generate and /api/chat whose final chunk carries prompt_eval_count,
// prompt_eval_duration, eval_count and eval_duration in nanoseconds, and done_reason).

import assert from "node:assert/strict";
import { EndpointError, openEndpointSession } from "../../mod.ts";

interface Fixture {
  url: string;
  requests: { path: string; body: Record<string, unknown> }[];
  close(): Promise<void>;
}

const PIECES = ["Once", " upon", " a", " time", ",", " there", " was", " a"];
const EVAL_NS = 12_345_678;
const PROMPT_NS = 2_500_000;

/**
 * Serves Ollama's documented answers on 127.0.0.1. `glue` merges the 3rd and 4th pieces into
 * one chunk (a chunk of two tokens, as a server may send); `cut` drops the connection after
 * three chunks (a server that dies mid-run).
 */
function ollamaFixture(mode: "normal" | "glue" | "cut" = "normal"): Fixture {
  const requests: Fixture["requests"] = [];
  const encoder = new TextEncoder();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const path = new URL(req.url).pathname;
    if (req.method === "GET" && path === "/api/version") return Response.json({ version: "0.5.7" });
    if (req.method === "GET" && path === "/api/tags") {
      return Response.json({
        models: [{
          name: "fixture:latest",
          model: "fixture:latest",
          size: 1234,
          digest: "abc",
          details: { family: "llama", parameter_size: "350M", quantization_level: "Q8_0" },
        }],
      });
    }
    if (req.method === "POST" && (path === "/api/generate" || path === "/api/chat")) {
      const body = await req.json() as Record<string, unknown>;
      requests.push({ path, body });
      const n = Math.min(
        PIECES.length,
        Number((body.options as { num_predict?: number }).num_predict),
      );
      const pieces = PIECES.slice(0, n);
      const chunks = mode === "glue" && n >= 4
        ? [...pieces.slice(0, 2), pieces[2]! + pieces[3]!, ...pieces.slice(4)]
        : pieces;
      const line = (text: string) =>
        JSON.stringify({
          model: body.model,
          created_at: "2025-01-01T00:00:00Z",
          ...(path === "/api/chat"
            ? { message: { role: "assistant", content: text } }
            : { response: text }),
          done: false,
        }) + "\n";
      const stream = new ReadableStream<Uint8Array>({
        async start(controller) {
          for (const [i, text] of chunks.entries()) {
            await new Promise((r) => setTimeout(r, 5));
            if (mode === "cut" && i === 3) {
              controller.error(new Error("fixture: connection dropped"));
              return;
            }
            controller.enqueue(encoder.encode(line(text)));
          }
          controller.enqueue(encoder.encode(
            JSON.stringify({
              model: body.model,
              created_at: "2025-01-01T00:00:01Z",
              ...(path === "/api/chat"
                ? { message: { role: "assistant", content: "" } }
                : { response: "" }),
              done: true,
              done_reason: n === PIECES.length ? "stop" : "length",
              total_duration: 20_000_000,
              load_duration: 1_000_000,
              prompt_eval_count: 7,
              prompt_eval_duration: PROMPT_NS,
              eval_count: n,
              eval_duration: EVAL_NS,
            }) + "\n",
          ));
          controller.close();
        },
      });
      return new Response(stream, { headers: { "content-type": "application/x-ndjson" } });
    }
    return new Response("404 page not found", { status: 404 });
  });
  const { port } = server.addr as Deno.NetAddr;
  return { url: `http://127.0.0.1:${port}`, requests, close: () => server.shutdown() };
}

Deno.test("an Ollama session streams /api/generate and /api/chat with Ollama's own counters", async () => {
  const fixture = ollamaFixture();
  try {
    const session = await openEndpointSession(fixture.url, { modelName: "fixture" });
    assert.equal(session.api, "ollama");
    assert.equal(session.modelName, "fixture:latest");
    assert.equal(session.info.source, "endpoint");
    assert.equal(session.info.endpoint_url, fixture.url);
    assert.equal(session.info.engine_name, "ollama");
    assert.equal(session.info.engine_version, "0.5.7");
    assert.equal(session.info.threads, null);
    assert.equal(session.info.model_sha256, "");
    for (const mode of ["raw", "chat"] as const) {
      const { summary, tokens } = await session.trace("Tell a story", {
        mode,
        maxTokens: 6,
        temperature: 0.7,
        seed: 3,
      });
      const request = fixture.requests.at(-1)!;
      assert.equal(request.path, mode === "raw" ? "/api/generate" : "/api/chat");
      if (mode === "raw") assert.equal(request.body.raw, true);
      assert.equal(request.body.stream, true);
      assert.deepEqual(request.body.options, {
        temperature: 0.7,
        top_k: 40,
        top_p: 0.95,
        seed: 3,
        num_predict: 6,
      });
      // One row per chunk: the chunks were as many as Ollama's eval_count.
      assert.equal(summary.output_tokens, 6);
      assert.deepEqual(tokens.piece, PIECES.slice(0, 6));
      assert.deepEqual([...tokens.chunk_tokens], [1, 1, 1, 1, 1, 1]);
      assert.equal(summary.stop_reason, "max_tokens");
      assert.equal(summary.engine_decode_tokens, 6);
      assert.equal(summary.engine_decode_ms, EVAL_NS / 1e6);
      assert.equal(summary.engine_prompt_tokens, 7);
      assert.equal(summary.engine_prompt_ms, PROMPT_NS / 1e6);
      assert.equal(summary.prompt_tokens, 7);
      assert.equal(summary.prefill_ms, null);
      // Each chunk waited 5 ms on the server: arrival times grow, latencies telescope.
      for (let i = 1; i < 6; i++) assert.ok(tokens.t_ms[i]! > tokens.t_ms[i - 1]!);
      assert.equal(summary.ttft_ms, tokens.t_ms[0]);
      assert.equal(summary.decode_ms, tokens.t_ms[5]! - tokens.t_ms[0]!);
    }
    await session.close();
  } finally {
    await fixture.close();
  }
});

Deno.test("an Ollama chunk of two tokens is one row flagged chunk_tokens 0 (no /tokenize)", async () => {
  const fixture = ollamaFixture("glue");
  try {
    const session = await openEndpointSession(fixture.url, { api: "ollama" });
    const { summary, tokens } = await session.trace("Tell a story", { mode: "raw", maxTokens: 8 });
    // 8 tokens in 7 chunks: which chunk held two cannot be known, so every row is flagged,
    // none is invented, and the time is never spread over tokens.
    assert.equal(summary.engine_decode_tokens, 8);
    assert.equal(summary.output_tokens, 7);
    assert.deepEqual([...tokens.chunk_tokens], [0, 0, 0, 0, 0, 0, 0]);
    assert.equal(tokens.piece[2], " a time");
    assert.equal(summary.stop_reason, "eos");
  } finally {
    await fixture.close();
  }
});

Deno.test("a connection dropped mid-run ends the run with stop reason error, keeping its tokens", async () => {
  const fixture = ollamaFixture("cut");
  try {
    const session = await openEndpointSession(fixture.url);
    const { summary, tokens } = await session.trace("Tell a story", { mode: "raw", maxTokens: 8 });
    assert.equal(summary.stop_reason, "error");
    assert.equal(tokens.piece.join(""), "Once upon a");
    assert.match(session.lastError ?? "", /failed mid-run|ended without its final chunk/);
  } finally {
    await fixture.close();
  }
});

Deno.test("`openEndpointSession()` refuses an unknown model and a server of neither API", async () => {
  const fixture = ollamaFixture();
  const plain = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response("hello", { status: 404 }),
  );
  try {
    await assert.rejects(
      openEndpointSession(fixture.url, { modelName: "nope" }),
      (error) =>
        error instanceof EndpointError &&
        /model "nope".*the server has "fixture:latest"/.test(error.message),
    );
    const url = `http://127.0.0.1:${(plain.addr as Deno.NetAddr).port}`;
    await assert.rejects(
      openEndpointSession(url),
      (error) =>
        error instanceof EndpointError &&
        /answers neither GET \/api\/version \(Ollama\) nor GET \/v1\/models/.test(error.message),
    );
    await assert.rejects(
      openEndpointSession(url, { api: "ollama" }),
      /it is not an Ollama server/,
    );
  } finally {
    await fixture.close();
    await plain.shutdown();
  }
});
