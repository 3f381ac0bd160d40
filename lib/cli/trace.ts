// The `trace` subcommand: run an experiment suite on a model, write every run to a
// dataset, show progress on stderr and print a per-prompt summary on stdout.
//
// Exit codes: 0 done, 1 failure while running, 2 bad input (nothing written),
// 130 interrupted by SIGINT/SIGTERM (finished runs kept, session marked interrupted).

import process from "node:process";
import { type FlagSpec, formatHelp, type ParsedFlags, parseFlags, UsageError } from "./args.ts";
import { Progress } from "./progress.ts";
import { GgufError, type GgufInfo, readGguf, validateGguf } from "../gguf/gguf.ts";
import {
  BUILTIN_SUITES,
  expandPlan,
  loadSuite,
  type PlannedRun,
  resolveSuite,
  type Suite,
  SUITE_DEFAULTS,
} from "../experiment/suite.ts";
import { formatSummary, summarizeSession, type TraceSummary } from "../present/summary.ts";

/** The model used when `--model` is not given: made once by the synth module. */
export const DEFAULT_MODEL = "data/models/lfm2-350m-q8_0.gguf";
/** The default dataset directory. */
export const DEFAULT_OUT = "data/traces";
/** The default batch size for runs (llama.cpp's default). */
export const DEFAULT_BATCH_SIZE = 512;
/** The smallest context size a session gets (more when depth + prompt + output need it). */
export const DEFAULT_CONTEXT = 4096;

const GPU_CHOICES = ["auto", "metal", "cuda", "vulkan", "cpu"] as const;
type GpuChoice = (typeof GPU_CHOICES)[number];

/** Flags of `trace`; `--help` prints this table with each default. */
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
    name: "resume",
    kind: "string",
    placeholder: "<session dir>",
    defaultText: "",
    help: "run the remaining planned runs of an interrupted session",
  },
  { name: "help", kind: "bool", defaultText: "", help: "show this help" },
];

const HELP_TEXT = formatHelp(
  "deno task trace [options]",
  [
    "Runs an experiment suite on a GGUF model, timing every generated token. Writes the runs",
    "to a Parquet dataset, shows progress on stderr and prints a per-prompt summary on stdout.",
    "Ctrl-C stops after the token in flight, keeps every finished run and marks the session",
    "interrupted (exit 130); --resume <session dir> runs what is left. Bad input exits 2.",
  ].join("\n"),
  TRACE_FLAGS,
);

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

/** The plan stored in a session's plan.json: everything `--resume` needs. */
interface TracePlan {
  readonly planVersion: 1;
  /** The suite as given (name or path). */
  readonly suite: string;
  /** The suite after flag overrides, resolved (a `"cores"` threads sweep as its list). */
  readonly suiteDefinition: Suite;
  /** `"cores"` when the threads sweep was given so (before it was resolved). */
  readonly threadsGiven?: "cores";
  readonly model: { readonly path: string; readonly sha256: string; readonly synthetic: boolean };
  readonly gpu: GpuChoice;
  /** `--pin`; absent in plans written before the flag existed (they ran unpinned). */
  readonly pin?: "auto" | "off";
  readonly backend: string;
  /** The session's default threads. */
  readonly threads: number;
  readonly contextSize: number;
  /** Prompt tokens after templating, by prompt id. */
  readonly promptTokens: Readonly<Record<string, number>>;
  readonly runs: readonly PlannedRun[];
}

/** Wraps bad input so the command prints one line and exits 2. */
class BadInput extends Error {}

function fail(message: string): never {
  throw new BadInput(message);
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, " ").trim();
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

function parentOf(path: string): string {
  const trimmed = path.replace(/\/+$/, "");
  const at = trimmed.lastIndexOf("/");
  return at < 0 ? "." : at === 0 ? "/" : trimmed.slice(0, at);
}

/**
 * Checks that `dir` can be created and written, without leaving anything behind: the
 * nearest existing ancestor must be a directory in which a probe directory can be made.
 */
async function checkWritableDir(dir: string, what: string): Promise<void> {
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
    );
  }
}

/** An existing dataset directory may hold only session directories (and hidden entries). */
async function checkDatasetDir(dir: string): Promise<void> {
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
    if (error instanceof GgufError) fail(oneLine(error.message));
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

/** The suite after the flags that override it. */
function applyOverrides(suite: Suite, flags: ParsedFlags): Suite {
  const maxTokens = flags.int("max-tokens");
  const threads = threadsFlag(flags);
  const depth = flags.intList("depth");
  return {
    ...suite,
    prompts: maxTokens === undefined
      ? suite.prompts
      : suite.prompts.map((prompt) => ({ ...prompt, maxTokens })),
    repetitions: flags.int("reps") ?? suite.repetitions,
    warmup: flags.int("warmup") ?? suite.warmup,
    seed: flags.int("seed") ?? suite.seed,
    sweeps: {
      ...suite.sweeps,
      ...(threads === undefined ? {} : { threads }),
      ...(depth === undefined ? {} : { depth }),
    },
  };
}

function settingFlags(flags: ParsedFlags): Record<string, unknown> {
  const all: Record<string, unknown> = flags.toRecord();
  if (all.threads !== undefined) all.threads = threadsFlag(flags);
  return Object.fromEntries(SETTING_FLAGS.filter((name) => name in all).map((n) => [n, all[n]]));
}

/** The effective value of each setting flag in a stored plan. */
function sessionSettings(plan: TracePlan): Record<string, unknown> {
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

async function readPlan(sessionDir: string): Promise<TracePlan> {
  const path = `${sessionDir.replace(/\/+$/, "")}/plan.json`;
  const dirInfo = await statOrUndefined(sessionDir);
  if (dirInfo === undefined || !dirInfo.isDirectory) {
    fail(`Cannot resume ${JSON.stringify(sessionDir)}: no such session directory`);
  }
  let plan: TracePlan;
  try {
    plan = JSON.parse(await Deno.readTextFile(path)) as TracePlan;
  } catch (error) {
    fail(
      `Cannot resume ${JSON.stringify(sessionDir)}: cannot read its plan.json (${
        oneLine((error as Error).message)
      })`,
    );
  }
  if (plan?.planVersion !== 1 || !Array.isArray(plan.runs)) {
    fail(
      `Cannot resume ${
        JSON.stringify(sessionDir)
      }: plan.json was not written by this trace version`,
    );
  }
  return plan;
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
    if (error instanceof BadInput || error instanceof UsageError) {
      console.error(error.message);
      return 2;
    }
    const text = error instanceof Error ? error.message || error.name : String(error);
    console.error(`Cannot complete trace: ${oneLine(text)}`);
    return 1;
  }
}

async function trace(args: string[]): Promise<number> {
  const flags = parseFlags(args, TRACE_FLAGS);
  if (flags.bool("help")) {
    writeOut(HELP_TEXT);
    return 0;
  }
  const format = flags.string("format") ?? "table";
  const resumeDir = flags.string("resume");

  // 1. Settings: a suite with overrides, or a stored plan. Nothing is written here.
  let plan: TracePlan | undefined;
  let suite: Suite;
  let suiteName: string;
  let outDir: string;
  let modelPath: string;
  let gpu: GpuChoice;
  let pin: "auto" | "off";
  if (resumeDir !== undefined) {
    if (flags.has("out")) {
      fail(
        "Cannot resume: --out cannot be combined with --resume; the session directory is the output",
      );
    }
    plan = await readPlan(resumeDir);
    const stored = sessionSettings(plan);
    for (const [name, value] of Object.entries(settingFlags(flags))) {
      const text = (v: unknown) => Array.isArray(v) ? v.join(",") : String(v ?? "per prompt");
      if (name === "threads" && value === "cores" && plan.threadsGiven === "cores") continue;
      if (text(stored[name]) !== text(value)) {
        fail(
          `Cannot resume ${JSON.stringify(resumeDir)}: --${name} ${
            text(value)
          } differs from the session's ${text(stored[name])}; a resumed session keeps its settings`,
        );
      }
    }
    suite = plan.suiteDefinition;
    suiteName = plan.suite;
    outDir = parentOf(resumeDir);
    modelPath = flags.string("model") ?? plan.model.path;
    gpu = plan.gpu;
    pin = plan.pin ?? "off";
    await checkWritableDir(resumeDir, "the resumed session");
  } else {
    suiteName = flags.string("suite") ?? "default";
    try {
      suite = applyOverrides(await loadSuite(suiteName), flags);
    } catch (error) {
      fail(oneLine((error as Error).message));
    }
    outDir = flags.string("out") ?? DEFAULT_OUT;
    modelPath = flags.string("model") ?? DEFAULT_MODEL;
    gpu = (flags.string("gpu") ?? "auto") as GpuChoice;
    pin = (flags.string("pin") ?? "auto") as "auto" | "off";
    await checkWritableDir(outDir, "the dataset");
    await checkDatasetDir(outDir);
  }

  // 2. The model: made on first use when it is the default one; validated before loading.
  if (!flags.has("model") && plan === undefined && await statOrUndefined(modelPath) === undefined) {
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
  } else if (!flags.has("model") && plan === undefined) {
    note(
      `No --model given: using the synthetic model ${modelPath} (random weights, real compute cost)`,
    );
  }
  const gguf = await readModelInfo(modelPath);
  const trainContext = gguf.contextLength ?? Infinity;
  const maxDepth = Math.max(...(suite.sweeps.depth ?? [0]));

  // 3. Exact prompt token counts (the model's own tokenizer and chat template) and the
  //    context size the plan needs: checked before the model is loaded for tracing.
  const { countPromptTokens, openSession } = await import("../tracer/tracer.ts");
  let counted: number[];
  try {
    counted = await countPromptTokens(modelPath, suite.prompts, { gpu });
  } catch (error) {
    if (error instanceof GgufError) fail(oneLine(error.message));
    if ((error as Error)?.constructor?.name === "NoBinaryFoundError") {
      fail(
        `Cannot use --gpu ${gpu}: node-llama-cpp has no llama.cpp build for that backend on this machine`,
      );
    }
    throw error;
  }
  const counts = Object.fromEntries(suite.prompts.map((p, i) => [p.id, counted[i]!]));
  let needed = 0;
  for (const prompt of suite.prompts) {
    const promptTokens = counts[prompt.id]!;
    const total = maxDepth + promptTokens + prompt.maxTokens;
    if (total > trainContext) {
      fail(
        `Cannot plan runs of prompt ${
          JSON.stringify(prompt.id)
        }: depth ${maxDepth} + prompt ${promptTokens} + max tokens ${prompt.maxTokens} = ${total} tokens exceed the model's context size ${trainContext}`,
      );
    }
    needed = Math.max(needed, total);
  }
  const contextSize = plan?.contextSize ??
    Math.min(trainContext, Math.max(DEFAULT_CONTEXT, Math.ceil(needed / 256) * 256));

  // 4. Open the session: loads the model. Without a threads list (none, or "cores" to be
  //    resolved from the session) the session default is the physical cores.
  const threadsList = suite.sweeps.threads;
  const session = await openSession(modelPath, {
    ...(plan !== undefined
      ? { threads: plan.threads }
      : threadsList === undefined || threadsList === "cores"
      ? {}
      : { threads: threadsList[0]! }),
    gpu,
    contextSize,
    batchSize: plan?.runs[0]?.batchSize ?? suite.sweeps.batchSize?.[0] ?? DEFAULT_BATCH_SIZE,
  });
  let code = 1;
  try {
    const info = session.info;
    if (plan !== undefined && info.model_sha256 !== plan.model.sha256) {
      fail(
        `Cannot resume ${JSON.stringify(resumeDir)}: model ${
          JSON.stringify(modelPath)
        } has sha256 ${info.model_sha256.slice(0, 12)}..., the session used ${
          plan.model.sha256.slice(0, 12)
        }...; a resumed session needs the same model file`,
      );
    }
    if (plan !== undefined && info.backend !== plan.backend) {
      fail(
        `Cannot resume ${
          JSON.stringify(resumeDir)
        }: backend ${info.backend} differs from the session's ${plan.backend}`,
      );
    }

    // 5. The dataset: a new session, or the resumed one. From here on files are written.
    const { DatasetWriter, readDataset } = await import("../dataset/dataset.ts");
    let writer;
    let done = new Set<number>();
    if (plan === undefined) {
      // "cores" becomes 1..physical cores here, once; plan.json keeps the list for --resume.
      const resolved = resolveSuite(suite, { cores: info.cpu_math_cores ?? undefined });
      plan = {
        planVersion: 1,
        suite: suiteName,
        suiteDefinition: resolved,
        ...(suite.sweeps.threads === "cores" ? { threadsGiven: "cores" as const } : {}),
        model: { path: modelPath, sha256: info.model_sha256, synthetic: info.model_synthetic },
        gpu,
        pin,
        backend: info.backend,
        threads: info.threads!,
        contextSize,
        promptTokens: counts,
        runs: expandPlan(resolved, { threads: info.threads!, batchSize: DEFAULT_BATCH_SIZE }),
      };
      writer = await DatasetWriter.create(outDir, info, {
        suite: suiteName,
        seed: suite.seed,
        plan,
      });
    } else {
      writer = await DatasetWriter.resume(resumeDir!);
      done = new Set(writer.finishedRuns);
    }
    const remaining = plan.runs.filter((run) => !done.has(run.orderIndex));
    if (done.size > 0) {
      note(`Resuming ${writer.sessionDir}: ${done.size} runs on disk, ${remaining.length} to run`);
    }

    // 6. Run, with progress on stderr; SIGINT/SIGTERM stop after the token in flight.
    const tty = Deno.stderr.isTerminal();
    // ETA weights: output tokens, plus prefill tokens at roughly a tenth of their cost.
    const weight = (run: PlannedRun) =>
      run.maxTokens + (run.depth + (plan!.promptTokens[run.promptId] ?? 0)) / 10;
    const progress = new Progress(remaining.map(weight), done.size, {
      tty,
      columns: tty ? Deno.consoleSize().columns : 80,
    });
    const abort = new AbortController();
    const onSignal = (): void => {
      if (abort.signal.aborted) {
        progress.close();
        note("Interrupted again: quitting at once; finished runs are on disk");
        Deno.exit(130);
      }
      abort.abort();
      progress.message("Interrupted: stopping after the token in flight (again to quit at once)");
    };
    // node:process listeners, not Deno.addSignalListener: node-llama-cpp's dependencies load
    // signal-exit, which re-raises a signal when it sees no other node-style listener.
    const signals = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
    for (const signal of signals) process.on(signal, onSignal);
    let warningsSeen = session.warnings.length;
    try {
      for (const run of remaining) {
        if (abort.signal.aborted) break;
        progress.startRun(run.promptId);
        const live = session.stream(run.text, {
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
          signal: abort.signal,
          cpuAffinity: pin,
          // With several idle threads in Deno's pool, llama_decode calls move between pool
          // threads and 2-thread decode runs at about half speed (BENCHMARKS.md); trace() waits
          // for idle threads to exit before its clock starts, and this says why nothing moves.
          onThreadPoolWait: () =>
            progress.message(
              "Waiting up to 11 s for idle worker threads to exit, so multi-thread decode is timed from one thread",
            ),
        });
        for await (const _ of live) progress.token();
        const result = await live.result;
        for (const warning of session.warnings.slice(warningsSeen)) {
          progress.message(`warning: ${oneLine(warning)}`);
        }
        warningsSeen = session.warnings.length;
        if (result.summary.stop_reason === "interrupted") break;
        await writer.writeRun(
          {
            ...result.summary,
            order_index: run.orderIndex,
            repetition: run.repetition,
            warmup: run.warmup,
          },
          result.tokens,
        );
        progress.endRun(result.summary.output_tokens, result.summary.decode_tokens_per_s);
      }
    } finally {
      for (const signal of signals) process.off(signal, onSignal);
      progress.close();
    }
    const interrupted = abort.signal.aborted;
    await writer.finish(interrupted ? "interrupted" : "complete");

    // 7. The summary, read back from the dataset on disk.
    const summary: TraceSummary = summarizeSession(await readDataset(outDir), {
      sessionId: writer.sessionId,
      datasetDir: outDir,
      promptOrder: suite.prompts.map((p) => p.id),
    });
    writeOut(
      format === "json" ? `${JSON.stringify(summary, null, 2)}\n` : formatSummary(summary),
    );
    if (interrupted) {
      note(
        `Interrupted: ${summary.session.runsDone}/${summary.session.runsPlanned} runs kept; continue with: deno task trace --resume ${writer.sessionDir}`,
      );
    }
    code = interrupted ? 130 : 0;
  } finally {
    await session.close();
  }
  return code;
}
