// `corridor agent`'s own parsers: the --server URL (a base URL, or one already ending in
// /control; any other path, a query, credentials or another scheme fail naming the expected
// form) and --tags. Both get seeded random and mutated input (fuzz): each text is accepted with
// a well-formed result or refused with an Error, nothing else.

import { describe, expect, it, vi } from "vitest";
import {
  AUTH_KEY_VARIABLE,
  agentCommand,
  controlStreamUrl,
  parseTags,
  takeAuthKeyVariable,
} from "../../cli/agent.ts";
import { UsageError } from "../../cli/args.ts";
import { seededInts } from "../helpers/seeded.ts";

describe("--server URL", () => {
  it("maps a base URL to its map stream, keeping scheme security", () => {
    expect(controlStreamUrl("http://127.0.0.1:8080")).toEqual({
      base: "http://127.0.0.1:8080",
      control: "ws://127.0.0.1:8080/control",
    });
    expect(controlStreamUrl("https://corridor.example.com/")).toEqual({
      base: "https://corridor.example.com",
      control: "wss://corridor.example.com/control",
    });
    expect(controlStreamUrl("wss://c.example.com/control")).toEqual({
      base: "https://c.example.com",
      control: "wss://c.example.com/control",
    });
    expect(controlStreamUrl("http://[::1]:9/control/").control).toBe("ws://[::1]:9/control");
  });

  it("refuses other paths, queries, credentials and schemes, naming the expected form", () => {
    const expected =
      /expected the control server's base URL, like https:\/\/corridor\.example\.com/;
    for (const bad of [
      "http://127.0.0.1:8080/relay",
      "http://127.0.0.1:8080/api/v1",
      "https://c.example.com/?x=1",
      "https://c.example.com/#frag",
      "https://user:pw@c.example.com/",
      "ftp://c.example.com/",
      "c.example.com",
      "",
    ]) {
      expect(() => controlStreamUrl(bad), bad).toThrow(expected);
    }
    expect(() => controlStreamUrl(`https://c.example.com/${"a".repeat(3000)}`)).toThrow(
      /longer than 2048/,
    );
  });

  // 5,000 inputs: random printable strings, and valid URLs with characters replaced.
  it("5,000 random and mutated URLs: a ws(s) .../control URL or an Error", () => {
    const int = seededInts(0xa9e47);
    const alphabet = "hpstw:/.[]@?#%-_~0123456789abcdefABCDEF:controlrelay \t\u0000\u00e9";
    const seeds = ["http://127.0.0.1:8080", "https://c.example.com/control", "ws://[::1]:1/"];
    for (let i = 0; i < 5000; i++) {
      let text: string;
      if (i % 2 === 0) {
        text = Array.from({ length: int(60) }, () => alphabet[int(alphabet.length)]).join("");
      } else {
        const chars = [...seeds[int(seeds.length)]!];
        for (let k = 0, n = 1 + int(3); k < n; k++) {
          chars[int(chars.length)] = alphabet[int(alphabet.length)]!;
        }
        text = chars.join("");
      }
      try {
        const { base, control } = controlStreamUrl(text);
        expect(control).toMatch(/^wss?:\/\/[^/?#@]+\/control$/);
        expect(base).toMatch(/^https?:\/\/[^/?#@]+$/);
        expect(new URL(control).host).toBe(new URL(base).host);
      } catch (error) {
        expect(error, text).toBeInstanceOf(Error);
        expect((error as Error).message).toMatch(/^--server/);
      }
    }
  });
});

describe("--tags", () => {
  it("splits, trims and de-duplicates tag:NAME entries; refuses anything else by name", () => {
    expect(parseTags("tag:server, tag:ci,tag:server")).toEqual(["tag:server", "tag:ci"]);
    expect(() => parseTags("tag:server,server")).toThrow("'server' is not a tag");
    expect(() => parseTags("")).toThrow(UsageError);
    expect(() => parseTags(Array.from({ length: 65 }, (_, i) => `tag:t${i}`).join(","))).toThrow(
      /more than 64 tags/,
    );
  });

  it("3,000 random texts: tags of the form tag:NAME, or a UsageError", () => {
    const int = seededInts(0x7a65);
    const alphabet = "tag:,-_ aZ09\n\u0000é";
    for (let i = 0; i < 3000; i++) {
      const text = Array.from({ length: int(40) }, () => alphabet[int(alphabet.length)]).join("");
      try {
        for (const tag of parseTags(text)) expect(tag).toMatch(/^tag:[A-Za-z0-9][\w-]*$/);
      } catch (error) {
        expect(error, JSON.stringify(text)).toBeInstanceOf(UsageError);
      }
    }
  });
});

describe("$CORRIDOR_AUTH_KEY", () => {
  it("is removed from the environment once read, so no child inherits it", async () => {
    const env: NodeJS.ProcessEnv = { [AUTH_KEY_VARIABLE]: "tskey-auth-x", OTHER: "kept" };
    expect(takeAuthKeyVariable(env)).toBe("tskey-auth-x");
    expect(env).toEqual({ OTHER: "kept" });

    // Through the command itself: a usage error after the key was read (--udp-port) leaves
    // process.env without it.
    const saved = process.env[AUTH_KEY_VARIABLE];
    const quiet = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    try {
      process.env[AUTH_KEY_VARIABLE] = "tskey-auth-secret";
      const code = await agentCommand([
        ...["--server", "http://127.0.0.1:9", "--udp-port", "not-a-port"],
      ]);
      expect(code).not.toBe(0);
      expect(AUTH_KEY_VARIABLE in process.env).toBe(false);
    } finally {
      quiet.mockRestore();
      if (saved === undefined) delete process.env[AUTH_KEY_VARIABLE];
      else process.env[AUTH_KEY_VARIABLE] = saved;
    }
  });
});
