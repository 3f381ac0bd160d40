// Progress reporting for `trace` on stderr: a redrawn one-line bar on a terminal
// (runs done / total, current prompt id, live tokens/s of the current run, ETA), or plain
// lines without control characters elsewhere (CI, pipes, files).

/** Options for {@linkcode Progress}. */
export interface ProgressOptions {
  /**
   * Whether stderr is a terminal: redraw one line in place instead of printing lines.
   *
   * @default {false}
   */
  tty?: boolean;
  /**
   * Where text goes.
   *
   * @default {writing to stderr}
   */
  write?: (text: string) => void;
  /**
   * Clock in milliseconds.
   *
   * @default {performance.now}
   */
  now?: () => number;
  /**
   * Terminal width in columns, for the bar.
   *
   * @default {80}
   */
  columns?: number;
}

const encoder = new TextEncoder();

function writeStderr(text: string): void {
  const bytes = encoder.encode(text);
  let written = 0;
  while (written < bytes.length) written += Deno.stderr.writeSync(bytes.subarray(written));
}

/** Prefills of fewer input tokens than this are not shown (they take a few batches). */
export const PREFILL_PROGRESS_MIN_TOKENS = 4096;
/** Without a terminal, prefill progress lines come at most this often, ms. */
const PREFILL_LINE_MS = 10_000;

/** Formats a duration in seconds as `m:ss` (or `h:mm:ss`). */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

/**
 * Progress over a plan of runs. The ETA weighs each remaining run by its token budget
 * (output tokens plus a prefill share), scaled by the time finished runs took per unit.
 */
export class Progress {
  readonly #weights: readonly number[];
  readonly #tty: boolean;
  readonly #write: (text: string) => void;
  readonly #now: () => number;
  readonly #columns: number;
  #done = 0;
  #doneWeight = 0;
  #doneMs = 0;
  #remainingWeight: number;
  #current: { promptId: string; weight: number; startMs: number } | undefined;
  #firstTokenMs: number | undefined;
  #tokens = 0;
  #lastDrawMs = -Infinity;
  #drawn = false;
  #prefill: { done: number; total: number; elapsedMs: number; etaSeconds: number } | undefined;
  #lastPrefillLineMs = -Infinity;

  /**
   * @param weights One weight per run still to do (e.g. its output token budget).
   * @param doneBefore Runs already done before this process (a resumed session).
   * @param options Output options.
   */
  constructor(weights: readonly number[], doneBefore: number, options: ProgressOptions = {}) {
    const {
      tty = false,
      write = writeStderr,
      now = () => performance.now(),
      columns = 80,
    } = options;
    this.#weights = weights;
    this.#tty = tty;
    this.#write = write;
    this.#now = now;
    this.#columns = columns;
    this.#done = doneBefore;
    this.#remainingWeight = weights.reduce((a, b) => a + b, 0);
    this.total = doneBefore + weights.length;
  }

  /** Runs in the whole plan. */
  readonly total: number;

  /** Marks the start of the next run. */
  startRun(promptId: string): void {
    const index = this.#done - (this.total - this.#weights.length);
    this.#current = { promptId, weight: this.#weights[index] ?? 0, startMs: this.#now() };
    this.#firstTokenMs = undefined;
    this.#tokens = 0;
    this.#prefill = undefined;
    this.#lastPrefillLineMs = -Infinity;
    this.#draw(true);
  }

  /**
   * Records the current run's prefill so far (input tokens evaluated, in all, and ms since the
   * run's clock started): shown as `prefill done/total tokens` with an ETA from the batch rate
   * when the run prefills at least {@linkcode PREFILL_PROGRESS_MIN_TOKENS} tokens.
   */
  prefill(done: number, total: number, elapsedMs: number): void {
    if (total < PREFILL_PROGRESS_MIN_TOKENS || done <= 0 || this.#current === undefined) return;
    const etaSeconds = (total - done) * (elapsedMs / done) / 1000;
    this.#prefill = { done, total, elapsedMs, etaSeconds };
    if (this.#tty) {
      this.#draw(false);
      return;
    }
    const now = this.#now();
    if (now - this.#lastPrefillLineMs < PREFILL_LINE_MS) return;
    this.#lastPrefillLineMs = now;
    this.#write(
      `run ${this.#done + 1}/${this.total} ${this.#current.promptId}: ${this.#prefillText()}\n`,
    );
  }

  #prefillText(): string {
    const p = this.#prefill!;
    return `prefill ${p.done}/${p.total} tokens in ${(p.elapsedMs / 1000).toFixed(1)} s, ETA ${
      formatDuration(p.etaSeconds)
    }`;
  }

  /** Records one generated token of the current run. */
  token(): void {
    this.#prefill = undefined;
    this.#tokens++;
    if (this.#tokens === 1) this.#firstTokenMs = this.#now();
    this.#draw(false);
  }

  /** Marks the current run finished, with its output tokens and decode tokens/s. */
  endRun(outputTokens: number, decodeTokensPerS: number): void {
    const current = this.#current;
    if (current === undefined) return;
    this.#done++;
    this.#doneWeight += current.weight;
    this.#remainingWeight -= current.weight;
    this.#doneMs += this.#now() - current.startMs;
    this.#current = undefined;
    if (this.#tty) {
      this.#draw(true);
    } else {
      const rate = Number.isFinite(decodeTokensPerS) ? decodeTokensPerS.toFixed(1) : "-";
      this.#write(
        `run ${this.#done}/${this.total} ${current.promptId}: ${outputTokens} tokens, decode ${rate} tokens/s, ETA ${this.#eta()}\n`,
      );
    }
  }

  /** Prints a message line (a warning, a note) without garbling the bar. */
  message(text: string): void {
    this.#clear();
    this.#write(`${text}\n`);
    if (this.#tty && this.#current !== undefined) this.#draw(true);
  }

  /** Removes the bar (on a terminal) before the final output. */
  close(): void {
    this.#clear();
  }

  #eta(): string {
    if (this.#doneWeight === 0) return "-";
    return formatDuration((this.#doneMs / this.#doneWeight) * this.#remainingWeight / 1000);
  }

  #clear(): void {
    if (this.#tty && this.#drawn) this.#write("\r\x1b[K");
    this.#drawn = false;
  }

  #draw(force: boolean): void {
    if (!this.#tty) return;
    const now = this.#now();
    if (!force && now - this.#lastDrawMs < 100) return;
    this.#lastDrawMs = now;
    const current = this.#current;
    let rate = "";
    if (current !== undefined && this.#firstTokenMs !== undefined && this.#tokens >= 2) {
      const seconds = (now - this.#firstTokenMs) / 1000;
      if (seconds > 0) rate = `${((this.#tokens - 1) / seconds).toFixed(1)} tokens/s`;
    }
    const counts = `${this.#done}/${this.total}`;
    const text = [
      counts,
      current?.promptId ?? "",
      current === undefined
        ? ""
        : this.#prefill !== undefined
        ? this.#prefillText()
        : `${this.#tokens} tokens`,
      rate,
      `ETA ${this.#eta()}`,
    ].filter((part) => part !== "").join("  ");
    const barWidth = Math.max(10, Math.min(30, this.#columns - text.length - 4));
    const filled = Math.round((this.#done / Math.max(1, this.total)) * barWidth);
    const bar = `[${"#".repeat(filled)}${"-".repeat(barWidth - filled)}]`;
    this.#write(`\r\x1b[K${`${bar} ${text}`.slice(0, this.#columns - 1)}`);
    this.#drawn = true;
  }
}
