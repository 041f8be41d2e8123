// Asking a person for a secret or a yes/no, as ssh(1) does: on the controlling terminal with
// echo off, or through the SSH_ASKPASS program (when SSH_ASKPASS_REQUIRE=force, or when there
// is no terminal and SSH_ASKPASS is set).

import { execFile, execFileSync } from "node:child_process";
import { closeSync, openSync, readSync, writeSync } from "node:fs";

/** Whether a secret can be asked for at all. */
export function canPrompt(): boolean {
  return askpassProgram() !== null || hasTerminal();
}

function askpassProgram(): string | null {
  const program = process.env.SSH_ASKPASS;
  if (program === undefined || program === "") return null;
  const require = process.env.SSH_ASKPASS_REQUIRE;
  if (require === "never") return null;
  if (require === "force" || !hasTerminal()) return program;
  return null;
}

function hasTerminal(): boolean {
  try {
    closeSync(openSync("/dev/tty", "r+"));
    return true;
  } catch {
    return false;
  }
}

/** Asks with `prompt`; resolves null when nobody can be asked or the answer is cancelled. */
export async function askSecret(prompt: string, echo = false): Promise<string | null> {
  const program = askpassProgram();
  if (program !== null) {
    return await new Promise((resolve) => {
      execFile(program, [prompt], { timeout: 300_000 }, (error, stdout) => {
        resolve(error ? null : stdout.replace(/\r?\n$/, ""));
      });
    });
  }
  if (!hasTerminal()) return null;
  return readFromTerminal(prompt, echo);
}

/** Reads one line from /dev/tty, with echo off unless `echo`, via stty (no raw-mode races with stdin). */
function readFromTerminal(prompt: string, echo: boolean): string | null {
  const fd = openSync("/dev/tty", "r+");
  try {
    // Echo goes off before the prompt shows, as readpassphrase(3) does: a person (or a script
    // on a pty) answering the moment the prompt appears must not see the secret echoed.
    if (!echo) execFileSync("stty", ["-echo"], { stdio: [fd, "ignore", "ignore"] });
    writeSync(fd, prompt);
    try {
      const bytes: number[] = [];
      const one = Buffer.alloc(1);
      while (bytes.length < 4096) {
        const n = readSync(fd, one, 0, 1, null);
        if (n === 0) return null;
        if (one[0] === 0x0a || one[0] === 0x0d) break;
        if (one[0] === 0x03 || one[0] === 0x04) return null;
        bytes.push(one[0]!);
      }
      return Buffer.from(bytes).toString("utf8");
    } finally {
      if (!echo) {
        execFileSync("stty", ["echo"], { stdio: [fd, "ignore", "ignore"] });
        writeSync(fd, "\n");
      }
    }
  } finally {
    closeSync(fd);
  }
}

/** Asks a yes/no question; only an explicit "yes" is yes (ssh(1) host key prompt). */
export async function askYesNo(question: string): Promise<boolean> {
  const answer = await askSecret(question, true);
  return answer !== null && answer.trim().toLowerCase() === "yes";
}
