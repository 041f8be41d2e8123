// The UDP endpoints a node reports to the control server (docs/paths.md): where peers may send
// to it directly. They are this host's interface addresses with the WireGuard socket's port (a
// peer on the same LAN, or a host with a public address) plus the address a STUN server saw the
// socket from (the NAT's mapping). Refreshed on a timer (STUN every `stunEveryMs`, interfaces
// every `interfacesEveryMs`); reported only when the list changes.

import { type NetworkInterfaceInfo, networkInterfaces } from "node:os";
import type { Endpoint } from "../../worker/wireguard/bind.ts";
import { resolveEndpoint } from "../udp-bind.ts";
import { type StunTransport, stunBinding } from "./stun-client.ts";

/** The control protocol's bound on a node's endpoints (worker/control/schema.ts). */
export const MAX_ENDPOINTS = 32;

/** Which interface addresses count. */
export interface LocalEndpointRules {
  /** The socket's families: 4 (an IPv4 socket) or 6 (dual stack: both). */
  family: 4 | 6;
  /** Include 127.0.0.0/8 and ::1 (tests on one host). Default false. */
  loopback?: boolean;
  /** Include 169.254.0.0/16 (IPv6 link-local needs a zone and is never reported). Default false. */
  linkLocal?: boolean;
  /**
   * The socket's local address. A socket bound to one address (not "0.0.0.0" or "::") is
   * reachable only there, so no other interface address is reported.
   */
  bound?: string;
}

const WILDCARDS = new Set(["0.0.0.0", "::", "::0"]);

function hostPort(address: string, port: number): string {
  return address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
}

/** "ip:port" for each usable interface address, in interface order, without duplicates. */
export function localEndpoints(
  interfaces: NodeJS.Dict<NetworkInterfaceInfo[]>,
  port: number,
  rules: LocalEndpointRules,
): string[] {
  const out: string[] = [];
  const only = rules.bound !== undefined && !WILDCARDS.has(rules.bound) ? rules.bound : undefined;
  for (const list of Object.values(interfaces)) {
    for (const info of list ?? []) {
      if (only !== undefined && info.address !== only) continue;
      const v6 = info.family === "IPv6";
      if (v6 && rules.family === 4) continue;
      if (info.internal && rules.loopback !== true) continue;
      if (v6 && info.address.toLowerCase().startsWith("fe80:")) continue;
      if (!v6 && info.address.startsWith("169.254.") && rules.linkLocal !== true) continue;
      const text = hostPort(info.address, port);
      if (!out.includes(text)) out.push(text);
    }
  }
  return out;
}

/** Options of an EndpointReporter. */
export interface EndpointReporterOptions {
  /** The WireGuard socket's local port (0 until it is bound). */
  port: () => number;
  rules: LocalEndpointRules;
  /** The socket to run STUN on (the WireGuard socket itself). */
  transport: StunTransport;
  /** The STUN server now ("host:port", the map's relay's `stun`), or undefined for none. */
  stunServer: () => string | undefined;
  /** Called with the new list whenever it changes. */
  report: (endpoints: string[]) => void;
  /** STUN refresh interval (ms). Default 25,000 (below common NAT UDP timeouts). */
  stunEveryMs?: number;
  /** Interface check interval (ms). Default 5,000. */
  interfacesEveryMs?: number;
  /** The host's interfaces (tests). Default os.networkInterfaces. */
  interfaces?: () => NodeJS.Dict<NetworkInterfaceInfo[]>;
  /** A STUN failure (the last mapped address is dropped until one works again). */
  onStunError?: (error: Error) => void;
}

/** Keeps the node's endpoint list current and reports its changes. */
export class EndpointReporter {
  private mapped: string | undefined;
  private last: string[] = [];
  private timers: ReturnType<typeof setInterval>[] = [];
  private stunRunning = false;
  private closed = false;

  constructor(private readonly options: EndpointReporterOptions) {}

  /** The endpoints last reported. */
  get current(): readonly string[] {
    return this.last;
  }

  /** Reports the local endpoints now, runs STUN, and keeps both refreshed. */
  start(): void {
    this.check();
    void this.refreshStun();
    this.timers.push(
      setInterval(() => this.check(), this.options.interfacesEveryMs ?? 5000),
      setInterval(() => void this.refreshStun(), this.options.stunEveryMs ?? 25_000),
    );
    for (const t of this.timers) t.unref?.();
  }

  /** One STUN query now (also run on the timer); resolves when it has been folded in. */
  async refreshStun(): Promise<void> {
    const text = this.options.stunServer();
    if (text === undefined || this.stunRunning || this.closed) return;
    this.stunRunning = true;
    try {
      const server: Endpoint = await resolveEndpoint(text, {
        family: this.options.rules.family === 4 ? 4 : undefined,
      });
      const address = await stunBinding({ transport: this.options.transport, server });
      this.mapped = hostPort(address.address, address.port);
    } catch (error) {
      this.mapped = undefined;
      this.options.onStunError?.(error as Error);
    } finally {
      this.stunRunning = false;
    }
    this.check();
  }

  /** Recomputes the list and reports it if it changed. */
  check(): void {
    if (this.closed) return;
    const port = this.options.port();
    if (port === 0) return;
    const local = localEndpoints(
      (this.options.interfaces ?? networkInterfaces)(),
      port,
      this.options.rules,
    );
    // The mapped address first: it is the one that works across NATs.
    const list = this.mapped === undefined ? local : [this.mapped, ...local];
    const unique = [...new Set(list)].slice(0, MAX_ENDPOINTS);
    if (unique.join() === this.last.join()) return;
    this.last = unique;
    this.options.report(unique);
  }

  /** Stops the timers. */
  close(): void {
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
  }
}
