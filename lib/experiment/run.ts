/**
 * The experiment runner: run a suite on a model (or any trace source), writing every run to
 * a dataset session as it finishes, and resume an interrupted session. `deno task trace` is a
 * thin layer over {@linkcode runSuite} and {@linkcode resumeSuite}.
 *
 * A session goes through: the suite (validated, with option overrides), the output directory
 * (checked writable, holding only sessions), the model (validated; prompt tokens counted so
 * depth + prompt + output is known to fit the context), the source (opened), the plan
 * (expanded, stored as `plan.json`, see {@linkcode SessionPlan}), then the runs in plan order.
 * Bad input is found before anything is written and thrown as an {@linkcode ExperimentError}.
 *
 * @module
 */

import { GgufError, type GgufInfo, readGguf, validateGguf } from "../gguf/gguf.ts";
import {
  expandPlan,
  loadSuite,
  parseSuite,
  type PlannedRun,
  resolveSuite,
  type Suite,
} from "./suite.ts";
import { parsePlan, PLAN_VERSION, type SessionPlan } from "./plan.ts";
import {
  countPromptTokens,
  type GpuChoice,
  openSession,
  type TokenEvent,
  type TraceSource,
} from "../tracer/tracer.ts";
import { BackendError } from "../tracer/backend.ts";
import type { RunRow } from "../dataset/dataset.ts";
import { DatasetWriter } from "../dataset/writer.ts";

/** The default dataset directory of {@linkcode runSuite} (and of `deno task trace`). */
export const DEFAULT_OUT = "data/traces";
/** The estimated plan prefill time above which `confirmLongPrefill` is asked, seconds. */
const LONG_PREFILL_SECONDS = 600;
/** The default batch size for runs (llama.cpp's default). */
const DEFAULT_BATCH_SIZE = 512;
/** The smallest context size a session gets (more when depth + prompt + output need it). */
const DEFAULT_CONTEXT = 4096;

/**
 * Bad input to {@linkcode runSuite} or {@linkcode resumeSuite}: a suite, option, model, output
 * directory or session that cannot be used. Thrown before anything is written; the message
 * is one line saying what was wrong, with which value. Errors while running are not this
 * class.
 *
 * @example Catch bad input apart from failures while running
 * ```ts
 * import { ExperimentError, runSuite } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const out = await Deno.makeTempDir();
 * await assert.rejects(
 *   runSuite("no/such/model.gguf", "default", { out }),
 *   (error) => error instanceof ExperimentError && /no such file/.test(error.message),
 * );
 * assert.deepEqual([...Deno.readDirSync(out)], []); // nothing written
 * await Deno.remove(out);
 * ```
 */
export class ExperimentError extends Error {
  /**
   * Creates the error.
   *
   * @param message One line: what was wrong, which value, what to do.
   * @param options The underlying error, if any.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ExperimentError";
  }
}

function fail(message: string, cause?: unknown): never {
  throw new ExperimentError(message, cause === undefined ? undefined : { cause });
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, " ").trim();
}

/** What a suite run has done so far, given to {@linkcode RunSuiteOptions.onProgress}. */
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

/** The session a suite run is about to run, given to {@linkcode RunSuiteOptions.onStart}. */
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

/** A plan's estimated prefill time, given to {@linkcode RunSuiteOptions.confirmLongPrefill}. */
export interface PrefillEstimate {
  /** Input tokens (depth filler and prompt) the planned runs prefill in all. */
  readonly tokens: number;
  /** Prefill rate the probe measured, tokens per second. */
  readonly tokensPerSecond: number;
  /** `tokens / tokensPerSecond`: the estimated prefill time of the plan, seconds. */
  readonly seconds: number;
}

/** Options of {@linkcode runSuite}: where to write, overrides of the suite, settings, callbacks. */
export interface RunSuiteOptions extends SuiteRunOptions {
  /**
   * Dataset directory; the session is written to `<out>/session=<id>/`. It must be empty,
   * absent or a dataset (only `session=<id>` directories and hidden entries).
   * @default {"data/traces"}
   */
  out?: string;
  /**
   * Compute threads: one count, a list to sweep, or `"cores"` to sweep 1 up to the physical
   * cores. Replaces the suite's threads sweep.
   * @default {the suite's sweep, else the session's threads (a path: the physical cores)}
   */
  threads?: number | readonly number[] | "cores";
  /**
   * Measured repetitions per prompt and setting; replaces the suite's.
   * @default {the suite's}
   */
  repetitions?: number;
  /**
   * Recorded warm-up runs per prompt and setting; replaces the suite's.
   * @default {the suite's}
   */
  warmup?: number;
  /**
   * Output token budget of every prompt; replaces each prompt's own.
   * @default {each prompt's own}
   */
  maxTokens?: number;
  /**
   * Context depths to sweep (filler tokens before the prompt); replaces the suite's sweep.
   * @default {the suite's sweep, else 0}
   */
  depth?: readonly number[];
  /**
   * Seed of the run-order shuffle; replaces the suite's.
   * @default {the suite's}
   */
  seed?: number;
  /**
   * Compute backend, when `model` is a path (a trace source has its own).
   * @default {"auto"}
   */
  gpu?: GpuChoice;
  /**
   * CPU pinning: `"auto"` pins one-thread runs to one CPU (recorded as `cpu_affinity`, see
   * `TraceOptions.cpuAffinity`); `"off"` never pins.
   * @default {"auto"}
   */
  pin?: "auto" | "off";
  /**
   * Asked before anything is written when the plan's prefill alone is estimated to take more
   * than `longPrefillSeconds`. The estimate: a probe run (one batch of depth filler and one
   * output token, not recorded; run twice, the first pays one-time costs) measures the
   * prefill rate, and the plan's input tokens at that
   * rate give the time; it is a lower bound where attention cost grows with depth. The probe
   * runs only for plans of at least 8 batches of input tokens. Resolve `false` to stop:
   * `runSuite` then throws an {@linkcode ExperimentError}, having written nothing. Without
   * this callback there is no probe.
   * @default {undefined}
   */
  confirmLongPrefill?: (estimate: PrefillEstimate) => boolean | Promise<boolean>;
  /**
   * The estimated prefill time above which `confirmLongPrefill` is asked, seconds.
   * @default {600}
   */
  longPrefillSeconds?: number;
}

/** Options of {@linkcode resumeSuite}. */
export interface ResumeSuiteOptions extends SuiteRunOptions {
  /**
   * The model: a GGUF path or an open trace source; it must be the model the session used
   * (same SHA-256 and backend).
   * @default {the model path stored in the plan}
   */
  model?: string | TraceSource;
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

async function statOrUndefined(path: string): Promise<Deno.FileInfo | undefined> {
  try {
    return await Deno.stat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
      return undefined;
    }
    throw error;
  }
}

/** The directory holding `path` (`.` for a bare name). */
export function parentOf(path: string): string {
  const trimmed = path.replace(/\/+$/, "");
  const at = trimmed.lastIndexOf("/");
  return at < 0 ? "." : at === 0 ? "/" : trimmed.slice(0, at);
}

/**
 * Checks that `dir` can be created and written, without leaving anything behind: the
 * nearest existing ancestor must be a directory in which a probe directory can be made.
 *
 * @throws {ExperimentError} When it cannot.
 */
export async function checkWritableDir(dir: string, what: string): Promise<void> {
  let existing = dir;
  let info = await statOrUndefined(existing);
  while (info === undefined) {
    const parent = parentOf(existing);
    if (parent === existing) break;
    existing = parent;
    info = await statOrUndefined(existing);
  }
  if (info === undefined || !info.isDirectory) {
    fail(
      `Cannot write ${what} to ${JSON.stringify(dir)}: ${
        JSON.stringify(existing)
      } is not a directory`,
    );
  }
  try {
    const probe = await Deno.makeTempDir({ dir: existing, prefix: ".tokentrace-probe-" });
    await Deno.remove(probe);
  } catch (error) {
    fail(
      `Cannot write ${what} to ${JSON.stringify(dir)}: ${
        JSON.stringify(existing)
      } is not writable (${oneLine((error as Error).message)})`,
      error,
    );
  }
}

/**
 * Checks a dataset output directory: writable, and (when it exists) holding only session
 * directories and hidden entries.
 *
 * @throws {ExperimentError} When it is not.
 */
export async function checkDatasetOut(dir: string): Promise<void> {
  await checkWritableDir(dir, "the dataset");
  if ((await statOrUndefined(dir))?.isDirectory !== true) return;
  for await (const entry of Deno.readDir(dir)) {
    if (entry.name.startsWith(".") || (entry.isDirectory && entry.name.startsWith("session="))) {
      continue;
    }
    fail(
      `Cannot write the dataset to ${JSON.stringify(dir)}: it holds ${
        JSON.stringify(entry.name)
      }, which is not a session=<id> directory; use an empty or dataset directory`,
    );
  }
}

async function readModelInfo(path: string): Promise<GgufInfo> {
  const info = await statOrUndefined(path);
  if (info === undefined) fail(`Cannot read model ${JSON.stringify(path)}: no such file`);
  if (info.isDirectory) {
    fail(`Cannot read model ${JSON.stringify(path)}: it is a directory, expected a GGUF file`);
  }
  try {
    const gguf = await readGguf(path);
    validateGguf(gguf);
    return gguf;
  } catch (error) {
    if (error instanceof GgufError) fail(oneLine(error.message), error);
    throw error;
  }
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

/** A suite as JSON (the shape `parseSuite()` reads): empty optional values left out. */
function suiteJson(suite: Suite): Record<string, unknown> {
  return {
    name: suite.name,
    ...(suite.description === "" ? {} : { description: suite.description }),
    prompts: suite.prompts.map(({ tags, ...prompt }) => ({
      ...prompt,
      ...(tags.length === 0 ? {} : { tags }),
    })),
    repetitions: suite.repetitions,
    warmup: suite.warmup,
    order: suite.order,
    seed: suite.seed,
    sampling: suite.sampling,
    sweeps: suite.sweeps,
  };
}

/**
 * The suite after the options that override it. The overridden suite is validated again as a
 * whole (as JSON, by `parseSuite()`), so a bad override fails like a bad suite file; the
 * returned suite keeps the key order of the given one (plan.json stays byte-identical to what
 * `deno task trace` wrote before the runner moved here).
 */
function applyOverrides(suite: Suite, source: string, options: RunSuiteOptions): Suite {
  const { threads, repetitions, warmup, maxTokens, depth, seed } = options;
  const threadList = typeof threads === "number" ? [threads] : threads;
  const overridden: Suite = {
    ...suite,
    prompts: maxTokens === undefined
      ? suite.prompts
      : suite.prompts.map((prompt) => ({ ...prompt, maxTokens })),
    repetitions: repetitions ?? suite.repetitions,
    warmup: warmup ?? suite.warmup,
    seed: seed ?? suite.seed,
    sweeps: {
      ...suite.sweeps,
      ...(threadList === undefined ? {} : { threads: threadList }),
      ...(depth === undefined ? {} : { depth }),
    },
  };
  parseSuite(suiteJson(overridden), source);
  return overridden;
}

/**
 * A suite object as `parseSuite()` reads it: a `Suite` value (as `loadSuite()` returns it) has
 * an empty description and empty tag lists where the JSON shape leaves the keys out.
 */
function suiteValue(value: object): object {
  const record = { ...value } as Record<string, unknown>;
  if (record.description === "") delete record.description;
  if (Array.isArray(record.prompts)) {
    record.prompts = record.prompts.map((prompt: unknown) => {
      if (typeof prompt !== "object" || prompt === null) return prompt;
      const { tags, ...rest } = prompt as Record<string, unknown>;
      return Array.isArray(tags) && tags.length === 0 ? rest : prompt;
    });
  }
  return record;
}

async function loadSuiteInput(suite: string | object): Promise<{ suite: Suite; name: string }> {
  try {
    if (typeof suite === "string") return { suite: await loadSuite(suite), name: suite };
    const source = typeof (suite as { name?: unknown }).name === "string"
      ? (suite as { name: string }).name
      : "suite";
    const parsed = parseSuite(suiteValue(structuredClone(suite)), source);
    return { suite: parsed, name: parsed.name };
  } catch (error) {
    if (error instanceof ExperimentError) throw error;
    fail(oneLine((error as Error).message), error);
  }
}

/** Prompt token counts by id: the model's own tokenizer and chat template. */
async function promptCounts(
  model: string | TraceSource,
  suite: Suite,
  gpu: GpuChoice,
): Promise<Record<string, number>> {
  let counted: number[] | undefined;
  try {
    counted = typeof model === "string"
      ? await countPromptTokens(model, suite.prompts, { gpu })
      : await model.countPromptTokens?.(suite.prompts);
  } catch (error) {
    if (error instanceof GgufError || error instanceof BackendError) {
      fail(oneLine(error.message), error);
    }
    throw error;
  }
  if (counted === undefined) return {};
  return Object.fromEntries(suite.prompts.map((p, i) => [p.id, counted[i]!]));
}

/**
 * The largest depth + prompt + output of the suite's runs, checked against a context limit.
 *
 * @throws {ExperimentError} When a prompt does not fit.
 */
function neededContext(
  suite: Suite,
  counts: Readonly<Record<string, number>>,
  limit: number,
  what: string,
): number {
  const maxDepth = Math.max(...(suite.sweeps.depth ?? [0]));
  let needed = 0;
  for (const prompt of suite.prompts) {
    const promptTokens = counts[prompt.id];
    if (promptTokens === undefined) continue;
    const total = maxDepth + promptTokens + prompt.maxTokens;
    if (total > limit) {
      fail(
        `Cannot plan runs of prompt ${
          JSON.stringify(prompt.id)
        }: depth ${maxDepth} + prompt ${promptTokens} + max tokens ${prompt.maxTokens} = ${total} tokens exceed ${what} ${limit}`,
      );
    }
    needed = Math.max(needed, total);
  }
  return needed;
}

function checkOptions(options: RunSuiteOptions): void {
  const { gpu = "auto", pin = "auto" } = options;
  if (!["auto", "metal", "cuda", "vulkan", "cpu"].includes(gpu)) {
    fail(
      `Cannot run suite: gpu must be auto, metal, cuda, vulkan or cpu, found ${
        JSON.stringify(gpu)
      }`,
    );
  }
  if (pin !== "auto" && pin !== "off") {
    fail(`Cannot run suite: pin must be "auto" or "off", found ${JSON.stringify(pin)}`);
  }
  const { longPrefillSeconds = LONG_PREFILL_SECONDS } = options;
  if (!Number.isFinite(longPrefillSeconds) || longPrefillSeconds <= 0) {
    fail(
      `Cannot run suite: longPrefillSeconds must be a positive number of seconds, found ${longPrefillSeconds}`,
    );
  }
}

/**
 * Runs an experiment suite on a model and writes every run to a new dataset session.
 *
 * The suite is validated and expanded into a plan (every prompt × setting, warm-ups first,
 * in the suite's order; see `expandPlan()`), stored as `plan.json`. Runs are written one by
 * one as they finish, so an interruption (the `signal`, or a crash) loses at most the run in
 * flight. A model given as a path is opened with `openSession()` (threads: the first of the
 * threads sweep, else the physical cores; the context size fits the longest run, at least
 * 4096 tokens) and closed at the end; a trace source is used as is and left open.
 *
 * @param model A GGUF model path, or an open {@linkcode TraceSource} (e.g. a `Session`).
 * @param suite A built-in suite name (see `BUILTIN_SUITES`), a suite JSON path, or a suite
 * object: in the JSON shape (see `parseSuite()`), or a `Suite` as `loadSuite()` returns it.
 * @param options Output directory, overrides, settings, stop signal and callbacks.
 * @returns The session's id, directory, status and plan.
 * @throws {ExperimentError} On bad input, before anything is written.
 *
 * @example Run a small suite on a tiny synthetic model
 * ```ts
 * import { readDataset, runSuite, writeSyntheticModel } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * const { path } = await writeSyntheticModel(`${dir}/tiny.gguf`, { preset: "lfm2-tiny" });
 * const seen: number[] = [];
 * const result = await runSuite(path, {
 *   prompts: [{ id: "count", class: "simple", text: "Count 1 to 10", maxTokens: 8 }],
 *   repetitions: 2,
 *   warmup: 1,
 * }, { out: `${dir}/traces`, threads: 1, gpu: "cpu", onProgress: ({ done }) => seen.push(done) });
 * assert.equal(result.status, "complete");
 * assert.deepEqual(seen, [1, 2, 3]);
 * assert.equal((await readDataset(result.datasetDir)).runs.height, 3);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function runSuite(
  model: string | TraceSource,
  suite: string | object,
  options: RunSuiteOptions = {},
): Promise<SuiteResult> {
  const { out = DEFAULT_OUT, gpu = "auto", pin = "auto" } = options;
  checkOptions(options);
  const loaded = await loadSuiteInput(suite);
  const definition = applyOverridesChecked(loaded.suite, loaded.name, options);
  await checkDatasetOut(out);

  let source: TraceSource;
  let counts: Record<string, number>;
  let contextSize: number;
  if (typeof model === "string") {
    const gguf = await readModelInfo(model);
    counts = await promptCounts(model, definition, gpu);
    const trainContext = gguf.contextLength ?? Infinity;
    const needed = neededContext(definition, counts, trainContext, "the model's context size");
    contextSize = Math.min(trainContext, Math.max(DEFAULT_CONTEXT, Math.ceil(needed / 256) * 256));
    const threadsList = definition.sweeps.threads;
    source = await openSession(model, {
      ...(threadsList === undefined || threadsList === "cores" ? {} : { threads: threadsList[0]! }),
      gpu,
      contextSize,
      batchSize: definition.sweeps.batchSize?.[0] ?? DEFAULT_BATCH_SIZE,
    });
  } else {
    source = model;
    counts = await promptCounts(model, definition, gpu);
    // An endpoint may not say its context size (null): then each run finds out.
    contextSize = model.info.context_size ?? 0;
    if (model.info.context_size !== null) {
      neededContext(definition, counts, contextSize, "the source's context size");
    }
  }
  try {
    const info = source.info;
    // "cores" becomes 1..physical cores here, once; plan.json keeps the list for resuming.
    const resolved = resolveSuite(definition, { cores: info.cpu_math_cores ?? undefined });
    // An endpoint's threads are the server's and unknown (null): its runs record null, and
    // the plan's thread count (1) only fills the plan's shape.
    const threads = info.threads ?? 1;
    const plan: SessionPlan = {
      planVersion: PLAN_VERSION,
      suite: loaded.name,
      suiteDefinition: resolved,
      ...(definition.sweeps.threads === "cores" ? { threadsGiven: "cores" as const } : {}),
      model: { path: info.model_path, sha256: info.model_sha256, synthetic: info.model_synthetic },
      gpu: typeof model === "string" ? gpu : info.gpu_requested || "auto",
      pin,
      backend: info.backend,
      threads,
      contextSize,
      promptTokens: counts,
      runs: expandPlan(resolved, { threads, batchSize: DEFAULT_BATCH_SIZE }),
    };
    if (options.confirmLongPrefill !== undefined) {
      await checkPrefillTime(source, plan, options.confirmLongPrefill, options.longPrefillSeconds);
    }
    const writer = await DatasetWriter.create(out, info, {
      suite: loaded.name,
      seed: definition.seed,
      plan,
    });
    return await runPlan(source, plan, writer, out, options);
  } finally {
    if (typeof model === "string") await source.close();
  }
}

/**
 * Estimates the plan's prefill time from a probe run and asks `confirm` when it exceeds
 * `limitSeconds`; throws an ExperimentError when the answer is no.
 */
async function checkPrefillTime(
  source: TraceSource,
  plan: SessionPlan,
  confirm: (estimate: PrefillEstimate) => boolean | Promise<boolean>,
  limitSeconds = LONG_PREFILL_SECONDS,
): Promise<void> {
  const tokens = plan.runs.reduce(
    (sum, run) => sum + run.depth + (plan.promptTokens[run.promptId] ?? 0),
    0,
  );
  const first = plan.runs[0];
  if (first === undefined) return;
  const batch = first.batchSize;
  if (tokens < 8 * batch) return;
  const probeOptions = {
    mode: "raw",
    depth: batch - 1,
    maxTokens: 1,
    threads: first.threads,
    batchSize: batch,
    contextSize: plan.contextSize,
    cpuAffinity: plan.pin ?? "off",
  } as const;
  // Twice: a session's first prefill also pays one-time costs (buffers, the model's pages).
  await source.trace("", probeOptions);
  const probe = await source.trace("", probeOptions);
  // A source that cannot tell prefill from the first token (an endpoint) gives its ttft.
  const probeMs = probe.summary.prefill_ms ?? probe.summary.ttft_ms;
  if (probeMs === null || !(probeMs > 0)) return;
  const tokensPerSecond = (batch - 1 + probe.summary.prompt_tokens) / (probeMs / 1000);
  const seconds = tokens / tokensPerSecond;
  if (seconds <= limitSeconds) return;
  if (!await confirm({ tokens, tokensPerSecond, seconds })) {
    fail(
      `Cannot run the plan: its prefill alone would take about ${
        Math.round(seconds / 60)
      } minutes (${tokens} input tokens at ${
        tokensPerSecond.toFixed(0)
      } tokens/s, measured by a probe), more than ${Math.round(limitSeconds / 60)} minutes`,
    );
  }
}

function applyOverridesChecked(suite: Suite, source: string, options: RunSuiteOptions): Suite {
  try {
    return applyOverrides(suite, source, options);
  } catch (error) {
    fail(oneLine((error as Error).message), error);
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

/** Runs what is left of a plan into an open writer, then finishes the session. */
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
