/**
 * Internal bridge between the public table types of lib/schema/frame.ts and nodejs-polars: the
 * tables are real Polars frames at run time, and internal code casts them back, checking.
 *
 * @module
 */

import pl from "nodejs-polars";
import type { Frame, LazyFrame } from "./frame.ts";

/** What a value is, for error messages: its Polars kind, class name or `typeof`. */
function kind(value: unknown): string {
  if (value === null) return "null";
  if (typeof value !== "object") return typeof value;
  const tag = (value as { [Symbol.toStringTag]?: unknown })[Symbol.toStringTag];
  if (typeof tag === "string") return tag;
  const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === "string" && name !== "" ? name : "object";
}

/** Whether a value is a nodejs-polars DataFrame (by its tag, as Polars itself checks). */
export function isPolarsFrame(value: unknown): value is pl.DataFrame {
  return pl.DataFrame.isDataFrame(value);
}

/** Whether a value is a nodejs-polars LazyDataFrame (by its tag, as Polars itself checks). */
export function isPolarsLazy(value: unknown): value is pl.LazyDataFrame {
  return pl.LazyDataFrame.isLazyDataFrame(value);
}

/**
 * The Polars DataFrame behind a {@linkcode Frame}.
 *
 * @param frame A frame tokentrace handed out (or any nodejs-polars DataFrame).
 * @param what What the frame is, for the error message.
 * @returns The same value, typed as a Polars DataFrame.
 * @throws {TypeError} When the value is not a nodejs-polars DataFrame.
 */
export function asPolars(frame: Frame, what = "a table"): pl.DataFrame {
  if (!isPolarsFrame(frame)) {
    throw new TypeError(
      `Cannot use ${what}: expected a nodejs-polars DataFrame, found ${kind(frame)}`,
    );
  }
  return frame;
}

/**
 * The Polars LazyDataFrame behind a {@linkcode LazyFrame}.
 *
 * @param frame A lazy frame tokentrace handed out (or any nodejs-polars LazyDataFrame).
 * @param what What the frame is, for the error message.
 * @returns The same value, typed as a Polars LazyDataFrame.
 * @throws {TypeError} When the value is not a nodejs-polars LazyDataFrame.
 */
export function asPolarsLazy(frame: LazyFrame, what = "a table"): pl.LazyDataFrame {
  if (!isPolarsLazy(frame)) {
    throw new TypeError(
      `Cannot use ${what}: expected a nodejs-polars LazyDataFrame, found ${kind(frame)}`,
    );
  }
  return frame;
}

/**
 * A table as a Polars LazyDataFrame: a lazy frame as is, an eager one through `.lazy()`.
 *
 * @param frame An eager or lazy frame.
 * @param what What the frame is, for the error message.
 * @returns The lazy Polars frame.
 * @throws {TypeError} When the value is neither a nodejs-polars DataFrame nor a LazyDataFrame.
 */
export function lazyPolars(frame: Frame | LazyFrame, what = "a table"): pl.LazyDataFrame {
  if (isPolarsLazy(frame)) return frame;
  if (isPolarsFrame(frame)) return frame.lazy();
  throw new TypeError(
    `Cannot use ${what}: expected a nodejs-polars DataFrame or LazyDataFrame, found ${kind(frame)}`,
  );
}

/**
 * A table as an eager Polars DataFrame: a lazy frame collected, an eager one as is.
 *
 * @param frame An eager or lazy frame.
 * @param what What the frame is, for the error message.
 * @returns The eager Polars frame.
 * @throws {TypeError} When the value is neither a nodejs-polars DataFrame nor a LazyDataFrame.
 */
export function collectFrame(frame: Frame | LazyFrame, what = "a table"): pl.DataFrame {
  if (isPolarsLazy(frame)) return frame.collectSync();
  if (isPolarsFrame(frame)) return frame;
  throw new TypeError(
    `Cannot use ${what}: expected a nodejs-polars DataFrame or LazyDataFrame, found ${kind(frame)}`,
  );
}

/** Column names of an eager or lazy Polars table (a lazy one resolves its schema only). */
export function frameColumns(frame: Frame | LazyFrame, what = "a table"): string[] {
  return isPolarsLazy(frame) ? frame.columns : asPolars(frame as Frame, what).columns;
}
