// One TCP connection: its state and the segment arrival rules of RFC 9293 §3.10.7 (SYN-SENT
// processing, the SEG.SEQ acceptability tests, RST and SYN checks hardened per RFC 5961, ACK
// processing with SACK and loss detection, data and FIN), the timers (retransmission, delayed
// ACK, persist, keepalive, TIME-WAIT) and the transitions. Sending lives in output.ts, the
// application's streams in streams.ts. Stream offsets (JS numbers) stand for sequence numbers
// internally: send offset -1 is our SYN, 0 our first data byte; likewise on the receive side.

import { seqDiff, TcpFlag, type TcpHeader } from "../wire/tcp.ts";
import { ackedTo, onProbeTimeout, onRackTimeout, onRetransmitTimeout, processAck } from "./ack.ts";
import { NewReno } from "./congestion.ts";
import {
  advertisedEdge,
  maybeWindowUpdate,
  sendAck,
  sendProbe,
  sendReset,
  transmit,
} from "./output.ts";
import { Rack } from "./rack.ts";
import { ReceiveBuffer } from "./receive-buffer.ts";
import { RtoEstimator } from "./rto.ts";
import { Scoreboard } from "./scoreboard.ts";
import { SendBuffer } from "./send-buffer.ts";
import { createStreams, type StreamState } from "./streams.ts";
import { Deadline } from "./timer.ts";
import type {
  StackContext,
  TcpConnection,
  TcpConnectionStats,
  TcpConnectOptions,
  TcpState,
} from "./types.ts";

const DELAYED_ACK_MS = 40;
/** With ackPerTask: in-order bytes left unacknowledged at most before an ACK goes at once. */
const MAX_STRETCH_ACK = 64 * 1024;
const KEEPALIVE_PROBES = 9;

/** Our largest window scale (RFC 7323 caps it at 14). */
function scaleFor(window: number): number {
  let s = 0;
  while (s < 14 && window >>> s > 0xffff) s++;
  return s;
}

export class Connection implements TcpConnection {
  state: TcpState;
  readonly stats: TcpConnectionStats;
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
  readonly closed: Promise<void>;
  readonly io: StreamState;
  /** Set by the stack: passive open completed, connection finished (remove from tables). */
  onEstablished: (c: Connection) => void = () => {};
  onFinished: (c: Connection) => void = () => {};
  private settleClosed!: (err?: Error) => void;
  private connectWaiter: { resolve: () => void; reject: (e: Error) => void } | undefined;

  // Send side (offsets: -1 = SYN, finOff = FIN).
  readonly iss: number;
  sndUna = -1;
  /** Highest send offset sent so far (-1: not even the SYN yet). */
  sndMax = -1;
  sndWnd = 0;
  sndWl1 = 0;
  sndWl2 = -1;
  sndScale = 0;
  sendMss: number;
  readonly ourMss: number;
  sackOk = false;
  /** Window scaling agreed (both SYNs carried the option). */
  wsOk = false;
  readonly sendBuffer: SendBuffer;
  finQueued = false;
  finOff = 0;
  readonly scoreboard = new Scoreboard();
  readonly rto = new RtoEstimator();
  readonly cc: NewReno;
  readonly rack: Rack;
  retxNext = -1;
  lossPoint = -1;
  forceOne = false;
  inRecovery = false;
  recoverPoint = -1;
  dupAcks = 0;
  consecutiveTimeouts = 0;
  rttOff: number | undefined;
  rttStart = 0;

  // Receive side.
  irs = 0;
  readonly rcvBuf: ReceiveBuffer;
  rcvScale = 0;
  readonly ourScale: number;
  finReceived = false;
  pendingFin: number | undefined;
  lastEdge = 0;
  ackNow = false;
  unackedBytes = 0;
  /** The end-of-task microtask is queued (ackPerTask); what it owes: an ACK, a delivery. */
  private taskEndQueued = false;
  private ackAtEnd = false;
  private deliverAtEnd = false;

  readonly nagle: boolean;
  private readonly keepaliveMs: number;
  private keepaliveProbes = 0;
  persistMs = 0;
  readonly rtoTimer: Deadline;
  readonly delackTimer: Deadline;
  readonly persistTimer: Deadline;
  private readonly keepaliveTimer: Deadline;
  private readonly waitTimer: Deadline;

  constructor(
    readonly ctx: StackContext,
    readonly localAddress: Uint8Array,
    readonly localPort: number,
    readonly remoteAddress: Uint8Array,
    readonly remotePort: number,
    readonly key: string,
    options: TcpConnectOptions,
    syn?: TcpHeader,
  ) {
    const b = ctx.host.randomBytes(4);
    this.iss = ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
    const ipHeader = localAddress.length === 16 ? 40 : 20;
    this.ourMss = Math.max(64, ctx.host.mtu - ipHeader - 20);
    this.sendMss = this.ourMss;
    this.cc = new NewReno(this.sendMss);
    this.sendBuffer = new SendBuffer(ctx.sendBuffer);
    this.rcvBuf = new ReceiveBuffer(ctx.receiveWindow);
    this.ourScale = scaleFor(ctx.receiveWindow);
    this.nagle = options.nagle ?? false;
    this.keepaliveMs = options.keepaliveMs ?? 0;
    const clock = ctx.host.clock;
    const timer = (fn: () => void) => new Deadline(clock, () => ctx.run(fn));
    this.rtoTimer = timer(() => onRetransmitTimeout(this));
    this.rack = new Rack(
      timer(() => onRackTimeout(this)),
      timer(() => onProbeTimeout(this)),
    );
    this.delackTimer = timer(() => sendAck(this));
    this.persistTimer = timer(() => this.onPersist());
    this.keepaliveTimer = timer(() => this.onKeepalive());
    this.waitTimer = timer(() => this.finish());
    this.stats = {
      segmentsSent: 0,
      segmentsReceived: 0,
      bytesSent: 0,
      bytesReceived: 0,
      retransmissions: 0,
      fastRetransmits: 0,
      tailProbes: 0,
      timeouts: 0,
      dupAcks: 0,
      outOfOrder: 0,
      srtt: undefined,
      rto: this.rto.rto,
      cwnd: this.cc.cwnd,
      ssthresh: this.cc.ssthresh,
      sendMss: this.sendMss,
    };
    this.closed = new Promise<void>((resolve, reject) => {
      this.settleClosed = (err) => (err ? reject(err) : resolve());
    });
    this.closed.catch(() => {});
    const streams = createStreams(this);
    this.readable = streams.readable;
    this.writable = streams.writable;
    this.io = streams.io;
    if (syn) {
      this.state = "SYN_RECEIVED";
      this.acceptSyn(syn);
    } else this.state = "SYN_SENT";
    this.retxNext = this.lossPoint = -1;
    transmit(this);
    this.rtoTimer.set(this.rto.rto);
  }

  /** Active open: resolves once established. */
  whenEstablished(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.connectWaiter = { resolve, reject };
      const t = this.ctx.host.clock.setTimer(timeoutMs, () =>
        this.ctx.run(() => this.fail("connection timed out", false)),
      );
      this.closed.catch(() => t.cancel());
      this.connectWaiter.resolve = () => {
        t.cancel();
        resolve();
      };
    });
  }

  /** Send offset -> sequence number, and back (near SND.UNA). */
  sseq(off: number): number {
    return (this.iss + 1 + off) >>> 0;
  }
  soff(seq: number): number {
    return this.sndUna + seqDiff(seq, this.sseq(this.sndUna));
  }
  /** RCV.NXT as a receive offset (the FIN counts once received). */
  get rcvNxt(): number {
    return this.rcvBuf.nxt + (this.finReceived ? 1 : 0);
  }
  rseq(off: number): number {
    return (this.irs + 1 + off) >>> 0;
  }

  /** Records the peer's SYN: its sequence number, MSS, window scale and SACK-permitted. */
  private acceptSyn(h: TcpHeader): void {
    this.irs = h.seq;
    const o = h.options;
    const peerMss = o.mss ?? (this.localAddress.length === 16 ? 1220 : 536);
    this.sendMss = Math.max(64, Math.min(this.ourMss, peerMss));
    this.cc.setMss(this.sendMss);
    if (o.windowScale !== undefined) {
      this.wsOk = true;
      this.sndScale = o.windowScale;
      this.rcvScale = this.ourScale;
    }
    this.sackOk = o.sackPermitted === true;
    this.sndWnd = h.window; // never scaled in a SYN (RFC 7323 §2.2)
    this.sndWl1 = h.seq;
    this.sndWl2 = -1;
    this.lastEdge = 0;
    this.stats.sendMss = this.sendMss;
  }

  /** One segment for this connection (checksum already verified). */
  input(h: TcpHeader): void {
    this.stats.segmentsReceived++;
    if (this.state === "CLOSED") return;
    if (this.keepaliveMs > 0) {
      this.keepaliveProbes = 0;
      this.keepaliveTimer.set(this.keepaliveMs);
    }
    if (this.state === "SYN_SENT") {
      this.inputSynSent(h);
      return;
    }
    const f = h.flags;
    if (
      this.state === "SYN_RECEIVED" &&
      f & TcpFlag.SYN &&
      !(f & TcpFlag.ACK) &&
      h.seq === this.irs
    ) {
      this.retxNext = -1; // the peer lost our SYN-ACK: send it again
      this.lossPoint = Math.max(this.lossPoint, 0);
      this.forceOne = true;
      transmit(this);
      return;
    }
    const len = h.payload.length + (f & TcpFlag.SYN ? 1 : 0) + (f & TcpFlag.FIN ? 1 : 0);
    const d = seqDiff(h.seq, this.rseq(this.rcvNxt));
    const off = this.rcvNxt + d;
    const wnd = Math.max(this.rcvBuf.window, this.lastEdge - this.rcvNxt);
    const acceptable =
      len === 0
        ? d >= 0 && d <= wnd
        : wnd > 0 && ((d >= 0 && d < wnd) || (d + len - 1 >= 0 && d + len - 1 < wnd));
    if (!acceptable) {
      if (f & TcpFlag.RST) return;
      if (this.state === "TIME_WAIT" && f & TcpFlag.FIN) this.waitTimer.set(2 * this.ctx.mslMs);
      sendAck(this);
      return;
    }
    if (f & TcpFlag.RST) {
      // RFC 5961 §3.2: only an exact match resets; an in-window guess earns a challenge ACK.
      if (d !== 0) {
        sendAck(this);
        return;
      }
      this.ctx.stats.resetsReceived++;
      if (this.state === "SYN_RECEIVED") {
        this.fail("connection reset by peer", false);
        return;
      }
      if (this.state === "CLOSING" || this.state === "LAST_ACK" || this.state === "TIME_WAIT") {
        this.finish();
        return;
      }
      this.fail("connection reset by peer", false);
      return;
    }
    if (f & TcpFlag.SYN) {
      sendAck(this);
      return;
    } // RFC 5961 §4: challenge ACK
    if (!(f & TcpFlag.ACK)) return;
    if (!processAck(this, h)) return;
    if (this.is("CLOSED")) return;
    if (h.payload.length > 0 && !this.finReceived) this.processData(h.payload, off);
    if (f & TcpFlag.FIN) this.processFin(off + h.payload.length);
    if (this.is("TIME_WAIT") || this.is("CLOSED")) {
      if (this.ackNow) sendAck(this);
      return;
    }
    transmit(this);
    if (!this.ackNow && !this.ackAtEnd && this.unackedBytes > 0 && !this.delackTimer.armed)
      this.delackTimer.set(DELAYED_ACK_MS);
  }

  private inputSynSent(h: TcpHeader): void {
    const f = h.flags;
    if (f & TcpFlag.ACK && h.ack !== this.sseq(0)) {
      if (!(f & TcpFlag.RST)) sendReset(this.ctx, this.localAddress, this.remoteAddress, h);
      return;
    }
    if (f & TcpFlag.RST) {
      if (f & TcpFlag.ACK) {
        this.ctx.stats.resetsReceived++;
        this.fail("connection refused", false);
      }
      return;
    }
    if (!(f & TcpFlag.SYN)) return;
    this.acceptSyn(h);
    if (!(f & TcpFlag.ACK)) {
      this.state = "SYN_RECEIVED"; // simultaneous open: our SYN becomes a SYN-ACK
      this.retxNext = -1;
      this.lossPoint = 0;
      this.forceOne = true;
      transmit(this);
      return;
    }
    ackedTo(this, 0);
    this.establish();
    sendAck(this);
    transmit(this);
  }

  establish(): void {
    this.state = "ESTABLISHED";
    if (this.keepaliveMs > 0) this.keepaliveTimer.set(this.keepaliveMs);
    if (this.connectWaiter) this.connectWaiter.resolve();
    else this.onEstablished(this);
    this.connectWaiter = undefined;
  }

  private processData(payload: Uint8Array, off: number): void {
    const r = this.rcvBuf.insert(off, payload);
    this.stats.bytesReceived += r.advanced;
    if (r.outOfOrder) {
      this.ackNow = true;
      if (r.advanced === 0) this.stats.outOfOrder++;
    } else {
      this.unackedBytes += r.advanced;
      if (this.unackedBytes >= 2 * this.ourMss) {
        if (this.ctx.ackPerTask && this.unackedBytes < MAX_STRETCH_ACK) {
          this.ackAtEnd = true;
          this.delackTimer.clear();
          this.atTaskEnd();
        } else this.ackNow = true;
      }
    }
    if (this.pendingFin !== undefined && this.pendingFin === this.rcvBuf.nxt) this.acceptFin();
    if (this.io.readCancelled) this.rcvBuf.discard();
    if (this.ctx.ackPerTask) {
      this.deliverAtEnd = true;
      this.atTaskEnd();
    } else this.io.deliver();
  }

  /**
   * With ackPerTask, what the segments of one task owe is settled once, in a microtask after
   * them (a relay BATCH's worth): one ACK, unless data or another ACK carried it first
   * (sendSegment zeroes unackedBytes), and one read for the application, not a short first
   * one for the first segment and another for the rest.
   */
  private atTaskEnd(): void {
    if (this.taskEndQueued) return;
    this.taskEndQueued = true;
    queueMicrotask(() => {
      this.taskEndQueued = false;
      const ack = this.ackAtEnd;
      const deliver = this.deliverAtEnd;
      this.ackAtEnd = this.deliverAtEnd = false;
      this.ctx.run(() => {
        if (ack && this.unackedBytes > 0) sendAck(this);
        if (deliver) this.io.deliver();
      });
    });
  }

  private processFin(finOff: number): void {
    if (this.finReceived) {
      this.ackNow = true;
      return;
    }
    if (finOff === this.rcvBuf.nxt) this.acceptFin();
    else if (finOff > this.rcvBuf.nxt) {
      this.pendingFin = finOff;
      this.ackNow = true;
    }
  }

  private acceptFin(): void {
    this.finReceived = true;
    this.pendingFin = undefined;
    this.ackNow = true;
    if (this.state === "ESTABLISHED" || this.state === "SYN_RECEIVED") this.state = "CLOSE_WAIT";
    else if (this.state === "FIN_WAIT_1") this.state = "CLOSING";
    else if (this.state === "FIN_WAIT_2") this.enterTimeWait();
    this.io.deliver();
  }

  /** The application closed its writable side: queue the FIN after the data. */
  shutdown(): void {
    if (this.finQueued || this.state === "CLOSED") return;
    this.finQueued = true;
    this.finOff = this.sendBuffer.end;
    if (this.state === "ESTABLISHED" || this.state === "SYN_RECEIVED") this.state = "FIN_WAIT_1";
    else if (this.state === "CLOSE_WAIT") this.state = "LAST_ACK";
    transmit(this);
  }

  /** Zero window with data waiting: probe so a lost window update cannot deadlock us. */
  armPersist(): void {
    if (this.persistTimer.armed) return;
    this.persistMs = Math.min(60_000, Math.max(this.rto.rto, this.persistMs * 2));
    this.persistTimer.set(this.persistMs);
  }

  private onPersist(): void {
    if (this.state === "CLOSED" || this.sndWnd > 0) return;
    sendProbe(this);
    this.armPersist();
  }

  private onKeepalive(): void {
    if (this.state !== "ESTABLISHED" && this.state !== "CLOSE_WAIT") return;
    if (this.keepaliveProbes >= KEEPALIVE_PROBES) {
      this.fail("keepalive timeout", true);
      return;
    }
    this.keepaliveProbes++;
    sendProbe(this);
    this.keepaliveTimer.set(Math.min(this.keepaliveMs, 75_000));
  }

  enterTimeWait(): void {
    this.state = "TIME_WAIT";
    for (const t of [this.rtoTimer, this.persistTimer, this.keepaliveTimer]) t.clear();
    this.waitTimer.set(2 * this.ctx.mslMs);
    this.settleClosed();
    this.io.deliver();
  }

  /** The connection ends normally (TIME_WAIT over, or our FIN acknowledged in LAST_ACK). */
  finish(): void {
    if (this.state === "CLOSED") return;
    if (this.ackNow) sendAck(this);
    this.teardown();
    this.settleClosed();
    this.io.deliver();
  }

  /** The connection ends badly: rejects everything pending with `reason`. */
  fail(reason: string, sendRst: boolean): void {
    if (this.state === "CLOSED") return;
    if (sendRst && this.state !== "SYN_SENT" && this.state !== "TIME_WAIT") {
      sendReset(this.ctx, this.localAddress, this.remoteAddress, undefined, this);
    }
    this.teardown();
    const err = new Error(reason);
    this.connectWaiter?.reject(err);
    this.connectWaiter = undefined;
    this.settleClosed(err);
    this.io.fail(err);
  }

  abort(reason?: string): void {
    this.ctx.run(() => this.fail(reason ?? "connection aborted", true));
  }

  private teardown(): void {
    this.state = "CLOSED";
    for (const t of [
      this.rtoTimer,
      this.rack.timer,
      this.rack.probe,
      this.delackTimer,
      this.persistTimer,
      this.keepaliveTimer,
      this.waitTimer,
    ])
      t.clear();
    this.onFinished(this);
  }

  /** State test that TypeScript does not narrow (processing may change the state). */
  private is(s: TcpState): boolean {
    return this.state === s;
  }

  syncStats(): void {
    this.stats.rto = this.rto.rto;
    this.stats.cwnd = this.cc.cwnd;
    this.stats.ssthresh = this.cc.ssthresh;
  }

  /** Sends what can be sent (after the application wrote). */
  kick(): void {
    transmit(this);
  }

  /** Called after the application read: a window update if the window opened a lot. */
  afterRead(): void {
    maybeWindowUpdate(this);
  }

  /** The right edge the next segment would advertise (receive offset). */
  get edge(): number {
    return advertisedEdge(this);
  }
}
