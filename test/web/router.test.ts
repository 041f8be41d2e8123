// #/ssh/USER@HOST[:PORT] links come from any web site (issue 12, item 5): the parser takes
// what a person would write, and refuses what could mislead the confirmation dialog (control
// and invisible characters, spaces, huge values) or is not a port. Fuzzed: it never throws
// and everything it returns is bounded and printable.

import { describe, expect, it } from "vitest";
import { parseSshLink } from "../../web/router.ts";
import { seededInts } from "../helpers/seeded.ts";

describe("parseSshLink", () => {
  it("reads user, host and port, IPv6 in brackets", () => {
    expect(parseSshLink("#/ssh/root@100.64.0.2")).toEqual({
      user: "root",
      host: "100.64.0.2",
      port: 22,
    });
    expect(parseSshLink("#/ssh/ops@build-01:2222")).toEqual({
      user: "ops",
      host: "build-01",
      port: 2222,
    });
    expect(parseSshLink("#/ssh/me@[fd00::1]:2200")).toEqual({
      user: "me",
      host: "fd00::1",
      port: 2200,
    });
    expect(parseSshLink("#/ssh/a%40b@host")).toEqual({ user: "a@b", host: "host", port: 22 });
  });

  it("refuses links that are not one, or could mislead the confirmation", () => {
    for (const hash of [
      "",
      "#/ssh/",
      "#/ssh/@host",
      "#/ssh/root@",
      "#/ssh/root@host:0",
      "#/ssh/root@host:65536",
      "#/ssh/root@host:22x",
      "#/ssh/root@host:1e3",
      "#/ssh/root@host:+22",
      "#/ssh/root@[fd00::1]:",
      "#/ssh/%E0%A4%A@host",
      "#/ssh/root%0A@host",
      "#/ssh/root%20admin@host",
      "#/ssh/root@host%00",
      "#/ssh/root%E2%80%AE@host",
      "#/ssh/root@ho%E2%80%8Bst",
      "#/ssh/root@ho/st",
      "#/ssh/root@h%C3%A9",
      `#/ssh/${"u".repeat(65)}@host`,
      `#/ssh/root@${"h".repeat(254)}`,
      `#/ssh/root@host#${"x".repeat(1100)}`,
    ]) {
      expect(parseSshLink(hash), hash).toBeNull();
    }
  });

  it("never throws on 20,000 random fragments and returns only bounded, printable fields", () => {
    const next = seededInts(12_005);
    const alphabet = [
      "#",
      "/",
      "ssh",
      "@",
      ":",
      "[",
      "]",
      "%",
      "%4",
      "%0A",
      "%E2%80%AE",
      "a",
      "Z",
      "9",
      "::",
      "\u0000",
      " ",
      "é",
      "\u202e",
    ];
    let accepted = 0;
    for (let i = 0; i < 20_000; i++) {
      const word = (max: number) => {
        let text = "";
        for (let n = next(max); n > 0; n--) text += alphabet[next(alphabet.length)];
        return text;
      };
      // Half shaped like a link (user@host:port), half anything.
      const hash =
        next(2) === 0
          ? `#/ssh/${word(6)}@${word(6)}${next(2) === 0 ? `:${next(70_000)}` : ""}`
          : `${next(3) === 0 ? "" : "#/ssh/"}${word(40)}`;
      const link = parseSshLink(hash);
      if (link === null) continue;
      accepted++;
      expect(link.user.length).toBeGreaterThan(0);
      expect(link.user.length).toBeLessThanOrEqual(64);
      expect(link.host.length).toBeGreaterThan(0);
      expect(link.host.length).toBeLessThanOrEqual(253);
      expect(link.user).not.toMatch(/[\s\p{Cc}\p{Cf}]/u);
      expect(link.host).toMatch(/^[A-Za-z0-9._:-]+$/);
      expect(Number.isInteger(link.port) && link.port >= 1 && link.port <= 65535).toBe(true);
    }
    // The generator reaches the accepting paths too, not only refusals.
    expect(accepted).toBeGreaterThan(100);
  });
});
