// The STUN flags, in process: `--stun PORT` of `corridor relay` and `corridor serve` (a port,
// 0 for off), and `corridor control --relay-stun HOST:PORT` (in order with --relay-url; none
// for a relay without), which puts RelayInfo.stun in the maps. Hostile values of both are in
// control-flags.test.ts's seeded fuzz of the command lines.

import { describe, expect, it } from "vitest";
import { parseCommandArgs, UsageError } from "../../cli/args.ts";
import { CONTROL_COMMAND, controlArgs } from "../../cli/control.ts";
import { parseStunPort, stunAddress } from "../../cli/relay-flags.ts";

const KEY = Buffer.alloc(32, 9).toString("base64");

function control(...extra: string[]) {
  const parsed = parseCommandArgs(CONTROL_COMMAND, [
    "--database",
    "/tmp/x.db",
    "--relay-url",
    "wss://a.example.com/relay",
    "--relay-key",
    KEY,
    "--relay-url",
    "wss://b.example.com/relay",
    "--relay-key",
    KEY,
    ...extra,
  ]);
  if (parsed === "help") throw new Error("help");
  return controlArgs(parsed);
}

describe("--stun PORT", () => {
  it("takes 0 (off) to 65535", () => {
    expect(parseStunPort("0")).toBe(0);
    expect(parseStunPort("3478")).toBe(3478);
    expect(parseStunPort("65535")).toBe(65535);
  });

  it.each(["", "-1", "65536", "3478x", "1.5", "udp"])("refuses %j naming the flag", (text) => {
    expect(() => parseStunPort(text)).toThrow(UsageError);
    expect(() => parseStunPort(text)).toThrow(
      `--stun '${text}': expected a port from 0 to 65535 (0 turns STUN off)`,
    );
  });

  it("names an IPv6 listener with brackets", () => {
    expect(stunAddress("::", 3478)).toBe("[::]:3478");
    expect(stunAddress("127.0.0.1", 3478)).toBe("127.0.0.1:3478");
  });
});

describe("corridor control --relay-stun", () => {
  it("gives each relay its STUN address in order; none and missing ones have none", () => {
    expect(control().relays.map((r) => r.stun)).toEqual([undefined, undefined]);
    expect(control("--relay-stun", "a.example.com:3478").relays.map((r) => r.stun)).toEqual([
      "a.example.com:3478",
      undefined,
    ]);
    expect(
      control("--relay-stun", "none", "--relay-stun", "[2001:db8::1]:3478").relays.map(
        (r) => r.stun,
      ),
    ).toEqual([undefined, "[2001:db8::1]:3478"]);
  });

  it.each<[string[], string]>([
    [["--relay-stun", "a.example.com"], `--relay-stun 'a.example.com': expected "host:port"`],
    [["--relay-stun", "a.example.com:0"], "port must be a number 1-65535"],
    [["--relay-stun", "2001:db8::1:3478"], "needs brackets"],
    [
      ["--relay-stun", "none", "--relay-stun", "none", "--relay-stun", "none"],
      "more --relay-stun than --relay-url",
    ],
  ])("refuses %j", (extra, message) => {
    expect(() => control(...extra)).toThrow(UsageError);
    expect(() => control(...extra)).toThrow(message);
  });
});
