// llama.cpp's own tools (llama-server, llama-quantize), built from the source bundled in
// node-llama-cpp by .ci/llama_tools.sh into a cache outside the clone (built once per machine).

import { fileURLToPath } from "node:url";

const SCRIPT = fileURLToPath(new URL("../.ci/llama_tools.sh", import.meta.url));
let bin: Promise<string> | undefined;

/** Path of a llama.cpp tool binary (`llama-server`, `llama-quantize`); builds them on first use. */
export function llamaTool(name: "llama-server" | "llama-quantize"): Promise<string> {
  bin ??= (async () => {
    const out = await new Deno.Command("bash", {
      args: [SCRIPT],
      stdout: "piped",
      stderr: "inherit",
    })
      .output();
    if (!out.success) throw new Error(`.ci/llama_tools.sh failed with exit code ${out.code}`);
    return new TextDecoder().decode(out.stdout).trim();
  })();
  return bin.then((dir) => `${dir}/${name}`);
}
