/**
 * The dataset's file helpers: writes through a temporary name and a rename (so a crash never
 * leaves a half-written `.parquet` file), reading one Parquet file with a one-line error, and
 * listing one session's data files by kind (per-run or range files).
 *
 * @module
 */

import pl from "nodejs-polars";
import { DatasetError } from "./dataset.ts";

const tmpName = (path: string): string => {
  const slash = path.lastIndexOf("/");
  return `${path.slice(0, slash + 1)}.${path.slice(slash + 1)}.tmp-${Deno.pid}`;
};

/** Writes a frame to `path` through a temporary name (never ending in .parquet) and a rename. */
export async function writeAtomic(frame: pl.DataFrame, path: string): Promise<void> {
  const tmp = tmpName(path);
  try {
    frame.writeParquet(tmp, { compression: "zstd" });
    await Deno.rename(tmp, path);
  } catch (error) {
    await Deno.remove(tmp).catch(() => {});
    throw error;
  }
}

/** Runs a lazy query into `path` through a temporary name and a rename (streaming sink). */
export async function sinkAtomic(query: pl.LazyDataFrame, path: string): Promise<void> {
  const tmp = tmpName(path);
  try {
    query.sinkParquet(tmp, { compression: "zstd" }).collectSync();
    await Deno.rename(tmp, path);
  } catch (error) {
    await Deno.remove(tmp).catch(() => {});
    throw error;
  }
}

/** Writes a text file through a temporary name and a rename. */
export async function writeTextAtomic(text: string, path: string): Promise<void> {
  const tmp = tmpName(path);
  await Deno.writeTextFile(tmp, text);
  await Deno.rename(tmp, path);
}

/** The first line of an error's message, for one-line errors. */
export function firstLine(error: unknown): string {
  return String(error instanceof Error ? error.message : error).split("\n")[0]!;
}

/**
 * Reads one Parquet file, refusing a missing or unreadable one with a one-line
 * {@linkcode DatasetError}.
 */
export function readParquetFile(
  path: string,
  options: Partial<pl.ReadParquetOptions> = {},
): pl.DataFrame {
  try {
    Deno.statSync(path);
  } catch {
    throw new DatasetError(`Cannot read dataset file "${path}": no such file`, path);
  }
  try {
    return pl.readParquet(path, options);
  } catch (error) {
    throw new DatasetError(
      `Cannot read dataset file "${path}": not a readable Parquet file (${firstLine(error)})`,
      path,
    );
  }
}

/** Name of a per-run file; group 1 is the order index. */
export const RUN_FILE = /^run-(\d{6,})\.parquet$/;
/** Name of a range file; groups 1 and 2 are the first and last order index. */
export const RANGE_FILE = /^runs-(\d{6,})-(\d{6,})\.parquet$/;

/** The Parquet files of one session's `runs` and `tokens` directories, by kind. */
export interface SessionFiles {
  /** Per-run runs files by order_index. */
  runFiles: Map<number, string>;
  /** Per-run tokens files by order_index. */
  tokenFiles: Map<number, string>;
  /** Runs range files by file name, in name order. */
  runRanges: Map<string, string>;
  /** Tokens range files by file name. */
  tokenRanges: Map<string, string>;
}

/** Lists a session's data files, refusing a `.parquet` file of neither naming pattern. */
export async function listSession(sessionDir: string): Promise<SessionFiles> {
  const files: SessionFiles = {
    runFiles: new Map(),
    tokenFiles: new Map(),
    runRanges: new Map(),
    tokenRanges: new Map(),
  };
  for (const table of ["runs", "tokens"] as const) {
    const dir = `${sessionDir}/${table}`;
    const names: string[] = [];
    try {
      for await (const entry of Deno.readDir(dir)) {
        if (entry.name.endsWith(".parquet")) names.push(entry.name);
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    for (const name of names.sort()) {
      const path = `${dir}/${name}`;
      const run = RUN_FILE.exec(name);
      const range = RANGE_FILE.exec(name);
      if (run !== null) {
        (table === "runs" ? files.runFiles : files.tokenFiles).set(Number(run[1]), path);
      } else if (range !== null && Number(range[1]) <= Number(range[2])) {
        (table === "runs" ? files.runRanges : files.tokenRanges).set(name, path);
      } else {
        throw new DatasetError(
          `Cannot read dataset file "${path}": expected a name run-<order>.parquet or runs-<first>-<last>.parquet with first <= last`,
          path,
        );
      }
    }
  }
  return files;
}
