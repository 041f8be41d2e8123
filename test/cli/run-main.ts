// Runs a `corridor` command line through `main` (cli/main.ts, what cli/corridor.mjs runs) in
// the test's own process: stdout and stderr captured, stdin given. Each start of the real binary
// costs a second or more of Node and tsx start-up (several on a loaded CI machine), so tests
// that make many command lines use this and keep a few real-binary runs that must print the same.

import { Readable } from "node:stream";
import { main } from "../../cli/main.ts";

/** What a command line did: its exit status and what it wrote. */
export interface MainRun {
  status: number;
  stdout: string;
  stderr: string;
}

/** A MainRun whose stdout is kept byte for byte (a binary body is not valid UTF-8 text). */
export interface MainRunBytes {
  status: number;
  stdout: Buffer;
  stderr: string;
}

let queue: Promise<unknown> = Promise.resolve();

/**
 * Runs `corridor ARGS` in-process with `input` as its stdin (empty, ended, by default) and
 * `env` set in process.env for the run. Calls run one at a time: the capture replaces the
 * process's writers, stdin and those variables while one runs.
 */
export async function runMain(
  args: string[],
  input = "",
  env: Record<string, string> = {},
): Promise<MainRun> {
  const run = await runMainBytes(args, input, env);
  return { ...run, stdout: run.stdout.toString() };
}

/** runMain, with stdout as the bytes written. */
export function runMainBytes(
  args: string[],
  input = "",
  env: Record<string, string> = {},
): Promise<MainRunBytes> {
  const run = queue.then(async () => {
    const stdout: Buffer[] = [];
    let stderr = "";
    const out = process.stdout.write;
    const err = process.stderr.write;
    const stdin = Object.getOwnPropertyDescriptor(process, "stdin");
    const capture =
      (append: (bytes: Buffer) => void) =>
      (chunk: string | Uint8Array, ...rest: unknown[]): boolean => {
        // Copied: a writer may reuse its buffer once write() returns.
        append(typeof chunk === "string" ? Buffer.from(chunk) : Buffer.from(chunk));
        const done = rest.find((r) => typeof r === "function") as (() => void) | undefined;
        done?.();
        return true;
      };
    process.stdout.write = capture((bytes) => {
      stdout.push(bytes);
    }) as typeof process.stdout.write;
    process.stderr.write = capture((bytes) => {
      stderr += bytes.toString();
    }) as typeof process.stderr.write;
    Object.defineProperty(process, "stdin", {
      value: Readable.from(input === "" ? [] : [Buffer.from(input)]),
      configurable: true,
      enumerable: true,
    });
    const saved = Object.keys(env).map((name) => [name, process.env[name]] as const);
    Object.assign(process.env, env);
    try {
      const status = await main(args);
      return { status, stdout: Buffer.concat(stdout), stderr };
    } finally {
      process.stdout.write = out;
      process.stderr.write = err;
      if (stdin) Object.defineProperty(process, "stdin", stdin);
      for (const [name, value] of saved) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });
  queue = run.catch(() => undefined);
  return run;
}
