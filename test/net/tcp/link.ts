// Test helper: two TcpStacks joined by an in-memory link driven by a FakeClock, with
// configurable one-way delay, loss, duplication and reordering from a seeded PRNG. One clock
// timer is armed at a time (for the earliest packet), so simulated time runs fast.

import { TcpStack, type TcpStackOptions } from "../../../worker/net/tcp/stack.ts";
import type { FakeClock } from "../../../worker/wireguard/clock.ts";
import { seededBytes, seededWords } from "../../helpers/seeded.ts";

export interface LinkOptions {
  seed: number;
  delayMs?: number;
  /** Probability a packet is dropped. */
  loss?: number;
  /** Probability a packet is delivered twice. */
  duplicate?: number;
  /** Probability a packet is held back by up to reorderMs extra. */
  reorder?: number;
  reorderMs?: number;
  mtu?: number;
  /** Drop every packet when this returns true (for targeted tests). */
  filter?: (from: "a" | "b", segment: Uint8Array) => boolean;
}

interface InFlight {
  at: number;
  seq: number;
  to: TcpStack;
  src: Uint8Array;
  dst: Uint8Array;
  seg: Uint8Array;
}

export class MemoryLink {
  readonly a: TcpStack;
  readonly b: TcpStack;
  readonly counts = { sent: 0, dropped: 0, duplicated: 0, reordered: 0, delivered: 0 };
  /** Every segment sent, per side (when recording). */
  readonly log: { from: "a" | "b"; seg: Uint8Array; at: number }[] = [];
  record = false;
  private heap: InFlight[] = [];
  private seq = 0;
  private armedAt = Number.POSITIVE_INFINITY;
  private readonly rand: () => number;

  constructor(
    readonly clock: FakeClock,
    readonly opts: LinkOptions,
    stackOptions: TcpStackOptions = {},
  ) {
    const words = seededWords(opts.seed);
    this.rand = () => words() / 2 ** 32;
    const host = (side: "a" | "b", n: number) => ({
      clock,
      randomBytes: seededBytes(opts.seed * 31 + n),
      mtu: opts.mtu ?? 1420,
      output: (src: Uint8Array, dst: Uint8Array, seg: Uint8Array) => this.send(side, src, dst, seg),
    });
    this.a = new TcpStack(host("a", 1), stackOptions);
    this.b = new TcpStack(host("b", 2), stackOptions);
  }

  private send(from: "a" | "b", src: Uint8Array, dst: Uint8Array, seg: Uint8Array): void {
    this.counts.sent++;
    if (this.record) this.log.push({ from, seg, at: this.clock.now() });
    if (this.opts.filter?.(from, seg)) {
      this.counts.dropped++;
      return;
    }
    const o = this.opts;
    if (o.loss && this.rand() < o.loss) {
      this.counts.dropped++;
      return;
    }
    const to = from === "a" ? this.b : this.a;
    const copies = o.duplicate && this.rand() < o.duplicate ? 2 : 1;
    if (copies === 2) this.counts.duplicated++;
    for (let i = 0; i < copies; i++) {
      let delay = o.delayMs ?? 0;
      if (o.reorder && this.rand() < o.reorder) {
        delay += 1 + Math.floor(this.rand() * (o.reorderMs ?? 10));
        this.counts.reordered++;
      }
      this.push({ at: this.clock.now() + delay, seq: this.seq++, to, src, dst, seg });
    }
    this.arm();
  }

  private less(x: InFlight, y: InFlight): boolean {
    return x.at < y.at || (x.at === y.at && x.seq < y.seq);
  }

  private push(p: InFlight): void {
    const h = this.heap;
    h.push(p);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(h[i]!, h[parent]!)) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }

  private pop(): InFlight | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
        if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }

  private arm(): void {
    const next = this.heap[0];
    if (!next || next.at >= this.armedAt) return;
    this.armedAt = next.at;
    this.clock.setTimer(next.at - this.clock.now(), () => {
      this.armedAt = Number.POSITIVE_INFINITY;
      const now = this.clock.now();
      while (this.heap[0] && this.heap[0].at <= now) {
        const p = this.pop()!;
        this.counts.delivered++;
        p.to.receive(p.src, p.dst, p.seg);
      }
      this.arm();
    });
  }

  /** Packets still on the wire. */
  get inFlight(): number {
    return this.heap.length;
  }
}

/** Lets promise callbacks (stream reads/writes) run. */
export function flush(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

/** Advances the clock in steps, flushing between, until `done()` or `maxMs` of simulated time. */
export async function runUntil(
  clock: FakeClock,
  done: () => boolean,
  maxMs: number,
  stepMs = 1,
): Promise<number> {
  const start = clock.now();
  await flush();
  while (!done()) {
    if (clock.now() - start > maxMs) throw new Error(`not done after ${maxMs} ms simulated`);
    clock.advance(stepMs);
    await flush();
  }
  return clock.now() - start;
}

export const A4 = new Uint8Array([10, 0, 0, 1]);
export const B4 = new Uint8Array([10, 0, 0, 2]);
export const A6 = new Uint8Array([0xfd, 0, ...new Array(13).fill(0), 1]);
export const B6 = new Uint8Array([0xfd, 0, ...new Array(13).fill(0), 2]);
