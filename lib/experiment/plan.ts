/**
 * The session plan: everything a suite run decided before its first run, stored as
 * `plan.json` in the session directory (and as the `plan_json` column of the `sessions`
 * table), so that `resumeSuite()` can run the rest of it and a summary can count and order
 * what was planned.
 *
 * Format version 1 (`planVersion: 1`), written since the first `trace` release; fields added
 * later are optional, so every version 1 file reads (`pin` came later: a plan without it ran
 * unpinned).
 *
 * @module
 */

import type { PlannedRun, Suite } from "./suite.ts";
import type { GpuChoice } from "../tracer/tracer.ts";

/**
 * The plan format version this module writes and reads.
 *
 * @example Version 1
 * ```ts
 * import { PLAN_VERSION } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * assert.equal(PLAN_VERSION, 1);
 * ```
 */
export const PLAN_VERSION = 1;

/** The model a plan was made for. */
export interface PlanModel {
  /** Model path as given (for a trace source: its `info.model_path`). */
  readonly path: string;
  /** SHA-256 of the model file, hex (a resumed session must use the same file). */
  readonly sha256: string;
  /** True for tokentrace's synthetic models. */
  readonly synthetic: boolean;
}

/** A session's plan (format version {@linkcode PLAN_VERSION}), as stored in `plan.json`. */
export interface SessionPlan {
  /** The format version, {@linkcode PLAN_VERSION}. */
  readonly planVersion: 1;
  /** The suite as given: a built-in name, a path, or a suite object's name. */
  readonly suite: string;
  /**
   * The suite after option overrides, resolved (a `"cores"` threads sweep as its list): what
   * was planned, and what a resumed session runs.
   */
  readonly suiteDefinition: Suite;
  /** `"cores"` when the threads sweep was given so (before it was resolved); else absent. */
  readonly threadsGiven?: "cores";
  /** The model. */
  readonly model: PlanModel;
  /** Compute backend asked for. */
  readonly gpu: GpuChoice;
  /** CPU pinning of the runs; absent in plans written before it existed (they ran unpinned). */
  readonly pin?: "auto" | "off";
  /** Backend in use when the plan was made (a resumed session must use the same). */
  readonly backend: string;
  /** The session's default threads. */
  readonly threads: number;
  /** Context size of the session, tokens. */
  readonly contextSize: number;
  /**
   * Prompt tokens after templating, by prompt id; empty when the trace source could not count
   * them before running.
   */
  readonly promptTokens: Readonly<Record<string, number>>;
  /** The planned runs, `orderIndex` 0, 1, 2, ... (see `expandPlan()`). */
  readonly runs: readonly PlannedRun[];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Checks a parsed `plan.json` value and returns it as a {@linkcode SessionPlan}. Checked: the
 * version, and the shape of the fields a runner and a summary rely on (the suite, the model,
 * the settings and every planned run's position, prompt and settings).
 *
 * @param value The parsed JSON.
 * @param source Where the value came from, for messages.
 * @returns The plan.
 * @throws {TypeError} When the value is not a version 1 plan; the message names the field.
 *
 * @example Read a stored plan, and refuse one of another format
 * ```ts
 * import { parsePlan } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const text = await Deno.readTextFile(
 *   new URL("../../data/sample-trace/session=20261124T070333Z-ccfce0/plan.json", import.meta.url),
 * );
 * const plan = parsePlan(JSON.parse(text), "sample");
 * assert.equal(plan.planVersion, 1);
 * assert.equal(plan.runs.length, 54);
 * assert.equal(plan.pin, undefined); // written before pinning existed
 * assert.throws(() => parsePlan({ planVersion: 2 }, "new.json"), /planVersion/);
 * ```
 */
export function parsePlan(value: unknown, source: string): SessionPlan {
  const fail = (field: string, rule: string, found: unknown): never => {
    throw new TypeError(
      `Cannot read plan ${JSON.stringify(source)}: ${field} must be ${rule}, found ${
        found === undefined ? "nothing" : JSON.stringify(found)?.slice(0, 80)
      }`,
    );
  };
  if (!isRecord(value)) return fail("the plan", "an object", value);
  if (value.planVersion !== PLAN_VERSION) {
    return fail("planVersion", `${PLAN_VERSION} (this tokentrace version)`, value.planVersion);
  }
  if (typeof value.suite !== "string") fail("suite", "a string", value.suite);
  const suite = value.suiteDefinition;
  if (!isRecord(suite) || !Array.isArray(suite.prompts) || !isRecord(suite.sweeps)) {
    fail("suiteDefinition", "a suite with prompts and sweeps", suite);
  }
  const model = value.model;
  if (!isRecord(model) || typeof model.path !== "string" || typeof model.sha256 !== "string") {
    fail("model", "an object with a path and a sha256", model);
  }
  for (const key of ["gpu", "backend"] as const) {
    if (typeof value[key] !== "string") fail(key, "a string", value[key]);
  }
  if (value.pin !== undefined && value.pin !== "auto" && value.pin !== "off") {
    fail("pin", '"auto" or "off"', value.pin);
  }
  for (const key of ["threads", "contextSize"] as const) {
    const n = value[key];
    if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 1) {
      fail(key, "an integer >= 1", n);
    }
  }
  if (!isRecord(value.promptTokens)) fail("promptTokens", "an object", value.promptTokens);
  if (!Array.isArray(value.runs)) return fail("runs", "an array", value.runs);
  value.runs.forEach((run: unknown, i: number) => {
    const ok = isRecord(run) && run.orderIndex === i && typeof run.promptId === "string" &&
      typeof run.text === "string" && typeof run.warmup === "boolean" &&
      [run.maxTokens, run.repetition, run.threads, run.depth, run.batchSize].every((n) =>
        typeof n === "number" && Number.isSafeInteger(n)
      );
    if (!ok) fail(`runs[${i}]`, `a planned run with orderIndex ${i}`, run);
  });
  return value as unknown as SessionPlan;
}

/**
 * A plan as a summary reads it: any object with a list of planned runs (so also plans of a
 * later version, or partial ones); the other fields when present.
 */
export type StoredPlan = Partial<SessionPlan> & Pick<SessionPlan, "runs">;

/**
 * Reads a stored plan leniently, for summaries: the `plan_json` column (or `plan.json` text)
 * parsed, when it is an object with a `runs` list. Use {@linkcode parsePlan} to check a plan
 * fully before resuming it.
 *
 * @param text The stored JSON text; empty for a session without a plan.
 * @returns The plan, or undefined when there is none (a session written without a plan, or
 * text that is not a plan).
 *
 * @example A plan, and no plan
 * ```ts
 * import { planFromJson } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * assert.equal(planFromJson('{"planVersion":1,"runs":[{"promptId":"a"}]}')?.runs.length, 1);
 * assert.equal(planFromJson(""), undefined);
 * assert.equal(planFromJson("{}"), undefined);
 * ```
 */
export function planFromJson(text: string): StoredPlan | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  return isRecord(value) && Array.isArray(value.runs) ? value as unknown as StoredPlan : undefined;
}

/**
 * The prompt ids of a plan in order of first planned run (the order a summary lists them in).
 *
 * @param plan The plan.
 * @returns Distinct prompt ids.
 *
 * @example Prompts in plan order
 * ```ts
 * import { planPromptOrder, type PlannedRun } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const runs = [{ promptId: "b" }, { promptId: "a" }, { promptId: "b" }] as PlannedRun[];
 * assert.deepEqual(planPromptOrder({ runs }), ["b", "a"]);
 * ```
 */
export function planPromptOrder(plan: Pick<SessionPlan, "runs">): string[] {
  return [...new Set(plan.runs.map((run) => String(run.promptId)))];
}
