import assert from "node:assert/strict";
import pl from "nodejs-polars";
import {
  compareThreads,
  probeThreads,
  recommendThreads,
  THREADS_TOLERANCE,
  type ThreadsProbeTarget,
  type ThreadsRuns,
  type TraceResult,
} from "../../mod.ts";

Deno.test("`recommendThreads()` names the fastest and sends ties to fewer threads", () => {
  // Clearly faster: 2 threads.
  const clear = recommendThreads([
    { threads: 1, decodeTokens: [31, 31, 31], decodeMs: [1000, 1020, 980] },
    { threads: 2, decodeTokens: [31, 31, 31], decodeMs: [500, 510, 490] },
  ]);
  assert.equal(clear.fastest, 2);
  assert.equal(clear.best, 2);
  assert.equal(clear.next, 1);
  assert.ok(clear.ratio!.low > 1.5, `ratio ${JSON.stringify(clear.ratio)}`);
  assert.equal(clear.rows[1]!.fastestRatio.value, 1);
  assert.equal(clear.rows[0]!.tiesFastest, false);
  assert.equal(clear.tolerance, THREADS_TOLERANCE);
  // Faster by 1%, within the tolerance: a tie, so 1 thread.
  const near = recommendThreads([
    { threads: 2, decodeTokens: [100, 100], decodeMs: [990, 990] },
    { threads: 1, decodeTokens: [100, 100], decodeMs: [1000, 1000] },
  ]);
  assert.equal(near.fastest, 2);
  assert.equal(near.best, 1);
  assert.ok(near.ratio!.value < 1);
  // Faster by 10% on average, but too noisy to tell: the interval reaches 1, so 1 thread.
  const noisy = recommendThreads([
    { threads: 1, decodeTokens: [100, 100, 100], decodeMs: [1000, 1000, 1000] },
    { threads: 2, decodeTokens: [100, 100, 100], decodeMs: [400, 1500, 800] },
  ]);
  assert.equal(noisy.fastest, 2);
  assert.ok(noisy.rows[0]!.fastestRatio.value > 1 + THREADS_TOLERANCE);
  assert.ok(noisy.rows[0]!.fastestRatio.low <= 1);
  assert.equal(noisy.best, 1);
  // A tolerance of 0 and no interval (one run each): the fastest wins.
  const strict = recommendThreads([
    { threads: 1, decodeTokens: [100], decodeMs: [1000] },
    { threads: 2, decodeTokens: [100], decodeMs: [999] },
  ], { tolerance: 0 });
  assert.equal(strict.best, 2);
  assert.ok(Number.isNaN(strict.rows[0]!.fastestRatio.low));
  // One count: it is the recommendation, with nothing to compare.
  const one = recommendThreads([{ threads: 4, decodeTokens: [10], decodeMs: [100] }]);
  assert.equal(one.best, 4);
  assert.equal(one.next, undefined);
  assert.equal(one.ratio, undefined);
});

Deno.test("`recommendThreads()` rejects empty, repeated or timeless counts and a bad tolerance", () => {
  const ok: ThreadsRuns = { threads: 1, decodeTokens: [10], decodeMs: [100] };
  assert.throws(
    () => recommendThreads([]),
    new RangeError("Cannot recommend threads: no thread counts"),
  );
  assert.throws(
    () => recommendThreads([ok, ok]),
    new RangeError("Cannot recommend threads: thread count 1 appears twice"),
  );
  assert.throws(
    () => recommendThreads([{ threads: 2, decodeTokens: [10], decodeMs: [0] }]),
    /thread count 2 needs runs with decode time, found 1 runs and 0 ms/,
  );
  assert.throws(
    () => recommendThreads([ok], { tolerance: 1 }),
    /tolerance must be a number from 0 to below 1, found 1/,
  );
});

/** Per-round decode ms of a 33-token run (32 decode tokens) at each thread count. */
const ROUNDS: Record<number, number[]> = {
  1: [640, 650, 630, 645],
  2: [420, 700, 380, 610], // faster on average, noisy
  3: [900, 950, 920, 910],
};

Deno.test("`probeThreads()` and `compareThreads()` recommend the same count from the same runs", async () => {
  const round = new Map<number, number>();
  let calls = 0;
  const target: ThreadsProbeTarget = {
    trace: (_prompt, options = {}) => {
      const t = options.threads!;
      const warmup = calls++ === 0; // the first call is the untimed warm-up
      const r = warmup ? -1 : round.get(t) ?? 0;
      if (!warmup) round.set(t, r + 1);
      const ms = warmup ? 1000 : ROUNDS[t]![r]!;
      const n = options.maxTokens!;
      return Promise.resolve({
        summary: { output_tokens: n, decode_ms: ms },
        tokens: { latency_ms: new Float64Array(n).fill(ms / (n - 1)) },
      } as unknown as TraceResult);
    },
  };
  const probed = await probeThreads(target, {
    candidates: [1, 2, 3],
    tokens: 33,
    rounds: 4,
    settle: false,
  });
  const rows = Object.entries(ROUNDS).flatMap(([t, ms]) =>
    ms.map((decode) => ({ threads: Number(t), decode }))
  );
  const runs = pl.DataFrame({
    warmup: rows.map(() => false),
    prompt_id: rows.map(() => "The"),
    threads: rows.map((r) => r.threads),
    depth_tokens: rows.map(() => 0),
    batch_size: rows.map(() => 512),
    output_tokens: rows.map(() => 33),
    decode_ms: rows.map((r) => r.decode),
  });
  const [compared] = compareThreads(runs);
  assert.equal(probed.fastest, 2);
  assert.equal(compared!.fastest, 2);
  assert.equal(probed.best, compared!.best);
  assert.equal(probed.best, 1, "2 threads are not clearly faster");
  for (let k = 0; k < 3; k++) {
    assert.ok(Math.abs(probed.rows[k]!.tokensPerS - compared!.rows[k]!.decodeTokensPerS) < 1e-9);
    assert.deepEqual(probed.rows[k]!.fastestRatio, compared!.rows[k]!.fastestRatio);
    assert.equal(probed.rows[k]!.tiesFastest, compared!.rows[k]!.tiesFastest);
  }
});
