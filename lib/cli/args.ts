// Command-line flag parsing for the CLI subcommands: `--name value` or `--name=value`,
// typed values checked on parse, "did you mean" for unknown flags, and help text built
// from the same flag table.

import { closest } from "../schema/_names.ts";

/** A command-line mistake: the CLI prints its message as one line and exits with code 2. */
export class UsageError extends Error {
  /** Creates a usage error with a one-line message. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** The kinds of flag values. */
export type FlagKind = "string" | "int" | "intList" | "choice" | "bool";

/** One flag of a subcommand. */
export interface FlagSpec {
  /** Name without the leading `--`. */
  readonly name: string;
  /** Value kind; `bool` flags take no value. */
  readonly kind: FlagKind;
  /** Smallest allowed integer, for `int` and `intList`. */
  readonly min?: number;
  /** Allowed values, for `choice`. */
  readonly choices?: readonly string[];
  /** Placeholder shown in help, e.g. `<path>`. */
  readonly placeholder?: string;
  /** The default, as shown in help. */
  readonly defaultText: string;
  /** One-line description. */
  readonly help: string;
}

/** A parsed flag value. */
export type FlagValue = string | number | readonly number[] | boolean;

/** Flags parsed against a table of {@linkcode FlagSpec}s. */
export class ParsedFlags {
  readonly #values: ReadonlyMap<string, FlagValue>;

  /** Wraps parsed values. */
  constructor(values: ReadonlyMap<string, FlagValue>) {
    this.#values = values;
  }

  /** Whether the flag was given. */
  has(name: string): boolean {
    return this.#values.has(name);
  }

  /** A `string` or `choice` flag's value. */
  string(name: string): string | undefined {
    return this.#values.get(name) as string | undefined;
  }

  /** An `int` flag's value. */
  int(name: string): number | undefined {
    return this.#values.get(name) as number | undefined;
  }

  /** An `intList` flag's value. */
  intList(name: string): readonly number[] | undefined {
    return this.#values.get(name) as readonly number[] | undefined;
  }

  /** A `bool` flag's value (false when absent). */
  bool(name: string): boolean {
    return this.#values.get(name) === true;
  }

  /** The given flags in canonical form, e.g. `{ threads: [1, 2] }`. */
  toRecord(): Record<string, FlagValue> {
    return Object.fromEntries(this.#values);
  }
}

function parseInteger(flag: string, text: string, min: number): number {
  if (!/^[+-]?\d+$/.test(text.trim()) || !Number.isSafeInteger(Number(text))) {
    throw new UsageError(
      `Cannot parse --${flag}: expected an integer >= ${min}, found ${JSON.stringify(text)}`,
    );
  }
  const value = Number(text);
  if (value < min) {
    throw new UsageError(
      `Cannot parse --${flag}: expected an integer >= ${min}, found ${JSON.stringify(text)}`,
    );
  }
  return value;
}

function parseValue(spec: FlagSpec, text: string): FlagValue {
  const min = spec.min ?? 0;
  switch (spec.kind) {
    case "string":
      if (text === "") {
        throw new UsageError(`Cannot parse --${spec.name}: expected a non-empty value, found ""`);
      }
      return text;
    case "int":
      return parseInteger(spec.name, text, min);
    case "intList": {
      const values = text.split(",").map((part) => parseInteger(spec.name, part, min));
      if (new Set(values).size !== values.length) {
        throw new UsageError(
          `Cannot parse --${spec.name}: expected a list without repeated values, found ${
            JSON.stringify(text)
          }`,
        );
      }
      return values;
    }
    case "choice":
      if (!spec.choices?.includes(text)) {
        throw new UsageError(
          `Cannot parse --${spec.name}: expected one of ${spec.choices?.join(", ")}, found ${
            JSON.stringify(text)
          }`,
        );
      }
      return text;
    case "bool":
      return true;
  }
}

/**
 * Parses `args` against `specs`. Accepts `--name value` and `--name=value`; a later
 * repeat of a flag wins.
 *
 * @throws {UsageError} On an unknown flag (with a suggestion), a missing or invalid
 * value, or any positional argument.
 */
export function parseFlags(args: readonly string[], specs: readonly FlagSpec[]): ParsedFlags {
  const values = new Map<string, FlagValue>();
  const byName = new Map(specs.map((spec) => [spec.name, spec]));
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith("--") || arg === "--") {
      throw new UsageError(
        `Cannot parse arguments: unexpected argument ${JSON.stringify(arg)}; options start with --`,
      );
    }
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const spec = byName.get(name);
    if (spec === undefined) {
      const near = closest(name, specs.map((s) => s.name));
      throw new UsageError(
        `Cannot parse arguments: unknown option --${name}${
          near === undefined ? "" : ` (did you mean --${near}?)`
        }; see --help`,
      );
    }
    if (spec.kind === "bool") {
      if (eq >= 0) {
        throw new UsageError(
          `Cannot parse --${name}: it takes no value, found ${JSON.stringify(arg)}`,
        );
      }
      values.set(name, true);
      continue;
    }
    let text: string;
    if (eq >= 0) {
      text = arg.slice(eq + 1);
    } else {
      const next = args[i + 1];
      if (next === undefined || (next.startsWith("--") && next.length > 2)) {
        throw new UsageError(
          `Cannot parse --${name}: it needs a value ${spec.placeholder ?? ""}`.trimEnd(),
        );
      }
      text = next;
      i++;
    }
    values.set(name, parseValue(spec, text));
  }
  return new ParsedFlags(values);
}

/** Help text: a usage line, a description and one line per flag with its default. */
export function formatHelp(usage: string, description: string, specs: readonly FlagSpec[]): string {
  const rows = specs.map((spec) => {
    const value = spec.kind === "bool"
      ? ""
      : ` ${spec.placeholder ?? (spec.kind === "choice" ? spec.choices?.join("|") : "<value>")}`;
    return [`  --${spec.name}${value}`, spec.help, spec.defaultText] as const;
  });
  const width = Math.max(...rows.map(([flag]) => flag.length)) + 2;
  const lines = rows.map(([flag, help, def]) => {
    const line = `${flag.padEnd(width)}${help}`;
    if (def === "") return line;
    const withDefault = `${line} (default: ${def})`;
    return withDefault.length <= 96
      ? withDefault
      : `${line}\n${" ".repeat(width)}(default: ${def})`;
  });
  return `Usage: ${usage}\n\n${description}\n\nOptions:\n${lines.join("\n")}\n`;
}

/** What {@linkcode defineCommand} builds a subcommand's command line from. */
export interface CommandSpec {
  /** The usage line, e.g. `tokentrace synth [options]`. */
  readonly usage: string;
  /** What the subcommand does, shown under the usage line. */
  readonly description: string;
  /** The subcommand's own flags, in help order; `--help` is added after them. */
  readonly flags: readonly FlagSpec[];
  /** The `--help` flag's description. Default: `print this help and exit`. */
  readonly helpFlagText?: string;
}

/** A subcommand's command line: its flag table (ending with `--help`) and its help text. */
export interface Command {
  /** The flags to parse with {@linkcode parseFlags}, `--help` last. */
  readonly flags: readonly FlagSpec[];
  /** The help text (see {@linkcode formatHelp}), printed on `--help`. */
  readonly help: string;
}

/**
 * A subcommand's command line: its flags followed by the `--help` flag every subcommand
 * takes, and the help text listing them all.
 */
export function defineCommand(spec: CommandSpec): Command {
  const { usage, description, flags, helpFlagText = "print this help and exit" } = spec;
  const all = [
    ...flags,
    { name: "help", kind: "bool", defaultText: "", help: helpFlagText } as const,
  ];
  return { flags: all, help: formatHelp(usage, description, all) };
}
