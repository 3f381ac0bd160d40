/**
 * Experiment suites: the JSON format, its validation, the built-in suites and the
 * expansion of a suite into an ordered plan of runs.
 *
 * A suite lists prompts and says how often and in which order to run them. Its plan is
 * every combination of prompt × threads × depth × batch size ("cell"), each run
 * `warmup` times (recorded, flagged as warm-up) and then `repetitions` times.
 *
 * @module
 */

import defaultSuiteJson from "../../data/suites/default.json" with { type: "json" };
import depthSuiteJson from "../../data/suites/depth.json" with { type: "json" };
import threadsSuiteJson from "../../data/suites/threads.json" with { type: "json" };
import { closest } from "../schema/_names.ts";
import { Rng } from "../stats/rng.ts";

/** How a prompt is given to the model: through its chat template, or as raw text. */
export type PromptMode = "chat" | "raw";

/**
 * The order of a plan's runs.
 *
 * - `interleaved`: round by round (warm-ups first), each round runs every cell once in
 *   a seeded random order, so drift over time spreads over all prompts and settings.
 * - `blocked`: all runs of one cell back to back, cells in suite order.
 * - `random`: one seeded shuffle of all runs; a cell's first runs are its warm-ups.
 */
export type RunOrder = "interleaved" | "blocked" | "random";

const RUN_ORDERS: readonly RunOrder[] = ["interleaved", "blocked", "random"];

/** One prompt of a suite. */
export interface SuitePrompt {
  /** Identifier, unique in the suite (letters, digits, `-`, `_`, `.`). */
  readonly id: string;
  /** Class label for analysis, e.g. `simple` or `complex`. */
  readonly class: string;
  /** Prompt text as given to the model (before any chat template). */
  readonly text: string;
  /** Output token budget. */
  readonly maxTokens: number;
  /** `chat` applies the model's chat template; `raw` is plain completion. */
  readonly mode: PromptMode;
  /** Free labels, stored comma-separated in the dataset. */
  readonly tags: readonly string[];
}

/** Sampling settings shared by every run of a suite. */
export interface SuiteSampling {
  /** Sampling temperature; 0 is greedy. */
  readonly temperature: number;
  /** Top-k; 0 turns it off. */
  readonly topK: number;
  /** Top-p; 1 turns it off. */
  readonly topP: number;
  /** Sampler seed. */
  readonly seed: number;
}

/** Optional sweeps: each list multiplies the plan. An absent list means the session default. */
export interface SuiteSweeps {
  /**
   * Compute thread counts, or `"cores"`: 1 up to the machine's physical cores, resolved when
   * the plan is made (see {@linkcode resolveSuite}).
   */
  readonly threads?: readonly number[] | "cores";
  /** Context depths: filler tokens evaluated before the prompt. */
  readonly depth?: readonly number[];
  /** Batch sizes. */
  readonly batchSize?: readonly number[];
}

/** A validated experiment suite. */
export interface Suite {
  /** Suite name (the built-in name, or the file's `name`, or its file name). */
  readonly name: string;
  /** What the suite measures. */
  readonly description: string;
  /** Prompts, in suite order. */
  readonly prompts: readonly SuitePrompt[];
  /** Measured repetitions per cell. */
  readonly repetitions: number;
  /** Recorded warm-up runs per cell, before its repetitions. */
  readonly warmup: number;
  /** Run order. */
  readonly order: RunOrder;
  /** Seed of the run-order shuffle. */
  readonly seed: number;
  /** Sampling settings. */
  readonly sampling: SuiteSampling;
  /** Optional sweeps over settings. */
  readonly sweeps: SuiteSweeps;
}

/**
 * Defaults of a suite's optional keys, echoed by `--help`.
 *
 * @example Five repetitions after one warm-up, interleaved
 * ```ts
 * import { SUITE_DEFAULTS } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * assert.equal(SUITE_DEFAULTS.repetitions, 5);
 * assert.equal(SUITE_DEFAULTS.warmup, 1);
 * assert.equal(SUITE_DEFAULTS.order, "interleaved");
 * ```
 */
export const SUITE_DEFAULTS: {
  readonly repetitions: number;
  readonly warmup: number;
  readonly order: RunOrder;
  readonly seed: number;
  readonly mode: PromptMode;
  readonly sampling: SuiteSampling;
} = {
  repetitions: 5,
  warmup: 1,
  order: "interleaved",
  seed: 1,
  mode: "chat",
  sampling: { temperature: 0, topK: 0, topP: 1, seed: 0 },
};

const BUILTIN_JSON: Readonly<Record<string, unknown>> = {
  default: defaultSuiteJson,
  depth: depthSuiteJson,
  threads: threadsSuiteJson,
};

/**
 * Names of the built-in suites (files in `data/suites/`), for {@linkcode loadSuite}.
 *
 * @example List the built-in suites
 * ```ts
 * import { BUILTIN_SUITES } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(BUILTIN_SUITES, ["default", "depth", "threads"]);
 * ```
 */
export const BUILTIN_SUITES: readonly string[] = Object.keys(BUILTIN_JSON);

type Json = unknown;

function describe(value: Json): string {
  return value === undefined ? "nothing" : JSON.stringify(value);
}

class Checker {
  constructor(readonly source: string) {}

  fail(key: string, rule: string, value: Json, ErrorClass = TypeError): never {
    throw new ErrorClass(
      `Cannot load suite ${JSON.stringify(this.source)}: key ${
        JSON.stringify(key)
      } must be ${rule}, found ${describe(value)}`,
    );
  }

  object(key: string, value: Json, allowed: readonly string[]): Record<string, Json> {
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      this.fail(key || "(top level)", "an object", value);
    }
    const record = value as Record<string, Json>;
    for (const name of Object.keys(record)) {
      if (!allowed.includes(name)) {
        const path = key ? `${key}.${name}` : name;
        throw new TypeError(
          `Cannot load suite ${JSON.stringify(this.source)}: unknown key ${
            JSON.stringify(path)
          }; allowed keys here are ${allowed.join(", ")}`,
        );
      }
    }
    return record;
  }

  string(key: string, value: Json, pattern?: RegExp): string {
    if (typeof value !== "string" || value.length === 0) {
      this.fail(key, "a non-empty string", value);
    }
    if (pattern !== undefined && !pattern.test(value)) {
      this.fail(key, `a string matching ${pattern.source}`, value);
    }
    return value;
  }

  integer(key: string, value: Json, min: number): number {
    if (typeof value !== "number" || !Number.isSafeInteger(value)) {
      this.fail(key, `an integer >= ${min}`, value);
    }
    if (value < min) this.fail(key, `an integer >= ${min}`, value, RangeError);
    return value;
  }

  number(key: string, value: Json, min: number, max: number): number {
    const rule = min === Number.MIN_VALUE
      ? `a number above 0, at most ${max}`
      : `a number from ${min} to ${max}`;
    if (typeof value !== "number" || !Number.isFinite(value)) this.fail(key, rule, value);
    if (value < min || value > max) this.fail(key, rule, value, RangeError);
    return value;
  }

  oneOf<T extends string>(key: string, value: Json, options: readonly T[]): T {
    if (typeof value !== "string" || !options.includes(value as T)) {
      this.fail(key, `one of ${options.map((o) => JSON.stringify(o)).join(", ")}`, value);
    }
    return value as T;
  }

  array(key: string, value: Json): readonly Json[] {
    if (!Array.isArray(value) || value.length === 0) this.fail(key, "a non-empty array", value);
    return value;
  }
}

const SUITE_KEYS = [
  "name",
  "description",
  "prompts",
  "repetitions",
  "warmup",
  "order",
  "seed",
  "sampling",
  "sweeps",
] as const;
const PROMPT_KEYS = ["id", "class", "text", "maxTokens", "mode", "tags"] as const;
const SAMPLING_KEYS = ["temperature", "topK", "topP", "seed"] as const;
const SWEEP_KEYS = ["threads", "depth", "batchSize"] as const;
const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * Validates a parsed suite JSON value and fills in defaults. The whole value is checked
 * before anything runs: unknown keys, wrong types and out-of-range values are errors
 * naming the key.
 *
 * @param value The parsed JSON.
 * @param source Where the value came from (a path or built-in name), for messages.
 * @returns The validated suite.
 * @throws {TypeError} On an unknown key or a value of the wrong type.
 * @throws {RangeError} On a value out of range or a duplicate prompt id.
 *
 * @example Validate a minimal suite
 * ```ts
 * import { parseSuite } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const suite = parseSuite({
 *   prompts: [{ id: "hi", class: "simple", text: "Say hi", maxTokens: 8 }],
 * }, "mine.json");
 * assert.equal(suite.name, "mine");
 * assert.equal(suite.repetitions, 5);
 * assert.throws(
 *   () => parseSuite({ prompts: [], reps: 3 }, "bad.json"),
 *   /unknown key "reps"/,
 * );
 * ```
 */
export function parseSuite(value: unknown, source: string): Suite {
  const check = new Checker(source);
  const top = check.object("", value, SUITE_KEYS);
  const fileName = source.replace(/^.*[\\/]/, "").replace(/\.json$/i, "");
  const name = top.name === undefined ? fileName : check.string("name", top.name);
  const description = top.description === undefined
    ? ""
    : check.string("description", top.description);
  if (top.prompts === undefined) check.fail("prompts", "a non-empty array", undefined);
  const ids = new Set<string>();
  const prompts = check.array("prompts", top.prompts).map((item, i): SuitePrompt => {
    const key = `prompts[${i}]`;
    const p = check.object(key, item, PROMPT_KEYS);
    const id = check.string(`${key}.id`, p.id, ID_PATTERN);
    if (ids.has(id)) check.fail(`${key}.id`, "unique in the suite", id, RangeError);
    ids.add(id);
    const tags = p.tags === undefined ? [] : check.array(`${key}.tags`, p.tags).map((tag, j) => {
      const tagKey = `${key}.tags[${j}]`;
      const text = check.string(tagKey, tag);
      if (text.includes(",")) check.fail(tagKey, "a string without commas", text);
      return text;
    });
    return {
      id,
      class: check.string(`${key}.class`, p.class),
      text: check.string(`${key}.text`, p.text),
      maxTokens: check.integer(`${key}.maxTokens`, p.maxTokens, 1),
      mode: p.mode === undefined
        ? SUITE_DEFAULTS.mode
        : check.oneOf(`${key}.mode`, p.mode, ["chat", "raw"] as const),
      tags,
    };
  });
  const s = top.sampling === undefined ? {} : check.object("sampling", top.sampling, SAMPLING_KEYS);
  const d = SUITE_DEFAULTS.sampling;
  const sampling: SuiteSampling = {
    temperature: s.temperature === undefined
      ? d.temperature
      : check.number("sampling.temperature", s.temperature, 0, 100),
    topK: s.topK === undefined ? d.topK : check.integer("sampling.topK", s.topK, 0),
    topP: s.topP === undefined
      ? d.topP
      : check.number("sampling.topP", s.topP, Number.MIN_VALUE, 1),
    seed: s.seed === undefined ? d.seed : check.integer("sampling.seed", s.seed, 0),
  };
  const w = top.sweeps === undefined ? {} : check.object("sweeps", top.sweeps, SWEEP_KEYS);
  const list = (key: string, v: Json, min: number): readonly number[] | undefined => {
    if (v === undefined) return undefined;
    const values = check.array(`sweeps.${key}`, v).map((x, i) =>
      check.integer(`sweeps.${key}[${i}]`, x, min)
    );
    if (new Set(values).size !== values.length) {
      check.fail(`sweeps.${key}`, "a list without repeated values", v, RangeError);
    }
    return values;
  };
  const threads = (v: Json): readonly number[] | "cores" => {
    if (v === "cores") return v;
    if (!Array.isArray(v) || v.length === 0) {
      check.fail("sweeps.threads", 'a non-empty array of integers >= 1 or "cores"', v);
    }
    return list("threads", v, 1)!;
  };
  const sweeps: SuiteSweeps = {
    ...(w.threads === undefined ? {} : { threads: threads(w.threads) }),
    ...(w.depth === undefined ? {} : { depth: list("depth", w.depth, 0) }),
    ...(w.batchSize === undefined ? {} : { batchSize: list("batchSize", w.batchSize, 1) }),
  };
  return {
    name,
    description,
    prompts,
    repetitions: top.repetitions === undefined
      ? SUITE_DEFAULTS.repetitions
      : check.integer("repetitions", top.repetitions, 1),
    warmup: top.warmup === undefined
      ? SUITE_DEFAULTS.warmup
      : check.integer("warmup", top.warmup, 0),
    order: top.order === undefined
      ? SUITE_DEFAULTS.order
      : check.oneOf("order", top.order, RUN_ORDERS),
    seed: top.seed === undefined ? SUITE_DEFAULTS.seed : check.integer("seed", top.seed, 0),
    sampling,
    sweeps,
  };
}

/**
 * Loads a suite by built-in name (see {@linkcode BUILTIN_SUITES}) or from a JSON file
 * path. A value containing a path separator or ending in `.json` is always a path.
 *
 * @param nameOrPath A built-in suite name or a path to a suite JSON file.
 * @returns The validated suite.
 * @throws {RangeError} On an unknown built-in name (with a suggestion) or a missing file.
 * @throws {SyntaxError} On malformed JSON.
 * @throws {TypeError} On a suite that fails validation (see {@linkcode parseSuite}).
 *
 * @example Load the built-in default suite
 * ```ts
 * import { loadSuite } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const suite = await loadSuite("default");
 * assert.equal(suite.name, "default");
 * assert.ok(suite.prompts.length >= 3);
 * await assert.rejects(loadSuite("defualt"), /did you mean "default"/);
 * ```
 */
export async function loadSuite(nameOrPath: string): Promise<Suite> {
  const isPath = /[\\/]/.test(nameOrPath) || /\.json$/i.test(nameOrPath);
  const builtin = BUILTIN_JSON[nameOrPath];
  if (!isPath && builtin !== undefined) {
    return parseSuite(structuredClone(builtin), nameOrPath);
  }
  let text: string;
  try {
    text = await Deno.readTextFile(nameOrPath);
  } catch (error) {
    if (!isPath && error instanceof Deno.errors.NotFound) {
      const near = closest(nameOrPath, BUILTIN_SUITES);
      throw new RangeError(
        `Cannot load suite ${JSON.stringify(nameOrPath)}: no built-in suite or file by that name${
          near === undefined ? "" : ` (did you mean ${JSON.stringify(near)}?)`
        }; built-in suites are ${BUILTIN_SUITES.join(", ")}`,
      );
    }
    const reason = error instanceof Deno.errors.NotFound
      ? "no such file"
      : error instanceof Deno.errors.IsADirectory
      ? "it is a directory"
      : (error as Error).message;
    throw new RangeError(`Cannot load suite ${JSON.stringify(nameOrPath)}: ${reason}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new SyntaxError(
      `Cannot load suite ${JSON.stringify(nameOrPath)}: malformed JSON, ${
        (error as Error).message
      }`,
    );
  }
  return parseSuite(value, nameOrPath);
}

/** Options for {@linkcode resolveSuite}. */
export interface ResolveSuiteOptions {
  /**
   * The machine's cores, for `sweeps.threads: "cores"`. The CLI passes the physical cores
   * node-llama-cpp reports (`SessionInfo.cpu_math_cores`), the session's default threads.
   *
   * @default {navigator.hardwareConcurrency (logical cores)}
   */
  cores?: number;
}

/**
 * Resolves a suite's symbolic settings: `sweeps.threads: "cores"` becomes the list 1, 2, ...
 * up to `cores`. A suite without symbolic settings is returned as is. Resolve once, when the
 * plan is made, and store the resolved suite, so a resumed session runs the same list on any
 * machine.
 *
 * @param suite The suite.
 * @param options The machine's cores.
 * @returns The suite with every sweep a list of numbers.
 * @throws {RangeError} When `cores` is not an integer >= 1.
 *
 * @example Sweep 1 to 4 threads on a 4-core machine
 * ```ts
 * import { parseSuite, resolveSuite } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const suite = parseSuite({
 *   prompts: [{ id: "hi", class: "simple", text: "Say hi", maxTokens: 8 }],
 *   sweeps: { threads: "cores" },
 * }, "mine.json");
 * assert.deepEqual(resolveSuite(suite, { cores: 4 }).sweeps.threads, [1, 2, 3, 4]);
 * ```
 */
export function resolveSuite(suite: Suite, options: ResolveSuiteOptions = {}): Suite {
  const { cores = navigator.hardwareConcurrency } = options;
  if (suite.sweeps.threads !== "cores") return suite;
  if (!Number.isSafeInteger(cores) || cores < 1) {
    throw new RangeError(
      `Cannot resolve threads "cores" of suite ${
        JSON.stringify(suite.name)
      }: cores must be an integer >= 1, found ${cores}`,
    );
  }
  const threads = Array.from({ length: cores }, (_, i) => i + 1);
  return { ...suite, sweeps: { ...suite.sweeps, threads } };
}

/** One planned run: what to run, and where it sits in the plan. */
export interface PlannedRun {
  /** Position in the plan, from 0; also the run's `order_index`. */
  readonly orderIndex: number;
  /** Prompt id. */
  readonly promptId: string;
  /** Prompt class. */
  readonly promptClass: string;
  /** Prompt tags. */
  readonly promptTags: readonly string[];
  /** Prompt mode. */
  readonly mode: PromptMode;
  /** Prompt text. */
  readonly text: string;
  /** Output token budget. */
  readonly maxTokens: number;
  /** Repetition of this cell, from 0, warm-ups included. */
  readonly repetition: number;
  /** Whether this is a warm-up run. */
  readonly warmup: boolean;
  /** Compute threads. */
  readonly threads: number;
  /** Context depth (filler tokens before the prompt). */
  readonly depth: number;
  /** Batch size. */
  readonly batchSize: number;
}

/**
 * Options for {@linkcode expandPlan}: the values used where the suite has no sweep, and the
 * cores behind `sweeps.threads: "cores"`.
 */
export interface ExpandPlanOptions extends ResolveSuiteOptions {
  /**
   * Threads for every run when the suite has no `threads` sweep.
   *
   * @default {1}
   */
  threads?: number;
  /**
   * Batch size for every run when the suite has no `batchSize` sweep.
   *
   * @default {512}
   */
  batchSize?: number;
}

/**
 * Expands a suite into its ordered list of runs: every cell (prompt × threads × depth ×
 * batch size) gets `warmup` warm-up runs then `repetitions` measured runs, arranged by
 * the suite's `order` with its `seed`. The same suite and options always give the same
 * plan. A `"cores"` threads sweep is resolved first (see {@linkcode resolveSuite}).
 *
 * @param suite The suite.
 * @param options Values for settings the suite does not sweep, and the machine's cores.
 * @returns The planned runs, `orderIndex` 0, 1, 2, ...
 * @throws {RangeError} When `cores` is needed and not an integer >= 1.
 *
 * @example Interleave two prompts
 * ```ts
 * import { expandPlan, parseSuite } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const suite = parseSuite({
 *   prompts: [
 *     { id: "a", class: "simple", text: "Say a", maxTokens: 4 },
 *     { id: "b", class: "complex", text: "Say b", maxTokens: 4 },
 *   ],
 *   repetitions: 3,
 *   warmup: 1,
 * }, "two.json");
 * const plan = expandPlan(suite, { threads: 2 });
 * assert.equal(plan.length, 8);
 * assert.deepEqual(plan.slice(0, 2).map((run) => run.warmup), [true, true]);
 * assert.ok(plan.every((run) => run.threads === 2));
 * ```
 */
export function expandPlan(suite: Suite, options: ExpandPlanOptions = {}): PlannedRun[] {
  const { threads = 1, batchSize = 512, ...resolve } = options;
  const { sweeps } = resolveSuite(suite, resolve);
  const cells: Omit<PlannedRun, "orderIndex" | "repetition" | "warmup">[] = [];
  for (const batch of sweeps.batchSize ?? [batchSize]) {
    for (const thread of (sweeps.threads as readonly number[] | undefined) ?? [threads]) {
      for (const depth of sweeps.depth ?? [0]) {
        for (const prompt of suite.prompts) {
          cells.push({
            promptId: prompt.id,
            promptClass: prompt.class,
            promptTags: prompt.tags,
            mode: prompt.mode,
            text: prompt.text,
            maxTokens: prompt.maxTokens,
            threads: thread,
            depth,
            batchSize: batch,
          });
        }
      }
    }
  }
  const perCell = suite.warmup + suite.repetitions;
  // the plan stream reproduces the run order suites have always had for their seed
  const rng = new Rng(suite.seed, { stream: "mulberry32" });
  let sequence: number[] = [];
  if (suite.order === "blocked") {
    sequence = cells.flatMap((_, cell) => Array<number>(perCell).fill(cell));
  } else if (suite.order === "interleaved") {
    for (let round = 0; round < perCell; round++) {
      sequence.push(...rng.shuffle(cells.map((_, cell) => cell)));
    }
  } else {
    sequence = rng.shuffle(cells.flatMap((_, cell) => Array<number>(perCell).fill(cell)));
  }
  const seen = new Array<number>(cells.length).fill(0);
  return sequence.map((cell, orderIndex) => {
    const repetition = seen[cell]!++;
    return { orderIndex, ...cells[cell]!, repetition, warmup: repetition < suite.warmup };
  });
}
