// The shared map client (worker/control/client.ts, as agents and the browser engine run it)
// against the map side over loopback WebSockets: an owner's ephemeral browser tab and
// ephemeral agent and a tagged server each see the others; a policy change removes peers from
// the maps; a dropped stream resumes with a delta, not a full map; an ephemeral node that
// leaves disappears from the others' maps two minutes later (server clock).

import { afterEach, expect, it } from "vitest";
import { nodeControlConnect } from "../../server/control/control-socket-node.ts";
import { nodeX25519 } from "../../server/crypto/x25519-node.ts";
import { ControlClient } from "../../worker/control/client.ts";
import type { ControlClientOptions } from "../../worker/control/client-options.ts";
import { generatePrivateKey } from "../../worker/wireguard/keys.ts";
import { waitUntil } from "../helpers/wait.ts";
import { type Harness, startHarness } from "./stream-harness.ts";

let h: Harness;
const clients: ControlClient[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await h.close();
});

function client(hostname: string, extra: Partial<ControlClientOptions> = {}): ControlClient {
  const c = new ControlClient({
    url: h.url,
    privateKey: generatePrivateKey(),
    core: h.core,
    x25519: nodeX25519,
    connect: nodeControlConnect(),
    hostinfo: { hostname, os: "linux" },
    backoffBaseMs: 10,
    backoffMaxMs: 50,
    onMap: () => {},
    ...extra,
  });
  clients.push(c);
  return c;
}

const peerNames = (c: ControlClient) => [...c.map.peers.values()].map((p) => p.name).sort();

it("browser, ephemeral agent and tagged server: maps, policy change, resume, ephemeral removal", async () => {
  h = await startHarness({ keepaliveMs: 3600_000 });
  const tab = client("tab", {
    ephemeral: true,
    connect: nodeControlConnect({
      headers: { Origin: h.origin, Cookie: await h.cookie(h.alice.id) },
    }),
  });
  const agent = client("agent", {
    authKey: await h.authKey({ userId: h.alice.id, ephemeral: true }),
  });
  const server = client("server", {
    authKey: await h.authKey({ userId: h.alice.id, tags: ["tag:server"] }),
  });
  await Promise.all([tab.start(), agent.start(), server.start()]);
  await waitUntil(
    () =>
      peerNames(tab).join() === "agent,server" &&
      peerNames(agent).join() === "server,tab" &&
      peerNames(server).join() === "agent,tab",
    "every node sees the two others",
  );
  expect(tab.map.self.ephemeral).toBe(true);
  expect(server.map.self).toMatchObject({ tags: ["tag:server"], user: null, keyExpiry: null });

  // The owner's nodes reach only each other now: the server drops out of both maps.
  await h.store.setPolicy(
    `{ "acls": [ { "action": "accept", "src": ["autogroup:member"], "dst": ["autogroup:self:*"] } ] }`,
    h.alice.id,
  );
  await h.control.meshChanges.policyChanged();
  await waitUntil(
    () => peerNames(server).length === 0 && peerNames(tab).join() === "agent",
    "the server leaves the maps",
  );

  // A dropped stream (server draining) resumes with what was missed, as a delta.
  const agentId = agent.map.self.id;
  h.control.hub.disconnect(agentId, 1012, "server restarting");
  await waitUntil(() => agent.stats.resumedWithDelta === 1, "the agent resumed with a delta");
  expect(agent.stats.fullMaps).toBe(1);
  expect(agent.stats.sequenceErrors).toBe(0);

  // The ephemeral agent leaves: two minutes later it is gone from the tab's map and the store.
  agent.close();
  await waitUntil(() => h.control.hub.removalPending(agentId), "the agent's removal is pending");
  h.clock.advance(120_000);
  await waitUntil(() => peerNames(tab).length === 0, "the agent leaves the tab's map");
  expect(await h.store.nodeById(agentId)).toBeNull();
  expect(tab.stats.sequenceErrors).toBe(0);
});
