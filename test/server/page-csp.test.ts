// The page's Content-Security-Policy (server/web/headers.ts): its relay WebSocket at its own
// host (ws: and wss:), and on a loopback name the other loopback names at the same port: the
// maps name the relay by the listen address (ws://127.0.0.1:PORT/relay) while the page lives at
// corridor.localhost for private URLs. Other hosts get only their own; a Host that is not a
// host gets 'self' alone. The maps' other relays (`serve --relay-url`) are added by scheme and
// host (relayConnectSources); test/e2e/relay-csp.test.ts shows Chromium applying both.

import { describe, expect, it } from "vitest";
import { contentSecurityPolicy, relayConnectSources } from "../../server/web/headers.ts";
import { seededInts } from "../helpers/seeded.ts";

const connectSrc = (host: string | undefined, relaySources: string[] = []) =>
  /connect-src ([^;]*)/.exec(contentSecurityPolicy(host, relaySources))?.[1]?.split(" ") ?? [];

describe("the page's connect-src", () => {
  it("at corridor.localhost: the relay by its listen address too", () => {
    expect(connectSrc("corridor.localhost:8080")).toEqual([
      "'self'",
      "ws://corridor.localhost:8080",
      "wss://corridor.localhost:8080",
      "ws://127.0.0.1:8080",
      "ws://localhost:8080",
    ]);
  });

  it("at 127.0.0.1 and [::1]: the other loopback names at that port", () => {
    expect(connectSrc("127.0.0.1:9000")).toContain("ws://corridor.localhost:9000");
    // No IPv6 literal among the siblings: CSP's grammar has none (Chromium logs an error).
    expect(connectSrc("127.0.0.1:9000").some((s) => s.includes("["))).toBe(false);
    expect(connectSrc("[::1]:9000")).toContain("ws://127.0.0.1:9000");
  });

  it("elsewhere its own host only; a hostile Host gets 'self' alone", () => {
    expect(connectSrc("corridor.example.com")).toEqual([
      "'self'",
      "ws://corridor.example.com",
      "wss://corridor.example.com",
    ]);
    expect(connectSrc("app.corridor.localhost:8080")).toEqual([
      "'self'",
      "ws://app.corridor.localhost:8080",
      "wss://app.corridor.localhost:8080",
    ]);
    for (const hostile of ["corridor.localhost:8080 ws://evil", "a;b", "x'y", undefined]) {
      expect(connectSrc(hostile)).toEqual(["'self'"]);
    }
  });
});

describe("the maps' other relays in connect-src", () => {
  it("names each by scheme and host, once, after the page's own", () => {
    const { sources, unusable } = relayConnectSources([
      "wss://relay-2.example.net/relay",
      "wss://RELAY-2.example.net:443/relay", // the same origin (default port, case)
      "ws://10.0.0.7:8081/relay",
      "wss://relay-3.example.net:8443/other/path",
    ]);
    expect(unusable).toEqual([]);
    expect(sources).toEqual([
      "wss://relay-2.example.net",
      "ws://10.0.0.7:8081",
      "wss://relay-3.example.net:8443",
    ]);
    expect(connectSrc("corridor.example.com", sources)).toEqual([
      "'self'",
      "ws://corridor.example.com",
      "wss://corridor.example.com",
      ...sources,
    ]);
    // A relay at the page's own host is not named twice.
    expect(connectSrc("corridor.example.com", ["wss://corridor.example.com"])).toEqual([
      "'self'",
      "ws://corridor.example.com",
      "wss://corridor.example.com",
    ]);
    // A hostile Host header loses the page's own sources, never the relays'.
    expect(connectSrc("a;b", sources)).toEqual(["'self'", ...sources]);
  });

  it("leaves out, and reports, URLs a CSP source cannot name", () => {
    const urls = [
      "wss://[2001:db8::1]/relay", // IPv6 literal: CSP has no grammar for it
      "https://relay.example.net/relay", // not a WebSocket URL
      "not a url",
      "wss://relay.example.net./relay", // a trailing dot: none in CSP's grammar either
      "wss://relay.example.net/relay",
    ];
    expect(relayConnectSources(urls)).toEqual({
      sources: ["wss://relay.example.net"],
      unusable: urls.slice(0, 4),
    });
    // A source is checked again where the policy is written: no caller can add syntax.
    expect(connectSrc("corridor.example.com", ["wss://x; script-src *", "*", "wss://ok"])).toEqual([
      "'self'",
      "ws://corridor.example.com",
      "wss://corridor.example.com",
      "wss://ok",
    ]);
  });

  it("never lets a URL add a directive or a source of another kind (fuzzed)", () => {
    const pick = seededInts(0x5c5);
    // ASCII syntax, and non-ASCII letters and a full stop (the URL parser maps IDN to punycode).
    const alphabet = "wsw:/.;' *[]%@?#-_:0123456789abcdefABCDEF\n\t\"éßÜ。";
    const directives = contentSecurityPolicy("corridor.example.com").split(";").length;
    let named = 0;
    for (let i = 0; i < 20_000; i++) {
      const length = pick(40);
      let tail = "";
      for (let j = 0; j < length; j++) tail += alphabet[pick(alphabet.length)];
      const url = ["ws://", "wss://", ""][pick(3)] + tail;
      const { sources, unusable } = relayConnectSources([url]);
      expect(sources.length + unusable.length).toBe(1);
      for (const source of sources) {
        named++;
        expect(source).toMatch(/^wss?:\/\/[a-z0-9.-]+(?::[0-9]{1,5})?$/);
        const policy = contentSecurityPolicy("corridor.example.com", sources);
        expect(policy.split(";").length).toBe(directives);
      }
    }
    // 20,000 inputs tried; some must have been named, or the fuzz proves nothing.
    expect(named).toBeGreaterThan(100);
  });
});
