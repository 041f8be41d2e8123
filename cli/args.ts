// One argument parser for every `corridor` command, on node's util.parseArgs: each command
// describes its options once (an OptionSpec table), and gets from that table its parsing
// (typed values, and the options in command-line order where order matters), `--help`/`-h`
// (its usage, generated from the table, on stdout, exit 0), and one way of failing: exit 2 with
// `corridor CMD: <what was wrong>` and the usage on stderr for an unknown option, a missing
// value, a value given to a switch, or anything the command itself refuses (throw UsageError).
//
// Adding a command (e.g. `corridor control`):
//   1. In cli/control.ts, describe it:
//        export const CONTROL_COMMAND = defineCommand({
//          name: "control",
//          summary: "the control server alone",
//          synopsis: ["[--listen HOST:PORT] --database URL"],
//          options: [
//            { name: "listen", value: "HOST:PORT", description: "where to listen", default: "127.0.0.1:8080" },
//            { name: "database", value: "URL", description: "sqlite file or postgres://..." },
//          ],
//        });
//      then run it:
//        export function controlCommand(argv: string[]): Promise<number> {
//          return runCommand(CONTROL_COMMAND, argv, async ({ values, positionals }) => {
//            if (values.database === undefined) throw new UsageError("--database URL is required");
//            ...; return 0;
//          });
//        }
//      `values.database` is typed `string | undefined` (string[] with `multiple: true`, boolean
//      for an option without `value`). Validate in the callback and throw UsageError for a bad
//      command line (exit 2 with the usage); return 1 for a failure at run time.
//   2. Add its loader to COMMAND_LOADERS in cli/main.ts (imported only when it runs):
//      `corridor help` lists it from there, `corridor help control` prints its usage.
//   3. Test its `--help` and an unknown option (test/cli/args-commands.test.ts does so for each).
//
// Options: `--name VALUE`, `--name=VALUE`, `-x VALUE`, `-xVALUE`, grouped switches `-tT`; `--`
// ends the options. A value is taken as given, even one starting with "-" (as getopt does).
// Positionals may come anywhere (getopt_long's permutation), except for commands that split
// their command line first (`corridor ssh`: options stop at the destination).

import { parseArgs } from "node:util";

/** One option of a command: the single description its parsing and its help come from. */
export interface OptionSpec {
  /** Long name without dashes ("wg-config"): `--wg-config`, and the key in `values`. */
  readonly name: string;
  /** A one-letter alias ("c" for `-c`). */
  readonly short?: string;
  /** What the value is called in the help ("FILE"); absent for a switch (no value). */
  readonly value?: string;
  /** What it does, for the help; wrapped there. */
  readonly description: string;
  /** The default, shown in the help ("4"); the command applies it. */
  readonly default?: string;
  /** May be given more than once; `values` holds them all, in order. */
  readonly multiple?: boolean;
  /** Shown in the help only by its short flag (`-c COUNT`), as ping(8) and ssh(1) do. */
  readonly shortOnly?: boolean;
}

/** A positional argument, for the help. */
export interface OperandSpec {
  readonly name: string;
  readonly description: string;
}

/** A command: its name, its one-line summary for `corridor help`, and its options. */
export interface CommandSpec<Options extends readonly OptionSpec[] = readonly OptionSpec[]> {
  readonly name: string;
  readonly summary: string;
  /** Usage lines after `corridor NAME ` (the first gets `usage: `). */
  readonly synopsis: readonly string[];
  readonly options: Options;
  readonly operands?: readonly OperandSpec[];
  /** A paragraph after the options: examples, exit statuses, what is asked for. */
  readonly notes?: string;
}

/** The typed values of an option table: a string (or strings) per value option, else a boolean. */
export type OptionValues<Options extends readonly OptionSpec[]> = {
  [O in Options[number] as O["name"]]: O extends { readonly value: string }
    ? O extends { readonly multiple: true }
      ? string[]
      : string | undefined
    : boolean;
};

/** One option as given, in command-line order. */
export interface GivenOption {
  /** The option's long name. */
  name: string;
  /** How it was spelled ("-c", "--count"), for error messages. */
  flag: string;
  /** Its value; undefined for a switch. */
  value: string | undefined;
}

/** A parsed command line. */
export interface ParsedArgs<Options extends readonly OptionSpec[]> {
  values: OptionValues<Options>;
  positionals: string[];
  /** Every option in the order given, for commands where order matters (later wins, etc.). */
  given: GivenOption[];
}

/** A bad command line: the message says what was wrong; the command exits 2 with its usage. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** Gives a command table its literal option types (so `values` is typed by the names). */
export function defineCommand<const Options extends readonly OptionSpec[]>(
  spec: CommandSpec<Options>,
): CommandSpec<Options> {
  for (const option of spec.options) {
    if (option.name === "help" || option.short === "h") {
      throw new Error(`corridor ${spec.name}: --help/-h is every command's own`);
    }
  }
  return spec;
}

const HELP: OptionSpec = { name: "help", short: "h", description: "show this help and exit" };

/**
 * Parses `argv` by the table of `spec`. Returns "help" when `--help` or `-h` is among the
 * options; throws UsageError for an unknown option, a missing value or a value given to a
 * switch.
 */
export function parseCommandArgs<const Options extends readonly OptionSpec[]>(
  spec: CommandSpec<Options>,
  argv: readonly string[],
): ParsedArgs<Options> | "help" {
  const table = [...spec.options, HELP];
  const byName = new Map(table.map((option) => [option.name, option]));
  const config: Record<string, { type: "string" | "boolean"; short?: string }> = {};
  for (const option of table) {
    config[option.name] = {
      type: option.value === undefined ? "boolean" : "string",
      ...(option.short === undefined ? {} : { short: option.short }),
    };
  }
  // Not strict: its errors name no option in a form we can use, and it refuses values that
  // start with "-". Every token is checked below instead.
  const { tokens } = parseArgs({
    args: [...argv],
    options: config,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const values: Record<string, string | string[] | boolean | undefined> = {};
  for (const option of spec.options) {
    values[option.name] =
      option.value === undefined ? false : option.multiple === true ? [] : undefined;
  }
  const positionals: string[] = [];
  const given: GivenOption[] = [];
  for (const token of tokens) {
    if (token.kind === "positional") {
      positionals.push(token.value);
      continue;
    }
    if (token.kind === "option-terminator") continue;
    const option = byName.get(token.name);
    // parseArgs names an unknown `-x` by its letter: only the spelling tells them apart.
    if (option === undefined || !spelledAs(option, token.rawName)) {
      throw new UsageError(`unknown option ${token.rawName}`);
    }
    if (option === HELP) return "help";
    if (option.value === undefined) {
      if (token.value !== undefined) throw new UsageError(`${token.rawName} takes no value`);
      values[option.name] = true;
      given.push({ name: option.name, flag: token.rawName, value: undefined });
      continue;
    }
    if (token.value === undefined) {
      throw new UsageError(`${token.rawName} needs a value (${option.value})`);
    }
    given.push({ name: option.name, flag: token.rawName, value: token.value });
    const previous = values[option.name];
    values[option.name] = Array.isArray(previous) ? [...previous, token.value] : token.value;
  }
  return { values: values as OptionValues<Options>, positionals, given };
}

/** Whether `rawName` ("-c", "--count") is a spelling of `option`. */
function spelledAs(option: OptionSpec, rawName: string): boolean {
  return rawName === `--${option.name}` || rawName === `-${option.short}`;
}

/**
 * Runs a command: parses `argv` by `spec`, prints the usage for `--help`, and turns a
 * UsageError (from parsing or thrown by `run`) into `corridor NAME: message`, the usage, exit 2.
 */
export async function runCommand<const Options extends readonly OptionSpec[]>(
  spec: CommandSpec<Options>,
  argv: readonly string[],
  run: (args: ParsedArgs<Options>) => number | Promise<number>,
): Promise<number> {
  try {
    const parsed = parseCommandArgs(spec, argv);
    if (parsed === "help") {
      process.stdout.write(formatUsage(spec));
      return 0;
    }
    return await run(parsed);
  } catch (error) {
    if (error instanceof UsageError) return usageFailure(spec, error.message);
    throw error;
  }
}

/** Writes `corridor NAME: problem` and the usage to stderr; returns 2. */
export function usageFailure(spec: CommandSpec, problem: string): number {
  process.stderr.write(`corridor ${spec.name}: ${problem}\n\n${formatUsage(spec)}`);
  return 2;
}

/** Seconds as milliseconds; a UsageError naming `flag` unless a positive number. */
export function positiveSeconds(
  text: string | undefined,
  flag: string,
  fallbackMs: number,
): number {
  if (text === undefined) return fallbackMs;
  const seconds = Number(text);
  if (text.trim() === "" || !Number.isFinite(seconds) || seconds <= 0) {
    throw new UsageError(`${flag} needs a positive number of seconds, got '${text}'`);
  }
  return seconds * 1000;
}

const WIDTH = 100;
const LABEL_COLUMN = 24;

/** Wraps `text` to WIDTH columns, every line but the first indented by `indent` spaces. */
function wrap(text: string, indent: number, firstColumn: number): string {
  const lines: string[] = [];
  let line = "";
  let column = firstColumn;
  for (const word of text.split(/\s+/).filter((w) => w !== "")) {
    if (line !== "" && column + 1 + word.length > WIDTH) {
      lines.push(line);
      line = word;
      column = indent + word.length;
    } else {
      column += (line === "" ? 0 : 1) + word.length;
      line = line === "" ? word : `${line} ${word}`;
    }
  }
  lines.push(line);
  return lines.join(`\n${" ".repeat(indent)}`);
}

function optionLabel(option: OptionSpec): string {
  const value = option.value === undefined ? "" : ` ${option.value}`;
  if (option.short === undefined) return `    --${option.name}${value}`;
  if (option.shortOnly === true) return `-${option.short}${value}`;
  return `-${option.short}, --${option.name}${value}`;
}

function describe(option: OptionSpec): string {
  const extras = [
    option.default === undefined ? "" : `default: ${option.default}`,
    option.multiple === true ? "repeatable" : "",
  ].filter((e) => e !== "");
  return extras.length === 0 ? option.description : `${option.description} (${extras.join("; ")})`;
}

/** Lines of "  LABEL  description" with descriptions in one column. */
function table(rows: [label: string, description: string][]): string {
  return rows
    .map(([label, description]) => {
      const indent = 2 + LABEL_COLUMN;
      if (label.length + 2 > LABEL_COLUMN) {
        return `  ${label}\n${" ".repeat(indent)}${wrap(description, indent, indent)}\n`;
      }
      return `  ${label.padEnd(LABEL_COLUMN)}${wrap(description, indent, indent)}\n`;
    })
    .join("");
}

/** The usage of a command, generated from its table: synopsis, summary, operands, options. */
export function formatUsage(spec: CommandSpec): string {
  const head = `usage: corridor ${spec.name} `;
  const synopsis = spec.synopsis
    .map((line, i) => (i === 0 ? head : " ".repeat(head.length)) + line)
    .join("\n");
  const summary = spec.summary.charAt(0).toUpperCase() + spec.summary.slice(1);
  let text = `${synopsis}\n\n${wrap(`${summary}.`, 0, 0)}\n`;
  if (spec.operands !== undefined && spec.operands.length > 0) {
    text += `\n${table(spec.operands.map((o) => [o.name, o.description]))}`;
  }
  const options = [...spec.options, HELP];
  text += `\noptions:\n${table(options.map((o) => [optionLabel(o), describe(o)]))}`;
  if (spec.notes !== undefined) text += `\n${spec.notes.trimEnd()}\n`;
  return text;
}
