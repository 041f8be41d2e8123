// A flood of bad hellos writes a bounded number of log lines, then one line with the count of
// those left out (issue 12, item 8); and the pieces of the Origin and Host rules: origins as
// the operator writes them, the page's own origins, Host header parsing under hostile input.

import { afterEach, describe, expect, it } from "vitest";
import { DEFAULT_LOG_LIMIT } from "../../server/log-limit.ts";
import {
  HostAllowList,
  hostOfHeader,
  pageOrigins,
  parseOrigin,
} from "../../server/relay/origins.ts";
import type { RelayServer } from "../../server/relay/relay-server.ts";
import { seededInts } from "../helpers/seeded.ts";
import {
  connectRaw,
  endTestRelay,
  nodeKeys,
  type RawClient,
  sendHello,
  startTestRelay,
} from "./raw-client.ts";

let relay: RelayServer | undefined;
const clients: RawClient[] = [];

afterEach(async () => {
  relay = await endTestRelay(relay, clients);
});

interface LogLine {
  event: string;
  of?: string;
  suppressed?: number;
}

describe("relay logs under a flood of bad hellos", () => {
  it("writes 20 lines of each kind per minute, then how many it left out", async () => {
    let now = Date.UTC(2026, 0, 1);
    let logs: string[];
    ({ relay, logs } = await startTestRelay({
      auth: { mode: "keys", allowed: [] },
      clock: () => now,
    }));
    const lines = () => logs.map((l) => JSON.parse(l) as LogLine);
    const count = (event: string) => lines().filter((l) => l.event === event).length;
    const bad = 60;
    for (let i = 0; i < bad; i++) {
      const c = await connectRaw(relay.url);
      await sendHello(c, await nodeKeys());
      expect((await c.closed).code).toBe(4401);
    }
    // Every close handled on the relay's side too (its "closed" lines belong to this window).
    await expect
      .poll(() => relay!.metrics.value("corridor_relay_connections"), { timeout: 5000 })
      .toBe(0);
    expect(await relay.metrics.value("corridor_relay_hellos_total", { result: "denied" })).toBe(
      bad,
    );
    expect(count("hello_refused")).toBe(DEFAULT_LOG_LIMIT.lines);
    expect(count("closed_unauthenticated")).toBe(DEFAULT_LOG_LIMIT.lines);
    expect(count("log_suppressed")).toBe(0);
    // The next one after the window says how many were left out, then is written itself.
    now += DEFAULT_LOG_LIMIT.windowMs;
    const c = await connectRaw(relay.url);
    await sendHello(c, await nodeKeys());
    await c.closed;
    const suppressed = lines().filter((l) => l.event === "log_suppressed");
    expect(suppressed.find((l) => l.of === "hello_refused/denied")?.suppressed).toBe(
      bad - DEFAULT_LOG_LIMIT.lines,
    );
    expect(count("hello_refused")).toBe(DEFAULT_LOG_LIMIT.lines + 1);
    // Closing writes what is still left out.
    await relay.close();
    const closedLeftOut = lines().find(
      (l) => l.event === "log_suppressed" && l.of === "closed_unauthenticated",
    );
    expect(closedLeftOut?.suppressed).toBe(bad - DEFAULT_LOG_LIMIT.lines);
    expect(await relay.metrics.value("corridor_relay_log_suppressed_total")).toBe(
      2 * (bad - DEFAULT_LOG_LIMIT.lines),
    );
    relay = undefined;
  });

  it("keeps refused upgrades within the budget too, per reason", async () => {
    let logs: string[];
    ({ relay, logs } = await startTestRelay({ logLimit: { lines: 3, windowMs: 3_600_000 } }));
    for (let i = 0; i < 10; i++) {
      await expect(connectRaw(relay.url, { origin: "https://evil.example" })).rejects.toThrow(
        "HTTP 403",
      );
      await expect(connectRaw(relay.url, { protocol: "chat" })).rejects.toThrow("HTTP 400");
    }
    const refused = logs
      .map((l) => JSON.parse(l) as LogLine & { reason?: string })
      .filter((l) => l.event === "upgrade_refused");
    expect(refused.map((l) => l.reason).sort()).toEqual([
      "origin",
      "origin",
      "origin",
      "subprotocol",
      "subprotocol",
      "subprotocol",
    ]);
    expect(
      await relay.metrics.value("corridor_relay_upgrades_rejected_total", { reason: "origin" }),
    ).toBe(10);
  });
});

describe("origins and Host names", () => {
  it("reads an origin as the operator writes it, and refuses anything else", () => {
    expect(parseOrigin("https://Corridor.Example/")).toBe("https://corridor.example");
    expect(parseOrigin("http://127.0.0.1:80")).toBe("http://127.0.0.1");
    expect(parseOrigin("https://[::1]:8443")).toBe("https://[::1]:8443");
    expect(() => parseOrigin("https://a.example/app")).toThrow(
      "origin 'https://a.example/app' must be scheme://host[:port] only, without a path",
    );
    expect(() => parseOrigin("https://a.example?x")).toThrow("without a path");
    expect(() => parseOrigin("https://u:p@a.example")).toThrow("must not carry a user name");
    expect(() => parseOrigin("null")).toThrow(
      "origin 'null' is not a URL like https://example.com",
    );
    expect(() => parseOrigin("file:///etc")).toThrow("must start with http:// or https://");
  });

  it("knows the page's own origins for the address it listens on", () => {
    expect(pageOrigins("127.0.0.1", 8080).sort()).toEqual([
      "http://127.0.0.1:8080",
      "http://[::1]:8080",
      "http://corridor.localhost:8080",
      "http://localhost:8080",
    ]);
    expect(pageOrigins("192.0.2.5", 80)).toEqual(["http://192.0.2.5"]);
    expect(pageOrigins("::1", 9000)).toContain("http://[::1]:9000");
    const any = pageOrigins("0.0.0.0", 8080);
    expect(any).toContain("http://127.0.0.1:8080");
    expect(any).toContain("http://corridor.localhost:8080");
    expect(any.every((o) => o.endsWith(":8080"))).toBe(true);
  });

  it("parses Host headers: 5,000 seeded hostile values never throw; names compared exactly", () => {
    const hosts = new HostAllowList(["relay.example.com", "Metrics.Example"]);
    for (const [value, ok] of [
      ["relay.example.com", true],
      ["RELAY.example.com.:8080", true],
      ["metrics.example", true],
      ["127.0.0.1:1", true],
      ["[2001:db8::1]:443", true],
      ["localhost", true],
      ["corridor.localhost:8080", true],
      ["x.corridor.localhost", false],
      ["relay.example.com.evil.example", false],
      ["evil.example", false],
      ["[2001:db8::1", false],
      ["127.0.0.1:http", false],
      ["", false],
      [undefined, false],
    ] as const) {
      expect(hosts.allows(value), String(value)).toBe(ok);
    }
    const next = seededInts(0x4057);
    const alphabet = "ab.-:[]0123456789%/ \u00e9\u0000";
    for (let i = 0; i < 5000; i++) {
      let value = "";
      for (let n = next(40); n > 0; n--) value += alphabet[next(alphabet.length)];
      const host = hostOfHeader(value);
      if (host !== undefined) expect(host).toMatch(/^[a-z0-9.:-]+$/);
      expect(typeof hosts.allows(value)).toBe("boolean");
    }
  });
});
