/**
 * Reading a dataset: {@linkcode readDataset} returns the three tables of every session as Polars
 * frames, and the checks behind it (each file's columns and types against {@linkcode SCHEMA},
 * each session file's row and version, range files taking precedence over per-run files), which
 * the writer and compaction use too.
 *
 * @module
 */

import pl from "nodejs-polars";
import { DTYPES, emptyTable, polarsSchema } from "../schema/_table.ts";
import { LAYOUT, SCHEMA, SCHEMA_VERSION, type TableName } from "../schema/schema.ts";
import { type Dataset, DatasetError, type SessionRow } from "./dataset.ts";
import {
  firstLine,
  listSession,
  RANGE_FILE,
  readParquetFile,
  RUN_FILE,
  type SessionFiles,
} from "./_files.ts";
import { OLDEST_UPGRADABLE_VERSION, upgradeTable } from "./upgrade.ts";

const dtypeName = (dtype: unknown): string => String(dtype).replace(/^DataType\((.*)\)$/, "$1");

/** The first difference between a frame's columns and a table's schema, or undefined. */
function schemaProblem(frame: pl.DataFrame, table: TableName): string | undefined {
  const expected = SCHEMA[table];
  // columns and dtypes, not frame.schema: several times cheaper per file.
  const names = frame.columns;
  const dtypes = frame.dtypes;
  for (const [i, col] of expected.entries()) {
    const at = names.indexOf(col.name);
    if (at < 0) return `column "${col.name}" of the ${table} table is missing`;
    if (String(dtypes[at]) !== String(DTYPES[col.type])) {
      return `column "${col.name}" has type ${dtypeName(dtypes[at])}, expected ${
        dtypeName(DTYPES[col.type])
      }`;
    }
    if (at !== i) return `column "${col.name}" is at position ${at}, expected ${i}`;
  }
  const extra = names.find((name) => !expected.some((col) => col.name === name));
  return extra === undefined ? undefined : `column "${extra}" is not in the ${table} table`;
}

/** Scan options that make Polars refuse files whose columns differ from the table's. */
export const strictScan = (table: TableName): pl.ScanParquetOptions => ({
  hivePartitioning: false,
  schema: polarsSchema(table),
  extraColumns: "raise",
  missingColumns: "raise",
});

/**
 * Reads a file (only its schema when `schemaOnly`), refusing a corrupt or foreign one. A file of
 * a session written with an older schema `version` is upgraded (see `upgradeTable()`) before
 * its columns are checked.
 */
export function readChecked(
  path: string,
  table: TableName,
  schemaOnly: boolean,
  version: number = SCHEMA_VERSION,
): pl.DataFrame {
  let frame = readParquetFile(path, schemaOnly ? { nRows: 0 } : {});
  if (version !== SCHEMA_VERSION) {
    try {
      frame = upgradeTable(table, version, frame.lazy()).collectSync();
    } catch (error) {
      throw new DatasetError(
        `Cannot read dataset file "${path}": it does not hold the ${table} table of schema version ${version} (${
          firstLine(error)
        })`,
        path,
      );
    }
  }
  const problem = schemaProblem(frame, table);
  if (problem !== undefined) {
    throw new DatasetError(`Cannot read dataset file "${path}": ${problem}`, path);
  }
  return frame;
}

/**
 * Reads a session file: its version decides how the session's files are read (the current
 * version as is, an older upgradable one through `upgradeTable()`); others are refused.
 */
export function readSessionFile(
  path: string,
  sessionId: string,
): { frame: pl.DataFrame; row: SessionRow; version: number } {
  const raw = readParquetFile(path);
  if (raw.height !== 1) {
    throw new DatasetError(
      `Cannot read dataset file "${path}": expected 1 row, found ${raw.height}`,
      path,
    );
  }
  const version = raw.columns.includes("schema_version")
    ? Number(raw.getColumn("schema_version").get(0))
    : SCHEMA_VERSION;
  if (
    version !== SCHEMA_VERSION &&
    !(version >= OLDEST_UPGRADABLE_VERSION && version < SCHEMA_VERSION)
  ) {
    throw new DatasetError(
      `Cannot read dataset file "${path}": schema_version is ${version}, this tokentrace reads ${SCHEMA_VERSION} (and upgrades ${OLDEST_UPGRADABLE_VERSION} to ${
        SCHEMA_VERSION - 1
      } on read)`,
      path,
    );
  }
  const frame = readChecked(path, "sessions", false, version);
  const row = frame.toRecords()[0] as unknown as SessionRow;
  checkSessionRow(row, path, sessionId, frame.height, version);
  return { frame, row, version };
}

function checkSessionRow(
  row: SessionRow,
  path: string,
  sessionId: string,
  height: number,
  version: number = SCHEMA_VERSION,
): void {
  if (height !== 1) {
    throw new DatasetError(
      `Cannot read dataset file "${path}": expected 1 row, found ${height}`,
      path,
    );
  }
  if (row.schema_version !== version) {
    throw new DatasetError(
      `Cannot read dataset file "${path}": schema_version is ${row.schema_version}, this tokentrace reads ${SCHEMA_VERSION}`,
      path,
    );
  }
  if (row.session_id !== sessionId) {
    throw new DatasetError(
      `Cannot read dataset file "${path}": session_id is "${row.session_id}", expected "${sessionId}" from its directory`,
      path,
    );
  }
}

/** Splits a `session=<id>` directory path, reads its session row and checks it. */
export function openSessionDir(
  sessionDir: string,
  action: string,
): { dir: string; datasetDir: string; sessionId: string; row: SessionRow } {
  const dir = sessionDir.replace(/\/+$/, "");
  const slash = dir.lastIndexOf("/");
  const datasetDir = slash < 0 ? "." : dir.slice(0, slash) || "/";
  const name = dir.slice(slash + 1);
  if (!name.startsWith("session=")) {
    throw new DatasetError(
      `Cannot ${action} session "${sessionDir}": expected a directory named session=<id>`,
      sessionDir,
    );
  }
  const sessionId = name.slice("session=".length);
  const file = `${datasetDir}/${LAYOUT.sessionFile(sessionId)}`;
  const { row, version } = readSessionFile(file, sessionId);
  if (version !== SCHEMA_VERSION) {
    throw new DatasetError(
      `Cannot ${action} session "${sessionDir}": "${file}" was written with schema version ${version} and is read-only (upgraded on read); this tokentrace writes version ${SCHEMA_VERSION}, so start a new session`,
      file,
    );
  }
  return { dir, datasetDir, sessionId, row };
}

/** What a session's files hold once range files take precedence over per-run files. */
export interface SessionState {
  /** The runs range files' rows, in file name order. */
  rangeRuns: pl.DataFrame[];
  /** Order indexes of the runs that range files hold. */
  covered: Set<number>;
  /** Tokens range files whose runs range file exists, in name order. */
  tokenRanges: string[];
  /** Per-run runs files of runs no range file holds, by order_index. */
  runFiles: Map<number, string>;
  /** Per-run tokens files of runs no range file holds (runs in flight too), by order_index. */
  tokenFiles: Map<number, string>;
  /**
   * Files to ignore and delete: per-run files of runs a range file holds (a compaction died
   * before deleting them) and tokens range files without their runs range file (a compaction
   * or `writeRuns()` died before writing it).
   */
  obsolete: string[];
}

/** Reads a session's runs range files and sorts its files out (see `SessionState`). */
export function sessionState(files: SessionFiles, version: number = SCHEMA_VERSION): SessionState {
  const rangeRuns: pl.DataFrame[] = [];
  const covered = new Set<number>();
  for (const [name, path] of files.runRanges) {
    const frame = readChecked(path, "runs", false, version);
    const match = RANGE_FILE.exec(name)!;
    const first = Number(match[1]);
    const last = Number(match[2]);
    for (const order of frame.getColumn("order_index").toTypedArray() as Int32Array) {
      if (order < first || order > last) {
        throw new DatasetError(
          `Cannot read dataset file "${path}": it holds run ${order}, outside its range ${first}-${last}`,
          path,
        );
      }
      if (covered.has(order)) {
        throw new DatasetError(
          `Cannot read dataset file "${path}": run ${order} is also in another range file`,
          path,
        );
      }
      covered.add(order);
    }
    rangeRuns.push(frame);
  }
  const obsolete: string[] = [];
  const tokenRanges: string[] = [];
  for (const [name, path] of files.tokenRanges) {
    if (files.runRanges.has(name)) tokenRanges.push(path);
    else obsolete.push(path);
  }
  const uncovered = (byOrder: Map<number, string>): Map<number, string> => {
    const kept = new Map<number, string>();
    for (const [order, path] of byOrder) {
      if (covered.has(order)) obsolete.push(path);
      else kept.set(order, path);
    }
    return kept;
  };
  const runFiles = uncovered(files.runFiles);
  const tokenFiles = uncovered(files.tokenFiles);
  return { rangeRuns, covered, tokenRanges, runFiles, tokenFiles, obsolete };
}

/** Sorts a session's files out and deletes the obsolete ones (see `SessionState`). */
export async function settleSession(sessionDir: string): Promise<SessionState> {
  const state = sessionState(await listSession(sessionDir));
  for (const path of state.obsolete) {
    await Deno.remove(path).catch((error) => {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    });
  }
  return state;
}

/** Scans one glob or a list of files of a table, refusing columns that differ from the schema. */
function scanFiles(source: string | readonly string[], table: TableName): pl.LazyDataFrame {
  if (typeof source === "string") return pl.scanParquet(source, strictScan(table));
  const scans = source.map((path) => pl.scanParquet(path, strictScan(table)));
  return scans.length === 1 ? scans[0]! : pl.concat(scans);
}

/**
 * Reads runs files in one scan (one file per run makes per-file reads slow); when the scan
 * fails, checks the files one by one to name the bad one.
 */
export function readRunFiles(
  at: string,
  source: string | readonly string[],
  files: readonly string[],
): pl.DataFrame {
  try {
    return scanFiles(source, "runs").collectSync();
  } catch (error) {
    for (const path of files) readChecked(path, "runs", true);
    throw new DatasetError(`Cannot read dataset "${at}": ${firstLine(error)}`, at);
  }
}

/**
 * Reads a dataset directory: every `session=<id>` directory's session file, runs files and
 * tokens files, per-run (`run-NNNNNN.parquet`) and range (`runs-AAAAAA-BBBBBB.parquet`) alike.
 * Each file's columns and types must match {@linkcode SCHEMA} exactly and each session's
 * `schema_version` must be this tokentrace's. Tokens of runs without a runs file (a run that
 * was in flight when its process died) are left out. A per-run file of a run that a range file
 * holds (left by a compaction that died before deleting it) is ignored, as is a tokens range
 * file without its runs range file; nothing is counted twice. A session directory without a
 * session file yet (being created) is skipped.
 *
 * Speed: a compacted session reads in one scan per range file (milliseconds). Per-run files
 * cost ~0.5 ms per run here (the runs files' glob scan and one schema check per tokens file),
 * ~20 s for 40,000 uncompacted runs, and the tokens scan pays a per-file cost again: compact
 * such a session once ({@linkcode compactSession}).
 *
 * @param dir The dataset directory.
 * @returns The sessions and runs as eager frames (runs sorted by session and `order_index`),
 * the tokens as a lazy frame (a scan); all nodejs-polars frames at run time.
 * @throws {DatasetError} When a file is foreign, corrupt or of another schema version, or a
 * sub-directory is not a session directory; the message is one line naming it.
 *
 * @example Read an empty dataset
 * ```ts
 * import { readDataset } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * const { sessions, runs, tokens } = await readDataset(dir);
 * assert.equal(sessions.height, 0);
 * assert.equal(runs.height, 0);
 * assert.equal((await tokens.collect()).height, 0);
 * await Deno.remove(dir);
 * ```
 */
export async function readDataset(dir: string): Promise<Dataset> {
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(dir));
  } catch (error) {
    throw new DatasetError(`Cannot read dataset "${dir}": ${firstLine(error)}`, dir);
  }
  const sessionIds: string[] = [];
  for (const entry of entries) {
    if (entry.name.startsWith(".") || !entry.isDirectory) continue;
    if (!entry.name.startsWith("session=")) {
      throw new DatasetError(
        `Cannot read dataset "${dir}": "${dir}/${entry.name}" is not a session directory (session=<id>)`,
        `${dir}/${entry.name}`,
      );
    }
    sessionIds.push(entry.name.slice("session=".length));
  }
  sessionIds.sort();

  const sessionFrames: pl.DataFrame[] = [];
  const rangeRuns: pl.DataFrame[] = [];
  const rangeTokens: string[] = [];
  const runFiles: string[] = [];
  const tokenFiles: string[] = [];
  // Tables of sessions written with an older schema version, upgraded (see `upgradeTable()`).
  const upgradedTokens: pl.LazyDataFrame[] = [];
  // Whether the per-run globs below match exactly the per-run files to read.
  let globsExact = true;
  for (const id of sessionIds) {
    const file = `${dir}/${LAYOUT.sessionFile(id)}`;
    const sessionDir = `${dir}/${LAYOUT.sessionDir(id)}`;
    try {
      await Deno.stat(file);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      globsExact = false;
      continue;
    }
    const { frame, version } = readSessionFile(file, id);
    sessionFrames.push(frame);
    const state = sessionState(await listSession(sessionDir), version);
    rangeRuns.push(...state.rangeRuns);
    if (version !== SCHEMA_VERSION) {
      // Read file by file and upgraded; the per-run globs below must not match these files.
      if (state.runFiles.size > 0 || state.obsolete.length > 0) globsExact = false;
      const scan = (path: string): pl.LazyDataFrame => {
        readChecked(path, "tokens", true, version);
        return upgradeTable("tokens", version, pl.scanParquet(path, { hivePartitioning: false }));
      };
      upgradedTokens.push(...state.tokenRanges.map(scan));
      const perRun = [...state.runFiles.values()].map((path) =>
        readChecked(path, "runs", false, version)
      );
      rangeRuns.push(...perRun);
      if (perRun.length > 0 && state.tokenFiles.size > 0) {
        const finished = pl.concat(perRun).select("run_id").lazy();
        upgradedTokens.push(
          ...[...state.tokenFiles.values()].map((path) =>
            scan(path).join(finished, { on: "run_id", how: "semi" })
          ),
        );
      }
      continue;
    }
    for (const path of state.tokenRanges) {
      readChecked(path, "tokens", true);
      rangeTokens.push(path);
    }
    if (state.obsolete.some((path) => RUN_FILE.test(path.slice(path.lastIndexOf("/") + 1)))) {
      globsExact = false;
    }
    runFiles.push(...state.runFiles.values());
    for (const path of state.tokenFiles.values()) {
      readChecked(path, "tokens", true);
      tokenFiles.push(path);
    }
  }
  const sessions = sessionFrames.length > 0
    ? pl.concat(sessionFrames.map((frame) => frame.lazy())).collectSync()
    : emptyTable("sessions");
  const perRunRuns = runFiles.length > 0
    ? readRunFiles(dir, globsExact ? `${dir}/*/runs/run-*.parquet` : runFiles, runFiles)
    : undefined;
  const runFrames = perRunRuns === undefined ? rangeRuns : [...rangeRuns, perRunRuns];
  const runs = runFrames.length > 0
    ? pl.concat(runFrames).sort(["session_id", "order_index"])
    : emptyTable("runs");
  const tokenScans = rangeTokens.map((path) => pl.scanParquet(path, strictScan("tokens")));
  if (perRunRuns !== undefined && tokenFiles.length > 0) {
    tokenScans.push(
      scanFiles(globsExact ? `${dir}/*/tokens/run-*.parquet` : tokenFiles, "tokens")
        .join(perRunRuns.select("run_id").lazy(), { on: "run_id", how: "semi" }),
    );
  }
  tokenScans.push(...upgradedTokens);
  const tokens = tokenScans.length === 0
    ? emptyTable("tokens").lazy()
    : tokenScans.length === 1
    ? tokenScans[0]!
    : pl.concat(tokenScans);
  return { sessions, runs, tokens };
}
