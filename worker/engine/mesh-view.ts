// What the page sees of the mesh (MeshStatus, MeshHost, HostEntry), built from the node's map,
// its device's counters and the round trips of the last pings. Pure: no sockets, no timers.

import type { HostEntry, MeshHost, MeshState, MeshStatus, MeshUser } from "../api.ts";
import { MESH_NETWORK_ID } from "../api.ts";
import type { MapState } from "../control/map-state.ts";
import type { UserRef } from "../control/types.ts";
import type { MeshCore } from "../mesh/mesh-core.ts";
import { keyToBase64 } from "../wireguard/keys.ts";
import type { PageRtcFactory } from "./rtc-port.ts";

/** The mesh's state and why, as the runtime keeps it. */
export interface MeshPhase {
  state: MeshState;
  detail?: string;
  code?: string;
}

function userOf(user: UserRef | null): MeshUser | null {
  return user === null ? null : { id: user.id, name: user.name, email: user.email };
}

/** The status the page sees: the phase, and the node, domain and relay once there is a map. */
export function meshStatusOf(
  phase: MeshPhase,
  node: MeshCore | undefined,
  rtc?: Pick<PageRtcFactory, "enabled" | "pages">,
): MeshStatus {
  const status: MeshStatus = { state: phase.state };
  if (phase.detail !== undefined) status.detail = phase.detail;
  if (phase.code !== undefined) status.code = phase.code;
  const map = node?.map;
  if (map?.ready === true && phase.state !== "stopped") {
    const self = map.self;
    status.self = {
      id: self.id,
      name: self.name,
      key: self.key,
      addresses: [...self.addresses],
      user: userOf(self.user),
    };
    status.domain = map.domain;
  }
  const relay = node?.relay;
  if (relay !== undefined && phase.state !== "stopped") {
    status.relay = {
      id: relay.info.id,
      url: relay.info.url,
      state: relay.bind.state,
      rttMs: relay.bind.rttMs ?? null,
    };
  }
  if (rtc !== undefined && phase.state !== "stopped") {
    status.direct = {
      enabled: rtc.enabled,
      pages: rtc.pages,
      channels: node?.direct?.channels.size ?? 0,
      offersSent: node?.direct?.sessions.stats.offersSent ?? 0,
    };
  }
  return status;
}

/** The peers of the map with their live state, sorted by name. */
export function meshHostsOf(
  node: MeshCore | undefined,
  rtts: ReadonlyMap<string, number>,
): MeshHost[] {
  const map: MapState | undefined = node?.map;
  if (node === undefined || map === undefined || !map.ready) return [];
  const stats = new Map((node.device?.peerStats() ?? []).map((s) => [keyToBase64(s.publicKey), s]));
  const hosts: MeshHost[] = [];
  for (const peer of map.peers.values()) {
    const wg = stats.get(peer.key);
    const traffic = wg !== undefined && wg.rxBytes + wg.txBytes > 0;
    const path = node.direct?.pathOf(peer.key);
    hosts.push({
      id: peer.id,
      key: peer.key,
      name: peer.name,
      hostname: peer.hostname,
      addresses: [...peer.addresses],
      os: peer.os,
      tags: [...peer.tags],
      owner: userOf(peer.user),
      ephemeral: peer.ephemeral,
      online: peer.online,
      lastSeen: peer.lastSeen,
      // A page has no UDP: direct means a WebRTC data channel whose probes answer.
      path: path?.path === "direct" ? "direct" : traffic ? "relay" : "none",
      rttMs: typeof path?.rttMs === "number" ? roundTrip(path.rttMs) : (rtts.get(peer.key) ?? null),
      lastHandshake: wg === undefined || wg.lastHandshake === 0 ? null : wg.lastHandshake,
      identitySsh: peer.sshHostKeys.length > 0,
      sshHostKeys: [...peer.sshHostKeys],
    });
  }
  return hosts.sort((a, b) => a.name.localeCompare(b.name));
}

/** A round trip as the page shows it (to 0.1 ms: probes' and pings'). */
export function roundTrip(ms: number): number {
  return Math.round(ms * 10) / 10;
}

/** The mesh's hosts as the per-network views list them (name, first address). */
export function meshHostEntries(hosts: readonly MeshHost[]): HostEntry[] {
  return hosts
    .filter((host) => host.addresses.length > 0)
    .map((host) => ({
      networkId: MESH_NETWORK_ID,
      address: host.addresses[0]!,
      name: host.name,
      source: "peer" as const,
    }));
}

/**
 * What of the status and hosts a person would see change (not byte counters): pushes go out
 * only when this differs from the last one sent.
 */
export function meshSignature(status: MeshStatus, hosts: readonly MeshHost[]): string {
  return JSON.stringify([
    status,
    hosts.map((h) => [
      h.id,
      h.key,
      h.name,
      h.addresses,
      h.os,
      h.tags,
      h.online,
      h.lastSeen,
      h.path,
      h.rttMs,
      h.lastHandshake,
      h.identitySsh,
      h.sshHostKeys,
    ]),
  ]);
}
