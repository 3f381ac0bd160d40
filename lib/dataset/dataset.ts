/**
 * What a trace dataset holds, independent of how it is written or read: the row types of its
 * `sessions` and `runs` tables, the three tables as read, and the error for files tokentrace
 * refuses. The writer is lib/dataset/writer.ts, the reader lib/dataset/read.ts, compaction
 * lib/dataset/compact.ts and the file helpers lib/dataset/_files.ts.
 *
 * Folder `lib/dataset/`: the Parquet trace dataset: writer, reader, compaction and upgrades of
 * older versions. May import: tracer, schema, stats.
 *
 * @module
 */

import type { Frame, LazyFrame } from "../schema/frame.ts";
import type { TableRow } from "../schema/schema.ts";
import type { RunSummary, SessionInfo } from "../tracer/source.ts";

/** Session status in the `sessions` table. */
export type SessionStatus = "running" | "complete" | "interrupted";

/**
 * One row of the `sessions` table: every column of `SCHEMA.sessions` (see there for
 * units and meaning) typed from its column type, with the environment's columns as
 * {@linkcode SessionInfo} types them (null where the source cannot know a value) and the status
 * narrowed to {@linkcode SessionStatus}.
 */
export type SessionRow =
  & Omit<TableRow<"sessions">, keyof SessionInfo | "status">
  & SessionInfo
  & { status: SessionStatus };

/**
 * One row of the `runs` table: every column of `SCHEMA.runs` (see there for units
 * and meaning) typed from its column type, with the run's timings and counts as
 * {@linkcode RunSummary} types them (null where the source cannot know a value).
 */
export type RunRow = Omit<TableRow<"runs">, keyof RunSummary> & RunSummary;

/**
 * The three tables of a dataset, with exactly the columns of {@linkcode SCHEMA}. At run time
 * they are nodejs-polars frames (cast to `pl.DataFrame` / `pl.LazyDataFrame` for the whole
 * Polars API).
 */
export interface Dataset {
  /** One row per session. */
  sessions: Frame;
  /** One row per finished run. */
  runs: Frame;
  /** One row per token of a finished run, scanned lazily. */
  tokens: LazyFrame;
}

/** A dataset file that tokentrace refuses to read: foreign, corrupt or of another schema version. */
export class DatasetError extends Error {
  /** The file or directory at fault. */
  readonly path: string;

  /**
   * Makes an error about a dataset file.
   *
   * @param message What is wrong, in one line.
   * @param path The file or directory at fault.
   */
  constructor(message: string, path: string) {
    super(message);
    this.name = "DatasetError";
    this.path = path;
  }
}
