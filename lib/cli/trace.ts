// The `trace` subcommand: run an experiment suite on a model, write every run to a
// dataset, show progress on stderr and print a per-prompt summary on stdout.
//
// Exit codes: 0 done, 1 failure while running, 2 bad input (nothing written),
// 130 interrupted by SIGINT/SIGTERM (finished runs kept, session marked interrupted).

import process from "node:process";
import { defineCommand, type FlagSpec, type ParsedFlags, parseFlags, UsageError } from "./args.ts";
import { Progress } from "./progress.ts";
import { BUILTIN_SUITES, loadSuite, type PlannedRun, SUITE_DEFAULTS } from "../experiment/suite.ts";
import type { SessionPlan } from "../experiment/plan.ts";
import {
  checkDatasetOut,
  checkWritableDir,
  ExperimentError,
  parentOf,
} from "../experiment/inputs.ts";
import {
  DEFAULT_OUT,
  type PrefillEstimate,
  runSuite,
  type RunSuiteOptions,
} from "../experiment/run.ts";
import { readPlan, resumeSuite } from "../experiment/resume.ts";
import type { SuiteResult, SuiteRunOptions } from "../experiment/run_loop.ts";
import { readDataset } from "../dataset/read.ts";
import { BackendError, loadLlama } from "../tracer/backend.ts";
import pl from "nodejs-polars";
import { type EndpointSession, openEndpointSession } from "../endpoint/endpoint.ts";
import { type EndpointApi, EndpointError } from "../endpoint/server.ts";
import { summarizeSession, type TraceSummary } from "../present/summary.ts";
import { formatSummary } from "../present/summary_text.ts";

/** The model used when `--model` is not given: made once by the synth module. */
export const DEFAULT_MODEL = "data/models/lfm2-350m-q8_0.gguf";
const GPU_CHOICES = ["auto", "metal", "cuda", "vulkan", "cpu"] as const;
type GpuChoice = (typeof GPU_CHOICES)[number];

/** Flags of `trace` (`--help` aside); `--help` prints them with each default. */
export const TRACE_FLAGS: readonly FlagSpec[] = [
  {
    name: "model",
    kind: "string",
    placeholder: "<path.gguf>",
    defaultText: `${DEFAULT_MODEL}, a synthetic LFM2-350M Q8_0 made on first use`,
    help: "GGUF model file",
  },
  {
    name: "suite",
    kind: "string",
    placeholder: "<name|path>",
    defaultText: `default; built-ins: ${BUILTIN_SUITES.join(", ")}`,
    help: "experiment suite: built-in name or JSON file",
  },
  {
    name: "out",
    kind: "string",
    placeholder: "<dir>",
    defaultText: DEFAULT_OUT,
    help: "dataset directory (a session=<id>/ folder is added)",
  },
  {
    name: "threads",
    kind: "string",
    placeholder: "<n,...|cores>",
    defaultText: "the suite's sweep, else physical cores",
    help: "compute threads; a list sweeps; cores sweeps 1 to the physical cores",
  },
  {
    name: "reps",
    kind: "int",
    min: 1,
    placeholder: "<n>",
    defaultText: `the suite's, else ${SUITE_DEFAULTS.repetitions}`,
    help: "measured repetitions per prompt and setting",
  },
  {
    name: "warmup",
    kind: "int",
    min: 0,
    placeholder: "<n>",
    defaultText: `the suite's, else ${SUITE_DEFAULTS.warmup}`,
    help: "recorded warm-up runs per prompt and setting",
  },
  {
    name: "max-tokens",
    kind: "int",
    min: 1,
    placeholder: "<n>",
    defaultText: "each prompt's own",
    help: "output token budget for every prompt",
  },
  {
    name: "depth",
    kind: "intList",
    min: 0,
    placeholder: "<n,...>",
    defaultText: "the suite's sweep, else 0",
    help: "context depth (filler tokens before the prompt); a list sweeps",
  },
  {
    name: "seed",
    kind: "int",
    min: 0,
    placeholder: "<n>",
    defaultText: `the suite's, else ${SUITE_DEFAULTS.seed}`,
    help: "seed of the run-order shuffle",
  },
  {
    name: "gpu",
    kind: "choice",
    choices: GPU_CHOICES,
    placeholder: "<backend>",
    defaultText: "auto",
    help: `compute backend: ${GPU_CHOICES.join(", ")}`,
  },
  {
    name: "pin",
    kind: "choice",
    choices: ["auto", "off"],
    placeholder: "auto|off",
    defaultText: "auto",
    help: "auto pins one-thread runs to one CPU (recorded as cpu_affinity); off never pins",
  },
  {
    name: "format",
    kind: "choice",
    choices: ["table", "json"],
    placeholder: "table|json",
    defaultText: "table",
    help: "summary format on stdout",
  },
  {
    name: "endpoint",
    kind: "string",
    placeholder: "<url>",
    defaultText: "",
    help: "trace a server's streaming HTTP API (e.g. http://127.0.0.1:8080) instead of a GGUF file",
  },
  {
    name: "api",
    kind: "choice",
    choices: ["openai", "ollama"],
    placeholder: "openai|ollama",
    defaultText: "detected",
    help: "the endpoint's API: OpenAI-compatible (llama-server, vLLM, LM Studio) or Ollama",
  },
  {
    name: "model-name",
    kind: "string",
    placeholder: "<name>",
    defaultText: "the server's only model",
    help: "model to ask the endpoint for, when it hosts several",
  },
  {
    name: "api-key-env",
    kind: "string",
    placeholder: "<VAR>",
    defaultText: "",
    help: "environment variable holding the endpoint's API key (never stored)",
  },
  {
    name: "token-timeout",
    kind: "string",
    placeholder: "<seconds>",
    defaultText: "60",
    help: "endpoint: longest wait for the next bytes; past it the run ends with stop reason error",
  },
  {
    name: "resume",
    kind: "string",
    placeholder: "<session dir>",
    defaultText: "",
    help: "run the remaining planned runs of an interrupted session",
  },
  {
    name: "yes",
    kind: "bool",
    defaultText: "",
    help: "run a plan whose prefill alone would take over 10 minutes without asking",
  },
];

/** The `trace` command line: {@linkcode TRACE_FLAGS} and `--help`, and the help text. */
const TRACE = defineCommand({
  usage: "deno task trace [options]",
  description: [
    "Runs an experiment suite on a GGUF model, timing every generated token. Writes the runs",
    "to a Parquet dataset, shows progress on stderr and prints a per-prompt summary on stdout.",
    "Ctrl-C stops after the token in flight, keeps every finished run and marks the session",
    "interrupted (exit 130); --resume <session dir> runs what is left. Bad input exits 2.",
    "With --endpoint <url> the runs go through a server's streaming HTTP API instead; a run",
    "the server fails in is recorded with stop reason error, the session stops (exit 1) and",
    "--resume runs the rest once the server is back.",
  ].join("\n"),
  flags: TRACE_FLAGS,
  helpFlagText: "show this help",
});

/** Settings flags of a session: given again with `--resume`, they must be unchanged. */
const SETTING_FLAGS = [
  "suite",
  "threads",
  "reps",
  "warmup",
  "max-tokens",
  "depth",
  "seed",
  "gpu",
  "pin",
] as const;

/** Wraps bad input so the command prints one line and exits 2. */
class BadInput extends Error {}

function fail(message: string): never {
  throw new BadInput(message);
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, " ").trim();
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
      return false;
    }
    throw error;
  }
}

/**
 * The `--threads` value: `cores`, or distinct integers >= 1 separated by commas.
 *
 * @throws {UsageError} On anything else.
 */
function threadsFlag(flags: ParsedFlags): readonly number[] | "cores" | undefined {
  const text = flags.string("threads");
  if (text === undefined || text === "cores") return text;
  const values = text.split(",").map((part) => /^\s*\+?\d+\s*$/.test(part) ? Number(part) : NaN);
  if (!values.every((v) => Number.isSafeInteger(v) && v >= 1)) {
    throw new UsageError(
      `Cannot parse --threads: expected "cores" or integers >= 1 separated by commas, found ${
        JSON.stringify(text)
      }`,
    );
  }
  if (new Set(values).size !== values.length) {
    throw new UsageError(
      `Cannot parse --threads: expected a list without repeated values, found ${
        JSON.stringify(text)
      }`,
    );
  }
  return values;
}

function settingFlags(flags: ParsedFlags): Record<string, unknown> {
  const all: Record<string, unknown> = flags.toRecord();
  if (all.threads !== undefined) all.threads = threadsFlag(flags);
  return Object.fromEntries(SETTING_FLAGS.filter((name) => name in all).map((n) => [n, all[n]]));
}

/** The effective value of each setting flag in a stored plan. */
function sessionSettings(plan: SessionPlan): Record<string, unknown> {
  const suite = plan.suiteDefinition;
  const budgets = new Set(suite.prompts.map((p) => p.maxTokens));
  return {
    suite: plan.suite,
    threads: suite.sweeps.threads ?? [plan.threads],
    reps: suite.repetitions,
    warmup: suite.warmup,
    "max-tokens": budgets.size === 1 ? [...budgets][0] : undefined,
    depth: suite.sweeps.depth ?? [0],
    seed: suite.seed,
    gpu: plan.gpu,
    pin: plan.pin ?? "off",
  };
}

/**
 * Asks on a terminal whether to run a plan whose prefill alone would take long; without a
 * terminal on stdin, refuses with the one line that says to pass `--yes`.
 */
function confirmLongPrefill(estimate: PrefillEstimate): boolean {
  const minutes = Math.round(estimate.seconds / 60);
  const what =
    `the plan's prefill alone would take about ${minutes} minutes (${estimate.tokens} input tokens at ${
      estimate.tokensPerSecond.toFixed(0)
    } tokens/s, measured by a probe)`;
  if (!Deno.stdin.isTerminal()) {
    fail(`Cannot trace without --yes: ${what}; pass --yes to run it`);
  }
  const answer = prompt(`${what[0]!.toUpperCase()}${what.slice(1)}. Run it? [y/N]`);
  if (answer !== null && /^y(es)?$/i.test(answer.trim())) return true;
  fail(`Cannot trace: ${what}; not confirmed`);
}

/** The one line for a `--gpu` backend node-llama-cpp did not load. */
function backendLine(error: BackendError): string {
  return `Cannot trace with --gpu ${error.requested}: node-llama-cpp ${
    error.loaded === "none"
      ? "has no llama.cpp binary for that backend"
      : `loaded the ${error.loaded} backend, not ${error.requested},`
  } on this machine; use --gpu auto or cpu`;
}

function writeOut(text: string): void {
  const bytes = new TextEncoder().encode(text);
  let written = 0;
  while (written < bytes.length) written += Deno.stdout.writeSync(bytes.subarray(written));
}

function note(text: string): void {
  console.error(text);
}

/**
 * Runs `trace` with the given arguments.
 *
 * @param args Arguments after `trace`.
 * @returns The exit code.
 */
export async function traceMain(args: string[]): Promise<number> {
  try {
    return await trace(args);
  } catch (error) {
    if (error instanceof BackendError) {
      console.error(backendLine(error));
      return 2;
    }
    if (error instanceof ExperimentError && error.cause instanceof BackendError) {
      console.error(backendLine(error.cause));
      return 2;
    }
    if (
      error instanceof BadInput || error instanceof UsageError || error instanceof ExperimentError
    ) {
      console.error(error.message);
      return 2;
    }
    const text = error instanceof Error ? error.message || error.name : String(error);
    console.error(`Cannot complete trace: ${oneLine(text)}`);
    return 1;
  }
}

/**
 * The endpoint session of `--endpoint`, or of a resumed endpoint session (its stored URL, API
 * and model unless given again); undefined for a resumed in-process session.
 */
async function openEndpointFlags(
  flags: ParsedFlags,
  resumeDir: string | undefined,
): Promise<EndpointSession | undefined> {
  let url = flags.string("endpoint");
  let api = flags.string("api") as EndpointApi | undefined;
  let modelName = flags.string("model-name");
  if (resumeDir !== undefined) {
    const file = `${resumeDir.replace(/\/+$/, "")}/session.parquet`;
    let row: Record<string, unknown> | undefined;
    try {
      row = pl.readParquet(file).toRecords()[0] as Record<string, unknown> | undefined;
    } catch {
      row = undefined; // resumeSuite says what is wrong with the session.
    }
    if (row?.source !== "endpoint") {
      if (url !== undefined) {
        fail(
          `Cannot resume ${
            JSON.stringify(resumeDir)
          } through --endpoint: the session was not traced through an endpoint`,
        );
      }
      return undefined;
    }
    url ??= String(row.endpoint_url);
    api ??= row.engine_name === "ollama" ? "ollama" : "openai";
    modelName ??= String(row.model_name);
  }
  if (url === undefined) return undefined;
  for (const name of ["model", "gpu", "threads", "pin"]) {
    if (flags.has(name)) {
      fail(
        `Cannot combine --${name} with --endpoint: the server has its own model and settings; leave --${name} out`,
      );
    }
  }
  const keyVar = flags.string("api-key-env");
  const apiKey = keyVar === undefined ? undefined : Deno.env.get(keyVar);
  if (keyVar !== undefined && (apiKey === undefined || apiKey === "")) {
    fail(
      `Cannot read the API key: environment variable ${keyVar} (--api-key-env) is not set or empty`,
    );
  }
  const timeoutText = flags.string("token-timeout") ?? "60";
  const timeout = Number(timeoutText);
  if (!/^\s*\d+(\.\d+)?\s*$/.test(timeoutText) || !(timeout > 0)) {
    fail(
      `Cannot parse --token-timeout: expected a number of seconds > 0, found ${
        JSON.stringify(timeoutText)
      }`,
    );
  }
  try {
    return await openEndpointSession(url, {
      ...(api === undefined ? {} : { api }),
      ...(modelName === undefined ? {} : { modelName }),
      ...(apiKey === undefined ? {} : { apiKey }),
      tokenTimeoutMs: timeout * 1000,
    });
  } catch (error) {
    if (error instanceof EndpointError) fail(error.message);
    throw error;
  }
}

/**
 * Before anything is written: the suite must suit an endpoint (no depth, threads or batch
 * sweeps), and a two-token request in each prompt mode the suite uses must stream, so HTTP
 * errors, unknown models and non-streaming answers exit 2 with nothing written.
 */
async function probeEndpoint(
  endpoint: EndpointSession,
  suiteName: string,
  flags: ParsedFlags,
): Promise<void> {
  let suite;
  try {
    suite = await loadSuite(suiteName);
  } catch (error) {
    fail(oneLine((error as Error).message));
  }
  const depth = flags.intList("depth") ?? suite.sweeps.depth ?? [0];
  if (depth.some((d) => d !== 0)) {
    fail(
      `Cannot trace depth ${
        depth.join(",")
      } through an endpoint: filler tokens need the model's tokenizer in-process; use depth 0`,
    );
  }
  for (const sweep of ["threads", "batchSize"] as const) {
    if (suite.sweeps[sweep] !== undefined) {
      fail(
        `Cannot sweep ${sweep} through an endpoint: the server's settings are its own; use a suite without sweeps.${sweep}`,
      );
    }
  }
  for (const mode of ["raw", "chat"] as const) {
    const prompt = suite.prompts.find((p) => p.mode === mode);
    if (prompt === undefined) continue;
    let result;
    try {
      result = await endpoint.trace(prompt.text, { mode, maxTokens: 2, ...suite.sampling });
    } catch (error) {
      if (error instanceof EndpointError || error instanceof RangeError) fail(error.message);
      throw error;
    }
    if (result.summary.stop_reason === "error") {
      fail(`Cannot trace through ${endpoint.info.endpoint_url}: ${endpoint.lastError}`);
    }
  }
}

/** The suite overrides given as flags (`--depth`, `--reps`, `--warmup`, `--max-tokens`, `--seed`). */
function suiteOverrides(
  flags: ParsedFlags,
): Pick<RunSuiteOptions, "depth" | "repetitions" | "warmup" | "maxTokens" | "seed"> {
  const depth = flags.intList("depth");
  const reps = flags.int("reps");
  const warmup = flags.int("warmup");
  const maxTokens = flags.int("max-tokens");
  const seed = flags.int("seed");
  return {
    ...(depth === undefined ? {} : { depth }),
    ...(reps === undefined ? {} : { repetitions: reps }),
    ...(warmup === undefined ? {} : { warmup }),
    ...(maxTokens === undefined ? {} : { maxTokens }),
    ...(seed === undefined ? {} : { seed }),
  };
}

async function trace(args: string[]): Promise<number> {
  const flags = parseFlags(args, TRACE.flags);
  if (flags.bool("help")) {
    writeOut(TRACE.help);
    return 0;
  }
  const format = flags.string("format") ?? "table";
  const resumeDir = flags.string("resume");

  // Progress on stderr, from the start of the runs; SIGINT/SIGTERM stop after the token in
  // flight (a second one quits at once).
  let progress: Progress | undefined;
  const abort = new AbortController();
  const onSignal = (): void => {
    if (abort.signal.aborted) {
      progress?.close();
      note("Interrupted again: quitting at once; finished runs are on disk");
      Deno.exit(130);
    }
    abort.abort();
    progress?.message("Interrupted: stopping after the token in flight (again to quit at once)");
  };
  // node:process listeners, not Deno.addSignalListener: node-llama-cpp's dependencies load
  // signal-exit, which re-raises a signal when it sees no other node-style listener.
  const signals = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  const callbacks: SuiteRunOptions = {
    signal: abort.signal,
    onStart: ({ plan, sessionDir, done, remaining }) => {
      if (done > 0) {
        note(`Resuming ${sessionDir}: ${done} runs on disk, ${remaining.length} to run`);
      }
      const tty = Deno.stderr.isTerminal();
      // ETA weights: output tokens, plus prefill tokens at roughly a tenth of their cost.
      const weight = (run: PlannedRun) =>
        run.maxTokens + (run.depth + (plan.promptTokens[run.promptId] ?? 0)) / 10;
      progress = new Progress(remaining.map(weight), done, {
        tty,
        columns: tty ? Deno.consoleSize().columns : 80,
      });
      for (const signal of signals) process.on(signal, onSignal);
    },
    onRunStart: (run) => progress?.startRun(run.promptId),
    onToken: () => progress?.token(),
    onProgress: ({ run }) => progress?.endRun(run.output_tokens, run.decode_tokens_per_s),
    onWarning: (warning) => progress?.message(`warning: ${oneLine(warning)}`),
    onPrefill: ({ done, total, elapsedMs }) => progress?.prefill(done, total, elapsedMs),
    onThreadPoolWait: () =>
      progress?.message(
        "Waiting up to 11 s for idle worker threads to exit, so multi-thread decode is timed from one thread",
      ),
  };

  let result: SuiteResult;
  let endpoint: EndpointSession | undefined;
  try {
    if (flags.has("endpoint") || resumeDir !== undefined) {
      endpoint = await openEndpointFlags(flags, resumeDir);
    }
    if (resumeDir !== undefined) {
      // A resumed session keeps its settings: flags given again must match the stored plan.
      if (flags.has("out")) {
        fail(
          "Cannot resume: --out cannot be combined with --resume; the session directory is the output",
        );
      }
      const plan = await readPlan(resumeDir);
      const stored = sessionSettings(plan);
      for (const [name, value] of Object.entries(settingFlags(flags))) {
        const text = (v: unknown) => Array.isArray(v) ? v.join(",") : String(v ?? "per prompt");
        if (name === "threads" && value === "cores" && plan.threadsGiven === "cores") continue;
        if (text(stored[name]) !== text(value)) {
          fail(
            `Cannot resume ${JSON.stringify(resumeDir)}: --${name} ${
              text(value)
            } differs from the session's ${
              text(stored[name])
            }; a resumed session keeps its settings`,
          );
        }
      }
      result = await resumeSuite(resumeDir, {
        ...callbacks,
        model: endpoint ?? flags.string("model") ?? plan.model.path,
      });
    } else if (endpoint !== undefined) {
      const suiteName = flags.string("suite") ?? "default";
      await probeEndpoint(endpoint, suiteName, flags);
      result = await runSuite(endpoint, suiteName, {
        ...callbacks,
        out: flags.string("out") ?? DEFAULT_OUT,
        pin: "off",
        ...suiteOverrides(flags),
      });
    } else {
      const suiteName = flags.string("suite") ?? "default";
      const outDir = flags.string("out") ?? DEFAULT_OUT;
      const modelPath = flags.string("model") ?? DEFAULT_MODEL;
      const threads = threadsFlag(flags);
      const gpu = (flags.string("gpu") ?? "auto") as GpuChoice;
      // A backend other than the one asked for is refused before anything is written.
      await loadLlama(gpu, "trace");
      // The default model is made on first use, after the suite and the output are checked.
      if (!flags.has("model") && !await exists(modelPath)) {
        try {
          await loadSuite(suiteName);
        } catch (error) {
          fail(oneLine((error as Error).message));
        }
        await checkDatasetOut(outDir);
        const { writeSyntheticModel } = await import("../synth/synth.ts");
        await checkWritableDir(parentOf(modelPath), "the synthetic model");
        await Deno.mkdir(parentOf(modelPath), { recursive: true });
        note(
          `No --model given: making the synthetic LFM2-350M Q8_0 model ${modelPath} (once; random weights, real compute cost)...`,
        );
        const made = await writeSyntheticModel(modelPath, { preset: "lfm2-350m", dtype: "q8_0" });
        note(
          `Made ${modelPath} (${(made.bytes / 2 ** 20).toFixed(0)} MiB) in ${
            made.seconds.toFixed(1)
          } s`,
        );
      } else if (!flags.has("model")) {
        note(
          `No --model given: using the synthetic model ${modelPath} (random weights, real compute cost)`,
        );
      }
      result = await runSuite(modelPath, suiteName, {
        ...callbacks,
        ...(flags.bool("yes") ? {} : { confirmLongPrefill }),
        out: outDir,
        gpu,
        pin: (flags.string("pin") ?? "auto") as "auto" | "off",
        ...(threads === undefined ? {} : { threads }),
        ...suiteOverrides(flags),
      });
    }
  } finally {
    for (const signal of signals) process.off(signal, onSignal);
    progress?.close();
    await endpoint?.close();
  }

  // The summary, read back from the dataset on disk.
  const summary: TraceSummary = summarizeSession(await readDataset(result.datasetDir), {
    sessionId: result.sessionId,
    datasetDir: result.datasetDir,
    promptOrder: result.plan.suiteDefinition.prompts.map((p) => p.id),
  });
  writeOut(
    format === "json" ? `${JSON.stringify(summary, null, 2)}\n` : formatSummary(summary),
  );
  const interrupted = result.status === "interrupted";
  if (result.error !== undefined) {
    note(
      `Run failed: ${result.error}; it is recorded with stop_reason error and not counted. ${summary.session.runsDone}/${summary.session.runsPlanned} runs kept; once the server is back, continue with: deno task trace --resume ${result.sessionDir}`,
    );
    return 1;
  }
  if (interrupted) {
    note(
      `Interrupted: ${summary.session.runsDone}/${summary.session.runsPlanned} runs kept; continue with: deno task trace --resume ${result.sessionDir}`,
    );
  }
  return interrupted ? 130 : 0;
}
