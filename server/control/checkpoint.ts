// Map sessions that outlive a restart. A stopping control server writes a checkpoint to the
// store: each node's map session (id and the last sequence number it sent) and a digest of the
// durable state those maps were computed from. The next start takes it (read and deleted: it
// is good for one start) and, when the durable state is still the same (same digest: no node,
// user, policy, relay or setting changed while it was down, nor the map format), adopts the
// sessions: a node that comes back with `resume: {session, seq}` gets a delta instead of a full
// map. That delta holds only patches (who is online now, endpoints, home relays), since the
// volatile state is all that the restart lost; every node gets a patch entry at start for that.
//
// A session is written only when nothing durable changed after the last message it was sent
// (only patches since): a node whose outbox still held a peer's new view at shutdown gets a full
// map. Without a checkpoint (a crash, a first start, another server's database) or with a stale
// one, every node gets a full map, as before. One server per database (issue 18 replaces this
// with sequence numbers kept in PostgreSQL, shared by several servers).

import { createHash } from "node:crypto";
import type { Logger } from "pino";
import * as v from "valibot";
import type { RelayInfo } from "../../worker/control/types.ts";
import type { Hub } from "./hub.ts";
import type { Mapper } from "./mapper/mapper.ts";
import type { MeshSettings, Store, StoreTx } from "./store/types.ts";

/** Changes when what a map holds, or how it is computed from the stored state, changes. */
export const MAP_FORMAT = "corridor-map.v1";

const checkpointSchema = v.object({
  v: v.literal(1),
  digest: v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/)),
  globalSeq: v.pipe(v.number(), v.safeInteger(), v.minValue(0)),
  sessions: v.array(
    v.tuple([
      v.pipe(v.number(), v.safeInteger(), v.minValue(1)),
      v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{1,64}$/)),
      v.pipe(v.number(), v.safeInteger(), v.minValue(1)),
    ]),
  ),
});

/** What a stopping server leaves for the next start. */
export type MapCheckpoint = v.InferOutput<typeof checkpointSchema>;

/** What the maps are computed from, besides the store: the relays and the mesh settings. */
export interface DigestInputs {
  relays: readonly RelayInfo[];
  settings: Pick<MeshSettings, "domain" | "ipv6Prefix">;
}

/**
 * SHA-256 over everything durable that maps are computed from: the map format, the relays, the
 * mesh domain and prefix, the policy document, every user and every node (but `lastSeen`,
 * which is volatile and sent as a patch).
 */
export async function durableDigest(tx: StoreTx, inputs: DigestInputs): Promise<string> {
  const policy = await tx.getPolicy();
  const users = (await tx.listUsers()).sort((a, b) => a.id - b.id);
  const nodes = (await tx.listNodes())
    .sort((a, b) => a.id - b.id)
    .map(({ lastSeen: _volatile, ...durable }) => durable);
  const hash = createHash("sha256");
  hash.update(
    JSON.stringify([
      MAP_FORMAT,
      inputs.relays,
      inputs.settings.domain,
      inputs.settings.ipv6Prefix,
      policy?.text ?? null,
    ]),
  );
  for (const user of users) hash.update(`\nu${JSON.stringify(user)}`);
  for (const node of nodes) hash.update(`\nn${JSON.stringify(node)}`);
  return hash.digest("hex");
}

/**
 * Writes the checkpoint of `hub`'s sessions (after the streams were closed, before the store
 * is). Returns how many sessions it holds.
 */
export async function saveCheckpoint(
  store: Store,
  hub: Hub,
  mapper: Mapper,
  inputs: DigestInputs,
): Promise<number> {
  const globalSeq = mapper.log.seq;
  const sessions: MapCheckpoint["sessions"] = [];
  for (const session of hub.sessions.all()) {
    const covered = session.covered.get(session.seq);
    if (covered === undefined || mapper.node(session.nodeId) === undefined) continue;
    const missed = mapper.log.since(covered);
    if (missed === null || missed.some((entry) => entry.kind !== "patch")) continue;
    sessions.push([session.nodeId, session.id, session.seq]);
  }
  await store.transaction(async (tx) => {
    const checkpoint: MapCheckpoint = {
      v: 1,
      digest: await durableDigest(tx, inputs),
      globalSeq,
      sessions,
    };
    await tx.putMapCheckpoint(JSON.stringify(checkpoint));
  });
  return sessions.length;
}

/** What restoring found. */
export type RestoreOutcome =
  | { restored: number }
  | { restored: 0; reason: "none" | "unreadable" | "state changed" };

/**
 * Takes the checkpoint (if any) and, when the durable state is unchanged, adopts its sessions
 * and continues its change numbering. Call after the mapper is loaded, before any stream.
 */
export async function restoreCheckpoint(
  store: Store,
  hub: Hub,
  mapper: Mapper,
  inputs: DigestInputs,
  log?: Logger,
): Promise<RestoreOutcome> {
  const taken = await store.transaction(async (tx) => {
    const body = await tx.takeMapCheckpoint();
    return body === null ? null : { body, digest: await durableDigest(tx, inputs) };
  });
  if (taken === null) return { restored: 0, reason: "none" };
  let checkpoint: MapCheckpoint;
  try {
    checkpoint = v.parse(checkpointSchema, JSON.parse(taken.body));
  } catch (error) {
    log?.warn({ err: String(error) }, "map checkpoint unreadable: every node gets a full map");
    return { restored: 0, reason: "unreadable" };
  }
  if (checkpoint.digest !== taken.digest) {
    log?.info("state changed while the server was down: every node gets a full map");
    return { restored: 0, reason: "state changed" };
  }
  mapper.log.continueFrom(checkpoint.globalSeq);
  let restored = 0;
  for (const [nodeId, id, seq] of checkpoint.sessions) {
    if (mapper.node(nodeId) === undefined) continue;
    hub.sessions.adopt(nodeId, id, seq, checkpoint.globalSeq);
    restored++;
  }
  // The restart lost the volatile state (online, endpoints, home relays): a resuming node is
  // sent the current one of every peer it sees.
  for (const node of mapper.allNodes()) mapper.log.append({ kind: "patch", nodeId: node.id });
  log?.info({ sessions: restored }, "map sessions taken over from the previous run");
  return { restored };
}
