/**
 * The run loop of a suite session: runs what is left of a plan into an open dataset writer,
 * one planned run after another, reporting through callbacks, and finishes the session
 * (`complete`, or `interrupted` by the stop signal or a source failure). Shared by
 * `runSuite()` and `resumeSuite()`, with the option and result types both take.
 *
 * @module
 */

import type { PlannedRun } from "./suite.ts";
import type { SessionPlan } from "./plan.ts";
import type { TokenEvent, TraceSource } from "../tracer/source.ts";
import type { RunRow } from "../dataset/dataset.ts";
import type { DatasetWriter } from "../dataset/writer.ts";

/** What a suite run has done so far, given to {@linkcode SuiteRunOptions.onProgress}. */
export interface SuiteProgress {
  /** Runs of the plan on disk, this one included (runs of an earlier process too). */
  readonly done: number;
  /** Runs in the plan. */
  readonly total: number;
  /** The run just written: its row of the `runs` table. */
  readonly run: RunRow;
  /** The run's entry in the plan. */
  readonly planned: PlannedRun;
}

/** The session a suite run is about to run, given to {@linkcode SuiteRunOptions.onStart}. */
export interface SuiteStart {
  /** The session's plan. */
  readonly plan: SessionPlan;
  /** Session identifier. */
  readonly sessionId: string;
  /** The session directory, `<out>/session=<id>`. */
  readonly sessionDir: string;
  /** Runs of the plan already on disk (a resumed session); 0 for a new one. */
  readonly done: number;
  /** The planned runs still to run, in order. */
  readonly remaining: readonly PlannedRun[];
}

/** Callbacks and stop signal shared by {@linkcode runSuite} and {@linkcode resumeSuite}. */
export interface SuiteRunOptions {
  /**
   * Stops the session after the token in flight: the unfinished run is dropped, every
   * finished run is kept and the session is marked `interrupted` (resume it with
   * {@linkcode resumeSuite}).
   * @default {undefined}
   */
  signal?: AbortSignal;
  /**
   * Called once after each finished run has been written, with runs done, runs planned and
   * the run's row.
   * @default {undefined}
   */
  onProgress?: (progress: SuiteProgress) => void;
  /**
   * Called once when the session directory exists and the runs are about to start, with the
   * plan and what remains of it.
   * @default {undefined}
   */
  onStart?: (start: SuiteStart) => void;
  /**
   * Called before each run starts.
   * @default {undefined}
   */
  onRunStart?: (run: PlannedRun) => void;
  /**
   * Called for each token as it becomes available (after the next decode step has been
   * dispatched; see `TraceStream`), for live display.
   * @default {undefined}
   */
  onToken?: (event: TokenEvent) => void;
  /**
   * Called with each warning the source logged during a run (llama.cpp's warnings for a
   * session on a GGUF file), after the run.
   * @default {undefined}
   */
  onWarning?: (text: string) => void;
  /**
   * Called when a multi-thread run is about to wait (up to 11 s) for Deno's idle worker
   * threads to exit before its clock starts (see `TraceOptions.settleThreadPool`), so a
   * caller can say why nothing moves.
   * @default {undefined}
   */
  onThreadPoolWait?: () => void;
  /**
   * Called during a run's prefill of more than one batch, once per batch but the last (see
   * `TraceOptions.onPrefillBatch`: one clock read per batch inside the measured prefill,
   * nothing per token), with the run, the input tokens evaluated so far and in all, and the
   * ms since the run's clock started.
   * @default {undefined}
   */
  onPrefill?: (progress: PrefillProgress) => void;
}

/** A run's prefill so far, given to {@linkcode SuiteRunOptions.onPrefill}. */
export interface PrefillProgress {
  /** The run prefilling. */
  readonly run: PlannedRun;
  /** Input tokens (depth filler and prompt) evaluated so far. */
  readonly done: number;
  /** Input tokens of the run in all. */
  readonly total: number;
  /** Since the run's clock started, ms. */
  readonly elapsedMs: number;
}

/** What {@linkcode runSuite} and {@linkcode resumeSuite} did. */
export interface SuiteResult {
  /** Session identifier. */
  readonly sessionId: string;
  /** The session directory, `<datasetDir>/session=<id>`. */
  readonly sessionDir: string;
  /** The dataset directory (read it with `readDataset()`). */
  readonly datasetDir: string;
  /**
   * `complete`, or `interrupted` when the signal stopped the session or the source failed
   * mid-run (then `error` says why).
   */
  readonly status: "complete" | "interrupted";
  /**
   * Why the source failed mid-run, when it did: that run is recorded with stop reason `error`
   * at an `order_index` after the plan's, and the session stops; resuming runs its planned
   * position again. Absent otherwise.
   */
  readonly error?: string;
  /** Runs of the plan on disk. */
  readonly runsDone: number;
  /** Runs run by this call. */
  readonly runsRun: number;
  /** The session's plan. */
  readonly plan: SessionPlan;
}

export /** Runs what is left of a plan into an open writer, then finishes the session. */
async function runPlan(
  source: TraceSource,
  plan: SessionPlan,
  writer: DatasetWriter,
  datasetDir: string,
  options: SuiteRunOptions,
): Promise<SuiteResult> {
  const {
    signal,
    onProgress,
    onStart,
    onRunStart,
    onToken,
    onWarning,
    onThreadPoolWait,
    onPrefill,
  } = options;
  // Runs recorded after the plan's positions are failed runs (stop reason error): not done.
  const onDisk = new Set(writer.finishedRuns.filter((order) => order < plan.runs.length));
  const remaining = plan.runs.filter((run) => !onDisk.has(run.orderIndex));
  const suite = plan.suiteDefinition;
  const pin = plan.pin ?? "off";
  onStart?.({
    plan,
    sessionId: writer.sessionId,
    sessionDir: writer.sessionDir,
    done: onDisk.size,
    remaining,
  });
  let done = onDisk.size;
  let runsRun = 0;
  let failure: string | undefined;
  let warningsSeen = source.warnings?.length ?? 0;
  for (const run of remaining) {
    if (signal?.aborted === true) break;
    onRunStart?.(run);
    const live = source.stream(run.text, {
      mode: run.mode,
      maxTokens: run.maxTokens,
      temperature: suite.sampling.temperature,
      topK: suite.sampling.topK,
      topP: suite.sampling.topP,
      seed: suite.sampling.seed,
      depth: run.depth,
      promptId: run.promptId,
      promptClass: run.promptClass,
      tags: run.promptTags,
      threads: run.threads,
      batchSize: run.batchSize,
      contextSize: plan.contextSize,
      ...(signal === undefined ? {} : { signal }),
      cpuAffinity: pin,
      // With several idle threads in Deno's pool, llama_decode calls move between pool
      // threads and 2-thread decode runs at about half speed (BENCHMARKS.md); the tracer waits
      // for idle threads to exit before its clock starts, and this lets a caller say so.
      ...(onThreadPoolWait === undefined ? {} : { onThreadPoolWait }),
      ...(onPrefill === undefined ? {} : {
        onPrefillBatch: (done: number, total: number, elapsedMs: number) =>
          onPrefill({ run, done, total, elapsedMs }),
      }),
    });
    for await (const event of live) onToken?.(event);
    const result = await live.result;
    const warnings = source.warnings ?? [];
    for (const warning of warnings.slice(warningsSeen)) onWarning?.(warning);
    warningsSeen = warnings.length;
    if (result.summary.stop_reason === "interrupted") break;
    if (result.summary.stop_reason === "error") {
      // The source failed mid-run (e.g. a server died or hung): the run is recorded, after
      // the plan's positions so that resuming runs its planned position again, and the
      // session stops (interrupted) without counting it as done.
      const order = Math.max(plan.runs.length, ...writer.finishedRuns.map((o) => o + 1));
      await writer.writeRun({
        ...result.summary,
        order_index: order,
        repetition: run.repetition,
        warmup: run.warmup,
      }, result.tokens);
      failure = (source as { lastError?: string }).lastError ?? "the source failed mid-run";
      break;
    }
    const record = {
      ...result.summary,
      order_index: run.orderIndex,
      repetition: run.repetition,
      warmup: run.warmup,
    };
    const runId = await writer.writeRun(record, result.tokens);
    done++;
    runsRun++;
    onProgress?.({
      done,
      total: plan.runs.length,
      run: { ...record, session_id: writer.sessionId, run_id: runId },
      planned: run,
    });
  }
  const status = signal?.aborted === true || failure !== undefined ? "interrupted" : "complete";
  await writer.finish(status);
  return {
    sessionId: writer.sessionId,
    sessionDir: writer.sessionDir,
    datasetDir,
    status,
    runsDone: done,
    runsRun,
    plan,
    ...(failure === undefined ? {} : { error: failure }),
  };
}
