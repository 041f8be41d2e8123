// The agents' relay latency probe (issue 18: "agents by STUN"): the round trip of a STUN
// Binding request to the relay's STUN listener (RelayInfo.stun, server/relay/stun-server.ts),
// for RelaySet's `probe` option (worker/relay/relay-set.ts), which picks the node's home relay
// by these numbers. UDP to the relay's host measures the network path alone: no TLS, no
// WebSocket framing, no relay event loop queueing behind other clients' bulk flows, and it
// costs the relay one small datagram. A relay without a STUN listener, or whose listener does
// not answer (UDP blocked on the way while its WebSocket works), gives undefined: RelaySet
// then measures it its own way (a relay PING), so a blocked UDP never marks a relay as down.
//
// Each probe opens a fresh UDP socket and closes it after: probes are rare (RelaySet's
// interval), and the node's WireGuard socket keeps its NAT mapping undisturbed.

import type { RelayInfo } from "../../worker/control/types.ts";
import { resolveEndpoint, UdpBind } from "../udp-bind.ts";
import { stunBinding } from "./stun-client.ts";

/** Options of stunRelayProbe(). */
export interface StunProbeOptions {
  /** Requests per probe, one after another; the fastest answer counts. Default 3. */
  samples?: number;
  /** How long one request waits for its answer (ms). Default 1000. */
  timeoutMs?: number;
  /** Monotonic milliseconds (tests). Default performance.now. */
  now?: () => number;
}

/** RelaySet's probe: a relay's round trip in ms, or undefined to let RelaySet measure it. */
export type RelayProbe = (relay: RelayInfo) => Promise<number | undefined>;

/**
 * A probe that measures each relay's round trip over its STUN listener: the fastest of
 * `samples` Binding requests (one request each, no retransmission, so no answer is ever
 * matched to a later send). Resolves undefined when the relay lists no STUN listener, its
 * name does not resolve, or no request is answered in time; never rejects.
 */
export function stunRelayProbe(options: StunProbeOptions = {}): RelayProbe {
  const samples = Math.max(1, options.samples ?? 3);
  const timeoutMs = options.timeoutMs ?? 1000;
  const now = options.now ?? (() => performance.now());
  return async (relay) => {
    if (relay.stun === undefined) return undefined;
    let udp: UdpBind | undefined;
    try {
      const server = await resolveEndpoint(relay.stun);
      udp = new UdpBind({ host: server.host.includes(":") ? "::" : "0.0.0.0" });
      await udp.open(() => {});
      let best: number | undefined;
      for (let i = 0; i < samples; i++) {
        const started = now();
        try {
          await stunBinding({ transport: udp, server, maxTransmits: 1, timeoutMs });
        } catch {
          // Unanswered: a loss or a listener that is gone. Later samples may still answer;
          // the first loss without any answer ends the probe (a dead listener costs one wait).
          if (best === undefined) return undefined;
          continue;
        }
        const rtt = now() - started;
        best = best === undefined ? rtt : Math.min(best, rtt);
      }
      return best;
    } catch {
      return undefined;
    } finally {
      await udp?.close().catch(() => {});
    }
  };
}
