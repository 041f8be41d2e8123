// Several relays on the control side (issue 18): the map's token names "*" when the map lists
// several relays (and the relay's id with one), and real relays of both ids accept a node's
// map token; a home relay a node reports on its stream is stored and fanned out only when the
// map lists it: any other id is ignored (never reaches a peer), counted, and logged with the
// node once per stream.

import { Writable } from "node:stream";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { type ControlOptions, startControl } from "../../server/control/index.ts";
import { openSqliteStore } from "../../server/control/store/sqlite.ts";
import type { RelayServer } from "../../server/relay/relay-server.ts";
import type { RelayInfo } from "../../worker/control/types.ts";
import { keyFromBase64 } from "../../worker/wireguard/keys.ts";
import { connectRaw, type RawClient, sendHello, startTestRelay } from "../relay/raw-client.ts";
import { type Harness, ManualClock, RawNode, startHarness } from "./stream-harness.ts";

const KEY = `${"A".repeat(43)}=`;
const TWO: RelayInfo[] = [
  { id: "eu", region: "eu-west", url: "ws://127.0.0.1:1/relay", key: KEY },
  { id: "us", region: "us-east", url: "ws://127.0.0.1:2/relay", key: KEY },
];

let h: Harness | undefined;
const nodes: RawNode[] = [];
const relays: RelayServer[] = [];
const clients: RawClient[] = [];
afterEach(async () => {
  for (const node of nodes.splice(0)) node.close();
  for (const c of clients.splice(0)) c.ws.terminate();
  for (const r of relays.splice(0)) await r.close();
  await h?.close();
  h = undefined;
});

async function start(options: Partial<ControlOptions> = {}): Promise<Harness> {
  // Real time: the real relays below check the tokens' expiry against their own clock.
  h = await startHarness({
    keepaliveMs: 100 * 3600_000,
    clock: new ManualClock(Date.now()),
    ...options,
  });
  return h;
}

async function join(harness: Harness): Promise<[RawNode, Awaited<ReturnType<RawNode["expect"]>>]> {
  const node = await RawNode.create(harness);
  nodes.push(node);
  await node.login({ authKey: await harness.authKey({ userId: harness.bob.id }) });
  return [node, await node.expect("map")];
}

function tokenRelay(token: string): unknown {
  const head = token.slice(0, token.indexOf("."));
  return (JSON.parse(Buffer.from(head, "base64url").toString()) as { relay: unknown }).relay;
}

describe("the map's relay token", () => {
  it('names "*" with two relays, and real relays "eu" and "us" both accept it', async () => {
    const harness = await start({ relays: TWO });
    const [node, map] = await join(harness);
    if (map.type !== "map") throw new Error("no map");
    expect(map.map.relays.map((r) => [r.id, r.region])).toEqual([
      ["eu", "eu-west"],
      ["us", "us-east"],
    ]);
    expect(tokenRelay(map.map.token.token)).toBe("*");
    const keys = { privateKey: node.privateKey, publicKey: keyFromBase64(node.publicKey) };
    for (const relayId of ["eu", "us"]) {
      const { relay } = await startTestRelay({
        relayId,
        auth: { mode: "token", controlPublicKey: harness.control.tokenPublicKey },
      });
      relays.push(relay);
      const client = await connectRaw(relay.url);
      clients.push(client);
      await sendHello(client, keys, { token: map.map.token.token });
      expect(JSON.parse((await client.next("welcome")).json)).toMatchObject({ relay: relayId });
    }
  });

  it("names the relay's id with one relay (as before)", async () => {
    const harness = await start();
    const [, map] = await join(harness);
    if (map.type !== "map") throw new Error("no map");
    expect(tokenRelay(map.map.token.token)).toBe("default");
  });

  it("refuses two relays with one id", async () => {
    const store = await openSqliteStore(":memory:");
    try {
      await expect(
        startControl({
          store,
          relays: [TWO[0]!, { ...TWO[1]!, id: "eu" }],
          baseUrl: "http://127.0.0.1:1/",
        }),
      ).rejects.toThrow("two relays have the same id");
    } finally {
      await store.close();
    }
  });
});

describe("reported home relays", () => {
  it("stores and fans out a listed id; ignores, counts and logs another", async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const harness = await start({ relays: TWO, log: pino({ level: "warn" }, sink) });
    const [b1] = await join(harness);
    const [b2, m2] = await join(harness);
    if (m2.type !== "map") throw new Error("no map");
    const id = m2.map.self.id;
    await b1.expect("delta"); // b2 joined

    b2.send({ type: "update", homeRelay: "us" });
    expect((await b1.expect("delta")).patches).toEqual([{ id, homeRelay: "us" }]);

    // Not in the map: the endpoints of the same update still count, the home relay does not.
    b2.send({ type: "update", endpoints: ["192.0.2.7:41641"], homeRelay: "mars" });
    expect((await b1.expect("delta")).patches).toEqual([{ id, endpoints: ["192.0.2.7:41641"] }]);
    b2.send({ type: "update", homeRelay: "x".repeat(64) });
    b2.send({ type: "update", homeRelay: "eu" });
    // The next delta is the listed one: the second unknown id reached nobody.
    expect((await b1.expect("delta")).patches).toEqual([{ id, homeRelay: "eu" }]);
    expect(harness.control.mapper.volatile.get(id).homeRelay).toBe("eu");
    expect(harness.control.stream.homeRelays?.ignored).toBe(2);

    const warned = lines
      .map((line) => JSON.parse(line) as { msg: string; node?: number; homeRelay?: string })
      .filter((l) => l.msg === "update: home relay not in the map, ignored");
    // Once per stream, naming the node and the id.
    expect(warned.map((l) => [l.node, l.homeRelay])).toEqual([[id, "mars"]]);

    // "" (no home relay) is not an id to check: it clears the node's.
    b2.send({ type: "update", homeRelay: "" });
    expect((await b1.expect("delta")).patches).toEqual([{ id, homeRelay: "" }]);
    expect(harness.control.stream.homeRelays?.ignored).toBe(2);
  });
});
