// `tokentrace report <dataset> [<candidate>]`: reads a dataset (or two, compared), analyses it and writes the HTML write-up
// (lib/report.ts). With --bandwidth-gbps, the physics check reads the model's geometry from
// the session's model file.

import { defineCommand, parseFlags, UsageError } from "./args.ts";
import type { ModelGeometry } from "../analysis/physics.ts";
import { DatasetError } from "../dataset/dataset.ts";
import { readDataset } from "../dataset/read.ts";
import { GgufError, readGguf } from "../gguf/reader.ts";
import { modelGeometry, renderReport } from "../present/report.ts";
import pl from "nodejs-polars";
import type { Trace } from "../analysis/types.ts";
import { collectFrame, lazyPolars } from "../schema/_polars.ts";
import { compareSessions } from "../compare/compare.ts";
import { CompareError, type SessionComparison } from "../compare/types.ts";
import { loadSide } from "./compare.ts";

const DEFAULT_OUT = "report.html";

const REPORT = defineCommand({
  usage: "tokentrace report <dataset> [<candidate>] [options]",
  description:
    "Analyses a trace dataset (slowdown curve, variance, prompt class, token content, runs,\n" +
    "stalls, warm-up, drift) and writes a self-contained HTML write-up with inline charts.\n" +
    "With two datasets or session dirs (baseline, then candidate), it analyses both and adds\n" +
    "a comparison section (as `tokentrace compare`).",
  flags: [
    {
      name: "out",
      kind: "string",
      placeholder: "<file.html>",
      defaultText: DEFAULT_OUT,
      help: "where to write the report (parent folders are created)",
    },
    { name: "seed", kind: "int", min: 0, defaultText: "1", help: "seed of every resampling" },
    {
      name: "bandwidth-gbps",
      kind: "string",
      placeholder: "<GB/s>",
      defaultText: "none: physics check skipped",
      help: "measured memory read bandwidth, for the physics check (needs the model file)",
    },
    {
      name: "title",
      kind: "string",
      placeholder: "<text>",
      defaultText: "tokentrace report",
      help: "page title",
    },
  ],
});

/**
 * Reads a baseline and a candidate (datasets or session dirs), compares them, and returns
 * the compared sessions of both as one trace (a session on both sides appears once).
 */
async function comparedTraces(
  baselinePath: string,
  candidatePath: string,
): Promise<{ trace: Trace; comparison: SessionComparison }> {
  const baseline = await loadSide(baselinePath);
  const candidate = await loadSide(candidatePath);
  const comparison = compareSessions(baseline.trace, candidate.trace, {
    ...(baseline.session === undefined ? {} : { baselineSession: baseline.session }),
    ...(candidate.session === undefined ? {} : { candidateSession: candidate.session }),
  });
  const pick = (t: Trace, ids: readonly string[]): Trace => {
    const keep = pl.col("session_id").isIn(ids as string[]);
    return {
      sessions: collectFrame(t.sessions).filter(keep),
      runs: collectFrame(t.runs).filter(keep),
      tokens: lazyPolars(t.tokens).filter(keep),
    };
  };
  const b = pick(baseline.trace, comparison.baselineSessions);
  const extra = comparison.candidateSessions.filter((id) =>
    !comparison.baselineSessions.includes(id)
  );
  if (extra.length === 0) return { trace: b, comparison };
  const c = pick(candidate.trace, extra);
  const how = { how: "diagonalRelaxed" } as const;
  return {
    trace: {
      sessions: pl.concat([b.sessions as pl.DataFrame, c.sessions as pl.DataFrame], how),
      runs: pl.concat([b.runs as pl.DataFrame, c.runs as pl.DataFrame], how),
      tokens: pl.concat([b.tokens as pl.LazyDataFrame, c.tokens as pl.LazyDataFrame], how),
    },
    comparison,
  };
}

/** The model's KV-cache geometry, read from its GGUF file. */
async function readGeometry(path: string): Promise<ModelGeometry> {
  const info = await readGguf(path).catch((e) => {
    if (e instanceof GgufError) throw e;
    throw new GgufError(
      `Cannot run the physics check: cannot read the model "${path}": ${firstLine(e)}`,
      {
        path,
      },
    );
  });
  return modelGeometry(info);
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split("\n")[0]!;
}

/**
 * Runs `tokentrace report` with the arguments after the subcommand and returns the exit
 * code: 0 when the report was written, 2 on bad input (one line on stderr, nothing written).
 *
 * @param args Command-line arguments after `report`: the dataset directory, then options.
 * @returns The process exit code.
 *
 * @example Print the help
 * ```ts
 * import { main } from "@tokentrace/tokentrace/cli";
 * import assert from "node:assert/strict";
 *
 * assert.equal(await main(["report", "--help"]), 0);
 * ```
 */
export async function reportMain(args: string[]): Promise<number> {
  let dataset: string, out: string, seed: number, title: string, bandwidth: number | undefined;
  let candidatePath: string | undefined;
  try {
    const first = args[0];
    const hasDataset = first !== undefined && !first.startsWith("--");
    const second = args[1];
    const hasCandidate = hasDataset && second !== undefined && !second.startsWith("--");
    if (hasCandidate) candidatePath = second;
    const flags = parseFlags(args.slice(hasCandidate ? 2 : hasDataset ? 1 : 0), REPORT.flags);
    if (flags.bool("help")) {
      console.log(REPORT.help);
      return 0;
    }
    if (!hasDataset) {
      throw new UsageError(
        "Cannot parse arguments: the dataset directory must come first; see --help",
      );
    }
    dataset = first;
    out = flags.string("out") ?? DEFAULT_OUT;
    seed = flags.int("seed") ?? 1;
    title = flags.string("title") ?? "tokentrace report";
    const bw = flags.string("bandwidth-gbps");
    if (bw !== undefined) {
      bandwidth = Number(bw);
      if (!(bandwidth > 0 && Number.isFinite(bandwidth))) {
        throw new UsageError(
          `Cannot parse --bandwidth-gbps: expected a number > 0, found ${JSON.stringify(bw)}`,
        );
      }
    }
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(e.message);
    return 2;
  }

  try {
    let trace: Trace, comparison: SessionComparison | undefined;
    if (candidatePath === undefined) trace = await readDataset(dataset);
    else ({ trace, comparison } = await comparedTraces(dataset, candidatePath));
    if (collectFrame(trace.runs).height === 0) {
      console.error(`Cannot report on "${dataset}": it holds no finished run`);
      return 2;
    }
    let physics;
    if (bandwidth !== undefined) {
      const models = [
        ...new Set(collectFrame(trace.sessions).getColumn("model_path").toArray() as string[]),
      ];
      if (models.length !== 1) {
        console.error(
          `Cannot run the physics check: the sessions must share one model, found ${models.length}`,
        );
        return 2;
      }
      physics = { bandwidthGBps: bandwidth, geometry: await readGeometry(models[0]!) };
    }
    const html = renderReport(trace, {
      title,
      source: candidatePath === undefined
        ? dataset
        : `${dataset} (baseline), ${candidatePath} (candidate)`,
      analyze: { seed, ...(physics ? { physics } : {}) },
      ...(comparison ? { comparison } : {}),
    });
    const parent = out.includes("/") ? out.slice(0, out.lastIndexOf("/")) : "";
    if (parent !== "") await Deno.mkdir(parent, { recursive: true });
    await Deno.writeTextFile(out, html);
    console.log(`wrote ${out}`);
    return 0;
  } catch (e) {
    if (
      e instanceof DatasetError || e instanceof GgufError || e instanceof RangeError ||
      e instanceof CompareError
    ) {
      console.error(firstLine(e));
      return 2;
    }
    if (
      e instanceof Deno.errors.NotFound || e instanceof Deno.errors.PermissionDenied ||
      e instanceof Deno.errors.IsADirectory
    ) {
      console.error(`Cannot write report to ${JSON.stringify(out)}: ${firstLine(e)}`);
      return 2;
    }
    throw e;
  }
}
