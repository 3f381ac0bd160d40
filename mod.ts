/**
 * tokentrace: time every token a local LLM generates, keep every run in a versioned
 * Parquet dataset, and explain tokens/s variation with fitted numbers and intervals.
 *
 * The flow: make (or bring) a GGUF model, open a tracing session on it, trace runs, write
 * them to a dataset, read the dataset back and analyse it.
 *
 * @example The whole flow on a tiny synthetic model
 * ```ts
 * import {
 *   analyzeTrace,
 *   DatasetWriter,
 *   openSession,
 *   readDataset,
 *   writeSyntheticModel,
 * } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * const { path } = await writeSyntheticModel(`${dir}/tiny.gguf`, { preset: "lfm2-tiny" });
 * const session = await openSession(path, { threads: 1, gpu: "cpu" });
 * const writer = await DatasetWriter.create(`${dir}/traces`, session.info);
 * for (let i = 0; i < 3; i++) {
 *   const run = await session.trace("Count 1 to 10", { maxTokens: 16, promptId: "count" });
 *   await writer.writeRun({ ...run.summary, order_index: i, repetition: i, warmup: i === 0 }, run.tokens);
 * }
 * await writer.finish("complete");
 * await session.close();
 *
 * const dataset = await readDataset(`${dir}/traces`);
 * assert.equal(dataset.runs.height, 3);
 * const analysis = analyzeTrace(dataset);
 * assert.ok(Number.isFinite(analysis.slowdown?.slopeUsPerToken.value));
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @module
 */

// --- schema
export {
  type Column,
  type ColumnName,
  type ColumnType,
  type ColumnValueTypes,
  LAYOUT,
  SCHEMA,
  SCHEMA_VERSION,
  schemaMarkdown,
  type TableName,
  type TableRow,
} from "./lib/schema/schema.ts";

// --- frame (structural table types; nodejs-polars frames at run time)
export type { Frame, FrameColumn, LazyFrame } from "./lib/schema/frame.ts";

// --- gguf (reader, validate)
export {
  GgufError,
  type GgufErrorOptions,
  type GgufInfo,
  type GgufMetadataValue,
  type GgufScalar,
  type GgufTensorInfo,
  type GgufValueTypeName,
  readGguf,
} from "./lib/gguf/reader.ts";
export { findGgufProblems, validateGguf } from "./lib/gguf/validate.ts";

// --- synth (synthetic models)
export {
  type Preset,
  type PresetName,
  PRESETS,
  SYNTH_DTYPES,
  type SynthDtype,
  type SyntheticModel,
  type SyntheticModelOptions,
  writeSyntheticModel,
} from "./lib/synth/synth.ts";

// --- tracer
export {
  countPromptTokens,
  type CountPromptTokensOptions,
  type GpuChoice,
  openSession,
  type Session,
  type SessionOptions,
} from "./lib/tracer/tracer.ts";
export type {
  PromptText,
  RunSummary,
  SessionInfo,
  StopReason,
  TokenColumns,
  TokenEvent,
  TraceOptions,
  TraceResult,
  TraceSource,
  TraceStream,
} from "./lib/tracer/source.ts";
export { BackendError, type BackendErrorOptions } from "./lib/tracer/backend.ts";

// --- endpoint (tracing through a server's streaming HTTP API)
export {
  type EndpointOptions,
  type EndpointSession,
  openEndpointSession,
} from "./lib/endpoint/endpoint.ts";
export { type EndpointApi, EndpointError } from "./lib/endpoint/server.ts";

// --- dataset
export {
  type Dataset,
  DatasetError,
  type RunRow,
  type SessionRow,
  type SessionStatus,
} from "./lib/dataset/dataset.ts";
export { type CreateSessionOptions, DatasetWriter, type RunRecord } from "./lib/dataset/writer.ts";
export { readDataset } from "./lib/dataset/read.ts";
export { type CompactionResult, compactSession } from "./lib/dataset/compact.ts";

// --- suite / experiment / summary
export {
  BUILTIN_SUITES,
  expandPlan,
  type ExpandPlanOptions,
  loadSuite,
  parseSuite,
  type PlannedRun,
  type PromptMode,
  resolveSuite,
  type ResolveSuiteOptions,
  type RunOrder,
  type Suite,
  SUITE_DEFAULTS,
  type SuitePrompt,
  type SuiteSampling,
  type SuiteSweeps,
} from "./lib/experiment/suite.ts";
export {
  parsePlan,
  PLAN_VERSION,
  planFromJson,
  type PlanModel,
  planPromptOrder,
  type SessionPlan,
  type StoredPlan,
} from "./lib/experiment/plan.ts";
export { ExperimentError } from "./lib/experiment/inputs.ts";
export { type PrefillEstimate, runSuite, type RunSuiteOptions } from "./lib/experiment/run.ts";
export { readPlan, resumeSuite, type ResumeSuiteOptions } from "./lib/experiment/resume.ts";
export {
  type PrefillProgress,
  type SuiteProgress,
  type SuiteResult,
  type SuiteRunOptions,
  type SuiteStart,
} from "./lib/experiment/run_loop.ts";
export {
  type DatasetTables,
  type PromptSummary,
  type SessionSummary,
  summarizeRuns,
  type SummarizeRunsOptions,
  summarizeSession,
  type SummarizeSessionOptions,
  type TraceSummary,
  type WarmupSummary,
} from "./lib/present/summary.ts";
export { formatSummary } from "./lib/present/summary_text.ts";
export {
  compareThreads,
  type CompareThreadsOptions,
  type ThreadsComparison,
  type ThreadsRow,
} from "./lib/present/threads_comparison.ts";

// --- analysis
export { type ClusterSlope, clusterSlope } from "./lib/stats/cluster.ts";
export type { Estimate, PermutationTest, Trace, TraceTable } from "./lib/analysis/types.ts";
export {
  type AnalysisInput,
  CHAR_CLASSES,
  type CharClass,
  classifyPiece,
  type PreparedRuns,
  type PreparedSessions,
  type PreparedTokens,
  type PreparedTrace,
  prepareTrace,
} from "./lib/analysis/prepare.ts";
export {
  type ClaimVerdict,
  type DepthSweep,
  type DriftSplit,
  fitSlowdown,
  type SlowdownOptions,
  type SlowdownResult,
  type SlowdownWindow,
} from "./lib/analysis/slowdown.ts";
export {
  decomposeVariance,
  type VarianceGroup,
  type VarianceGroupName,
  type VarianceOptions,
  type VarianceResult,
} from "./lib/analysis/variance.ts";
export {
  type ClassEffect,
  type PromptClassOptions,
  type PromptClassResult,
  testPromptClass,
} from "./lib/analysis/prompt_class.ts";
export {
  type ContentEffect,
  testTokenContent,
  type TokenContentOptions,
  type TokenContentResult,
} from "./lib/analysis/token_content.ts";
export {
  originalTable,
  type OriginalTableOptions,
  type OriginalTableResult,
  type RateSlopes,
  runStory,
  type RunStoryOptions,
  type RunStoryResult,
} from "./lib/analysis/run_story.ts";
export {
  detectStalls,
  type DriftOptions,
  type DriftResult,
  flagStalls,
  type FlagStallsOptions,
  MAD_SCALE,
  sessionDrift,
  STALL_THRESHOLD,
  type StallFlags,
  type StallOptions,
  type StallResult,
  warmupEffect,
  type WarmupOptions,
  type WarmupResult,
} from "./lib/analysis/stalls.ts";
export {
  type ModelGeometry,
  physicsCheck,
  type PhysicsInputs,
  type PhysicsOptions,
  type PhysicsResult,
} from "./lib/analysis/physics.ts";
export {
  type AutocorrelationOptions,
  type AutocorrelationResult,
  decodeAutocorrelation,
} from "./lib/analysis/dependence.ts";
export { type AnalyzeOptions, analyzeTrace, type TraceAnalysis } from "./lib/analysis/analyze.ts";
export {
  describeFindings,
  type Finding,
  formatEstimate,
  type FormatEstimateOptions,
  formatNumber,
} from "./lib/analysis/describe.ts";
export {
  DEFAULT_PROMPTS,
  type SimulatedPrompt,
  type SimulatedTrace,
  type SimulateOptions,
  simulateTrace,
} from "./lib/simulate/simulate.ts";

// --- plots / report
export { type ChartOptions, plotNote } from "./lib/present/plots.ts";
export {
  type FitPoint,
  type GroupedLatency,
  plotLatencyByGroup,
  type PlotLatencyByGroupOptions,
  plotSlowdown,
  type PlotSlowdownOptions,
  plotTimeline,
  type PlotTimelineOptions,
  type PositionPoint,
  type SlowdownPlotData,
  type TimelinePlotData,
  type TimelinePoint,
  type TrendPoint,
  type WindowMean,
} from "./lib/present/plots_latency.ts";
export {
  type Effect,
  plotEffects,
  type PlotEffectsOptions,
  plotRunRates,
  type PlotRunRatesOptions,
  plotVarianceShares,
  type PlotVarianceSharesOptions,
  type RunRate,
  type VarianceShare,
} from "./lib/present/plots_rows.ts";
export {
  checkOriginalClaims,
  type ClaimCheck,
  type ClaimCheckVerdict,
  ORIGINAL_RUNS,
  type OriginalRun,
} from "./lib/present/claims.ts";
export { htmlTable, type TableColumn } from "./lib/present/html.ts";
export {
  modelGeometry,
  renderReport,
  type RenderReportOptions,
  type ReportCharts,
  reportCharts,
} from "./lib/present/report.ts";

// --- perf (thread-count probe)
export {
  probeThreads,
  type ThreadsProbeOptions,
  type ThreadsProbeResult,
  type ThreadsProbeRow,
  type ThreadsProbeTarget,
} from "./lib/experiment/probe.ts";
export {
  type RecommendedRow,
  recommendThreads,
  type RecommendThreadsOptions,
  THREADS_TOLERANCE,
  type ThreadsRecommendation,
  type ThreadsRuns,
} from "./lib/experiment/threads.ts";
export {
  blockingPoolThreads,
  settleBlockingPool,
  type SettleBlockingPoolOptions,
  type SettleBlockingPoolResult,
} from "./lib/runtime/pool.ts";
export {
  allowedCpus,
  autoPin,
  canPinThreads,
  pinProcessThreads,
  type ThreadPin,
} from "./lib/runtime/affinity.ts";

// --- compare (two sessions or datasets)
export { compareSessions } from "./lib/compare/compare.ts";
export {
  COMPARE_METRICS,
  type CompareCell,
  CompareError,
  type CompareMetric,
  type CompareOptions,
  type CompareVerdict,
  type CompareWarning,
  type CompareWarningKind,
  type EnvironmentDifference,
  type LeftOutCell,
  METRIC_INFO,
  type MetricComparison,
  type SessionComparison,
} from "./lib/compare/types.ts";
export {
  plotComparison,
  type PlotComparisonOptions,
  type RatioRow,
} from "./lib/present/plots_rows.ts";
export {
  type ComparisonJson,
  comparisonJson,
  formatComparison,
  type MetricJson,
} from "./lib/compare/format.ts";
