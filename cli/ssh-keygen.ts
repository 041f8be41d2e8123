// `corridor ssh-keygen`: makes an SSH user key in OpenSSH's formats (openssh-key-v1 private
// key, optionally bcrypt-pbkdf encrypted; the .pub authorized_keys line), prints the public
// key of a private key (-y) or a fingerprint (-l), in ssh-keygen's spelling.

import { existsSync, readFileSync, readSync } from "node:fs";
import { homedir, hostname, userInfo } from "node:os";
import { join } from "node:path";
import { fingerprintSha256 } from "../worker/ssh/fingerprint.ts";
import {
  exportOpensshPrivateKey,
  parseOpensshPrivateKey,
} from "../worker/ssh/keys/openssh-private-key.ts";
import { parsePublicKeyLine } from "../worker/ssh/keys/public-key.ts";
import {
  authorizedKeysLine,
  generateUserKey,
  type UserKeyType,
} from "../worker/ssh/keys/user-key.ts";
import { defineCommand, type ParsedArgs, runCommand, UsageError } from "./args.ts";
import { unprotectedFileWarning, writeFileAtomic } from "./files.ts";
import { askSecret } from "./prompt.ts";

/** `corridor ssh-keygen`: its options, help and summary. */
export const SSH_KEYGEN_COMMAND = defineCommand({
  name: "ssh-keygen",
  summary: "an SSH user key in OpenSSH's format; -y its public key, -l its fingerprint",
  synopsis: [
    "[-t ed25519|ecdsa] [-f FILE] [-N '' | --passphrase-fd N] [-C COMMENT] [-a ROUNDS]",
    "-y -f FILE      print the public key of a private key",
    "-l -f FILE      print the SHA256 fingerprint of a key",
  ],
  options: [
    {
      name: "type",
      short: "t",
      shortOnly: true,
      value: "TYPE",
      description: "ed25519 or ecdsa (P-256)",
      default: "ed25519",
    },
    {
      name: "bits",
      short: "b",
      shortOnly: true,
      value: "BITS",
      description: "key size: ed25519 has one; ecdsa keys are 256 bits",
    },
    {
      name: "file",
      short: "f",
      shortOnly: true,
      value: "FILE",
      description:
        "private key file; FILE.pub gets the public key; an existing file is never overwritten",
      default: "~/.ssh/id_ed25519 or ~/.ssh/id_ecdsa",
    },
    {
      name: "new-passphrase",
      short: "N",
      shortOnly: true,
      value: "''",
      description:
        "no passphrase. Without -N the passphrase is asked twice on the terminal (or through SSH_ASKPASS); a passphrase on the command line is refused, because other users can read it in the process list",
    },
    {
      name: "passphrase-fd",
      value: "N",
      description:
        "read the passphrase from file descriptor N (its first line), e.g. --passphrase-fd 3 3<secret-file; also unlocks the key of -y",
    },
    {
      name: "comment",
      short: "C",
      shortOnly: true,
      value: "COMMENT",
      description: "comment",
      default: "user@host",
    },
    {
      name: "rounds",
      short: "a",
      shortOnly: true,
      value: "ROUNDS",
      description: "bcrypt-pbkdf rounds for an encrypted key",
      default: "16",
    },
    {
      name: "print-public",
      short: "y",
      shortOnly: true,
      description: "print the public key of the private key in -f FILE",
    },
    {
      name: "fingerprint",
      short: "l",
      shortOnly: true,
      description: "print the SHA256 fingerprint of the key in -f FILE",
    },
    {
      name: "quiet",
      short: "q",
      shortOnly: true,
      description: "quiet (our default; accepted for ssh-keygen compatibility)",
    },
  ],
});

/** Longest passphrase read from --passphrase-fd (OpenSSH's read_passphrase reads 1024). */
const MAX_PASSPHRASE_BYTES = 1024;

/** What the ssh-keygen command line asks for. */
interface KeygenArgs {
  type: UserKeyType;
  file: string | null;
  /** "" for -N '', null when it is to be asked or read from passphraseFd. */
  passphrase: string | null;
  passphraseFd: number | null;
  comment: string;
  rounds: number;
  mode: "generate" | "public" | "fingerprint";
}

/** Reads the options in command-line order, as ssh-keygen does (-b is judged by the -t before it). */
function keygenArgs({
  given,
  positionals,
}: ParsedArgs<typeof SSH_KEYGEN_COMMAND.options>): KeygenArgs {
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0]}`);
  const out: KeygenArgs = {
    type: "ssh-ed25519",
    file: null,
    passphrase: null,
    passphraseFd: null,
    comment: `${userInfo().username}@${hostname()}`,
    rounds: 16,
    mode: "generate",
  };
  for (const { name, value = "" } of given) {
    if (name === "type") {
      if (value === "ed25519") out.type = "ssh-ed25519";
      else if (value === "ecdsa") out.type = "ecdsa-sha2-nistp256";
      else throw new UsageError(`unsupported key type ${value} (ed25519 or ecdsa)`);
    } else if (name === "bits") {
      if (value !== "256" && out.type === "ecdsa-sha2-nistp256")
        throw new UsageError("ecdsa keys are 256 bits (P-256)");
    } else if (name === "file") out.file = value;
    else if (name === "new-passphrase") {
      if (value !== "") {
        throw new UsageError(
          "-N takes no passphrase on the command line (other users can read it in the process list): leave -N out to be asked on the terminal, or use --passphrase-fd N; -N '' makes a key without a passphrase",
        );
      }
      out.passphrase = "";
    } else if (name === "passphrase-fd") {
      out.passphraseFd = Number(value);
      if (!/^\d+$/.test(value) || !Number.isSafeInteger(out.passphraseFd))
        throw new UsageError(`--passphrase-fd needs a file descriptor number, got ${value}`);
    } else if (name === "comment") out.comment = value;
    else if (name === "rounds") {
      out.rounds = Number(value);
      if (!/^\d+$/.test(value) || out.rounds < 1 || out.rounds > 1024)
        throw new UsageError("-a ROUNDS must be 1..1024");
    } else if (name === "print-public") out.mode = "public";
    else if (name === "fingerprint") out.mode = "fingerprint";
    // -q: quiet is our default for -y and -l.
  }
  if (out.passphrase !== null && out.passphraseFd !== null)
    throw new UsageError("give either -N '' or --passphrase-fd, not both");
  if (out.mode !== "generate" && out.file === null)
    throw new UsageError(`-${out.mode === "public" ? "y" : "l"} needs -f FILE`);
  return out;
}

/** Runs `corridor ssh-keygen`; returns the exit status. */
export function sshKeygenCommand(argv: string[]): Promise<number> {
  return runCommand(SSH_KEYGEN_COMMAND, argv, (args) => sshKeygen(keygenArgs(args)));
}

async function sshKeygen(args: KeygenArgs): Promise<number> {
  const { type, passphraseFd, comment, rounds, mode } = args;
  let { file, passphrase } = args;
  try {
    if (passphraseFd !== null) passphrase = await readPassphraseFd(passphraseFd);
    if (mode !== "generate" && file !== null) return await show(mode, file, passphrase);
    file ??= join(homedir(), ".ssh", type === "ssh-ed25519" ? "id_ed25519" : "id_ecdsa");
    if (existsSync(file) || existsSync(`${file}.pub`)) {
      process.stderr.write(`corridor ssh-keygen: ${file} already exists; not overwriting it\n`);
      return 1;
    }
    if (passphrase === null) {
      const first = await askSecret("Enter passphrase (empty for no passphrase): ");
      if (first === null) {
        // No terminal, no SSH_ASKPASS, or Ctrl-C/Ctrl-D: never fall back to an unencrypted key.
        process.stderr.write(
          "corridor ssh-keygen: no passphrase was entered (no terminal, or cancelled); use -N '' for a key without one, or --passphrase-fd N\n",
        );
        return 1;
      }
      const again = await askSecret("Enter same passphrase again: ");
      if (again !== first) {
        process.stderr.write("corridor ssh-keygen: passphrases do not match\n");
        return 1;
      }
      passphrase = first;
    }
    const key = generateUserKey(type, comment);
    // Each file appears whole or not at all, and never replaces one made meanwhile.
    writeFileAtomic(
      file,
      exportOpensshPrivateKey(key, passphrase === "" ? undefined : passphrase, rounds),
      { mode: 0o600, exclusive: true },
    );
    writeFileAtomic(`${file}.pub`, `${authorizedKeysLine(key)}\n`, {
      mode: 0o644,
      exclusive: true,
    });
    process.stdout.write(
      `Your private key is in ${file}, the public key in ${file}.pub.\nThe key fingerprint is:\n${fingerprintSha256(key.publicBlob)} ${comment}\n`,
    );
    return 0;
  } catch (error) {
    process.stderr.write(`corridor ssh-keygen: ${(error as Error).message}\n`);
    return 1;
  }
}

/**
 * The first line read from file descriptor `fd` (up to MAX_PASSPHRASE_BYTES, without its line
 * end). A pipe may be non-blocking (EAGAIN): then it waits for the writer and reads again.
 */
async function readPassphraseFd(fd: number): Promise<string> {
  const bytes: number[] = [];
  const one = Buffer.alloc(1);
  while (bytes.length <= MAX_PASSPHRASE_BYTES) {
    let n: number;
    try {
      n = readSync(fd, one, 0, 1, null);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "EAGAIN") {
        await new Promise((resolve) => setTimeout(resolve, 5));
        continue;
      }
      throw new Error(`--passphrase-fd ${fd}: ${(error as Error).message}`);
    }
    if (n === 0 || one[0] === 0x0a) break;
    bytes.push(one[0]!);
  }
  if (bytes.length > MAX_PASSPHRASE_BYTES)
    throw new Error(
      `--passphrase-fd ${fd}: the passphrase is longer than ${MAX_PASSPHRASE_BYTES} bytes`,
    );
  if (bytes.at(-1) === 0x0d) bytes.pop();
  return Buffer.from(bytes).toString("utf8");
}

async function show(
  mode: "public" | "fingerprint",
  file: string,
  givenPassphrase: string | null,
): Promise<number> {
  const text = readFileSync(file, "utf8");
  let blob: Uint8Array;
  let comment: string;
  let line: string;
  if (text.includes("PRIVATE KEY")) {
    const unprotected = unprotectedFileWarning(file, "private key");
    if (unprotected !== null) process.stderr.write(`corridor ssh-keygen: ${unprotected}\n`);
    let key: ReturnType<typeof parseOpensshPrivateKey>;
    try {
      key = parseOpensshPrivateKey(text, givenPassphrase || undefined);
    } catch (error) {
      if (givenPassphrase !== null) throw error;
      const passphrase = await askSecret(`Enter passphrase for "${file}": `);
      key = parseOpensshPrivateKey(text, passphrase ?? undefined);
    }
    blob = key.publicBlob;
    comment = key.comment;
    line = authorizedKeysLine(key);
  } else {
    ({ blob, comment } = parsePublicKeyLine(text.trim()));
    line = text.trim();
  }
  if (mode === "public") process.stdout.write(`${line}\n`);
  else {
    const bits = blob.length > 0 ? 256 : 0;
    const type = line.startsWith("ssh-ed25519") ? "ED25519" : "ECDSA";
    process.stdout.write(
      `${bits} ${fingerprintSha256(blob)} ${comment || "no comment"} (${type})\n`,
    );
  }
  return 0;
}
