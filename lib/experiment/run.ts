/**
 * The experiment runner: run a suite on a model (or any trace source), writing every run to
 * a new dataset session as it finishes (resume.ts resumes an interrupted one; run_loop.ts
 * holds the loop both share). `deno task trace` is a thin layer over {@linkcode runSuite}
 * and `resumeSuite()`.
 *
 * A session goes through: the suite (validated, with option overrides), the output directory
 * (checked writable, holding only sessions), the model (validated; prompt tokens counted so
 * depth + prompt + output is known to fit the context), the source (opened), the plan
 * (expanded, stored as `plan.json`, see {@linkcode SessionPlan}), then the runs in plan order.
 * Bad input is found before anything is written and thrown as an {@linkcode ExperimentError}.
 *
 * Folder `lib/experiment/`: suites, plans, the runner (`runSuite()`), the thread probe and the
 * thread recommender. May import: dataset, tracer, runtime, gguf, schema, stats.
 *
 * @module
 */

import { expandPlan, loadSuite, parseSuite, resolveSuite, type Suite } from "./suite.ts";
import { PLAN_VERSION, type SessionPlan } from "./plan.ts";
import { type GpuChoice, openSession } from "../tracer/tracer.ts";
import type { TraceSource } from "../tracer/source.ts";
import { DatasetWriter } from "../dataset/writer.ts";
import {
  checkDatasetOut,
  DEFAULT_BATCH_SIZE,
  ExperimentError,
  fail,
  neededContext,
  oneLine,
  promptCounts,
  readModelInfo,
} from "./inputs.ts";
import { runPlan, type SuiteResult, type SuiteRunOptions } from "./run_loop.ts";

/** The default dataset directory of {@linkcode runSuite} (and of `deno task trace`). */
export const DEFAULT_OUT = "data/traces";
/** The estimated plan prefill time above which `confirmLongPrefill` is asked, seconds. */
const LONG_PREFILL_SECONDS = 600;
/** The smallest context size a session gets (more when depth + prompt + output need it). */
const DEFAULT_CONTEXT = 4096;

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
