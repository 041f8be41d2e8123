// The relay side of a simulated-node worker (sim-worker.ts): every node of the worker connects
// to its home relay (sim-relay.ts: the real hello with its map's token) and reports it as
// homeRelay on its map stream, as a real node does once its home relay welcomed it; then a
// sample of pairs exchange packets as the data plane would: the sender finds the receiver's
// home relay in its own map (it waits until the receiver's homeRelay arrived there), sends
// through that relay (its home link, or a second link to the receiver's relay when the homes
// differ), and the receiver answers on the link the packet came in on.
//
// Packets of the sample (byte 0 is the kind): PING (seq; echoed as PONG), DATA (counted by the
// receiver per link and sender) and END (answered with COUNT: the packets and bytes counted).
// A ping without its pong or a burst whose count falls short is a lost packet: a problem.

import { nodeX25519 } from "../../server/crypto/x25519-node.ts";
import type { RelayInfo } from "../../worker/control/types.ts";
import type { CryptoCore } from "../../worker/crypto/core.ts";
import { keyFromBase64 } from "../../worker/wireguard/keys.ts";
import type { RelayPair, RelaySample } from "./protocol.ts";
import type { SimNode } from "./sim-node.ts";
import { SimRelayLink } from "./sim-relay.ts";

const PING = 1;
const DATA = 2;
const END = 3;
const PONG = 4;
const COUNT = 5;
/** Bytes of a ping (a small packet: a WireGuard keepalive is 32). */
const PING_BYTES = 64;
/** Pause between one pair's pings, so that the sample measures latency, not a flood. */
const PING_GAP_MS = 20;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs `work` over `items` with at most `limit` at once. */
async function pool<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane));
}

/** The relay links of one worker's nodes, and the sample's both ends. */
export class RelayPlane {
  private readonly relays = new Map<string, RelayInfo>();
  /** Node index → its link to its home relay. */
  private readonly home = new Map<number, SimRelayLink>();
  /** Node index → its link to a peer's relay (a sender whose receiver is elsewhere). */
  private readonly away = new Map<number, SimRelayLink>();
  /** Node index → its home relay's id. */
  private readonly homeRelay = new Map<number, string>();
  private readonly publicKeys = new Map<number, Uint8Array>();
  /** What a receiver's link counted of DATA, by the sender's key (latin1). */
  private readonly counted = new Map<
    SimRelayLink,
    Map<string, { packets: number; bytes: number }>
  >();
  /** A sender's link waiting for a PONG or COUNT. */
  private readonly waiting = new Map<SimRelayLink, (packet: Uint8Array) => void>();

  constructor(
    private readonly nodes: Map<number, SimNode>,
    private readonly core: CryptoCore,
    private readonly problem: (text: string) => void,
  ) {}

  /** Authenticated links (home and away). */
  get links(): number {
    let n = 0;
    for (const link of [...this.home.values(), ...this.away.values()]) if (link.isOpen) n++;
    return n;
  }

  /**
   * Connects nodes `indices` to relay `index mod relays.length`; once all are welcomed, each
   * reports its relay as homeRelay. Resolves with when the last was welcomed (epoch ms).
   */
  async connect(
    indices: number[],
    relays: RelayInfo[],
    concurrency: number,
  ): Promise<{ connected: number; failed: string[]; linkedAt: number }> {
    for (const relay of relays) this.relays.set(relay.id, relay);
    let connected = 0;
    const failed: string[] = [];
    await pool(indices, concurrency, async (index) => {
      const sim = this.nodes.get(index);
      const relay = relays[index % relays.length]!;
      try {
        if (sim === undefined) throw new Error("not in this worker");
        const link = await this.link(sim, relay);
        this.home.set(index, link);
        this.homeRelay.set(index, relay.id);
        connected++;
      } catch (error) {
        failed.push(`node ${index} to ${relay.id}: ${(error as Error).message}`);
      }
    });
    const linkedAt = Date.now();
    // The reports once every hello is done, so that the hellos' time and the reports' fan-out
    // are measured apart (a real node reports as soon as its home welcomed it).
    for (const [index, id] of this.homeRelay) {
      const sim = this.nodes.get(index);
      if (sim?.connected) sim.update({ homeRelay: id });
      else failed.push(`node ${index}: no map stream to report its home relay on`);
    }
    return { connected, failed, linkedAt };
  }

  /**
   * Waits until every node of this worker holds a home relay for each of its peers (the
   * homeRelay reports have fanned out), at most `hangAfterMs`; resolves with when (epoch ms)
   * and the nodes still missing one.
   */
  async homesKnown(hangAfterMs: number): Promise<{ at: number; missing: string[] }> {
    const deadline = performance.now() + hangAfterMs;
    for (;;) {
      const missing: string[] = [];
      for (const sim of this.nodes.values()) {
        if (!sim.map.ready) continue; // a node that never joined (its failure is noted)
        for (const peer of sim.map.peers.values()) {
          if (peer.homeRelay === "") {
            missing.push(`node ${sim.index}: peer ${peer.id} has no home relay in its map`);
            break;
          }
        }
      }
      if (missing.length === 0 || performance.now() > deadline) {
        return { at: Date.now(), missing };
      }
      await sleep(100);
    }
  }

  /** Every pair (senders in this worker): `pings` round trips, then a burst of `burst` packets. */
  async sample(
    pairs: RelayPair[],
    pings: number,
    burst: number,
    packetBytes: number,
    hangAfterMs: number,
  ): Promise<RelaySample> {
    const sample: RelaySample = {
      rtts: [],
      bursts: [],
      crossed: 0,
      problems: [],
      burstStart: 0,
      burstEnd: 0,
    };
    // First every sender's way to its receiver, then the pings of all pairs at once, then the
    // bursts at once: each phase measures all the pairs together.
    const ways = new Map<RelayPair, { link: SimRelayLink; to: Uint8Array }>();
    await Promise.all(
      pairs.map(async (pair) => {
        try {
          const way = await this.way(pair, hangAfterMs);
          if (way.crossed) sample.crossed++;
          ways.set(pair, way);
        } catch (error) {
          sample.problems.push(
            `pair ${pair.sender}->${pair.receiver}: ${(error as Error).message}`,
          );
        }
      }),
    );
    const ready = pairs.filter((p) => ways.has(p));
    await Promise.all(
      ready.map(async (pair) => {
        const { link, to } = ways.get(pair)!;
        for (let seq = 0; seq < pings; seq++) {
          const packet = new Uint8Array(PING_BYTES);
          packet[0] = PING;
          new DataView(packet.buffer).setUint32(1, seq);
          const t0 = performance.now();
          const reply = this.reply(link, hangAfterMs);
          link.send(to, packet);
          const got = await reply;
          if (
            got === undefined ||
            got[0] !== PONG ||
            new DataView(got.buffer).getUint32(1) !== seq
          ) {
            sample.problems.push(
              `pair ${pair.sender}->${pair.receiver}: ping ${seq} lost (no pong in ${hangAfterMs} ms)`,
            );
            return;
          }
          sample.rtts.push(performance.now() - t0);
          await sleep(PING_GAP_MS);
        }
      }),
    );
    sample.burstStart = Date.now();
    await Promise.all(
      ready.map(async (pair) => {
        const { link, to } = ways.get(pair)!;
        const t0 = performance.now();
        const data = new Uint8Array(packetBytes);
        data[0] = DATA;
        for (let i = 0; i < burst; i++) link.send(to, data);
        const reply = this.reply(link, hangAfterMs);
        link.send(to, Uint8Array.of(END));
        const got = await reply;
        const ms = performance.now() - t0;
        if (got === undefined || got[0] !== COUNT) {
          sample.problems.push(`pair ${pair.sender}->${pair.receiver}: burst's END lost`);
          return;
        }
        const view = new DataView(got.buffer, got.byteOffset, got.byteLength);
        const packets = view.getUint32(1);
        const bytes = view.getUint32(5);
        if (packets !== burst) {
          sample.problems.push(
            `pair ${pair.sender}->${pair.receiver}: ${burst - packets} of ${burst} burst packets lost`,
          );
        }
        sample.bursts.push({ packets, bytes, ms });
      }),
    );
    sample.burstEnd = Date.now();
    return sample;
  }

  /** Ends every link (the end of a run). */
  close(): void {
    for (const link of [...this.home.values(), ...this.away.values()]) link.close();
    this.home.clear();
    this.away.clear();
  }

  /** A link of `sim` to `relay`, welcomed. */
  private async link(sim: SimNode, relay: RelayInfo): Promise<SimRelayLink> {
    let publicKey = this.publicKeys.get(sim.index);
    if (publicKey === undefined) {
      publicKey = await nodeX25519.publicKey(sim.privateKey);
      this.publicKeys.set(sim.index, publicKey);
    }
    const link = new SimRelayLink({
      url: relay.url,
      relayKey: relay.key,
      core: this.core,
      privateKey: sim.privateKey,
      publicKey,
      token: sim.map.token.token,
      onPacket: (l, from, packet) => this.packet(l, from, packet),
      onLost: (_, why) => this.problem(`node ${sim.index}: relay ${relay.id} link lost: ${why}`),
    });
    await link.open();
    return link;
  }

  /** The sender's link to the receiver's home relay (as its map says) and the receiver's key. */
  private async way(
    pair: RelayPair,
    hangAfterMs: number,
  ): Promise<{ link: SimRelayLink; to: Uint8Array; crossed: boolean }> {
    const sim = this.nodes.get(pair.sender);
    if (sim === undefined) throw new Error("sender not in this worker");
    const deadline = performance.now() + hangAfterMs;
    let peer = sim.map.peerById(pair.receiverId);
    while (peer === undefined || peer.homeRelay === "") {
      if (performance.now() > deadline) {
        throw new Error(
          peer === undefined
            ? "the receiver is not in the sender's map"
            : `the receiver's homeRelay never reached the sender's map in ${hangAfterMs} ms`,
        );
      }
      await sleep(50);
      peer = sim.map.peerById(pair.receiverId);
    }
    const to = keyFromBase64(peer.key, "peer key");
    const relay = this.relays.get(peer.homeRelay);
    if (relay === undefined) throw new Error(`unknown home relay ${peer.homeRelay}`);
    const home = this.home.get(pair.sender);
    if (home === undefined) throw new Error("the sender has no home link");
    if (this.homeRelay.get(pair.sender) === relay.id) return { link: home, to, crossed: false };
    let away = this.away.get(pair.sender);
    if (away === undefined) {
      away = await this.link(sim, relay);
      this.away.set(pair.sender, away);
    }
    return { link: away, to, crossed: true };
  }

  /** The next PONG or COUNT on `link`, or undefined after `hangAfterMs`. */
  private reply(link: SimRelayLink, hangAfterMs: number): Promise<Uint8Array | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(link);
        resolve(undefined);
      }, hangAfterMs);
      this.waiting.set(link, (packet) => {
        clearTimeout(timer);
        this.waiting.delete(link);
        resolve(packet);
      });
    });
  }

  private packet(link: SimRelayLink, from: Uint8Array, packet: Uint8Array): void {
    switch (packet[0]) {
      case PING: {
        const pong = packet.slice();
        pong[0] = PONG;
        link.send(from, pong);
        return;
      }
      case DATA: {
        const byFrom = this.counted.get(link) ?? new Map();
        this.counted.set(link, byFrom);
        const id = Buffer.from(from).toString("latin1");
        const c = byFrom.get(id) ?? { packets: 0, bytes: 0 };
        byFrom.set(id, c);
        c.packets++;
        c.bytes += packet.length;
        return;
      }
      case END: {
        const id = Buffer.from(from).toString("latin1");
        const c = this.counted.get(link)?.get(id) ?? { packets: 0, bytes: 0 };
        this.counted.get(link)?.delete(id);
        const count = new Uint8Array(9);
        count[0] = COUNT;
        const view = new DataView(count.buffer);
        view.setUint32(1, c.packets);
        view.setUint32(5, c.bytes);
        link.send(from, count);
        return;
      }
      case PONG:
      case COUNT:
        this.waiting.get(link)?.(packet.slice());
        return;
      default:
        this.problem(`a relay delivered a packet of unknown kind ${packet[0]}`);
    }
  }
}
