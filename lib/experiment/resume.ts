/**
 * Resuming a suite session: read its stored plan and run the planned runs not on disk yet
 * with the session's own settings.
 *
 * @module
 */

import { parsePlan, type SessionPlan } from "./plan.ts";
import { openSession } from "../tracer/tracer.ts";
import type { TraceSource } from "../tracer/source.ts";
import { DatasetWriter } from "../dataset/writer.ts";
import {
  checkWritableDir,
  DEFAULT_BATCH_SIZE,
  fail,
  neededContext,
  oneLine,
  parentOf,
  promptCounts,
  readModelInfo,
  statOrUndefined,
} from "./inputs.ts";
import { runPlan, type SuiteResult, type SuiteRunOptions } from "./run_loop.ts";

/** Options of {@linkcode resumeSuite}. */
export interface ResumeSuiteOptions extends SuiteRunOptions {
  /**
   * The model: a GGUF path or an open trace source; it must be the model the session used
   * (same SHA-256 and backend).
   * @default {the model path stored in the plan}
   */
  model?: string | TraceSource;
}

/**
 * Reads and checks the plan of a session directory.
 *
 * @param sessionDir A `session=<id>` directory written by {@linkcode runSuite}.
 * @returns The plan.
 * @throws {ExperimentError} When there is no such directory or no readable version 1 plan.
 *
 * @example Read the sample trace's plan
 * ```ts
 * import { readPlan } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const dir = new URL("../../data/sample-trace/session=20261124T070333Z-ccfce0", import.meta.url);
 * const plan = await readPlan(dir.pathname);
 * assert.equal(plan.suite, "default");
 * await assert.rejects(readPlan("/no/such/session"), /no such session directory/);
 * ```
 */
export async function readPlan(sessionDir: string): Promise<SessionPlan> {
  const path = `${sessionDir.replace(/\/+$/, "")}/plan.json`;
  const dirInfo = await statOrUndefined(sessionDir);
  if (dirInfo === undefined || !dirInfo.isDirectory) {
    fail(`Cannot resume ${JSON.stringify(sessionDir)}: no such session directory`);
  }
  let value: unknown;
  try {
    value = JSON.parse(await Deno.readTextFile(path));
  } catch (error) {
    fail(
      `Cannot resume ${JSON.stringify(sessionDir)}: cannot read its plan.json (${
        oneLine((error as Error).message)
      })`,
      error,
    );
  }
  try {
    return parsePlan(value, path);
  } catch (error) {
    fail(
      `Cannot resume ${
        JSON.stringify(sessionDir)
      }: plan.json was not written by this trace version`,
      error,
    );
  }
}

/**
 * Runs the planned runs of an interrupted (or crashed) session that are not on disk yet, with
 * the session's stored settings, and marks it complete (or interrupted again).
 *
 * @param sessionDir The `session=<id>` directory.
 * @param options The model (default: the stored path), stop signal and callbacks.
 * @returns The session's id, directory, status and plan.
 * @throws {ExperimentError} On a missing or unreadable session, or another model or backend.
 *
 * @example Finish an interrupted session
 * ```ts
 * import { readDataset, resumeSuite, runSuite, writeSyntheticModel } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * const { path } = await writeSyntheticModel(`${dir}/tiny.gguf`, { preset: "lfm2-tiny" });
 * const stop = new AbortController();
 * const suite = {
 *   prompts: [{ id: "count", class: "simple", text: "Count 1 to 10", maxTokens: 8 }],
 *   repetitions: 3,
 *   warmup: 0,
 * };
 * const first = await runSuite(path, suite, {
 *   out: `${dir}/traces`, threads: 1, gpu: "cpu", onProgress: () => stop.abort(), signal: stop.signal,
 * });
 * assert.equal(first.status, "interrupted");
 * assert.equal(first.runsDone, 1);
 * const rest = await resumeSuite(first.sessionDir);
 * assert.equal(rest.status, "complete");
 * assert.equal(rest.runsRun, 2);
 * assert.equal((await readDataset(`${dir}/traces`)).runs.height, 3);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function resumeSuite(
  sessionDir: string,
  options: ResumeSuiteOptions = {},
): Promise<SuiteResult> {
  const plan = await readPlan(sessionDir);
  await checkWritableDir(sessionDir, "the resumed session");
  const { model = plan.model.path } = options;
  const suite = plan.suiteDefinition;
  let source: TraceSource;
  if (typeof model === "string") {
    const gguf = await readModelInfo(model);
    const counts = await promptCounts(model, suite, plan.gpu);
    neededContext(suite, counts, gguf.contextLength ?? Infinity, "the model's context size");
    source = await openSession(model, {
      threads: plan.threads,
      gpu: plan.gpu,
      contextSize: plan.contextSize,
      batchSize: plan.runs[0]?.batchSize ?? suite.sweeps.batchSize?.[0] ?? DEFAULT_BATCH_SIZE,
    });
  } else {
    source = model;
    const counts = await promptCounts(model, suite, plan.gpu);
    if (model.info.context_size !== null) {
      neededContext(suite, counts, model.info.context_size, "the source's context size");
    }
  }
  try {
    const info = source.info;
    const name = typeof model === "string" ? JSON.stringify(model) : "of the trace source";
    if (info.model_sha256 !== plan.model.sha256) {
      fail(
        `Cannot resume ${JSON.stringify(sessionDir)}: model ${name} has sha256 ${
          info.model_sha256.slice(0, 12)
        }..., the session used ${
          plan.model.sha256.slice(0, 12)
        }...; a resumed session needs the same model file`,
      );
    }
    if (info.backend !== plan.backend) {
      fail(
        `Cannot resume ${
          JSON.stringify(sessionDir)
        }: backend ${info.backend} differs from the session's ${plan.backend}`,
      );
    }
    const writer = await DatasetWriter.resume(sessionDir);
    return await runPlan(source, plan, writer, parentOf(sessionDir), options);
  } finally {
    if (typeof model === "string") await source.close();
  }
}
