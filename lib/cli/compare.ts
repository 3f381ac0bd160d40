// `tokentrace compare <baseline> <candidate>`: reads two datasets (or two session dirs),
// compares them with compareSessions() and prints the table, environment differences and
// warnings (or JSON). --fail-on-regression exits 1 when decode or TTFT got slower.

import { defineCommand, parseFlags, UsageError } from "./args.ts";
import { DatasetError } from "../dataset/dataset.ts";
import { readDataset } from "../dataset/read.ts";
import type { Trace } from "../analysis/types.ts";
import { compareSessions } from "../compare/compare.ts";
import { CompareError, type SessionComparison } from "../compare/types.ts";
import { comparisonJson, formatComparison } from "../compare/format.ts";

const COMPARE = defineCommand({
  usage: "tokentrace compare <baseline> <candidate> [options]",
  description:
    "Compares two trace datasets, or two session directories (.../session=<id>), prompt by\n" +
    "prompt: decode tok/s, TTFT, ITL p50/p99, prefill and e2e tok/s as candidate/baseline\n" +
    "ratios with 95% intervals and verdicts (faster, slower, no change, inconclusive),\n" +
    "then the environment differences and warnings. Exit 0; 1 with --fail-on-regression\n" +
    "when decode or TTFT is slower; 2 on bad input.",
  flags: [
    {
      name: "threshold",
      kind: "string",
      placeholder: "<pct>",
      defaultText: "2",
      help: "noise threshold in %: an interval within ±threshold is `no change`",
    },
    {
      name: "format",
      kind: "choice",
      choices: ["table", "json"],
      defaultText: "table",
      help: "output format on stdout",
    },
    {
      name: "fail-on-regression",
      kind: "bool",
      defaultText: "",
      help: "exit 1 when the decode tok/s or TTFT verdict is `slower`",
    },
  ],
});

/** A side as given: a dataset directory, or one session directory inside a dataset. */
export async function loadSide(path: string): Promise<{ trace: Trace; session?: string }> {
  const trimmed = path.replace(/\/+$/, "");
  const base = trimmed.slice(trimmed.lastIndexOf("/") + 1);
  if (base.startsWith("session=")) {
    const parent = trimmed.includes("/") ? trimmed.slice(0, trimmed.lastIndexOf("/")) : ".";
    try {
      const info = await Deno.stat(trimmed);
      if (!info.isDirectory) throw new Deno.errors.NotFound();
    } catch {
      throw new DatasetError(`Cannot read session "${path}": no such directory`, path);
    }
    return { trace: await readDataset(parent || "/"), session: base.slice("session=".length) };
  }
  const trace = await readDataset(trimmed || "/");
  if (trace.sessions.height === 0) {
    throw new DatasetError(
      `Cannot read dataset "${path}": it holds no session (expected session=<id> folders)`,
      path,
    );
  }
  return { trace };
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split("\n")[0]!;
}

/** True when a decode or TTFT verdict is `slower`. */
export function isRegression(result: SessionComparison): boolean {
  return result.metrics.decodeTokensPerS.verdict === "slower" ||
    result.metrics.ttftMs.verdict === "slower";
}

/**
 * Runs `tokentrace compare` with the arguments after the subcommand and returns the exit
 * code: 0 compared, 1 with `--fail-on-regression` when decode or TTFT is `slower`, 2 on bad
 * input (one line on stderr).
 *
 * @param args Command-line arguments after `compare`: baseline, candidate, then options.
 * @returns The process exit code.
 *
 * @example Print the help
 * ```ts
 * import { main } from "@tokentrace/tokentrace/cli";
 * import assert from "node:assert/strict";
 *
 * assert.equal(await main(["compare", "--help"]), 0);
 * ```
 */
export async function compareMain(args: string[]): Promise<number> {
  let baselinePath: string, candidatePath: string, threshold: number, format: string;
  let failOnRegression: boolean;
  try {
    const positional = args.slice(0, 2).filter((a) => !a.startsWith("--"));
    const flags = parseFlags(args.slice(positional.length), COMPARE.flags);
    if (flags.bool("help")) {
      console.log(COMPARE.help);
      return 0;
    }
    if (positional.length !== 2) {
      throw new UsageError(
        `Cannot parse arguments: expected a baseline and a candidate dataset (or session dir) first, found ${positional.length}; see --help`,
      );
    }
    [baselinePath, candidatePath] = positional as [string, string];
    const text = flags.string("threshold") ?? "2";
    threshold = Number(text);
    if (!(Number.isFinite(threshold) && threshold > 0 && threshold < 100)) {
      throw new UsageError(
        `Cannot parse --threshold: expected a percentage > 0 and < 100, found ${
          JSON.stringify(text)
        }`,
      );
    }
    format = flags.string("format") ?? "table";
    failOnRegression = flags.bool("fail-on-regression");
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(e.message);
    return 2;
  }
  let result: SessionComparison;
  try {
    const baseline = await loadSide(baselinePath);
    const candidate = await loadSide(candidatePath);
    result = compareSessions(baseline.trace, candidate.trace, {
      thresholdPct: threshold,
      ...(baseline.session === undefined ? {} : { baselineSession: baseline.session }),
      ...(candidate.session === undefined ? {} : { candidateSession: candidate.session }),
    });
  } catch (e) {
    if (e instanceof DatasetError || e instanceof CompareError || e instanceof RangeError) {
      console.error(firstLine(e));
      return 2;
    }
    throw e;
  }
  if (format === "json") console.log(JSON.stringify(comparisonJson(result), null, 2));
  else console.log(formatComparison(result));
  if (failOnRegression && isRegression(result)) {
    console.error("regression: decode tok/s or TTFT is slower in the candidate");
    return 1;
  }
  return 0;
}
