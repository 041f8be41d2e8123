// TUN mode's direct paths (docs/agent-tun.md, "Paths"): the PathBind the relay bridge sends
// through (server/mesh-direct.ts's, as a userspace node makes it: UDP and pages' data channels
// beside the relay) and the peer status that combines the interface's counters with the
// PathBind's choice.

import type { PathState } from "../../../worker/path/path-bind.ts";
import type { PeerStatus } from "../../../worker/path/types.ts";
import type { Bind } from "../../../worker/wireguard/bind.ts";
import { systemClock } from "../../../worker/wireguard/clock.ts";
import { nodeX25519 } from "../../crypto/x25519-node.ts";
import { type DirectOptions, type DirectPaths, openDirectPaths } from "../../mesh-direct.ts";
import type { RtcAnswerer } from "../rtc-answerer.ts";

/** What TUN mode's direct paths are made from (TunNodeOptions' fields of the same names). */
export interface TunPathOptions {
  privateKey: Uint8Array;
  /** `--udp-port`: the UDP socket's port (default: one the system picks). */
  listenPort?: number;
  /** false (`--no-direct`): relay only, no socket. */
  direct?: boolean;
  directOptions?: Omit<DirectOptions, "port" | "disabled">;
}

/**
 * The PathBind over `relay`, the data channels of `rtc` and, unless disabled, a UDP socket; and
 * the options used.
 */
export async function openTunPaths(
  options: TunPathOptions,
  relay: Bind,
  rtc?: RtcAnswerer,
): Promise<DirectPaths & { direct: DirectOptions }> {
  const direct: DirectOptions = {
    ...options.directOptions,
    port: options.listenPort,
    disabled: options.direct === false,
  };
  const publicKey = await nodeX25519.publicKey(options.privateKey);
  const opened = openDirectPaths(
    direct,
    relay,
    { privateKey: options.privateKey, publicKey, clock: systemClock },
    rtc,
  );
  return { ...opened, direct };
}

/**
 * The interface's per-peer status (handshake, bytes) with the path the PathBind uses: direct
 * (its UDP endpoint and round trip) or the relay `relayOf` names for it. A peer not on the interface yet
 * ("none") stays as it is.
 */
export function withPaths(
  status: readonly PeerStatus[],
  pathOf: (key: string) => PathState | undefined,
  /** The relay the packets to a peer go through (its home relay, else ours). */
  relayOf: (key: string) => string,
): PeerStatus[] {
  return status.map((peer) => {
    const path = pathOf(peer.key);
    if (path === undefined || peer.path === "none") return peer;
    const direct = path.path === "direct";
    return {
      ...peer,
      path: path.path,
      endpoint: direct ? path.endpoint : null,
      relay: direct ? null : relayOf(peer.key),
      rttMs: path.rttMs,
    };
  });
}
