// Two devices joined by a MemoryNetwork and driven by one FakeClock: the fixture of the
// device tests and the WireGuard benchmark.

import {
  type CryptoCore,
  loadCryptoCore,
  nobleX25519,
  type X25519Provider,
} from "../../worker/crypto/index.ts";
import { FakeClock } from "../../worker/wireguard/clock.ts";
import { Device } from "../../worker/wireguard/device.ts";
import { MemoryNetwork } from "../../worker/wireguard/memory-bind.ts";
import { seededBytes } from "../helpers/seeded.ts";

/** A device and what it received. */
export interface Side {
  device: Device;
  received: Uint8Array[];
  address: string;
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
    const device = await Device.create({
      privateKey: keyOf(),
      bind: network.bind(`${name}:${name === "a" ? 1 : 2}`),
      core,
      x25519,
      clock,
      random,
      onPacket: (packet) => received.push(packet.slice()),
      underLoadThreshold: options.underLoadThreshold,
    });
    return { device, received, address };
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
