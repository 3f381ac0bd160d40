import assert from "node:assert/strict";
import pl from "nodejs-polars";
import type { Frame, FrameColumn, LazyFrame } from "../../mod.ts";
import {
  asPolars,
  asPolarsLazy,
  collectFrame,
  frameColumns,
  lazyPolars,
} from "../../lib/schema/_polars.ts";

// Type-level: nodejs-polars' frames satisfy tokentrace's structural types (`deno check`
// fails on these lines if a member stops being assignable).
const series: FrameColumn = pl.Series("x", [1, 2, 3]);
const frame: Frame = pl.DataFrame({ x: [1, 2, 3], y: ["a", "b", "c"] });
const lazy: LazyFrame = pl.DataFrame({ x: [1, 2] }).lazy();
const collected: Promise<Frame> = lazy.collect();

Deno.test("Polars frames are `Frame`, `FrameColumn` and `LazyFrame` values", async () => {
  assert.deepEqual([series.name, series.length, series.toArray()], ["x", 3, [1, 2, 3]]);
  assert.deepEqual([frame.height, frame.width, frame.columns], [3, 2, ["x", "y"]]);
  assert.deepEqual(frame.getColumn("y").toArray(), ["a", "b", "c"]);
  assert.deepEqual(frame.toRecords()[1], { x: 2, y: "b" });
  assert.equal((await collected).height, 2);
  assert.equal(lazy.collectSync().width, 1);
});

Deno.test("`asPolars()` and `asPolarsLazy()` return Polars frames as is", () => {
  assert.equal(asPolars(frame), frame);
  assert.equal(asPolarsLazy(lazy), lazy);
});

Deno.test("`asPolars()` and `asPolarsLazy()` reject other values", () => {
  const fake: Frame = {
    height: 0,
    width: 0,
    columns: [],
    getColumn: () => series,
    toRecords: () => [],
  };
  assert.throws(
    () => asPolars(fake, "the runs table"),
    new TypeError("Cannot use the runs table: expected a nodejs-polars DataFrame, found Object"),
  );
  assert.throws(
    () => asPolars(lazy as unknown as Frame),
    new TypeError("Cannot use a table: expected a nodejs-polars DataFrame, found LazyDataFrame"),
  );
  assert.throws(
    () => asPolarsLazy(frame as unknown as LazyFrame),
    new TypeError("Cannot use a table: expected a nodejs-polars LazyDataFrame, found DataFrame"),
  );
});

Deno.test("`collectFrame()` and `lazyPolars()` take eager and lazy frames", () => {
  assert.equal(collectFrame(frame), frame);
  assert.deepEqual(collectFrame(lazy).toRecords(), [{ x: 1 }, { x: 2 }]);
  assert.equal(lazyPolars(lazy), lazy);
  assert.deepEqual(lazyPolars(frame).collectSync().toRecords(), frame.toRecords());
  assert.deepEqual(frameColumns(lazy), ["x"]);
  assert.deepEqual(frameColumns(frame), ["x", "y"]);
  assert.throws(
    () => collectFrame(null as unknown as Frame, "the tokens table"),
    new TypeError(
      "Cannot use the tokens table: expected a nodejs-polars DataFrame or LazyDataFrame, found null",
    ),
  );
  assert.throws(
    () => lazyPolars([] as unknown as Frame),
    new TypeError(
      "Cannot use a table: expected a nodejs-polars DataFrame or LazyDataFrame, found Array",
    ),
  );
});
