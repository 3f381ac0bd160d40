/**
 * Backend honesty: a session asked to run on `metal`, `cuda` or `vulkan` runs there or not at
 * all. node-llama-cpp 3.21.1 does not always refuse a backend it cannot load: on Linux,
 * `getLlama({ gpu: "metal" })` loads the CPU binary without an error (seen on the project's
 * machine), while `cuda` and `vulkan` throw `NoBinaryFoundError`. Both cases end here in one
 * {@linkcode BackendError}, decided by the backend node-llama-cpp loaded, not by the request.
 *
 * @module
 */

import type { Llama } from "node-llama-cpp";
import { type GpuChoice, sharedLlama } from "./_llama.ts";

/** Which backend was asked for and which one node-llama-cpp loaded. */
export interface BackendErrorOptions {
  /** The backend asked for (`metal`, `cuda` or `vulkan`). */
  requested: GpuChoice;
  /** The backend node-llama-cpp loaded (`cpu`, `metal`, ...), or `none` when it loaded none. */
  loaded: string;
}

/**
 * A session asked for a GPU backend that node-llama-cpp did not load on this machine.
 *
 * @example Catching a refused backend
 * ```ts
 * import { BackendError } from "@tokentrace/tokentrace";
 * import assert from "node:assert/strict";
 *
 * const error = new BackendError('Cannot open session with gpu "metal": ...', {
 *   requested: "metal",
 *   loaded: "cpu",
 * });
 * assert.ok(error instanceof Error);
 * assert.equal(error.name, "BackendError");
 * assert.equal(error.loaded, "cpu");
 * ```
 */
export class BackendError extends Error {
  /** The backend asked for. */
  readonly requested: GpuChoice;
  /** The backend node-llama-cpp loaded, or `none`. */
  readonly loaded: string;

  /**
   * Makes an error about a refused backend.
   *
   * @param message What was asked for, what was loaded, and what to do.
   * @param options The requested and the loaded backend.
   */
  constructor(message: string, options: BackendErrorOptions) {
    super(message);
    this.name = "BackendError";
    this.requested = options.requested;
    this.loaded = options.loaded;
  }
}

/** The backend a loaded Llama runs on: `cpu`, `metal`, `cuda` or `vulkan`. */
export function loadedBackend(llama: Llama): string {
  return llama.gpu === false ? "cpu" : llama.gpu;
}

/**
 * The process's Llama for `gpu`, refusing an explicit GPU backend that is not the one
 * node-llama-cpp loaded (`auto` and `cpu` take what loads).
 * @throws {BackendError} When `gpu` is `metal`, `cuda` or `vulkan` and node-llama-cpp loaded
 * another backend or has no binary for it.
 */
export async function loadLlama(gpu: GpuChoice, what: string): Promise<Llama> {
  const refuse = (loaded: string): BackendError =>
    new BackendError(
      `Cannot ${what} with gpu "${gpu}": node-llama-cpp ${
        loaded === "none" ? "has no llama.cpp binary for it" : `loaded the ${loaded} backend`
      } on this machine; use gpu "auto" or "cpu"`,
      { requested: gpu, loaded },
    );
  let llama: Llama;
  try {
    llama = await sharedLlama(gpu);
  } catch (error) {
    // node-llama-cpp's NoBinaryFoundError keeps the name "Error": tell it by its class name.
    if (gpu !== "auto" && gpu !== "cpu" && error?.constructor?.name === "NoBinaryFoundError") {
      throw refuse("none");
    }
    throw error;
  }
  const loaded = loadedBackend(llama);
  if (gpu !== "auto" && gpu !== "cpu" && loaded !== gpu) throw refuse(loaded);
  return llama;
}
