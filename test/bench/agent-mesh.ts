// Two userspace agents for the agent benchmark (agent-rig.ts): two MeshNodes in this process
// with `direct` (PathBind over their own UdpBind, packet filter, relay fallback), fed maps by
// hand whose endpoints point at each other's UDP socket, as test/agent/paths-direct.test.ts
// does; a relay runs in this process for the fallback. The path is direct before a transfer.
//
// Loss is applied where a network would: each node's direct UDP Bind is wrapped (DirectOptions
// `wrap`) by a LossyBind that, while switched on, drops and reorders WireGuard transport
// datagrams (type 4) on the way out with the seeded rule of the lossy proxy of
// test/interop/mesh-rig.ts (per direction: drop with `loss`, else hold one datagram with
// `reorder` until the next is sent or 20 ms pass). Probes and handshakes pass, as there.

import { MeshNode } from "../../server/mesh-node.ts";
import type { Bind, Endpoint, ReceiveFn } from "../../worker/wireguard/bind.ts";
import { feedPair, handMap, handPeer, startHandRelay } from "../agent/hand-maps.ts";
import { seededBytes, seededInts } from "../helpers/seeded.ts";
import { waitUntil } from "../helpers/wait.ts";

const RELAY_ID = "bench-relay";

/** Seeded loss and reordering of outgoing transport datagrams, while `lossy` is on. */
export class LossyBind implements Bind {
  lossy = false;
  readonly counts = { forwarded: 0, dropped: 0, reordered: 0 };
  private readonly random: (bound: number) => number;
  private held: { packet: Uint8Array; to: Endpoint; timer: NodeJS.Timeout } | undefined;

  constructor(
    private readonly inner: Bind,
    private readonly rule: { seed: number; loss: number; reorder: number },
  ) {
    this.random = seededInts(rule.seed);
  }

  open(onReceive: ReceiveFn): Promise<void> {
    return this.inner.open(onReceive);
  }

  send(packet: Uint8Array, to: Endpoint): boolean {
    if (!this.lossy || packet[0] !== 4) return this.inner.send(packet, to);
    const roll = this.random(1_000_000) / 1_000_000;
    if (roll < this.rule.loss) {
      this.counts.dropped++;
      return true; // lost on the way
    }
    if (roll < this.rule.loss + this.rule.reorder && this.held === undefined) {
      this.counts.reordered++;
      // The caller may reuse the bytes once send returns: keep a copy.
      const timer = setTimeout(() => this.release(), 20);
      this.held = { packet: packet.slice(), to, timer };
      return true;
    }
    this.counts.forwarded++;
    const ok = this.inner.send(packet, to);
    this.release();
    return ok;
  }

  parseEndpoint(text: string): Endpoint {
    return this.inner.parseEndpoint(text);
  }

  close(): Promise<void> {
    if (this.held) clearTimeout(this.held.timer);
    this.held = undefined;
    return this.inner.close();
  }

  private release(): void {
    const h = this.held;
    if (!h) return;
    this.held = undefined;
    clearTimeout(h.timer);
    this.counts.forwarded++;
    this.inner.send(h.packet, h.to);
  }
}

/** Two agents on the direct path, and the switch for their loss. */
export interface MeshPair {
  x: MeshNode;
  y: MeshNode;
  /** The addresses of x and y on the mesh. */
  addresses: { x: string; y: string };
  setLossy(on: boolean): void;
  lossCounts(): LossyBind["counts"];
  /** Both nodes see each other on the direct path (throws after a hang guard otherwise). */
  waitDirect(): Promise<void>;
  /** Datagrams each node sent through the relay so far (the fallback). */
  relaySent(): number;
  close(): Promise<void>;
}

/** Builds the pair; on failure what was built is closed. */
export async function createMeshPair(rule: {
  seed: number;
  loss: number;
  reorder: number;
}): Promise<MeshPair> {
  const steps: (() => Promise<void>)[] = [];
  const close = async () => {
    for (const step of steps.splice(0).reverse()) await step().catch(() => {});
  };
  try {
    const random = seededBytes(0xbe4c);
    const controlSecret = random(32);
    const relayPrivate = random(32);
    const { relay, relayKey } = await startHandRelay(RELAY_ID, controlSecret, relayPrivate);
    steps.push(() => relay.close());
    const lossy: LossyBind[] = [];
    const node = async (seed: number) => {
      const n = await MeshNode.create({
        direct: {
          host: "127.0.0.1",
          wrap: (udp) => {
            const b = new LossyBind(udp, { ...rule, seed });
            lossy.push(b);
            return b;
          },
        },
      });
      steps.push(async () => {
        if (n.device) for (const c of n.net.tcp.connections) c.abort("rig closed");
        await n.close();
      });
      return n;
    };
    const x = await node(rule.seed);
    const y = await node(rule.seed + 1);
    const base = {
      relayId: RELAY_ID,
      url: relay.url,
      relayKey,
      controlSecret,
      domain: "bench.test",
    };
    await feedPair(
      x,
      y,
      (n, id, endpoints) =>
        handPeer(n, id, {
          name: `bench-${id}`,
          user: "bench",
          addresses: [`100.64.9.${id}`],
          endpoints,
          relayId: RELAY_ID,
        }),
      (self, peers) => handMap({ ...base, ttlMs: 24 * 3600_000 }, self, peers),
    );
    const pathOf = (from: MeshNode, to: MeshNode) =>
      from.peerStatus().find((p) => p.key === to.key)?.path;
    return {
      x,
      y,
      addresses: { x: "100.64.9.1", y: "100.64.9.2" },
      setLossy: (on) => {
        for (const b of lossy) b.lossy = on;
      },
      lossCounts: () => {
        const sum = { forwarded: 0, dropped: 0, reordered: 0 };
        for (const b of lossy) {
          sum.forwarded += b.counts.forwarded;
          sum.dropped += b.counts.dropped;
          sum.reordered += b.counts.reordered;
        }
        return sum;
      },
      waitDirect: () =>
        waitUntil(
          () => pathOf(x, y) === "direct" && pathOf(y, x) === "direct",
          "both agents on the direct path",
        ),
      relaySent: () => (x.paths?.stats.relaySent ?? 0) + (y.paths?.stats.relaySent ?? 0),
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
