// `corridor keys genkey | pubkey | genpsk`: the key commands of `wg`, with the same input and
// output, so scripts written for one work with the other (`corridor keys genkey | wg pubkey`).

import { nodeX25519 } from "../server/crypto/x25519-node.ts";
import {
  generatePresharedKey,
  generatePrivateKey,
  keyFromBase64,
  keyToBase64,
  publicKey,
} from "../worker/wireguard/keys.ts";
import { defineCommand, runCommand, UsageError } from "./args.ts";

/** `corridor keys`: its subcommands, help and summary. */
export const KEYS_COMMAND = defineCommand({
  name: "keys",
  summary: "WireGuard keys, as wg makes them: keys genkey | pubkey | genpsk",
  synopsis: ["genkey | pubkey | genpsk"],
  options: [],
  operands: [
    { name: "genkey", description: "print a new private key (base64, as `wg genkey`)" },
    {
      name: "pubkey",
      description: "read a private key on stdin, print its public key (as `wg pubkey`)",
    },
    { name: "genpsk", description: "print a new preshared key (as `wg genpsk`)" },
  ],
  notes: "  corridor keys genkey | tee private.key | corridor keys pubkey > public.key",
});

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(Buffer.from(chunk as Buffer | string));
  return Buffer.concat(chunks).toString("utf8");
}

/** Runs `corridor keys <args>`; returns the exit status (0, 1 for bad input, 2 for usage). */
export function keysCommand(argv: string[]): Promise<number> {
  return runCommand(KEYS_COMMAND, argv, ({ positionals }) => keys(positionals));
}

async function keys(positionals: string[]): Promise<number> {
  const [sub, ...rest] = positionals;
  if (sub === undefined) throw new UsageError("a subcommand is needed");
  if (sub !== "genkey" && sub !== "pubkey" && sub !== "genpsk") {
    throw new UsageError(`unknown subcommand: ${sub}`);
  }
  if (rest.length > 0) throw new UsageError(`${sub} takes no arguments, got: ${rest.join(" ")}`);
  if (sub === "genkey") {
    process.stdout.write(`${keyToBase64(generatePrivateKey())}\n`);
    return 0;
  }
  if (sub === "genpsk") {
    process.stdout.write(`${keyToBase64(generatePresharedKey())}\n`);
    return 0;
  }
  let privateKey: Uint8Array;
  try {
    privateKey = keyFromBase64(await readStdin(), "stdin");
  } catch (error) {
    process.stderr.write(
      `corridor keys pubkey: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    return 1;
  }
  // node:crypto rather than the default @noble/curves: the CLI is Node, and it is faster there.
  const key = await publicKey(privateKey, nodeX25519);
  privateKey.fill(0);
  process.stdout.write(`${keyToBase64(key)}\n`);
  return 0;
}
