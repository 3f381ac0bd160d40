/**
 * The `tokentrace` command line: `synth`, `trace`, `report` and `compare` subcommands
 * (benchmarks run with `deno task bench`, outside the published package).
 *
 * ```sh
 * deno run -A lib/cli.ts trace --help
 * ```
 *
 * Folder `lib/cli/`: the command line: flags to library calls, progress and output (this file is
 * its entry). May import: present, compare, simulate, analysis, experiment, dataset, endpoint,
 * tracer, synth, gguf, runtime, schema, stats.
 *
 * @module
 */

type SubcommandMain = (args: string[]) => Promise<number>;

const SUBCOMMANDS: Readonly<Record<string, () => Promise<SubcommandMain>>> = {
  synth: async () => (await import("./cli/synth.ts")).synthMain,
  trace: async () => (await import("./cli/trace.ts")).traceMain,
  report: async () => (await import("./cli/report.ts")).reportMain,
  compare: async () => (await import("./cli/compare.ts")).compareMain,
};

/**
 * Runs the command line with the given arguments and returns the exit code.
 *
 * @param args Command-line arguments, subcommand first.
 * @returns The process exit code: 0 on success, 2 on bad input, 130 when interrupted.
 *
 * @example Unknown subcommand
 * ```ts
 * import { main } from "@tokentrace/tokentrace/cli";
 * import assert from "node:assert/strict";
 *
 * assert.equal(await main(["nope"]), 2);
 * ```
 */
export async function main(args: string[]): Promise<number> {
  const [name, ...rest] = args;
  const load = name === undefined ? undefined : SUBCOMMANDS[name];
  if (load === undefined) {
    console.error(
      `Cannot run tokentrace: unknown subcommand ${JSON.stringify(name ?? "")}; use one of ${
        Object.keys(SUBCOMMANDS).join(", ")
      }`,
    );
    return 2;
  }
  return await (await load())(rest);
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
