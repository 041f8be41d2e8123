// Two devices joined by a MemoryNetwork and driven by one FakeClock: the fixture of the
// device tests and the WireGuard benchmark.

import {
  type CryptoCore,
  loadCryptoCore,
  nobleX25519,
  type X25519Provider,
} from "../../worker/crypto/index.ts";
import type { Endpoint } from "../../worker/wireguard/bind.ts";
import { FakeClock, type TimerHandle } from "../../worker/wireguard/clock.ts";
import { Device } from "../../worker/wireguard/device.ts";
import {
  type MemoryBind,
  MemoryNetwork,
  type Verdict,
} from "../../worker/wireguard/memory-bind.ts";
import { seededBytes } from "../helpers/seeded.ts";

/** A device and what it received. */
export interface Side {
  device: Device;
  received: Uint8Array[];
  address: string;
  /** Where the device's inner packets go: by default copied into `received`. */
  onPacket: (packet: Uint8Array) => void;
  /** The device's Bind, for handing it datagrams directly (see inject). */
  bind: MemoryBind;
}

export interface Pair {
  clock: FakeClock;
  network: MemoryNetwork;
  a: Side;
  b: Side;
  core: CryptoCore;
  close(): Promise<void>;
}

/** Lets queued microtasks and macrotasks (async X25519, deliveries) run to quiescence. */
export async function settle(rounds = 30): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** Advances the fake clock in steps, settling after each, so timer-driven work completes. */
export async function advance(clock: FakeClock, ms: number, step = 1000): Promise<void> {
  for (let done = 0; done < ms; done += step) {
    clock.advance(Math.min(step, ms - done));
    await settle(10);
  }
}

/** An IPv4 packet from `src` to `dst` (dotted quads) carrying `payload`. */
export function ipv4(src: string, dst: string, payload: Uint8Array): Uint8Array {
  const packet = new Uint8Array(20 + payload.length);
  packet[0] = 0x45;
  packet[2] = packet.length >> 8;
  packet[3] = packet.length & 0xff;
  packet[8] = 64;
  packet[9] = 17;
  packet.set(src.split(".").map(Number), 12);
  packet.set(dst.split(".").map(Number), 16);
  packet.set(payload, 20);
  return packet;
}

/** Builds two peered devices: a (10.0.0.1, at a:1) and b (10.0.0.2, at b:2). */
export async function makePair(
  options: {
    psk?: boolean;
    x25519?: X25519Provider;
    seed?: number;
    clock?: FakeClock;
    underLoadThreshold?: number;
  } = {},
): Promise<Pair> {
  const core = await loadCryptoCore();
  const clock = options.clock ?? new FakeClock();
  const network = new MemoryNetwork();
  const random = seededBytes(options.seed ?? 0x5eed);
  const x25519 = options.x25519 ?? nobleX25519;
  const keyOf = (): Uint8Array => {
    const k = random(32);
    k[0]! &= 248;
    k[31] = (k[31]! & 127) | 64;
    return k;
  };
  const psk = options.psk ? random(32) : undefined;
  const make = async (name: string, address: string): Promise<Side> => {
    const received: Uint8Array[] = [];
    const bind = network.bind(`${name}:${name === "a" ? 1 : 2}`);
    // Packets reach the side's current onPacket, which tests may replace.
    let side: Side | undefined;
    const device = await Device.create({
      privateKey: keyOf(),
      bind,
      core,
      x25519,
      clock,
      random,
      onPacket: (packet) => side?.onPacket(packet),
      underLoadThreshold: options.underLoadThreshold,
    });
    side = {
      device,
      received,
      address,
      bind,
      onPacket: (packet: Uint8Array) => {
        received.push(packet.slice());
      },
    };
    return side;
  };
  const a = await make("a", "10.0.0.1");
  const b = await make("b", "10.0.0.2");
  await a.device.addPeer({
    publicKey: b.device.publicKey,
    presharedKey: psk,
    endpoint: "b:2",
    allowedIps: ["10.0.0.2/32"],
  });
  await b.device.addPeer({
    publicKey: a.device.publicKey,
    presharedKey: psk,
    endpoint: "a:1",
    allowedIps: ["10.0.0.1/32"],
  });
  return {
    clock,
    network,
    a,
    b,
    core,
    async close() {
      await a.device.close();
      await b.device.close();
    },
  };
}

/**
 * A FakeClock that also knows when its next timer falls due, so advanceExact() can stop at
 * each one: work a timer starts (async X25519, deliveries) then runs at the time it fired.
 */
export class SteppingClock extends FakeClock {
  private dues: { at: number; live: boolean }[] = [];

  override setTimer(ms: number, fn: () => void): TimerHandle {
    const due = { at: this.now() + Math.max(0, ms), live: true };
    this.dues.push(due);
    const handle = super.setTimer(ms, () => {
      due.live = false;
      fn();
    });
    return {
      cancel: () => {
        due.live = false;
        handle.cancel();
      },
    };
  }

  /** When the earliest pending timer is due, or undefined when none is. */
  nextDue(): number | undefined {
    this.dues = this.dues.filter((d) => d.live);
    let next: number | undefined;
    for (const d of this.dues) if (next === undefined || d.at < next) next = d.at;
    return next;
  }
}

/**
 * Advances `ms` of fake time, stopping at every timer's due time and settling there, so what
 * a timer starts happens at the millisecond it fired (advance() quantizes it to its step).
 */
export async function advanceExact(clock: SteppingClock, ms: number): Promise<void> {
  await settle(3); // what the caller just started happens now, not after the jump
  const end = clock.now() + ms;
  for (;;) {
    const next = clock.nextDue();
    if (next === undefined || next > end) break;
    clock.advance(next - clock.now());
    await settle(3);
  }
  clock.advance(end - clock.now());
  await settle(3);
}

/** One datagram seen on a pair's network. */
export interface WireRecord {
  /** Fake monotonic ms when it was sent. */
  at: number;
  from: string;
  to: string;
  /** The first byte: 1 initiation, 2 response, 3 cookie reply, 4 transport. */
  type: number;
  size: number;
  /** A copy of the datagram. */
  bytes: Uint8Array;
  verdict: Verdict;
}

/**
 * Records every datagram on the pair's network; `decide` (default: deliver all) may drop or
 * duplicate each one. Replaces any filter set before.
 */
export function recordWire(
  pair: Pair,
  decide: (record: WireRecord) => Verdict = () => "deliver",
): WireRecord[] {
  const log: WireRecord[] = [];
  pair.network.filter = (packet: Uint8Array, from: Endpoint, to: Endpoint): Verdict => {
    const record: WireRecord = {
      at: pair.clock.now(),
      from: from.key,
      to: to.key,
      type: packet[0] ?? -1,
      size: packet.length,
      bytes: packet.slice(),
      verdict: "deliver",
    };
    record.verdict = decide(record);
    log.push(record);
    return record.verdict;
  };
  return log;
}

/**
 * Hands `packet` straight to a side's Bind, as if it came from `from` (default: the other
 * side's endpoint), then runs the transport's queued work: a throw surfaces here, in the
 * caller, instead of in a microtask. Handshake messages still finish asynchronously.
 */
export function inject(pair: Pair, to: "a" | "b", packet: Uint8Array, from?: Endpoint): void {
  const target = to === "a" ? pair.a : pair.b;
  const source = from ?? (to === "a" ? pair.b : pair.a).bind.local;
  target.bind.deliver(packet, source);
  target.device.flush();
}

/** The little-endian u32 at `at` (indices on the wire). */
export function u32le(bytes: Uint8Array, at: number): number {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(at, true);
}
