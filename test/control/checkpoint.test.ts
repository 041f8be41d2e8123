// Map sessions across a control server restart (server/control/checkpoint.ts): two agents on
// the real map side; the server stops (1012) and a new one starts on the same store and port.
// An agent that comes back resumes with a delta (no full map) holding the peers' current
// volatile state (a peer that did not come back is offline); when the durable state changed
// while the server was down (a policy written), or the checkpoint is damaged, every agent gets
// a full map instead; a checkpoint is good for one start only.

import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { issueAuthKey } from "../../server/control/auth/authkeys.ts";
import { nodeControlConnect } from "../../server/control/control-socket-node.ts";
import { type Control, type ControlOptions, startControl } from "../../server/control/index.ts";
import { openSqliteStore } from "../../server/control/store/sqlite.ts";
import type { Store } from "../../server/control/store/types.ts";
import { ControlClient } from "../../worker/control/client.ts";
import { type CryptoCore, initCrypto } from "../../worker/crypto/index.ts";
import { nobleX25519 } from "../../worker/crypto/x25519.ts";
import { FakeClock } from "../../worker/wireguard/clock.ts";
import { generatePrivateKey } from "../../worker/wireguard/keys.ts";
import { waitUntil } from "../helpers/wait.ts";

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

interface Rig {
  store: Store;
  control: () => Control;
  url: string;
  core: CryptoCore;
  authKey: string;
  /** Stops the control server (streams closed with 1012, checkpoint written). */
  stop(): Promise<void>;
  /** Starts a new control server on the same store and port. */
  start(): Promise<void>;
}

async function rig(): Promise<Rig> {
  const store = await openSqliteStore(":memory:");
  const owner = await store.createUser({
    issuer: "corridor:local",
    subject: "owner",
    email: "owner@example.com",
    name: "Owner",
    role: "owner",
    lastLoginAt: null,
  });
  const http: Server = createServer((_req, res) => res.writeHead(404).end());
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  const port = (http.address() as AddressInfo).port;
  const core = await initCrypto();
  const options: ControlOptions = {
    store,
    relays: [
      {
        id: "default",
        region: "local",
        url: `ws://127.0.0.1:${port}/relay`,
        key: `${"A".repeat(43)}=`,
      },
    ],
    baseUrl: `http://127.0.0.1:${port}/`,
    crypto: core,
  };
  let control: Control | undefined = await startControl(options);
  http.on("upgrade", (req, socket, head) => {
    if (control === undefined) socket.destroy();
    else control.handleUpgrade(req, socket, head);
  });
  const issued = await store.transaction((tx) =>
    issueAuthKey(tx, {
      userId: owner.id,
      reusable: true,
      ephemeral: false,
      tags: [],
      expiresAt: Date.now() + 3600_000,
    }),
  );
  const r: Rig = {
    store,
    control: () => control!,
    url: `ws://127.0.0.1:${port}/control`,
    core,
    authKey: issued.key,
    async stop() {
      const c = control;
      control = undefined;
      await c?.close();
    },
    async start() {
      control = await startControl(options);
    },
  };
  cleanup.push(async () => {
    await r.stop();
    await new Promise<void>((resolve) => http.close(() => resolve()));
    http.closeAllConnections();
    await store.close();
  });
  return r;
}

function agent(r: Rig, hostname: string): { client: ControlClient; clock: FakeClock } {
  const clock = new FakeClock();
  const client = new ControlClient({
    url: r.url,
    privateKey: generatePrivateKey(),
    core: r.core,
    x25519: nobleX25519,
    connect: nodeControlConnect(),
    hostinfo: { hostname, os: "linux" },
    authKey: r.authKey,
    clock,
    onMap: () => {},
  });
  cleanup.push(() => client.close());
  return { client, clock };
}

/** Lets `a` reconnect after the server went away; resolves once it streams again. */
async function comeBack(a: { client: ControlClient; clock: FakeClock }): Promise<void> {
  await waitUntil(() => a.client.state === "backoff", "client in backoff");
  a.clock.advance(a.client.lastRetryDelayMs!);
  await waitUntil(() => a.client.state === "ready", "client streaming again");
}

describe("map sessions across a control server restart", () => {
  it("an agent resumes with a delta; a peer that did not come back is offline in it", async () => {
    const r = await rig();
    const a = agent(r, "alpha");
    const b = agent(r, "beta");
    await a.client.start();
    await b.client.start();
    const bId = b.client.map.self.id;
    b.client.update({ endpoints: ["192.0.2.7:41641"] });
    await waitUntil(() => a.client.map.peerById(bId)?.endpoints.length === 1, "beta's endpoint");
    expect(a.client.map.peerById(bId)?.online).toBe(true);

    await r.stop();
    b.client.close();
    expect((await r.store.transaction((tx) => tx.getPolicy())) === null).toBe(true);
    await r.start();
    await comeBack(a);
    expect(a.client.stats.fullMaps).toBe(1);
    expect(a.client.stats.resumedWithDelta).toBe(1);
    // The delta carried the volatile state the restart reset: beta is offline, alpha's peer set
    // and names are intact.
    expect(a.client.map.peerById(bId)?.online).toBe(false);
    expect(a.client.map.resolve("beta")).toEqual(b.client.map.self.addresses);

    // The new server's changes follow as deltas on the resumed session.
    const c = agent(r, "gamma");
    await c.client.start();
    const cId = c.client.map.self.id;
    await waitUntil(() => a.client.map.peerById(cId) !== undefined, "gamma at alpha");
    expect(a.client.stats.fullMaps).toBe(1);
  });

  it("a policy written while the server was down, or a damaged checkpoint, means full maps", async () => {
    const r = await rig();
    const a = agent(r, "alpha");
    await a.client.start();
    await r.stop();
    await r.store.setPolicy(
      '{"acls": [{"action": "accept", "src": ["*"], "dst": ["*:22"]}]}',
      null,
    );
    await r.start();
    await comeBack(a);
    expect(a.client.stats.fullMaps).toBe(2);
    expect(a.client.stats.resumedWithDelta).toBe(0);

    await r.stop();
    await r.store.putMapCheckpoint('{"v": 1, "digest": "nope"}');
    await r.start();
    await comeBack(a);
    expect(a.client.stats.fullMaps).toBe(3);
  });

  it("a checkpoint serves one start: after a crash (no new checkpoint) agents get full maps", async () => {
    const r = await rig();
    const a = agent(r, "alpha");
    await a.client.start();
    await r.stop();
    expect(await r.store.transaction(async (tx) => (await tx.takeMapCheckpoint()) !== null)).toBe(
      true,
    );
    // Taken above, as a start takes it: the next start finds none.
    await r.start();
    await comeBack(a);
    expect(a.client.stats.fullMaps).toBe(2);
    expect(a.client.stats.resumedWithDelta).toBe(0);
  });
});
