// parseConfig against 20,000 seeded mutations of config files: each must parse (and then
// survive formatConfig and a re-parse unchanged) or throw a ConfigError naming a real line.

import { isDeepStrictEqual } from "node:util";
import { describe, expect, it } from "vitest";
import {
  ConfigError,
  formatConfig,
  parseConfig,
  type WgConfig,
} from "../../worker/wireguard/config.ts";
import { seededBytes, seededInts } from "../helpers/seeded.ts";
import { FULL, FULL_PARSED, PRIV, PSK, PUB1, PUB2 } from "./config-fixtures.ts";

describe("parseConfig fuzz", () => {
  it("20,000 seeded mutations of config files parse or throw ConfigError, nothing else", () => {
    const int = seededInts(0xf022c0f);
    const rand = seededBytes(0xf022c10);
    const seeds = [
      FULL,
      formatConfig(FULL_PARSED),
      `[Interface]\nPrivateKey = ${PRIV}\n[Peer]\nPublicKey = ${PUB1}\n`,
    ];
    const tokens = [
      "[Interface]",
      "[Peer]",
      "[",
      "]",
      "=",
      "#",
      ",",
      ":",
      "::",
      "/",
      "/129",
      "/0",
      "\n",
      "\r\n",
      "\n[Peer]\n",
      "PrivateKey = ",
      "PublicKey = ",
      "PresharedKey=",
      "AllowedIPs = ",
      "Endpoint = ",
      "PersistentKeepalive = ",
      "ListenPort = ",
      "MTU = ",
      "DNS = ",
      "Address = ",
      "Table = auto",
      "70000",
      "65535",
      "0",
      "off",
      "OFF",
      "255.255.255.255",
      "fd00::",
      "::ffff:1.2.3.4",
      "[::1]:1",
      PUB1,
      PUB2,
      PSK,
      "\u0000",
      "\u2603",
      "\uFEFF",
      " ",
      "\t",
      "%",
      "-",
      "_",
      "==",
    ];
    const pick = <T>(list: readonly T[]): T => list[int(list.length)]!;
    let parsed = 0;
    const rejected = new Map<string, number>(); // message with line and values stripped -> count
    const tries = 20_000;
    for (let i = 0; i < tries; i++) {
      let text = pick(seeds);
      for (let m = 1 + int(6); m > 0; m--) {
        const lines = text.split("\n");
        const at = int(text.length + 1);
        switch (int(8)) {
          case 0:
            text = text.slice(0, at) + text.slice(at + 1 + int(5));
            break;
          case 1:
            text = text.slice(0, at) + pick(tokens) + text.slice(at);
            break;
          case 2:
            text = text.slice(0, at) + String.fromCharCode(rand(1)[0]! % 0x80) + text.slice(at + 1);
            break;
          case 3: {
            const l = int(lines.length);
            lines.splice(l, 0, lines[l] ?? "");
            text = lines.join("\n");
            break;
          }
          case 4:
            lines.splice(int(lines.length), 1);
            text = lines.join("\n");
            break;
          case 5: {
            const a = int(lines.length);
            const b = int(lines.length);
            [lines[a], lines[b]] = [lines[b] ?? "", lines[a] ?? ""];
            text = lines.join("\n");
            break;
          }
          case 6:
            text = text.slice(0, at);
            break;
          default: {
            const c = text.charAt(at);
            const flipped = c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase();
            text = text.slice(0, at) + flipped + text.slice(at + 1);
          }
        }
      }
      let cfg: WgConfig;
      try {
        cfg = parseConfig(text);
      } catch (error) {
        if (!(error instanceof ConfigError)) {
          throw new Error(`try ${i}: ${String(error)} for ${JSON.stringify(text)}`);
        }
        const lineCount = text.split("\n").length;
        if (
          error.line < 1 ||
          error.line > lineCount ||
          !error.message.startsWith(`line ${error.line}: `)
        ) {
          throw new Error(`try ${i}: bad line ${error.line} of ${lineCount}: ${error.message}`);
        }
        const kind = error.message.replace(/^line \d+: /, "").replace(/'[^']*'|\d+/g, "_");
        rejected.set(kind, (rejected.get(kind) ?? 0) + 1);
        continue;
      }
      parsed++;
      // What parses must also write out and read back identically.
      const again = parseConfig(formatConfig(cfg));
      if (!isDeepStrictEqual(again, { ...cfg, warnings: [] })) {
        throw new Error(`try ${i}: round trip differs for ${JSON.stringify(text)}`);
      }
    }
    const failures = tries - parsed;
    console.log(
      `parseConfig fuzz: ${tries} mutated files, ${parsed} parsed, ${failures} ConfigError (${rejected.size} kinds of message)`,
    );
    expect(parsed).toBeGreaterThan(tries / 20);
    expect(failures).toBeGreaterThan(tries / 4);
  });
});
