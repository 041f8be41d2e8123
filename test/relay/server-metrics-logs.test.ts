// The relay on the shared server plumbing (issue 13, item 10): its metrics on a registry that
// other parts (the control server) share, so one /metrics shows them all; its logs through a
// logger those parts share, as the child `component: "relay"`.

import { afterEach, describe, expect, it } from "vitest";
import { createLogger } from "../../server/log.ts";
import { MetricsRegistry } from "../../server/metrics/registry.ts";
import type { RelayServer } from "../../server/relay/relay-server.ts";
import { startRelay } from "../../server/relay/relay-server.ts";
import type { UdpBridgeHook } from "../../server/relay/udp-bridge-hook.ts";
import { connectAuthed, nodeKeys, type RawClient, startTestRelay } from "./raw-client.ts";

const relays: RelayServer[] = [];
const clients: RawClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.ws.terminate();
  for (const relay of relays.splice(0)) await relay.close();
});

async function scrape(relay: RelayServer): Promise<{ status: number; type: string; text: string }> {
  const res = await fetch(relay.url.replace("ws://", "http://").replace("/relay", "/metrics"));
  return {
    status: res.status,
    type: res.headers.get("content-type") ?? "",
    text: await res.text(),
  };
}

describe("relay metrics on a shared registry", () => {
  it("shows the relay's, another part's and the process metrics on one /metrics", async () => {
    const metrics = new MetricsRegistry();
    const nodes = metrics.gauge({ name: "corridor_control_nodes", help: "Nodes." });
    nodes.set(12);
    const relay = await startRelay({
      auth: { mode: "open" },
      relayId: "shared",
      metrics,
      log: () => {},
    });
    relays.push(relay);
    clients.push(await connectAuthed(relay.url, await nodeKeys()));
    const { status, type, text } = await scrape(relay);
    expect([status, type]).toEqual([200, "text/plain; version=0.0.4; charset=utf-8"]);
    expect(text).toContain("corridor_control_nodes 12\n");
    expect(text).toContain('corridor_relay_hellos_total{result="ok"} 1\n');
    expect(text).toContain("corridor_relay_clients 1\n");
    expect(text).toMatch(/\nprocess_cpu_seconds_total \d/);
    // The same numbers through the typed accessor and through the registry.
    expect(await relay.metrics.value("corridor_relay_hellos_total", { result: "ok" })).toBe(1);
    expect(await metrics.value("corridor_relay_clients")).toBe(1);
    expect(relay.metrics.registry).toBe(metrics);

    // One relay per registry: a second would count into the first one's metrics.
    await expect(
      startRelay({ auth: { mode: "open" }, relayId: "second", metrics, log: () => {} }),
    ).rejects.toThrow(
      "A metric with the name corridor_relay_connections has already been registered.",
    );
  });

  it("answers 500 when a part's collector fails, and keeps serving", async () => {
    const metrics = new MetricsRegistry({ processMetrics: false });
    let broken = true;
    metrics.gauge({
      name: "corridor_control_database_up",
      help: "Whether the database answers.",
      collect() {
        if (broken) throw new Error("database gone");
        this.set(1);
      },
    });
    const relay = await startRelay({
      auth: { mode: "open" },
      relayId: "broken",
      metrics,
      log: () => {},
    });
    relays.push(relay);
    expect(await scrape(relay)).toMatchObject({ status: 500, text: "metrics unavailable\n" });
    broken = false;
    const after = await scrape(relay);
    expect(after.status).toBe(200);
    expect(after.text).toContain("corridor_control_database_up 1\n");
    expect(
      (await fetch(relay.url.replace("ws://", "http://").replace("/relay", "/healthz"))).status,
    ).toBe(200);
  });

  it("shows 0 UDP sockets when the bridge's count fails or is nonsense, instead of failing", async () => {
    for (const sockets of [
      () => {
        throw new Error("bridge broken");
      },
      () => Number.NaN,
      () => -3,
    ]) {
      const bridge: UdpBridgeHook = {
        send: () => false,
        closeClient: () => {},
        close: () => {},
        sockets,
        refusals: () => ({ notAllowed: 2, special: Number.POSITIVE_INFINITY }),
      };
      const { relay } = await startTestRelay({ udpBridge: bridge });
      relays.push(relay);
      const { status, text } = await scrape(relay);
      expect(status).toBe(200);
      expect(text).toContain("corridor_relay_udp_sockets 0\n");
      expect(text).toContain('corridor_relay_udp_refused_total{reason="notAllowed"} 2\n');
      expect(text).toContain('corridor_relay_udp_refused_total{reason="special"} 0\n');
    }
  });
});

describe("relay logs through a shared logger", () => {
  it("logs as the child component relay of the logger it is given", async () => {
    const lines: string[] = [];
    const logger = createLogger({ sink: (line) => lines.push(line), level: "info" });
    logger.child({ component: "control" }).info("listening");
    const relay = await startRelay({ auth: { mode: "open" }, relayId: "logged", logger });
    relays.push(relay);
    clients.push(await connectAuthed(relay.url, await nodeKeys()));
    const events = lines.map((l) => JSON.parse(l) as { component: string; event: string });
    expect(events.slice(0, 3).map((e) => [e.component, e.event])).toEqual([
      ["control", "listening"],
      ["relay", "listening"],
      ["relay", "hello"],
    ]);
  });

  it("refuses a sink and a logger together", async () => {
    await expect(
      startRelay({
        auth: { mode: "open" },
        relayId: "both",
        log: () => {},
        logger: createLogger({ sink: () => {} }),
      }),
    ).rejects.toThrow("relay: give log (a sink) or logger, not both");
  });
});
