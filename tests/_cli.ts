// The command line as a subprocess, for end-to-end tests: `deno run -A lib/cli.ts <args>` from the
// project root, without colour, with stdout and stderr captured.

import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

/** What one CLI process printed and how it exited. */
export interface CliOutput {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `deno run -A lib/cli.ts <args>` from the project root and captures its output. */
export async function runCli(args: string[], env: Record<string, string> = {}): Promise<CliOutput> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "lib/cli.ts", ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...env },
  }).output();
  const text = new TextDecoder();
  return { code, stdout: text.decode(stdout), stderr: text.decode(stderr) };
}
