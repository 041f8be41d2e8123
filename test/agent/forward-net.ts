// Test fixture: two userspace IP interfaces wired back to back (no WireGuard in between: the
// forwarder and the SOCKS5 proxy only see the TCP stack), on the real clock so they can talk to
// real sockets. "a" is the mesh client at 100.64.0.1 / fd7a:115c:a1e0::1, "b" the agent at
// 100.64.0.2 / fd7a:115c:a1e0::2.

import { NetInterface } from "../../worker/net/interface.ts";
import { systemClock } from "../../worker/wireguard/clock.ts";
import { parseIp } from "../../worker/wireguard/ip-address.ts";

/** The two interfaces and their addresses. */
export interface BackToBack {
  a: NetInterface;
  b: NetInterface;
  /** Address pairs [a, b] of one family. */
  v4: [Uint8Array, Uint8Array];
  v6: [Uint8Array, Uint8Array];
}

export const A_V4 = "100.64.0.1";
export const B_V4 = "100.64.0.2";
export const A_V6 = "fd7a:115c:a1e0::1";
export const B_V6 = "fd7a:115c:a1e0::2";

/** Builds the pair; each side's packets reach the other on a later microtask (no re-entry). */
export function backToBack(): BackToBack {
  const random = (n: number) => globalThis.crypto.getRandomValues(new Uint8Array(n));
  let a: NetInterface | undefined;
  let b: NetInterface | undefined;
  a = new NetInterface({
    addresses: [`${A_V4}/32`, `${A_V6}/128`],
    output: (packet) => queueMicrotask(() => b!.receive(packet)),
    clock: systemClock,
    randomBytes: random,
  });
  b = new NetInterface({
    addresses: [`${B_V4}/32`, `${B_V6}/128`],
    output: (packet) => queueMicrotask(() => a!.receive(packet)),
    clock: systemClock,
    randomBytes: random,
  });
  return {
    a,
    b,
    v4: [parseIp(A_V4), parseIp(B_V4)],
    v6: [parseIp(A_V6), parseIp(B_V6)],
  };
}
