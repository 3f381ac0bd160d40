// What the validator's checks (lib/gguf/validate.ts, lib/gguf/_shapes.ts) share: the
// collector every check reports its problems to, and the hyperparameters the key checks hand
// on to the tensor-shape checks.

import { GgufError, type GgufMetadataValue } from "./reader.ts";

/** Collects problems as {@linkcode GgufError}s naming the file and the key or tensor. */
export class Problems {
  readonly list: GgufError[] = [];
  readonly #prefix: string;

  constructor(readonly path: string) {
    this.#prefix = `Cannot load "${path}"`;
  }

  key(key: string, message: string): void {
    this.list.push(
      new GgufError(`${this.#prefix}: key "${key}" ${message}`, { path: this.path, key }),
    );
  }

  tensor(tensor: string, message: string): void {
    this.list.push(
      new GgufError(`${this.#prefix}: tensor "${tensor}" ${message}`, { path: this.path, tensor }),
    );
  }
}

/** The `{arch}.*` hyperparameters whose keys passed their checks. */
export interface Hyperparameters {
  readonly arch: string;
  /** `{arch}.<suffix>` as a number, if it is a numeric scalar. */
  readonly scalar: (suffix: string) => number | undefined;
  /** `{arch}.<suffix>` as a metadata value. */
  readonly value: (suffix: string) => GgufMetadataValue | undefined;
  readonly layers: number | undefined;
  /** Per-layer values, undefined when the key is missing or wrong. */
  readonly heads: number[] | undefined;
  readonly headsKv: number[] | undefined;
  readonly feedForward: number[] | undefined;
  readonly experts: number;
}
