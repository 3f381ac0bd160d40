import assert from "node:assert/strict";
import {
  blockingPoolThreads,
  probeThreads,
  settleBlockingPool,
  type ThreadsProbeTarget,
  type TraceOptions,
  type TraceResult,
} from "../../mod.ts";

/** A fake session: each thread count decodes at a fixed per-token latency (one stall optional). */
function fakeSession(msPerToken: Record<number, number>, stallMs = 0): {
  target: ThreadsProbeTarget;
  calls: TraceOptions[];
} {
  const calls: TraceOptions[] = [];
  const target: ThreadsProbeTarget = {
    trace: (_prompt, options = {}) => {
      calls.push(options);
      const n = options.maxTokens ?? 128;
      const ms = msPerToken[options.threads ?? 1]!;
      const latency = new Float64Array(n).fill(ms);
      if (stallMs > 0 && options.threads === 2) latency[n >> 1] = stallMs;
      let decode = 0;
      for (let i = 1; i < n; i++) decode += latency[i]!;
      return Promise.resolve({
        summary: { output_tokens: n, decode_ms: decode },
        tokens: { latency_ms: latency },
      } as unknown as TraceResult);
    },
  };
  return { target, calls };
}

Deno.test("`probeThreads()` recommends the fastest thread count", async () => {
  const { target } = fakeSession({ 1: 25, 2: 16, 3: 30 });
  const result = await probeThreads(target, {
    candidates: [1, 2, 3],
    tokens: 11,
    rounds: 2,
    settle: false,
  });
  assert.equal(result.best, 2);
  assert.deepEqual(result.rows.map((r) => r.threads), [1, 2, 3]);
  assert.equal(result.rows[0]!.medianTokensPerS, 40);
  assert.deepEqual(result.rows[1]!.samplesTokensPerS, [62.5, 62.5]);
});

Deno.test("`probeThreads()` counts stalls in the rate and reports the slowest token", async () => {
  // 2 threads have the better median token (16 vs 20 ms) but one 1 s stall per 11-token run.
  const { target } = fakeSession({ 1: 20, 2: 16 }, 1000);
  const result = await probeThreads(target, {
    candidates: [1, 2],
    tokens: 11,
    rounds: 1,
    settle: false,
  });
  assert.equal(result.best, 1);
  assert.equal(result.rows[1]!.maxTokenMs, 1000);
});

Deno.test("`probeThreads()` breaks near-ties toward fewer threads", async () => {
  const { target } = fakeSession({ 1: 20, 2: 19.8 });
  const result = await probeThreads(target, {
    candidates: [2, 1],
    tokens: 5,
    rounds: 1,
    settle: false,
  });
  assert.equal(result.best, 1);
});

Deno.test("`probeThreads()` warms up once, then rotates the order every round", async () => {
  const { target, calls } = fakeSession({ 1: 20, 2: 10 });
  await probeThreads(target, {
    candidates: [1, 2],
    tokens: 4,
    rounds: 2,
    prompt: "Hi",
    settle: false,
  });
  assert.deepEqual(calls.map((c) => c.threads), [1, 1, 2, 2, 1]);
  assert.ok(calls.every((c) => c.mode === "raw" && c.temperature === 0 && c.maxTokens === 4));
});

Deno.test("`probeThreads()` rejects bad candidates, token counts and rounds", async () => {
  const { target } = fakeSession({ 1: 20 });
  await assert.rejects(
    probeThreads(target, { candidates: [] }),
    new RangeError("Cannot probe threads: candidates is empty"),
  );
  await assert.rejects(
    probeThreads(target, { candidates: [1, 0] }),
    new RangeError("Cannot probe threads: every candidate must be a positive integer, found 0"),
  );
  await assert.rejects(
    probeThreads(target, { candidates: [1], tokens: 1 }),
    new RangeError("Cannot probe threads: tokens must be an integer >= 2, found 1"),
  );
  await assert.rejects(
    probeThreads(target, { candidates: [1], rounds: 0 }),
    new RangeError("Cannot probe threads: rounds must be a positive integer, found 0"),
  );
});

Deno.test("`blockingPoolThreads()` counts Deno's blocking-pool threads on Linux", async () => {
  const n = blockingPoolThreads();
  if (Deno.build.os !== "linux") {
    assert.equal(n, undefined);
    return;
  }
  // A burst of concurrent file reads needs several pool threads at once.
  const file = await Deno.makeTempFile();
  await Promise.all(Array.from({ length: 8 }, () => Deno.readFile(file)));
  await Deno.remove(file);
  assert.ok((blockingPoolThreads() ?? 0) >= 1);
});

Deno.test("`settleBlockingPool()` returns at once when the pool is small enough", async () => {
  const r = await settleBlockingPool({ maxThreads: 10_000 });
  assert.equal(r.waitedMs, 0);
  assert.equal(r.after, r.before);
});

Deno.test("`settleBlockingPool()` gives up after its timeout", async () => {
  const file = await Deno.makeTempFile();
  await Promise.all(Array.from({ length: 8 }, () => Deno.readFile(file)));
  await Deno.remove(file);
  const r = await settleBlockingPool({ maxThreads: 0, timeoutMs: 50, pollMs: 10 });
  if (r.before === undefined) return; // not Linux: nothing to observe
  assert.ok(r.waitedMs >= 50);
  assert.ok((r.after ?? 0) >= 1); // pool threads live 10 s: none has exited yet
});
