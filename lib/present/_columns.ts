/**
 * Plain arrays from the dataset tables the summary modules read, and the R type 7
 * quantiles they print, null where there is no value (an empty group shows as "-").
 *
 * @module
 */

import type pl from "nodejs-polars";
import { quantileSorted } from "../stats/stats.ts";
import type { Frame, LazyFrame } from "../schema/frame.ts";

/** The nodejs-polars DataFrame behind a dataset table (collected when lazy). */
export function collect(frame: Frame | LazyFrame): pl.DataFrame {
  return ("collectSync" in frame ? frame.collectSync() : frame) as pl.DataFrame;
}

/** A column's values. */
export function column(frame: pl.DataFrame, name: string): unknown[] {
  return frame.getColumn(name).toArray() as unknown[];
}

/** A column's values as numbers, NaN for null. */
export function numbers(frame: pl.DataFrame, name: string): number[] {
  return column(frame, name).map((v) => v === null ? NaN : Number(v));
}

/** The finite values, ascending. */
export function finiteSorted(values: readonly number[]): number[] {
  return values.filter(Number.isFinite).sort((a, b) => a - b);
}

/**
 * The q-quantile of ascending sorted values (`quantileSorted()` of the stats module, R type
 * 7), null for no values.
 */
export function quantileOrNull(sorted: readonly number[], q: number): number | null {
  const value = quantileSorted(sorted, q);
  return Number.isNaN(value) ? null : value;
}

/** The median of the finite values, null when there are none. */
export function medianOrNull(values: readonly number[]): number | null {
  return quantileOrNull(finiteSorted(values), 0.5);
}
