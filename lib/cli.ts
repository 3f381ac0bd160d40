/**
 * The `tokentrace` command line: `synth`, `trace`, `report` and `bench` subcommands.
 *
 * @module
 */

const SUBCOMMANDS: Readonly<
  Record<string, () => Promise<{ main: (args: string[]) => Promise<number> }>>
> = {
  synth: async () => ({ main: (await import("./_cli_synth.ts")).synthMain }),
};

/**
 * Runs the command line with the given arguments and returns the exit code.
 *
 * @param args Command-line arguments, subcommand first.
 * @returns The process exit code.
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
  return await (await load()).main(rest);
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
