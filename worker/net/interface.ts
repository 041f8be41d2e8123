// The IP interface: IP packets in from the WireGuard device, out to it. It checks and demuxes
// every packet (wire/ does the parsing), answers pings to its own addresses, sends ICMP
// port-unreachable for UDP to closed ports, runs the ping API, UDP sockets and the TCP stack.

import { parseCidr } from "../wireguard/allowed-ips.ts";
import type { Clock } from "../wireguard/clock.ts";
import { formatIp, parseIp } from "../wireguard/ip-address.ts";
import { TcpStack } from "./tcp/stack.ts";
import type { TcpStackOptions } from "./tcp/types.ts";
import { UdpSocket } from "./udp-socket.ts";
import {
  buildIcmpv4DestinationUnreachable,
  buildIcmpv4Echo,
  icmpv4EchoReplyFor,
  parseIcmpv4,
} from "./wire/icmpv4.ts";
import {
  buildIcmpv6DestinationUnreachable,
  buildIcmpv6Echo,
  icmpv6EchoReplyFor,
  parseIcmpv6,
} from "./wire/icmpv6.ts";
import {
  buildIp,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_TCP,
  IPPROTO_UDP,
  parseIp as parsePacket,
} from "./wire/ip.ts";
import { buildUdp, parseUdp } from "./wire/udp.ts";

/** What the interface needs. */
export interface InterfaceOptions {
  /** Our addresses, as CIDR (prefix length ignored for matching) or plain addresses. */
  addresses: string[];
  /** Sends an IP packet into the tunnel (the WireGuard device's send). */
  output: (packet: Uint8Array) => void;
  clock: Clock;
  randomBytes: (n: number) => Uint8Array;
  /** The tunnel's IP MTU (default 1420). */
  mtu?: number;
  /** The TCP stack's options (buffers, ACK policy); its defaults when absent. */
  tcp?: TcpStackOptions;
}

/** Why the interface dropped a packet; counted in NetInterface.counters. */
export type InterfaceEvent =
  | "malformed"
  | "fragment"
  | "notForUs"
  | "badIcmp"
  | "badUdp"
  | "udpNoListener"
  | "unknownProtocol";

/** A ping's outcome. */
interface PendingPing {
  resolve: (rttMs: number) => void;
  reject: (error: Error) => void;
  sentAt: number;
  cancel: () => void;
}

/** The userspace IP interface of one WireGuard device. */
export class NetInterface {
  readonly tcp: TcpStack;
  readonly counters = new Map<InterfaceEvent, number>();
  readonly mtu: number;
  private readonly addresses: Uint8Array[];
  private readonly udpSockets = new Map<number, UdpSocket>();
  private readonly pings = new Map<number, PendingPing>();
  private readonly pingId: number;
  private pingSeq = 0;

  constructor(private readonly options: InterfaceOptions) {
    this.mtu = options.mtu ?? 1420;
    this.addresses = options.addresses.map((text) =>
      text.includes("/") ? addressOfCidr(text) : parseIp(text, `interface address '${text}'`),
    );
    const id = options.randomBytes(2);
    this.pingId = (id[0]! << 8) | id[1]!;
    this.tcp = new TcpStack(
      {
        clock: options.clock,
        randomBytes: options.randomBytes,
        mtu: this.mtu,
        output: (source, destination, segment) =>
          this.options.output(buildIp({ source, destination, protocol: IPPROTO_TCP }, segment)),
      },
      options.tcp,
    );
  }

  /** Our address of the same family as `destination` (4 or 16 bytes). */
  sourceFor(destination: Uint8Array): Uint8Array {
    const source = this.addresses.find((a) => a.length === destination.length);
    if (!source) {
      throw new Error(
        `no ${destination.length === 4 ? "IPv4" : "IPv6"} address on this interface for ${formatIp(destination)}`,
      );
    }
    return source;
  }

  /** Handles one IP packet from the tunnel. The bytes are valid only during the call. */
  receive(packet: Uint8Array): void {
    const ip = parsePacket(packet);
    if (!ip.ok) {
      this.count(ip.fragment ? "fragment" : "malformed");
      return;
    }
    if (!this.isOurs(ip.destination)) {
      this.count("notForUs");
      return;
    }
    switch (ip.protocol) {
      case IPPROTO_TCP:
        this.tcp.receive(ip.source, ip.destination, ip.payload);
        return;
      case IPPROTO_UDP:
        this.receiveUdp(packet, ip.source, ip.destination, ip.payload);
        return;
      case IPPROTO_ICMP:
        if (ip.version === 4) this.receiveIcmpv4(ip.source, ip.destination, ip.payload);
        else this.count("unknownProtocol");
        return;
      case IPPROTO_ICMPV6:
        if (ip.version === 6) this.receiveIcmpv6(ip.source, ip.destination, ip.payload);
        else this.count("unknownProtocol");
        return;
      default:
        this.count("unknownProtocol");
    }
  }

  /**
   * Sends an ICMP echo to `destination` and resolves with the round-trip time in ms; rejects
   * when no reply comes within `timeoutMs` (default 2000).
   */
  ping(
    destination: string | Uint8Array,
    options: { timeoutMs?: number; size?: number } = {},
  ): Promise<number> {
    const address = typeof destination === "string" ? parseIp(destination) : destination;
    const source = this.sourceFor(address);
    const seq = this.pingSeq++ & 0xffff;
    const data = new Uint8Array(options.size ?? 56);
    for (let i = 0; i < data.length; i++) data[i] = i & 0xff;
    const message =
      address.length === 4
        ? buildIcmpv4Echo({ kind: "echo-request", id: this.pingId, seq }, data)
        : buildIcmpv6Echo(
            { source, destination: address, kind: "echo-request", id: this.pingId, seq },
            data,
          );
    const protocol = address.length === 4 ? IPPROTO_ICMP : IPPROTO_ICMPV6;
    return new Promise<number>((resolve, reject) => {
      const timer = this.options.clock.setTimer(options.timeoutMs ?? 2000, () => {
        this.pings.delete(seq);
        reject(
          new Error(`ping ${formatIp(address)}: no reply within ${options.timeoutMs ?? 2000} ms`),
        );
      });
      this.pings.set(seq, {
        resolve,
        reject,
        sentAt: this.options.clock.now(),
        cancel: () => timer.cancel(),
      });
      this.options.output(buildIp({ source, destination: address, protocol }, message));
    });
  }

  /** Opens a UDP socket on `port` (0 = an ephemeral port). */
  udpBind(port = 0): UdpSocket {
    if (port === 0) {
      do
        port =
          49152 +
          (((this.options.randomBytes(2)[0]! << 8) | this.options.randomBytes(1)[0]!) % 16384);
      while (this.udpSockets.has(port));
    }
    if (this.udpSockets.has(port)) throw new Error(`udp port ${port} is in use`);
    const socket = new UdpSocket(
      port,
      (destination, destinationPort, data) => {
        const source = this.sourceFor(destination);
        const datagram = buildUdp({ source, destination, sourcePort: port, destinationPort }, data);
        this.options.output(buildIp({ source, destination, protocol: IPPROTO_UDP }, datagram));
      },
      () => this.udpSockets.delete(port),
    );
    this.udpSockets.set(port, socket);
    return socket;
  }

  private receiveUdp(
    packet: Uint8Array,
    source: Uint8Array,
    destination: Uint8Array,
    payload: Uint8Array,
  ): void {
    const udp = parseUdp(payload, source, destination);
    if (!udp.ok) {
      this.count("badUdp");
      return;
    }
    const socket = this.udpSockets.get(udp.destinationPort);
    if (socket) {
      socket.deliver(udp.payload, source, udp.sourcePort);
      return;
    }
    this.count("udpNoListener");
    // RFC 1122 §4.1.3.1: tell the sender the port is unreachable.
    const reply =
      source.length === 4
        ? buildIcmpv4DestinationUnreachable({ code: 3 }, packet)
        : buildIcmpv6DestinationUnreachable(
            { source: destination, destination: source, code: 4 },
            packet,
          );
    this.options.output(
      buildIp(
        {
          source: destination,
          destination: source,
          protocol: source.length === 4 ? IPPROTO_ICMP : IPPROTO_ICMPV6,
        },
        reply,
      ),
    );
  }

  private receiveIcmpv4(source: Uint8Array, destination: Uint8Array, payload: Uint8Array): void {
    const icmp = parseIcmpv4(payload);
    if (!icmp.ok) {
      this.count("badIcmp");
      return;
    }
    if (icmp.kind === "echo-request") {
      this.options.output(
        buildIp(
          { source: destination, destination: source, protocol: IPPROTO_ICMP },
          icmpv4EchoReplyFor(icmp),
        ),
      );
    } else if (icmp.kind === "echo-reply" && icmp.id === this.pingId) {
      this.answerPing(icmp.seq);
    }
  }

  private receiveIcmpv6(source: Uint8Array, destination: Uint8Array, payload: Uint8Array): void {
    const icmp = parseIcmpv6(payload, source, destination);
    if (!icmp.ok) {
      this.count("badIcmp");
      return;
    }
    if (icmp.kind === "echo-request") {
      const reply = icmpv6EchoReplyFor(icmp, { source: destination, destination: source });
      this.options.output(
        buildIp({ source: destination, destination: source, protocol: IPPROTO_ICMPV6 }, reply),
      );
    } else if (icmp.kind === "echo-reply" && icmp.id === this.pingId) {
      this.answerPing(icmp.seq);
    }
  }

  private answerPing(seq: number): void {
    const pending = this.pings.get(seq);
    if (!pending) return;
    this.pings.delete(seq);
    pending.cancel();
    pending.resolve(this.options.clock.now() - pending.sentAt);
  }

  private isOurs(address: Uint8Array): boolean {
    return this.addresses.some(
      (a) => a.length === address.length && a.every((b, i) => b === address[i]),
    );
  }

  private count(event: InterfaceEvent): void {
    this.counters.set(event, (this.counters.get(event) ?? 0) + 1);
  }
}

/** The address of "a.b.c.d/n" with its host bits kept (an interface address, not a route). */
function addressOfCidr(text: string): Uint8Array {
  const slash = text.indexOf("/");
  parseCidr(text, "interface address"); // validates the prefix length
  return parseIp(text.slice(0, slash), `interface address '${text}'`);
}
