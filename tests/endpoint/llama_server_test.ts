// Tracing through a real llama-server (built from the llama.cpp source bundled in
// node-llama-cpp, see .ci/llama_tools.sh) serving the synthetic lfm2-tiny on 127.0.0.1.

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { DuckDBInstance } from "@duckdb/node-api";
import type pl from "nodejs-polars";
import { LAYOUT, openEndpointSession, readDataset } from "../../mod.ts";
import { testModel } from "../_models.ts";
import { type CliOutput, runCli } from "../_cli.ts";
import { freePort, startLlamaServer } from "./_server.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/**
 * How far the traced decode time (first chunk read to last chunk read) may be from
 * llama-server's `predicted_ms` (end of prompt processing to the last token). Both span the same
 * n - 1 decode steps. The client's interval adds the socket, SSE framing and this process's event
 * loop at its two ends; the server's adds the time from the prompt's end to its first token
 * (sampling it and, when the server thread is descheduled, waiting for a core), which the client
 * cannot see. Measured on lfm2-tiny (96 tokens, decode ~0.6 ms per token) on the 2-core machine
 * at load average 6: client minus server -22.1 to +2.4 ms over 8 runs (median -0.0), ratios
 * 0.73 to 1.04; the -22 ms run was the server's first token waiting. Hence a relative bound
 * plus a fixed allowance per run for that wait.
 */
const DECODE_RELATIVE = 0.15;
const DECODE_SLACK_MS = 40;

type Output = CliOutput;

function trace(args: string[], env: Record<string, string> = {}): Promise<Output> {
  return runCli(["trace", ...args], env);
}

/** A suite file with one chat and one raw prompt. */
async function suiteFile(dir: string, extra: Record<string, unknown> = {}): Promise<string> {
  const path = `${dir}/suite.json`;
  await Deno.writeTextFile(
    path,
    JSON.stringify({
      name: "endpoint-test",
      prompts: [
        { id: "chat", class: "simple", text: "Count 1 to 10", maxTokens: 48, mode: "chat" },
        { id: "raw", class: "simple", text: "Once upon a time", maxTokens: 40, mode: "raw" },
      ],
      repetitions: 2,
      warmup: 0,
      sampling: { temperature: 0.7, topK: 40, topP: 0.95, seed: 5 },
      ...extra,
    }),
  );
  return path;
}

/**
 * A proxy in front of the server that keeps a copy of every streamed answer, so the test can
 * read the server's own `usage` of the very run it traced.
 */
function recordingProxy(
  upstream: string,
): { url: string; bodies: string[]; close(): Promise<void> } {
  const bodies: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const url = new URL(req.url);
    const answer = await fetch(`${upstream}${url.pathname}`, {
      method: req.method,
      headers: req.headers,
      ...(req.method === "POST" ? { body: await req.arrayBuffer() } : {}),
    });
    if (answer.body === null) return answer;
    const [mine, theirs] = answer.body.tee();
    new Response(mine).text().then((text) => bodies.push(text));
    return new Response(theirs, { status: answer.status, headers: answer.headers });
  });
  return {
    url: `http://127.0.0.1:${(server.addr as Deno.NetAddr).port}`,
    bodies,
    close: () => server.shutdown(),
  };
}

Deno.test("llama-server: token rows equal usage.completion_tokens and decode time agrees with predicted_ms", async () => {
  const model = await testModel("lfm2-tiny");
  const server = await startLlamaServer(model, { threads: 1 });
  const proxy = recordingProxy(server.url);
  try {
    const viaProxy = await openEndpointSession(proxy.url);
    const direct = await openEndpointSession(server.url);
    assert.equal(direct.api, "openai");
    assert.equal(direct.info.engine_name, "llama-server");
    assert.match(direct.info.engine_version, /\S/);
    // The server runs here and names its file: its GGUF facts and SHA-256 are read from it.
    assert.equal(direct.info.model_path, model);
    assert.equal(direct.info.model_synthetic, true);
    assert.equal(direct.info.model_preset, "lfm2-tiny");
    assert.equal(direct.info.threads, null);
    for (const mode of ["raw", "chat"] as const) {
      const before = proxy.bodies.length;
      const run = await viaProxy.trace("Count 1 to 10", { mode, maxTokens: 64, temperature: 0.7 });
      while (proxy.bodies.length === before) await new Promise((r) => setTimeout(r, 10));
      const events = proxy.bodies.at(-1)!.split("\n").filter((l) => l.startsWith("data: {"));
      const last = JSON.parse(events.at(-1)!.slice(6));
      assert.equal(run.summary.output_tokens, last.usage.completion_tokens, mode);
      assert.equal(run.summary.output_tokens, 64, "ignore_eos meets the budget");
      assert.equal(run.summary.stop_reason, "max_tokens");
      assert.equal(run.summary.engine_decode_tokens, last.timings.predicted_n);
      assert.equal(run.summary.prompt_tokens, last.usage.prompt_tokens);
      assert.equal(run.tokens.t_ms.length, 64);
    }
    for (const mode of ["raw", "chat"] as const) {
      const { summary, tokens } = await direct.trace("Count 1 to 10", { mode, maxTokens: 96 });
      const predicted = summary.engine_decode_ms!;
      const gap = Math.abs(summary.decode_ms - predicted);
      assert.ok(
        gap <= DECODE_RELATIVE * predicted + DECODE_SLACK_MS,
        `${mode}: traced decode ${summary.decode_ms.toFixed(1)} ms vs predicted_ms ${predicted} ms`,
      );
      // Latencies telescope from the first chunk; tokens of a shared chunk share its time.
      for (let i = 1; i < tokens.t_ms.length; i++) {
        assert.ok(tokens.t_ms[i]! >= tokens.t_ms[i - 1]!);
        if (tokens.chunk_tokens[i] !== 1 && tokens.latency_ms[i] === 0) {
          assert.equal(tokens.t_ms[i], tokens.t_ms[i - 1]);
        }
      }
      assert.ok([...tokens.chunk_tokens].every((k) => k >= 1), "llama-server counts every chunk");
    }
  } finally {
    await proxy.close();
    await server.stop();
  }
});

Deno.test("`deno task trace --endpoint` through llama-server writes a dataset DuckDB reads", async () => {
  const model = await testModel("lfm2-tiny");
  const dir = await Deno.makeTempDir({ prefix: "tokentrace-endpoint-" });
  const server = await startLlamaServer(model, { threads: 1 });
  try {
    const suite = await suiteFile(dir);
    const out = await trace(["--endpoint", server.url, "--suite", suite, "--out", `${dir}/traces`]);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /source: +endpoint http:\/\/127\.0\.0\.1:\d+ \(llama-server /);
    const dataset = await readDataset(`${dir}/traces`);
    const session = dataset.sessions.toRecords()[0]!;
    assert.equal(session.source, "endpoint");
    assert.equal(session.endpoint_url, server.url);
    assert.equal(dataset.runs.height, 4);
    const runs = dataset.runs as pl.DataFrame;
    const outputTokens = runs.getColumn("output_tokens").sum();
    const tokens = await dataset.tokens.collect();
    assert.equal(tokens.height, outputTokens);
    assert.deepEqual(runs.getColumn("stop_reason").toArray(), Array(4).fill("max_tokens"));
    assert.deepEqual(runs.getColumn("threads").toArray(), [null, null, null, null]);
    const decode = runs.getColumn("decode_ms").sum();
    const engine = runs.getColumn("engine_decode_ms").sum();
    assert.ok(
      Math.abs(decode - engine) <= DECODE_RELATIVE * engine + runs.height * DECODE_SLACK_MS,
      `sum(decode_ms) ${decode} vs sum(engine_decode_ms) ${engine}`,
    );
    const instance = await DuckDBInstance.create(":memory:");
    const connection = await instance.connect();
    try {
      const runsSql = `read_parquet('${dir}/traces/${LAYOUT.runsGlob}', hive_partitioning = true)`;
      const tokensSql =
        `read_parquet('${dir}/traces/${LAYOUT.tokensGlob}', hive_partitioning = true)`;
      const rows = await connection.runAndReadAll(
        `SELECT (SELECT count(*) FROM ${tokensSql}) AS t, (SELECT sum(output_tokens) FROM ${runsSql}) AS o`,
      );
      const { t, o } = rows.getRowObjects()[0]!;
      assert.equal(Number(t), outputTokens);
      assert.equal(Number(o), outputTokens);
    } finally {
      connection.closeSync();
    }
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("`deno task trace --endpoint` bad input: one line, exit 2, nothing written", async () => {
  const model = await testModel("lfm2-tiny");
  const dir = await Deno.makeTempDir({ prefix: "tokentrace-endpoint-bad-" });
  const server = await startLlamaServer(model, { threads: 1, args: ["--api-key", "right-key"] });
  const plain = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response("not here", { status: 404 }),
  );
  // An OpenAI-compatible fixture that answers a streaming request with one JSON document.
  const batch = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req) =>
      new URL(req.url).pathname === "/v1/models"
        ? Response.json({ object: "list", data: [{ id: "m", object: "model" }] })
        : Response.json({ choices: [{ text: "all at once", finish_reason: "length" }] }),
  );
  try {
    const suite = await suiteFile(dir);
    const port = (s: Deno.HttpServer) => (s.addr as Deno.NetAddr).port;
    const cases: [string, string[], Record<string, string>, RegExp][] = [
      [
        "connection refused",
        ["--endpoint", `http://127.0.0.1:${freePort()}`],
        {},
        /^Cannot connect to http:\/\/127\.0\.0\.1:\d+: connection refused; is the server running on that port\?$/,
      ],
      [
        "not a server of the API",
        ["--endpoint", `http://127.0.0.1:${port(plain)}`],
        {},
        /^Cannot trace through http:\/\/127\.0\.0\.1:\d+: it answers neither GET \/api\/version \(Ollama\) nor GET \/v1\/models \(OpenAI-compatible\)/,
      ],
      [
        "HTTP 4xx with the server's message",
        ["--endpoint", server.url, "--api-key-env", "TT_KEY"],
        { TT_KEY: "wrong-key" },
        /HTTP 401.*Invalid API Key/,
      ],
      [
        "unknown model name",
        ["--endpoint", server.url, "--api-key-env", "TT_KEY", "--model-name", "nope"],
        { TT_KEY: "right-key" },
        /^Cannot trace model "nope" through http:\/\/127\.0\.0\.1:\d+: the server has ".+"; pass one of them with --model-name$/,
      ],
      [
        "non-streaming answer",
        ["--endpoint", `http://127.0.0.1:${port(batch)}`],
        {},
        /answered without streaming \(content-type "application\/json", expected text\/event-stream\)/,
      ],
    ];
    for (const [what, args, env, pattern] of cases) {
      const out = await trace([...args, "--suite", suite, "--out", `${dir}/traces`], env);
      assert.equal(out.code, 2, `${what}: ${out.stderr}`);
      const lines = out.stderr.trimEnd().split("\n");
      assert.equal(lines.length, 1, `${what}: ${out.stderr}`);
      assert.match(lines[0]!, pattern, what);
      assert.equal(out.stdout, "", what);
      await assert.rejects(Deno.stat(`${dir}/traces`), Deno.errors.NotFound, what);
      console.log(`${what}: ${lines[0]}`);
    }
    // The right key traces.
    const ok = await trace(
      [
        "--endpoint",
        server.url,
        "--api-key-env",
        "TT_KEY",
        "--suite",
        suite,
        "--out",
        `${dir}/traces`,
      ],
      { TT_KEY: "right-key" },
    );
    assert.equal(ok.code, 0, ok.stderr);
  } finally {
    await server.stop();
    await plain.shutdown();
    await batch.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * Stops the server with `signal` once two runs are on disk, then checks that the run in flight
 * (or the next) is recorded with stop reason error, the finished runs are kept, and --resume
 * completes the session once a new server listens on the same port.
 */
async function serverFailsMidRun(signal: "SIGSTOP" | "SIGKILL", message: RegExp): Promise<void> {
  const model = await testModel("lfm2-tiny");
  const dir = await Deno.makeTempDir({ prefix: "tokentrace-endpoint-kill-" });
  const port = freePort();
  let server = await startLlamaServer(model, { threads: 1, port });
  try {
    const suite = await suiteFile(dir, {
      prompts: [{
        id: "long",
        class: "simple",
        text: "Once upon a time",
        maxTokens: 200,
        mode: "raw",
      }],
      repetitions: 6,
      // Greedy: the same 200 tokens every run (further on, llama-server's output parser rejects
      // this random-weight text, which would be a failure of its own).
      sampling: { temperature: 0, topK: 40, topP: 0.95, seed: 5 },
    });
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "lib/cli.ts",
        "trace",
        "--endpoint",
        server.url,
        "--suite",
        suite,
        "--out",
        `${dir}/traces`,
        "--token-timeout",
        "1.5",
      ],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    const output = child.output();
    // Once two runs are on disk, freeze the server (SIGSTOP): a run in flight, or the next
    // one, gets no more bytes.
    const deadline = Date.now() + 60_000;
    let sessionDir = "";
    while (Date.now() < deadline) {
      const sessions = await Array.fromAsync(Deno.readDir(`${dir}/traces`)).catch(() => []);
      if (sessions.length === 1) {
        sessionDir = `${dir}/traces/${sessions[0]!.name}`;
        const runs = await Array.fromAsync(Deno.readDir(`${sessionDir}/runs`)).catch(() => []);
        if (runs.filter((r) => r.name.endsWith(".parquet")).length >= 2) break;
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.notEqual(sessionDir, "", "the session never started");
    server.child.kill(signal);
    const started = Date.now();
    const out = await output;
    const waited = Date.now() - started;
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 1, stderr);
    assert.ok(waited < 30_000, `the run took ${waited} ms to end`);
    assert.match(stderr, message);
    assert.match(
      stderr,
      /recorded with stop_reason error and not counted\. \d\/6 runs kept; once the server is back, continue with: deno task trace --resume /,
    );
    const first = await readDataset(`${dir}/traces`);
    const firstRuns = (first.runs as pl.DataFrame).toRecords();
    const failed = firstRuns.filter((r) => r.stop_reason === "error");
    const finished = firstRuns.filter((r) => r.stop_reason !== "error");
    assert.equal(failed.length, 1);
    assert.ok(Number(failed[0]!.order_index) >= 6, "a failed run sits after the plan's positions");
    assert.ok(finished.length >= 2 && finished.length < 6);
    assert.equal(first.sessions.toRecords()[0]!.status, "interrupted");

    // The server comes back on the same port; the session resumes and completes.
    await server.stop();
    server = await startLlamaServer(model, { threads: 1, port });
    const resumed = await trace(["--resume", sessionDir]);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stdout, /\(complete, 6\/6 runs/);
    const after = await readDataset(`${dir}/traces`);
    const afterRuns = (after.runs as pl.DataFrame).toRecords();
    const planned = afterRuns.filter((r) => Number(r.order_index) < 6);
    assert.deepEqual(planned.map((r) => r.order_index), [0, 1, 2, 3, 4, 5]);
    assert.ok(planned.every((r) => r.stop_reason === "max_tokens" && r.output_tokens === 200));
    // The runs finished before the failure are unchanged.
    for (const run of finished) {
      const again = afterRuns.find((r) => r.run_id === run.run_id)!;
      assert.deepEqual(again, run);
    }
    assert.equal(afterRuns.filter((r) => r.stop_reason === "error").length, 1);
    assert.equal(
      (await after.tokens.collect()).height,
      afterRuns.reduce((a, r) => a + Number(r.output_tokens), 0),
    );
  } finally {
    try {
      server.child.kill("SIGCONT");
    } catch { /* gone */ }
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("a server that hangs mid-run: the per-token timeout ends the run, --resume finishes once it is back", async () => {
  await serverFailsMidRun(
    "SIGSTOP",
    /Run failed: no (bytes from|answer from) http:\/\/127\.0\.0\.1:\d+\/v1\/completions (for|within) 1500 ms/,
  );
});

Deno.test("a server killed mid-run: the run ends with stop reason error, --resume finishes once it is back", async () => {
  await serverFailsMidRun("SIGKILL", /Run failed: /);
});
