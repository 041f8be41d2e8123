// A mesh node's direct paths (docs/paths.md), apart from the node itself because they are
// optional and Node-only: one UDP socket beside the relay, the WebRTC data channels pages open
// to the node (rtc-answerer.ts), a PathBind that probes each peer and picks direct or relay,
// and the endpoint reporter that tells the control server where the socket can be reached
// (interface addresses, and the address a STUN server saw it from).

import { PathBind } from "../worker/path/path-bind.ts";
import type { OutgoingSignal } from "../worker/path/rtc-sessions.ts";
import type { RtcFactory } from "../worker/path/rtc-types.ts";
import type { Bind } from "../worker/wireguard/bind.ts";
import type { Clock } from "../worker/wireguard/clock.ts";
import { EndpointReporter } from "./agent/endpoints.ts";
import { RtcAnswerer } from "./agent/rtc-answerer.ts";
import { nodeX25519 } from "./crypto/x25519-node.ts";
import { UdpBind } from "./udp-bind.ts";

/** Direct paths (docs/paths.md): one UDP socket beside the relay, chosen per peer by probes. */
export interface DirectOptions {
  /** The UDP port (default 0: any free one). */
  port?: number;
  /** The local address (default "0.0.0.0"; "::" for dual stack). */
  host?: string;
  /** Relay only: no UDP socket, no endpoints reported, no direct probes, offers answered "disabled". */
  disabled?: boolean;
  /** Report loopback addresses as endpoints (several nodes on one host, tests). */
  loopback?: boolean;
  /** Wraps the UDP Bind the paths use (tests: a Bind that can drop, as a blocked path). */
  wrap?: (udp: Bind) => Bind;
  /** The WebRTC stack answering pages' offers (default: werift; tests may pass another). */
  rtcFactory?: RtcFactory;
}

/** The direct side of a node: the path chooser and, unless disabled, its UDP socket. */
export interface DirectPaths {
  paths: PathBind;
  udp: UdpBind | undefined;
}

/** The node's keys and clock, as the path probes need them. */
export interface DirectKeys {
  privateKey: Uint8Array;
  publicKey: Uint8Array;
  clock: Clock;
}

/**
 * The path chooser over `relay`, a fresh UDP socket and, with `rtc`, the data channels pages
 * open. Disabled, it still stands between the device and the relay (status shows "relay") but
 * opens no socket and sends no probes.
 */
export function openDirectPaths(
  direct: DirectOptions,
  relay: Bind,
  keys: DirectKeys,
  rtc?: RtcAnswerer,
): DirectPaths {
  const udp =
    direct.disabled === true
      ? undefined
      : // 4 MiB as server/wg-engine.ts asks: the default ~208 KiB overflows while the one
        // thread seals a burst (bench:agent).
        new UdpBind({
          port: direct.port ?? 0,
          host: direct.host,
          recvBufferSize: 4 << 20,
          sendBufferSize: 4 << 20,
        });
  const udpBind = udp === undefined ? undefined : (direct.wrap?.(udp) ?? udp);
  const paths = new PathBind({
    relay,
    direct: rtc === undefined ? udpBind : rtc.directBind(udpBind),
    disabled: direct.disabled,
    privateKey: keys.privateKey,
    publicKey: keys.publicKey,
    x25519: nodeX25519,
    clock: keys.clock,
    randomBytes: (n) => globalThis.crypto.getRandomValues(new Uint8Array(n)),
  });
  rtc?.usePaths(paths);
  return { paths, udp };
}

/**
 * The node's WebRTC answerer (pages' data channels), per its direct options: off with them
 * (offers answered "disabled"), ICE bound as the UDP socket is (`host`, `loopback`).
 */
export function openAnswerer(
  direct: DirectOptions,
  links: {
    signal: (signal: OutgoingSignal) => boolean;
    stunServer: () => string | undefined;
    clock: Clock;
  },
): RtcAnswerer {
  return new RtcAnswerer({
    ...links,
    enabled: direct.disabled !== true,
    host: direct.host,
    loopback: direct.loopback,
    factory: direct.rtcFactory,
  });
}

/**
 * Starts reporting the UDP socket's endpoints (local addresses, STUN-mapped address) through
 * `report`. The STUN server is asked for each time, as it follows the relay in use.
 */
export function reportEndpoints(
  udp: UdpBind,
  direct: DirectOptions | undefined,
  stunServer: () => string | undefined,
  report: (endpoints: string[]) => void,
): EndpointReporter {
  const host = direct?.host ?? "0.0.0.0";
  const reporter = new EndpointReporter({
    port: () => udp.localPort,
    rules: {
      family: host.includes(":") ? 6 : 4,
      loopback: direct?.loopback,
      bound: host,
    },
    transport: udp,
    stunServer,
    report,
  });
  reporter.start();
  return reporter;
}
