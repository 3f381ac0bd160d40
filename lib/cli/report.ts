// `tokentrace report <dataset>`: reads a dataset, analyses it and writes the HTML write-up
// (lib/report.ts). With --bandwidth-gbps, the physics check reads the model's geometry from
// the session's model file.

import { type FlagSpec, formatHelp, parseFlags, UsageError } from "./args.ts";
import type { ModelGeometry } from "../analysis/physics.ts";
import { DatasetError } from "../dataset/dataset.ts";
import { readDataset } from "../dataset/read.ts";
import { GgufError, readGguf } from "../gguf/gguf.ts";
import { modelGeometry, renderReport } from "../present/report.ts";

const DEFAULT_OUT = "report.html";

const REPORT_FLAGS: readonly FlagSpec[] = [
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
  { name: "help", kind: "bool", defaultText: "", help: "print this help and exit" },
];

const HELP_TEXT = formatHelp(
  "tokentrace report <dataset> [options]",
  "Analyses a trace dataset (slowdown curve, variance, prompt class, token content, runs,\n" +
    "stalls, warm-up, drift) and writes a self-contained HTML write-up with inline charts.",
  REPORT_FLAGS,
);

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
  try {
    const first = args[0];
    const hasDataset = first !== undefined && !first.startsWith("--");
    const flags = parseFlags(hasDataset ? args.slice(1) : args, REPORT_FLAGS);
    if (flags.bool("help")) {
      console.log(HELP_TEXT);
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
    const trace = await readDataset(dataset);
    if (trace.runs.height === 0) {
      console.error(`Cannot report on "${dataset}": it holds no finished run`);
      return 2;
    }
    let physics;
    if (bandwidth !== undefined) {
      const models = [...new Set(trace.sessions.getColumn("model_path").toArray() as string[])];
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
      source: dataset,
      analyze: { seed, ...(physics ? { physics } : {}) },
    });
    const parent = out.includes("/") ? out.slice(0, out.lastIndexOf("/")) : "";
    if (parent !== "") await Deno.mkdir(parent, { recursive: true });
    await Deno.writeTextFile(out, html);
    console.log(`wrote ${out}`);
    return 0;
  } catch (e) {
    if (e instanceof DatasetError || e instanceof GgufError || e instanceof RangeError) {
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
