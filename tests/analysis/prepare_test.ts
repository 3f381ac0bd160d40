import assert from "node:assert/strict";
import pl from "nodejs-polars";
import { CHAR_CLASSES, classifyPiece, prepareTrace, simulateTrace } from "../../mod.ts";

Deno.test("`classifyPiece()` tells the character classes apart", () => {
  const cases: [string, string][] = [
    [" the", "letters"],
    ["ing", "letters"],
    ["2024", "digits"],
    [" 3", "digits"],
    [".", "punctuation"],
    [" (", "punctuation"],
    ["\n\n", "whitespace"],
    [" ", "whitespace"],
    ["é", "non-ascii"],
    ["", "non-ascii"],
    ["A1", "mixed"],
  ];
  for (const [piece, expected] of cases) {
    assert.equal(classifyPiece(piece), expected, JSON.stringify(piece));
  }
});

Deno.test("`prepareTrace()` keeps decode tokens and maps them to their runs", () => {
  const trace = simulateTrace({ seed: 2, repetitions: 2 });
  const p = prepareTrace(trace);
  assert.equal(p.runs.count, 9);
  assert.equal(p.tokens.count, 9 * 49);
  assert.ok(p.tokens.tokenIndex.every((k) => k >= 1));
  assert.deepEqual(Array.from(p.runs.decodeTokens), Array(9).fill(49));
  assert.deepEqual(p.classes, ["complex", "simple"]);
  // every token's features agree with its own piece
  const decode = (trace.tokens as pl.DataFrame).filter(pl.col("token_index").gtEq(1));
  const pieces = decode.getColumn("piece").toArray() as string[];
  const ids = decode.getColumn("run_id").toArray() as string[];
  pieces.forEach((piece, t) => {
    assert.equal(CHAR_CLASSES[p.tokens.charClass[t]!], classifyPiece(piece));
    assert.equal(p.tokens.wordInitial[t], piece.startsWith(" ") ? 1 : 0);
    assert.equal(p.runs.runId[p.tokens.run[t]!], ids[t]);
  });
  assert.equal(Math.min(...p.tokens.idRank), 0);
  assert.equal(Math.max(...p.tokens.idRank), 1);
});

Deno.test("`prepareTrace()` reads lazy frames the same as eager ones", () => {
  const trace = simulateTrace({ seed: 4, repetitions: 1 });
  const lazy = {
    sessions: (trace.sessions as pl.DataFrame).lazy(),
    runs: (trace.runs as pl.DataFrame).lazy(),
    tokens: (trace.tokens as pl.DataFrame).lazy(),
  };
  assert.deepEqual(prepareTrace(lazy), prepareTrace(trace));
});

Deno.test("`prepareTrace()` rejects a tokens table without latency", () => {
  const trace = simulateTrace({ repetitions: 1 });
  assert.throws(
    () => prepareTrace({ ...trace, tokens: (trace.tokens as pl.DataFrame).drop("latency_ms") }),
    new TypeError(
      'Cannot prepare trace: the tokens table must have column "latency_ms", found none',
    ),
  );
});

Deno.test("`prepareTrace()` rejects token rows of a run the trace lacks", () => {
  const trace = simulateTrace({ repetitions: 1 });
  const runs = (trace.runs as pl.DataFrame).filter(pl.col("order_index").gtEq(1));
  assert.throws(
    () => prepareTrace({ ...trace, runs }),
    (error: Error) =>
      error instanceof RangeError &&
      /^Cannot prepare trace: every token row must belong to a run of the trace, found run ".*-000000"$/
        .test(error.message),
  );
});
