// Runs fixtures/packets.py, which builds packets with Python's struct: bytes made
// independently of the code under test, at test time so they cannot drift from the script.

import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const SCRIPT = fileURLToPath(new URL("./fixtures/packets.py", import.meta.url));

/** A packet spec for packets.py: "kind" plus that builder's fields (see the script). */
export interface PySpec {
  kind: "ipv4" | "ipv6" | "udp" | "icmp4" | "icmp6" | "raw" | "checksum";
  payload?: string | PySpec;
  [field: string]: unknown;
}

/** Builds every spec in one Python run; returns the packets in order. */
export function pythonBuild(specs: readonly PySpec[]): Uint8Array[] {
  const out = execFileSync("python3", [SCRIPT], { input: JSON.stringify(specs), encoding: "utf8" });
  return (JSON.parse(out) as string[]).map(fromHex);
}

/** Bytes from hex text (whitespace allowed). */
export function fromHex(text: string): Uint8Array {
  const clean = text.replace(/\s+/g, "");
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(clean.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** Hex text of bytes. */
export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
