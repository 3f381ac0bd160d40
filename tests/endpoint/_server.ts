// A real llama-server for tests: started on 127.0.0.1 on a free port with few threads, ready
// when /health answers, always stopped by the caller (in a finally).

import { llamaTool } from "../_llama.ts";

/** A running llama-server. */
export interface LlamaServer {
  /** Its base URL, `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** Its port. */
  readonly port: number;
  /** The child process. */
  readonly child: Deno.ChildProcess;
  /** Kills it (SIGKILL) and waits for it to exit. */
  stop(): Promise<void>;
}

/** A TCP port free on 127.0.0.1 right now. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** Starts llama-server on `model`; waits up to 120 s for /health. */
export async function startLlamaServer(
  model: string,
  { threads = 1, port = freePort(), args = [] as string[] } = {},
): Promise<LlamaServer> {
  const bin = await llamaTool("llama-server");
  const child = new Deno.Command(bin, {
    args: [
      "-m",
      model,
      "-t",
      String(threads),
      "--host",
      "127.0.0.1",
      "--port",
      String(port),
      "-c",
      "2048",
      "-np",
      "1",
      ...args,
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const url = `http://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    if (!exited) {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
    }
    await status;
  };
  const deadline = Date.now() + 120_000;
  while (true) {
    if (exited) throw new Error(`llama-server exited before answering /health on ${url}`);
    try {
      const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) });
      await response.body?.cancel();
      if (response.status === 200) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`llama-server did not answer /health on ${url} within 120 s`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { url, port, child, stop };
}
