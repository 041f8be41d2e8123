// The load rig's relay measurements (a rig started with `relays`): every joined node connects
// to its home relay (node i to relay i mod relays, half on each of two) with the real hello and
// its map's token, and reports it as homeRelay; then a sample of pairs (client and a node of its
// group: half with the same home relay, half across relays) exchange packets through the
// receiver's home relay, as the data plane would send them (relay-plane.ts): round trips of small
// packets, then a burst each, all pairs at once, and the relays' RSS per connection.

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ed25519 } from "@noble/curves/ed25519.js";
import type { RelayInfo } from "../../worker/control/types.ts";
import { ChildRpc } from "./child-rpc.ts";
import type {
  RelayPair,
  RelaySample,
  RelayServerReady,
  RelayServerReply,
  RelayServerRequest,
  RelayServerSetup,
} from "./protocol.ts";
import type { LoadRig } from "./rig.ts";
import { groupMembers, groupOf, isServer } from "./topology.ts";

const here = fileURLToPath(new URL(".", import.meta.url));

/**
 * Starts `count` relay children (relay-server.ts, ids relay-0, relay-1, ...) that verify tokens
 * signed with `tokenSigningKey` (an Ed25519 seed); pushes each child onto `children` and each
 * relay as the maps list it onto `infos` (so the caller can stop what started if one fails).
 */
export async function startRelays(
  count: number,
  tokenSigningKey: Uint8Array,
  children: ChildRpc<RelayServerRequest, RelayServerReply>[],
  infos: RelayInfo[],
): Promise<void> {
  const controlPublicKey = Buffer.from(ed25519.getPublicKey(tokenSigningKey)).toString("base64");
  for (let k = 0; k < count; k++) {
    const setup: RelayServerSetup = { relayId: `relay-${k}`, controlPublicKey };
    const started = await ChildRpc.start<RelayServerRequest, RelayServerReply, RelayServerReady>(
      join(here, "relay-server.ts"),
      [JSON.stringify(setup)],
      `relay ${k}`,
      true,
    );
    children.push(started.rpc);
    infos.push({
      id: setup.relayId,
      region: "local",
      url: started.ready.url,
      key: started.ready.key,
    });
  }
}

/** What connecting every node came to. */
export interface RelayConnected {
  /** Nodes welcomed by their home relay. */
  connected: number;
  /** From the first connection until every node was welcomed. */
  seconds: number;
  /**
   * From the first home relay reports (each worker reports once its nodes were welcomed) until
   * every map held every peer's home relay.
   */
  homesSeconds: number;
  /** Nodes whose map lacked a peer's home relay after the hang guard (why). */
  homesMissing: string[];
  /** Nodes that could not connect (why). */
  failed: string[];
}

/**
 * Connects every joined node to its home relay (`concurrency` at once per worker); resolves when
 * each was welcomed or failed and every map held its peers' home relays (or the hang guard
 * passed).
 */
export async function connectRelays(rig: LoadRig, concurrency: number): Promise<RelayConnected> {
  const n = rig.workers.length;
  const t0 = Date.now();
  const replies = await Promise.all(
    rig.workers.map((w, k) =>
      w.call({
        op: "relayConnect",
        indices: [...rig.ids.keys()].filter((i) => i % n === k),
        relays: rig.relays,
        concurrency,
        hangAfterMs: rig.hangAfterMs,
      }),
    ),
  );
  return {
    connected: replies.reduce((sum, r) => sum + r.connected, 0),
    seconds: (Math.max(...replies.map((r) => r.linkedAt)) - t0) / 1000,
    homesSeconds:
      (Math.max(...replies.map((r) => r.homesAt)) - Math.min(...replies.map((r) => r.linkedAt))) /
      1000,
    failed: replies.flatMap((r) => r.failed),
    homesMissing: replies.flatMap((r) => r.homesMissing),
  };
}

/**
 * Up to `max` sender-receiver pairs, distinct nodes, within clients' groups (each sees the
 * other): per group, its first client to its third (same home relay, as homes alternate) and its
 * second to its fifth (the other relay).
 */
export function relayPairs(rig: LoadRig, max: number): RelayPair[] {
  const t = rig.topology;
  const pairs: RelayPair[] = [];
  for (let group = 0; pairs.length < max; group++) {
    const members = groupMembers(t, group);
    if (members.length === 0) break;
    if (members.length < 5 || isServer(t, members[0]!) || groupOf(t, members[0]!) !== group)
      continue;
    for (const [s, r] of [
      [0, 2],
      [1, 4],
    ] as const) {
      const receiverId = rig.ids.get(members[r]!);
      if (receiverId === undefined || !rig.ids.has(members[s]!) || pairs.length >= max) continue;
      pairs.push({ sender: members[s]!, receiver: members[r]!, receiverId });
    }
  }
  return pairs;
}

/** The sample's outcome over every worker. */
export interface RelayForwarding {
  pairs: number;
  crossed: number;
  rtts: number[];
  /** Burst packets and bytes counted by the receivers, and the bursts' wall time (s). */
  packets: number;
  bytes: number;
  burstSeconds: number;
  problems: string[];
}

/** Runs the sample: `pings` round trips per pair, then a burst of `burst` packets per pair. */
export async function relayForwarding(
  rig: LoadRig,
  pairs: RelayPair[],
  options: { pings: number; burst: number; packetBytes: number },
): Promise<RelayForwarding> {
  const n = rig.workers.length;
  const samples: RelaySample[] = await Promise.all(
    rig.workers.map((w, k) =>
      w.call({
        op: "relayPing",
        pairs: pairs.filter((p) => p.sender % n === k),
        ...options,
        hangAfterMs: rig.hangAfterMs,
      }),
    ),
  ).then((replies) => replies.map((r) => r.sample));
  const ran = samples.filter((s) => s.burstEnd > 0 && s.bursts.length > 0);
  const start = Math.min(...ran.map((s) => s.burstStart));
  const end = Math.max(...ran.map((s) => s.burstEnd));
  return {
    pairs: pairs.length,
    crossed: samples.reduce((sum, s) => sum + s.crossed, 0),
    rtts: samples.flatMap((s) => s.rtts),
    packets: samples.reduce((sum, s) => sum + s.bursts.reduce((a, b) => a + b.packets, 0), 0),
    bytes: samples.reduce((sum, s) => sum + s.bursts.reduce((a, b) => a + b.bytes, 0), 0),
    burstSeconds: ran.length === 0 ? Number.NaN : (end - start) / 1000,
    problems: samples.flatMap((s) => s.problems),
  };
}

/** Each relay child's RSS (after a forced GC) and authenticated clients. */
export function relayMemory(rig: LoadRig): Promise<{ rss: number; clients: number }[]> {
  return Promise.all(
    rig.relayServers.map(async (r) => {
      const { rss, clients } = await r.call({ op: "rss" });
      return { rss, clients };
    }),
  );
}
