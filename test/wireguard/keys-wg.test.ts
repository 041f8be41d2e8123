// keyFromBase64 against `wg` itself (wireguard-tools): the same seeded near-keys go through
// our parser and through `wg pubkey`, which reads a private key with wg's key_from_base64 and
// exits 1 when it refuses one. Both must accept exactly the same texts, and for every accepted
// one our public key must be the one wg prints. (keys.test.ts checks the same rule against a
// pattern written in the test; this is the differential.)

import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, it } from "vitest";
import { keyFromBase64, keyToBase64, publicKey } from "../../worker/wireguard/keys.ts";
import { describeWithPrereq, executable, prereq } from "../helpers/prereq.ts";
import { seededBytes, seededInts } from "../helpers/seeded.ts";

const WG = "/usr/bin/wg";
const need = prereq(executable(WG), executable("/bin/sh"));

/** Runs every text through `wg pubkey` (one shell, one wg per text): its key, or null. */
function wgPubkeys(texts: readonly string[]): (string | null)[] {
  const dir = mkdtempSync(join(tmpdir(), "corridor-wg-keys-"));
  try {
    const input = join(dir, "keys");
    writeFileSync(input, texts.map((t) => `${t}\n`).join(""));
    // printf '%s' gives wg the text without the newline; wg would accept one (it skips
    // trailing whitespace), and so does keyFromBase64, so it would not change the verdict.
    const script = `while IFS= read -r key; do
      if out=$(printf '%s' "$key" | ${WG} pubkey 2>/dev/null); then echo "ok $out"; else echo no; fi
    done < "$1"`;
    const lines = execFileSync("/bin/sh", ["-c", script, "sh", input], {
      maxBuffer: 1 << 24,
    })
      .toString()
      .split("\n")
      .filter((line) => line !== "");
    expect(lines).toHaveLength(texts.length);
    return lines.map((line) => (line.startsWith("ok ") ? line.slice(3) : null));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** What keyFromBase64 makes of `text`: the public key, or null when it refuses the text. */
async function ours(text: string): Promise<string | null> {
  let key: Uint8Array;
  try {
    key = keyFromBase64(text);
  } catch (error) {
    expect(error).toBeInstanceOf(TypeError);
    return null;
  }
  return keyToBase64(await publicKey(key));
}

describeWithPrereq(need, "keyFromBase64 against wg's key_from_base64 (wg pubkey)", () => {
  it("accepts and refuses exactly what wg does on 2,300 seeded keys and near-keys", async () => {
    const int = seededInts(0x77672123);
    const rand = seededBytes(0x77672124);
    const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64");
    const noise = "AZaz09+/=-_ .\u00e9\u0100\u2603";
    const texts: string[] = [];
    // 200 valid keys as wg genkey writes them.
    for (let i = 0; i < 200; i++) texts.push(b64(rand(32)));
    // Every character of the alphabet (and '=') as the 43rd: only 16 leave the spare bits zero.
    const base = b64(rand(32));
    for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") {
      texts.push(`${base.slice(0, 42)}${c}=`);
    }
    // 2,035 near-keys: one to three characters replaced by alphabet edges or non-base64.
    while (texts.length < 2_300) {
      const chars = [...b64(rand(32))];
      for (let e = int(3); e >= 0; e--) chars[int(44)] = noise[int(noise.length)] ?? "A";
      texts.push(chars.join(""));
    }
    const theirs = wgPubkeys(texts);
    let accepted = 0;
    for (const [i, text] of texts.entries()) {
      const mine = await ours(text);
      expect(mine, `${JSON.stringify(text)} (input ${i})`).toBe(theirs[i]);
      if (mine !== null) accepted++;
    }
    console.log(`keyFromBase64 vs wg pubkey: ${texts.length} texts, ${accepted} accepted by both`);
    // Both sides of the rule are exercised: the valid keys and some near-keys pass, most fail.
    expect(accepted).toBeGreaterThan(200 + 16);
    expect(accepted).toBeLessThan(texts.length / 2);
  }, 120_000);
});
