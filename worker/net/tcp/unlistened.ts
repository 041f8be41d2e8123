// SYNs to ports nothing listens on, when the stack was given an UnlistenedHandler: each new flow
// (4-tuple) is put to the handler once; while its answer is pending, retransmitted SYNs are
// absorbed (no duplicate asks) and a RST from the peer withdraws the flow. A yes completes the
// handshake (the stack builds the connection from the latest SYN), a no answers that SYN with
// RST. So a forwarded port answers RST only once the real service refused. Undecided flows are
// bounded (beyond, SYNs are dropped and counted) and time out, so a handler that never answers
// cannot hold memory.

import type { TimerHandle } from "../../wireguard/clock.ts";
import { TcpFlag, type TcpHeader } from "../wire/tcp.ts";
import { sendReset } from "./output.ts";
import type {
  StackContext,
  UnlistenedFlow,
  UnlistenedHandler,
  UnlistenedOptions,
} from "./types.ts";

/** A flow whose answer is awaited. */
interface Pending {
  readonly key: string;
  readonly flow: UnlistenedFlow;
  /** The latest SYN of the flow (a copy: the segment's bytes are only valid during receive). */
  syn: TcpHeader;
  /** Withdrawn (peer RST) or timed out: a late yes is abandoned, a late no sends nothing. */
  gone: "reset" | "timeout" | undefined;
  timer: TimerHandle | undefined;
}

/** Builds the passive connection of an accepted flow; false when the 4-tuple is taken. */
export type OpenAccepted = (key: string, flow: UnlistenedFlow, syn: TcpHeader) => boolean;

/** A header detached from the segment it was parsed from. */
function detach(h: TcpHeader): TcpHeader {
  return { ...h, options: { ...h.options }, payload: h.payload.slice() };
}

/** The undecided flows of one stack and the handler deciding them. */
export class UnlistenedFlows {
  private readonly pending = new Map<string, Pending>();
  private readonly maxPending: number;
  private readonly decideTimeoutMs: number;

  constructor(
    private readonly ctx: StackContext,
    readonly handler: UnlistenedHandler,
    readonly options: UnlistenedOptions,
    private readonly open: OpenAccepted,
  ) {
    this.maxPending = Math.max(1, options.maxPending ?? 256);
    this.decideTimeoutMs = Math.max(1, options.decideTimeoutMs ?? 15_000);
  }

  /** Flows awaiting an answer now. */
  get size(): number {
    return this.pending.size;
  }

  /**
   * A segment that matched no connection and no listener. True when it was taken here (a new
   * flow asked, a retransmitted SYN absorbed, a withdrawal, or a drop); false leaves it to the
   * stack's RST.
   */
  offer(key: string, local: Uint8Array, remote: Uint8Array, h: TcpHeader): boolean {
    const f = h.flags;
    const known = this.pending.get(key);
    if (known) {
      if (f & TcpFlag.RST) this.withdraw(known, "reset");
      // A SYN again (the peer's retransmission, or a new ISN): answer the latest one later.
      else if (f & TcpFlag.SYN && !(f & TcpFlag.ACK)) known.syn = detach(h);
      // Anything else before our SYN-ACK is out of place: ignore it, as a half-open would.
      return true;
    }
    if (!(f & TcpFlag.SYN) || f & (TcpFlag.ACK | TcpFlag.RST)) return false;
    if (this.pending.size >= this.maxPending) {
      this.ctx.stats.unlistenedDropped++;
      return true;
    }
    const flow: UnlistenedFlow = {
      localAddress: local.slice(),
      localPort: h.dstPort,
      remoteAddress: remote.slice(),
      remotePort: h.srcPort,
    };
    const p: Pending = { key, flow, syn: detach(h), gone: undefined, timer: undefined };
    this.pending.set(key, p);
    this.ctx.stats.unlistenedAsked++;
    p.timer = this.ctx.host.clock.setTimer(this.decideTimeoutMs, () => {
      this.ctx.stats.unlistenedDropped++;
      this.withdraw(p, "timeout");
    });
    let answer: Promise<boolean>;
    try {
      answer = Promise.resolve(this.handler.decide(flow));
    } catch (e) {
      answer = Promise.reject(e);
    }
    answer.then(
      (yes) => this.settle(p, yes === true),
      () => this.settle(p, false),
    );
    return true;
  }

  private withdraw(p: Pending, why: "reset" | "timeout"): void {
    if (this.pending.get(p.key) === p) this.pending.delete(p.key);
    p.gone ??= why;
    p.timer?.cancel();
  }

  private settle(p: Pending, yes: boolean): void {
    if (p.gone) {
      if (yes)
        this.handler.abandon?.(
          p.flow,
          p.gone === "reset" ? "the peer reset the flow" : "decided too late",
        );
      return;
    }
    if (this.pending.get(p.key) === p) this.pending.delete(p.key);
    p.timer?.cancel();
    this.ctx.run(() => {
      if (!yes) sendReset(this.ctx, p.flow.localAddress, p.flow.remoteAddress, p.syn);
      else if (!this.open(p.key, p.flow, p.syn))
        this.handler.abandon?.(p.flow, "the 4-tuple was taken meanwhile");
    });
  }
}
