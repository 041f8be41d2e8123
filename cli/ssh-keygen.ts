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
import { unprotectedFileWarning, writeFileAtomic } from "./files.ts";
import { askSecret } from "./prompt.ts";

export const SSH_KEYGEN_USAGE = `usage: corridor ssh-keygen [-t ed25519|ecdsa] [-f FILE] [-N '' | --passphrase-fd N] [-C COMMENT] [-a ROUNDS]
       corridor ssh-keygen -y -f FILE      print the public key of a private key
       corridor ssh-keygen -l -f FILE      print the SHA256 fingerprint of a key

  -t TYPE     ed25519 (default) or ecdsa (P-256)
  -f FILE     private key file (default ~/.ssh/id_ed25519 or ~/.ssh/id_ecdsa); FILE.pub gets
              the public key; an existing file is never overwritten
  -N ''       no passphrase. Without -N the passphrase is asked twice on the terminal (or
              through SSH_ASKPASS); a passphrase on the command line is refused, because
              other users can read it in the process list
  --passphrase-fd N
              read the passphrase from file descriptor N (its first line), e.g.
              --passphrase-fd 3 3<secret-file; also unlocks the key of -y
  -C COMMENT  comment (default user@host)
  -a ROUNDS   bcrypt-pbkdf rounds for an encrypted key (default 16)
`;

/** Longest passphrase read from --passphrase-fd (OpenSSH's read_passphrase reads 1024). */
const MAX_PASSPHRASE_BYTES = 1024;

/** Runs `corridor ssh-keygen`; returns the exit status. */
export async function sshKeygenCommand(args: string[]): Promise<number> {
  let type: UserKeyType = "ssh-ed25519";
  let file: string | null = null;
  let passphrase: string | null = null;
  let passphraseFd: number | null = null;
  let comment = `${userInfo().username}@${hostname()}`;
  let rounds = 16;
  let mode: "generate" | "public" | "fingerprint" = "generate";
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const value = () => {
      const v = args[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    try {
      if (arg === "-t") {
        const t = value();
        if (t === "ed25519") type = "ssh-ed25519";
        else if (t === "ecdsa") type = "ecdsa-sha2-nistp256";
        else return usage(`unsupported key type ${t} (ed25519 or ecdsa)`);
      } else if (arg === "-b") {
        const bits = value();
        if (bits !== "256" && type === "ecdsa-sha2-nistp256")
          return usage("ecdsa keys are 256 bits (P-256)");
      } else if (arg === "-f") file = value();
      else if (arg === "-N") {
        if (value() !== "") {
          return usage(
            "-N takes no passphrase on the command line (other users can read it in the process list): leave -N out to be asked on the terminal, or use --passphrase-fd N; -N '' makes a key without a passphrase",
          );
        }
        passphrase = "";
      } else if (arg === "--passphrase-fd") {
        const text = value();
        passphraseFd = Number(text);
        if (!/^\d+$/.test(text) || !Number.isSafeInteger(passphraseFd))
          return usage(`--passphrase-fd needs a file descriptor number, got ${text}`);
      } else if (arg === "-C") comment = value();
      else if (arg === "-a") {
        rounds = Number(value());
        if (!Number.isInteger(rounds) || rounds < 1 || rounds > 1024)
          return usage("-a ROUNDS must be 1..1024");
      } else if (arg === "-y") mode = "public";
      else if (arg === "-l") mode = "fingerprint";
      else if (arg === "-q") {
        // Quiet is our default for -y and -l; accepted for ssh-keygen compatibility.
      } else return usage(`unknown option ${arg}`);
    } catch (error) {
      return usage((error as Error).message);
    }
  }
  try {
    if (passphrase !== null && passphraseFd !== null)
      return usage("give either -N '' or --passphrase-fd, not both");
    if (passphraseFd !== null) passphrase = await readPassphraseFd(passphraseFd);
    if (mode !== "generate") {
      if (file === null) return usage(`-${mode === "public" ? "y" : "l"} needs -f FILE`);
      return await show(mode, file, passphrase);
    }
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

function usage(message: string): number {
  process.stderr.write(`corridor ssh-keygen: ${message}\n\n${SSH_KEYGEN_USAGE}`);
  return 2;
}
