// The page's Content-Security-Policy (server/web/headers.ts): its relay WebSocket at its own
// host (ws: and wss:), and on a loopback name the other loopback names at the same port: the
// maps name the relay by the listen address (ws://127.0.0.1:PORT/relay) while the page lives at
// corridor.localhost for private URLs. Other hosts get only their own; a Host that is not a
// host gets 'self' alone.

import { describe, expect, it } from "vitest";
import { contentSecurityPolicy } from "../../server/web/headers.ts";

const connectSrc = (host: string | undefined) =>
  /connect-src ([^;]*)/.exec(contentSecurityPolicy(host))?.[1]?.split(" ") ?? [];

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
