/**
 * The generator behind `simulateTrace()`: draws a simulated experiment into plain columns,
 * and turns them into a `PreparedTrace` without Polars (the fast path the ground-truth tests
 * loop over; a test checks it equals `prepareTrace(simulateTrace(options))`).
 *
 * @module
 */

import gamma from "@stdlib/random-base-gamma";
import { Rng } from "../stats/rng.ts";
import { CHAR_CLASSES, classifyPiece, type PreparedTrace } from "../analysis/prepare.ts";
import type { SimulatedPrompt, SimulateOptions } from "./_options.ts";

/** Default prompts: two classes at two matched prompt lengths, 50 tokens each. */
export const DEFAULT_PROMPTS: readonly SimulatedPrompt[] = [
  { id: "simple-short", class: "simple", promptTokens: 24, maxTokens: 50 },
  { id: "complex-short", class: "complex", promptTokens: 24, maxTokens: 50 },
  { id: "simple-long", class: "simple", promptTokens: 40, maxTokens: 50 },
  { id: "complex-long", class: "complex", promptTokens: 40, maxTokens: 50 },
];

/** The simulated vocabulary: pieces of every character class, drawn uniformly. */
export const VOCAB: readonly string[] = [
  " the",
  " of",
  " and",
  " a",
  " to",
  " in",
  " is",
  " model",
  " learning",
  " data",
  " classification",
  " generalize",
  " machine",
  "ing",
  "ed",
  "s",
  "tion",
  " Explain",
  "1",
  "2",
  "10",
  "42",
  " 3",
  " 2024",
  ",",
  ".",
  ":",
  " (",
  ")",
  " -",
  "\n",
  "\n\n",
  " ",
  "  ",
  " é",
  "é",
  " —",
  "’s",
  " x2",
  "A1",
];
/** Token id of each vocabulary entry. */
export const VOCAB_IDS: Int32Array = Int32Array.from(VOCAB, (_, k) => 11 + ((k * 7919) % 50000));
/** UTF-8 byte length of each vocabulary entry. */
export const VOCAB_BYTES: Int32Array = Int32Array.from(
  VOCAB,
  (p) => new TextEncoder().encode(p).length,
);

/** One planned run. */
export interface PlannedRun {
  /** The prompt. */
  prompt: SimulatedPrompt;
  /** Filler depth. */
  depth: number;
  /** Repetition index. */
  repetition: number;
  /** Warm-up run. */
  warmup: boolean;
}

/** A simulated experiment as plain columns. */
export interface SimulatedColumns {
  /** The session id. */
  sessionId: string;
  /** Session end, ms after its start. */
  endMs: number;
  /** Runs in order. */
  plan: PlannedRun[];
  /** Per run: time to first token, total, start and summed decode latency, ms. */
  run: { ttft: Float64Array; total: Float64Array; started: Float64Array; evalMs: Float64Array };
  /** Per token (all tokens, token 0 included). */
  tokens: {
    run: Int32Array;
    index: Int32Array;
    position: Int32Array;
    vocab: Int32Array;
    t: Float64Array;
    latency: Float64Array;
  };
}

/**
 * Every option's default, in one place (each is the `@default` of its `SimulateOptions` field;
 * `modelTensorBytes` is LFM2-350M as Q8_0).
 */
export const SIMULATE_DEFAULTS: Readonly<Required<SimulateOptions>> = {
  seed: 1,
  prompts: DEFAULT_PROMPTS,
  repetitions: 5,
  depths: [0],
  warmupRuns: 1,
  baseLatencyMs: 20,
  slopeUsPerToken: 2,
  classOffsetsUs: { complex: 500 },
  warmupPenaltyMs: 3,
  runSdMs: 0.3,
  noiseSdMs: 1,
  stallProbability: 0.002,
  stallMs: 40,
  driftUsPerMinute: 0,
  tokenContentUsPerByte: 0,
  arCoefficient: 0,
  innovationDf: Infinity,
  contentBlockTokens: 1,
  driftAmplitude: 0,
  driftPeriodS: 60,
  latencyScale: 1,
  prefillBaseMs: 8,
  prefillUsPerToken: 400,
  modelTensorBytes: 378535936,
};

/** The options with every missing (or `undefined`) field set to its default. */
export function withDefaults(options: SimulateOptions): Required<SimulateOptions> {
  const out: Record<string, unknown> = { ...SIMULATE_DEFAULTS };
  for (const [key, value] of Object.entries(options)) if (value !== undefined) out[key] = value;
  return out as Required<SimulateOptions>;
}

/** Draws a simulated experiment (see `simulateTrace()` for the model). */
export function simulateColumns(options: SimulateOptions): SimulatedColumns {
  const {
    seed,
    prompts,
    repetitions,
    depths,
    warmupRuns,
    baseLatencyMs,
    slopeUsPerToken,
    classOffsetsUs,
    warmupPenaltyMs,
    runSdMs,
    noiseSdMs,
    stallProbability,
    stallMs,
    driftUsPerMinute,
    tokenContentUsPerByte,
    arCoefficient,
    innovationDf,
    contentBlockTokens,
    driftAmplitude,
    driftPeriodS,
    latencyScale,
    prefillBaseMs,
    prefillUsPerToken,
  } = withDefaults(options);
  integer("repetitions", repetitions, 1);
  integer("warmupRuns", warmupRuns, 0);
  if (prompts.length === 0) {
    throw new RangeError(
      "Cannot simulate a trace: prompts must list at least one prompt, found none",
    );
  }
  for (const p of prompts) {
    integer(`prompt "${p.id}" maxTokens`, p.maxTokens, 1);
    integer(`prompt "${p.id}" promptTokens`, p.promptTokens, 1);
  }
  if (depths.length === 0) {
    throw new RangeError(
      "Cannot simulate a trace: depths must list at least one depth, found none",
    );
  }
  for (const d of depths) integer("every depth", d, 0);
  within("arCoefficient", arCoefficient, -1, 1, "a number in (-1, 1)", false);
  if (!(innovationDf > 2)) {
    throw new RangeError(
      `Cannot simulate a trace: innovationDf must be > 2 (Infinity for Gaussian noise), found ${innovationDf}`,
    );
  }
  within("contentBlockTokens", contentBlockTokens, 1, Infinity, "a finite number >= 1", true);
  within("driftAmplitude", driftAmplitude, 0, 1, "a number in [0, 1)", true);
  within("driftPeriodS", driftPeriodS, 0, Infinity, "a finite number > 0", false);
  within("latencyScale", latencyScale, 0, Infinity, "a finite number > 0", false);

  const rng = new Rng(seed);
  const sessionId = `20250101T000000Z-${(seed >>> 0).toString(16).padStart(6, "0").slice(-6)}`;
  // plan: warm-ups first, then every (depth, prompt, repetition) in a shuffled order
  const measured: PlannedRun[] = [];
  for (const depth of depths) {
    for (const prompt of prompts) {
      for (let r = 0; r < repetitions; r++) {
        measured.push({ prompt, depth, repetition: r, warmup: false });
      }
    }
  }
  rng.shuffle(measured);
  const plan: PlannedRun[] = [
    ...Array.from({ length: warmupRuns }, (_, r) => ({
      prompt: prompts[0]!,
      depth: depths[0]!,
      repetition: r,
      warmup: true,
    })),
    ...measured,
  ];

  const nRuns = plan.length;
  let nTokens = 0;
  for (const p of plan) nTokens += p.prompt.maxTokens;
  const tokens = {
    run: new Int32Array(nTokens),
    index: new Int32Array(nTokens),
    position: new Int32Array(nTokens),
    vocab: new Int32Array(nTokens),
    t: new Float64Array(nTokens),
    latency: new Float64Array(nTokens),
  };
  const run = {
    ttft: new Float64Array(nRuns),
    total: new Float64Array(nRuns),
    started: new Float64Array(nRuns),
    evalMs: new Float64Array(nRuns),
  };
  const slopeMs = slopeUsPerToken / 1000;
  const contentMs = tokenContentUsPerByte / 1000;
  // the effects added after the original model draw from their own stream, so the default
  // output stays bit-identical and toggling one of them leaves the others' draws in place
  const aux = new Rng(seed + 0x6a09e667);
  const phase = 2 * Math.PI * aux.uniform();
  const innovation = heavyTailed(rng, aux, innovationDf);
  const arScale = Math.sqrt(1 - arCoefficient * arCoefficient);
  const newBlock = 1 / contentBlockTokens;
  const driftRadPerMs = (2 * Math.PI) / (driftPeriodS * 1000);
  let clock = 100;
  // session time before latencyScale: drift is a function of it, so sessions that differ only
  // in latencyScale differ by exactly that factor on every latency
  let unscaledClock = 100;
  let k = 0;
  for (let i = 0; i < nRuns; i++) {
    const p = plan[i]!;
    const context = p.depth + p.prompt.promptTokens;
    run.started[i] = clock;
    const level = baseLatencyMs + runSdMs * rng.normal() +
      (classOffsetsUs[p.prompt.class] ?? 0) / 1000 +
      (p.warmup ? warmupPenaltyMs : 0) + (driftUsPerMinute / 1000) * (unscaledClock / 60000);
    const unscaledTtft = prefillBaseMs + (prefillUsPerToken / 1000) * context +
      Math.abs(noiseSdMs * rng.normal());
    const ttft = latencyScale === 1 ? unscaledTtft : unscaledTtft * latencyScale;
    let t = 0;
    let unscaledT = 0;
    let evalMs = 0;
    let e = 0;
    let members: Int32Array = ALL_PIECES;
    for (let j = 0; j < p.prompt.maxTokens; j++, k++) {
      let v: number;
      if (newBlock === 1) v = rng.int(VOCAB.length);
      else if (j === 0 || aux.uniform() < newBlock) {
        v = rng.int(VOCAB.length);
        members = CLASS_MEMBERS[VOCAB_CLASS[v]!]!;
      } else v = members[rng.int(members.length)]!;
      let latency: number;
      if (j === 0) {
        latency = ttft;
        unscaledT += unscaledTtft;
      } else {
        // AR(1) noise with stationary sd noiseSdMs, restarted at each run's first decode token
        e = arCoefficient === 0 || j === 1
          ? noiseSdMs * innovation()
          : arCoefficient * e + arScale * noiseSdMs * innovation();
        latency = level + slopeMs * (context + j) + contentMs * VOCAB_BYTES[v]! + e;
        if (driftAmplitude !== 0) {
          latency *= 1 +
            driftAmplitude * Math.sin(driftRadPerMs * (unscaledClock + unscaledT) + phase);
        }
        if (rng.uniform() < stallProbability) latency += stallMs * (0.5 + rng.uniform());
        latency = Math.max(latency, 0.05);
        unscaledT += latency;
        if (latencyScale !== 1) latency *= latencyScale;
        evalMs += latency;
      }
      t += latency;
      tokens.run[k] = i;
      tokens.index[k] = j;
      tokens.position[k] = context + j;
      tokens.vocab[k] = v;
      tokens.t[k] = t;
      tokens.latency[k] = latency;
    }
    run.ttft[i] = ttft;
    run.total[i] = t;
    run.evalMs[i] = evalMs;
    clock += t + 50;
    unscaledClock += unscaledT + 50;
  }
  return { sessionId, endMs: clock, plan, run, tokens };
}

const VOCAB_CLASS = Uint8Array.from(VOCAB, (p) => CHAR_CLASSES.indexOf(classifyPiece(p)));
const VOCAB_INITIAL = Uint8Array.from(VOCAB, (p) => (p.startsWith(" ") ? 1 : 0));
const ALL_PIECES = Int32Array.from(VOCAB.keys());
const CLASS_MEMBERS = CHAR_CLASSES.map((_, c) =>
  Int32Array.from(ALL_PIECES.filter((v) => VOCAB_CLASS[v] === c))
);

/**
 * Unit-variance innovations: standard normal from `rng` (as the original model drew them),
 * or Student t with `df` degrees of freedom scaled by `sqrt((df - 2) / df)`, its chi-square
 * part drawn from `aux`.
 */
function heavyTailed(rng: Rng, aux: Rng, df: number): () => number {
  if (df === Infinity) return () => rng.normal();
  const uniform = (): number => {
    let u = aux.uniform();
    while (u === 0) u = aux.uniform();
    return u;
  };
  const halfChi2 = gamma.factory(df / 2, 1, { prng: uniform });
  return () => rng.normal() * Math.sqrt((df - 2) / (2 * halfChi2()));
}

/**
 * Simulates straight into a `PreparedTrace`, without Polars: equal to
 * `prepareTrace(simulateTrace(options))`, many times faster for loops over seeds.
 */
export function simulatePrepared(options: SimulateOptions = {}): PreparedTrace {
  const { modelTensorBytes } = withDefaults(options);
  const sim = simulateColumns(options);
  const { plan, run, tokens } = sim;
  const nRuns = plan.length;
  const classes = [...new Set(plan.map((p) => p.prompt.class))].sort();
  const decodeTokens = new Int32Array(nRuns);
  let n = 0;
  for (let k = 0; k < tokens.index.length; k++) {
    if (tokens.index[k]! >= 1) {
      n++;
      decodeTokens[tokens.run[k]!]!++;
    }
  }
  // dense rank of the token ids that occur
  const seen = new Uint8Array(VOCAB.length);
  for (let k = 0; k < tokens.index.length; k++) {
    if (tokens.index[k]! >= 1) seen[tokens.vocab[k]!] = 1;
  }
  const order = Array.from(VOCAB.keys()).filter((v) => seen[v]).sort((a, b) =>
    VOCAB_IDS[a]! - VOCAB_IDS[b]!
  );
  const rank = new Float64Array(VOCAB.length);
  const scale = order.length > 1 ? 1 / (order.length - 1) : 0;
  order.forEach((v, r) => (rank[v] = r * scale));
  const out = {
    count: n,
    run: new Int32Array(n),
    tokenIndex: new Int32Array(n),
    position: new Int32Array(n),
    latencyMs: new Float64Array(n),
    pieceBytes: new Int32Array(n),
    charClass: new Uint8Array(n),
    wordInitial: new Uint8Array(n),
    idRank: new Float32Array(n),
  };
  for (let k = 0, j = 0; k < tokens.index.length; k++) {
    if (tokens.index[k]! < 1) continue;
    const v = tokens.vocab[k]!;
    out.run[j] = tokens.run[k]!;
    out.tokenIndex[j] = tokens.index[k]!;
    out.position[j] = tokens.position[k]!;
    out.latencyMs[j] = tokens.latency[k]!;
    out.pieceBytes[j] = VOCAB_BYTES[v]!;
    out.charClass[j] = VOCAB_CLASS[v]!;
    out.wordInitial[j] = VOCAB_INITIAL[v]!;
    out.idRank[j] = rank[v]!;
    j++;
  }
  return {
    kind: "prepared-trace",
    classes,
    sessions: {
      count: 1,
      sessionId: [sim.sessionId],
      modelTensorBytes: Float64Array.of(modelTensorBytes),
    },
    runs: {
      count: nRuns,
      runId: plan.map((_, i) => runId(sim.sessionId, i)),
      session: new Int32Array(nRuns),
      orderIndex: Int32Array.from(plan.keys()),
      repetition: Int32Array.from(plan, (p) => p.repetition),
      warmup: Uint8Array.from(plan, (p) => (p.warmup ? 1 : 0)),
      promptId: plan.map((p) => p.prompt.id),
      promptClass: Int32Array.from(plan, (p) => classes.indexOf(p.prompt.class)),
      promptTokens: Float64Array.from(plan, (p) => p.prompt.promptTokens),
      depthTokens: Float64Array.from(plan, (p) => p.depth),
      outputTokens: Float64Array.from(plan, (p) => p.prompt.maxTokens),
      startedAtMs: run.started.slice(),
      ttftMs: run.ttft.slice(),
      decodeMs: run.total.map((t, i) => t - run.ttft[i]!),
      totalMs: run.total.slice(),
      decodeTokens,
    },
    tokens: out,
  };
}

/** `run_id` of the i-th run of a simulated session. */
export function runId(sessionId: string, i: number): string {
  return `${sessionId}-${String(i).padStart(6, "0")}`;
}

function within(
  name: string,
  value: number,
  low: number,
  high: number,
  rule: string,
  lowIncluded: boolean,
): void {
  const ok = Number.isFinite(value) && (lowIncluded ? value >= low : value > low) && value < high;
  if (!ok) {
    throw new RangeError(`Cannot simulate a trace: ${name} must be ${rule}, found ${value}`);
  }
}

function integer(name: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min) {
    throw new RangeError(
      `Cannot simulate a trace: ${name} must be an integer >= ${min}, found ${value}`,
    );
  }
}
