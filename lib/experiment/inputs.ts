/**
 * The checks a suite run makes before it writes anything: the output directory, the model
 * file, prompt lengths against the context size; and {@linkcode ExperimentError}, the one
 * error class for bad input to `runSuite()` and `resumeSuite()`.
 *
 * @module
 */

import { GgufError, type GgufInfo, readGguf } from "../gguf/reader.ts";
import { validateGguf } from "../gguf/validate.ts";
import type { Suite } from "./suite.ts";
import { countPromptTokens, type GpuChoice } from "../tracer/tracer.ts";
import type { TraceSource } from "../tracer/source.ts";
import { BackendError } from "../tracer/backend.ts";

/** The default batch size for runs (llama.cpp's default). */
export const DEFAULT_BATCH_SIZE = 512;

/**
 * Bad input to {@linkcode runSuite} or {@linkcode resumeSuite}: a suite, option, model, output
 * directory or session that cannot be used. Thrown before anything is written; the message
 * is one line saying what was wrong, with which value. Errors while running are not this
 * class.
 *
 * @example Catch bad input apart from failures while running
 * ```ts
 * import { ExperimentError, runSuite } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const out = await Deno.makeTempDir();
 * await assert.rejects(
 *   runSuite("no/such/model.gguf", "default", { out }),
 *   (error) => error instanceof ExperimentError && /no such file/.test(error.message),
 * );
 * assert.deepEqual([...Deno.readDirSync(out)], []); // nothing written
 * await Deno.remove(out);
 * ```
 */
export class ExperimentError extends Error {
  /**
   * Creates the error.
   *
   * @param message One line: what was wrong, which value, what to do.
   * @param options The underlying error, if any.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ExperimentError";
  }
}

/** Throws an {@linkcode ExperimentError} with `message` and the underlying error. */
export function fail(message: string, cause?: unknown): never {
  throw new ExperimentError(message, cause === undefined ? undefined : { cause });
}

/** A (multi-line) error message as one line. */
export function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, " ").trim();
}

/** The file info of `path`, undefined when there is nothing there. */
export async function statOrUndefined(path: string): Promise<Deno.FileInfo | undefined> {
  try {
    return await Deno.stat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
      return undefined;
    }
    throw error;
  }
}

/** The directory holding `path` (`.` for a bare name). */
export function parentOf(path: string): string {
  const trimmed = path.replace(/\/+$/, "");
  const at = trimmed.lastIndexOf("/");
  return at < 0 ? "." : at === 0 ? "/" : trimmed.slice(0, at);
}

/**
 * Checks that `dir` can be created and written, without leaving anything behind: the
 * nearest existing ancestor must be a directory in which a probe directory can be made.
 *
 * @throws {ExperimentError} When it cannot.
 */
export async function checkWritableDir(dir: string, what: string): Promise<void> {
  let existing = dir;
  let info = await statOrUndefined(existing);
  while (info === undefined) {
    const parent = parentOf(existing);
    if (parent === existing) break;
    existing = parent;
    info = await statOrUndefined(existing);
  }
  if (info === undefined || !info.isDirectory) {
    fail(
      `Cannot write ${what} to ${JSON.stringify(dir)}: ${
        JSON.stringify(existing)
      } is not a directory`,
    );
  }
  try {
    const probe = await Deno.makeTempDir({ dir: existing, prefix: ".tokentrace-probe-" });
    await Deno.remove(probe);
  } catch (error) {
    fail(
      `Cannot write ${what} to ${JSON.stringify(dir)}: ${
        JSON.stringify(existing)
      } is not writable (${oneLine((error as Error).message)})`,
      error,
    );
  }
}

/**
 * Checks a dataset output directory: writable, and (when it exists) holding only session
 * directories and hidden entries.
 *
 * @throws {ExperimentError} When it is not.
 */
export async function checkDatasetOut(dir: string): Promise<void> {
  await checkWritableDir(dir, "the dataset");
  if ((await statOrUndefined(dir))?.isDirectory !== true) return;
  for await (const entry of Deno.readDir(dir)) {
    if (entry.name.startsWith(".") || (entry.isDirectory && entry.name.startsWith("session="))) {
      continue;
    }
    fail(
      `Cannot write the dataset to ${JSON.stringify(dir)}: it holds ${
        JSON.stringify(entry.name)
      }, which is not a session=<id> directory; use an empty or dataset directory`,
    );
  }
}

/**
 * Reads and validates a GGUF model's header.
 *
 * @throws {ExperimentError} When there is no such file or it is not a valid GGUF model.
 */
export async function readModelInfo(path: string): Promise<GgufInfo> {
  const info = await statOrUndefined(path);
  if (info === undefined) fail(`Cannot read model ${JSON.stringify(path)}: no such file`);
  if (info.isDirectory) {
    fail(`Cannot read model ${JSON.stringify(path)}: it is a directory, expected a GGUF file`);
  }
  try {
    const gguf = await readGguf(path);
    validateGguf(gguf);
    return gguf;
  } catch (error) {
    if (error instanceof GgufError) fail(oneLine(error.message), error);
    throw error;
  }
}

export /** Prompt token counts by id: the model's own tokenizer and chat template. */
async function promptCounts(
  model: string | TraceSource,
  suite: Suite,
  gpu: GpuChoice,
): Promise<Record<string, number>> {
  let counted: number[] | undefined;
  try {
    counted = typeof model === "string"
      ? await countPromptTokens(model, suite.prompts, { gpu })
      : await model.countPromptTokens?.(suite.prompts);
  } catch (error) {
    if (error instanceof GgufError || error instanceof BackendError) {
      fail(oneLine(error.message), error);
    }
    throw error;
  }
  if (counted === undefined) return {};
  return Object.fromEntries(suite.prompts.map((p, i) => [p.id, counted[i]!]));
}

export /**
 * The largest depth + prompt + output of the suite's runs, checked against a context limit.
 *
 * @throws {ExperimentError} When a prompt does not fit.
 */
function neededContext(
  suite: Suite,
  counts: Readonly<Record<string, number>>,
  limit: number,
  what: string,
): number {
  const maxDepth = Math.max(...(suite.sweeps.depth ?? [0]));
  let needed = 0;
  for (const prompt of suite.prompts) {
    const promptTokens = counts[prompt.id];
    if (promptTokens === undefined) continue;
    const total = maxDepth + promptTokens + prompt.maxTokens;
    if (total > limit) {
      fail(
        `Cannot plan runs of prompt ${
          JSON.stringify(prompt.id)
        }: depth ${maxDepth} + prompt ${promptTokens} + max tokens ${prompt.maxTokens} = ${total} tokens exceed ${what} ${limit}`,
      );
    }
    needed = Math.max(needed, total);
  }
  return needed;
}
