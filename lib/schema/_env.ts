// The environment a trace session records: host, OS, CPU, memory, runtime and tool versions,
// and a streaming SHA-256 of the model file. Internal to the tracer and the dataset writer.

import { createHash } from "node:crypto";
import os from "node:os";
import denoConfig from "../../deno.json" with { type: "json" };

/** tokentrace's own version, from deno.json. */
export const TOOL_VERSION: string = denoConfig.version;

/** The host facts of a sessions row that do not need llama.cpp. */
export interface HostInfo {
  host: string;
  os: string;
  arch: string;
  cpu_model: string;
  cpu_cores: number;
  memory_bytes: number;
  runtime_version: string;
}

/** Reads the host facts: host name, OS and kernel, CPU model and cores, memory, Deno and V8. */
export function hostInfo(): HostInfo {
  const cpus = os.cpus();
  return {
    host: os.hostname(),
    os: `${os.type()} ${os.release()}`,
    arch: Deno.build.arch,
    cpu_model: cpus[0]?.model.trim() ?? "",
    cpu_cores: cpus.length,
    memory_bytes: os.totalmem(),
    runtime_version: `Deno ${Deno.version.deno} (V8 ${Deno.version.v8})`,
  };
}

/** SHA-256 of a file as lower-case hex, read in chunks (never the whole file in memory). */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  using file = await Deno.open(path, { read: true });
  const buffer = new Uint8Array(1 << 20);
  while (true) {
    const n = await file.read(buffer);
    if (n === null) break;
    hash.update(buffer.subarray(0, n));
  }
  return hash.digest("hex");
}
