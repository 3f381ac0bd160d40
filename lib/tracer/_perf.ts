// llama.cpp's own performance counters, read from the lines `llama_perf_context_print` logs
// (node-llama-cpp's `context.printTimings()` prints them, then resets the counters).

/** llama.cpp's counters for the evaluations since the last reset. */
export interface LlamaPerf {
  /** Time spent in multi-token batches (prompt evaluation), ms. */
  promptEvalMs: number;
  /** Tokens evaluated in multi-token batches. */
  promptEvalTokens: number;
  /** Time spent in single-token batches (decode steps), ms. */
  evalMs: number;
  /** Single-token batches evaluated. */
  evalTokens: number;
}

const PREFIX = "llama_perf_context_print:";
const PROMPT_EVAL =
  /^llama_perf_context_print:\s+prompt eval time =\s*([\d.]+) ms \/\s*(\d+) tokens/;
const EVAL = /^llama_perf_context_print:\s+eval time =\s*([\d.]+) ms \/\s*(\d+) runs/;

/** True for a line of `llama_perf_context_print`. */
export function isPerfLine(message: string): boolean {
  return message.startsWith(PREFIX);
}

/**
 * Parses the counters from `llama_perf_context_print` lines, or returns undefined while the
 * prompt-eval or eval line is missing. llama.cpp prints a count of 0 as 1 (`max(1, n)`), so a
 * count of 1 with a time of 0.00 ms is read as 0: a real evaluation takes far longer than 5 µs.
 */
export function parsePerf(lines: readonly string[]): LlamaPerf | undefined {
  let prompt: RegExpExecArray | null = null;
  let evalLine: RegExpExecArray | null = null;
  for (const line of lines) {
    prompt ??= PROMPT_EVAL.exec(line);
    evalLine ??= EVAL.exec(line);
  }
  if (prompt === null || evalLine === null) return undefined;
  const count = (ms: number, n: number): number => (ms === 0 && n === 1 ? 0 : n);
  const promptEvalMs = Number(prompt[1]);
  const evalMs = Number(evalLine[1]);
  return {
    promptEvalMs,
    promptEvalTokens: count(promptEvalMs, Number(prompt[2])),
    evalMs,
    evalTokens: count(evalMs, Number(evalLine[2])),
  };
}
