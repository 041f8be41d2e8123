// Sending for a connection: what may go out now (the retransmission of ranges deemed lost,
// skipping what the peer SACKed, then new data within the peer's window and the congestion
// window, with Nagle optional and sender-side SWS avoidance), the building of segments
// (SYN options, SACK blocks, the advertised window), pure ACKs, probes and resets.

import {
  setTcpChecksum,
  TCP_HEADER_LENGTH,
  TcpFlag,
  type TcpHeader,
  type TcpOptions,
  tcpOptionsLength,
  writeTcpHeader,
} from "../wire/tcp.ts";
import type { Connection } from "./connection.ts";
import type { StackContext } from "./types.ts";

/** SACK blocks sent at most (three fit beside timestamps in Linux; we send no timestamps). */
const MAX_SACK_BLOCKS = 3;

/** Bytes in flight per RFC 6675's pipe: outstanding minus SACKed minus lost-not-resent. */
export function pipe(c: Connection): number {
  const out = c.sndMax - c.sndUna;
  if (out <= 0) return 0;
  let lost = 0;
  if (c.lossPoint > c.retxNext)
    lost = c.lossPoint - c.retxNext - c.scoreboard.sackedIn(c.retxNext, c.lossPoint);
  if (c.rack.lost.length > 0) lost += c.rack.lostBytes(c.scoreboard);
  return Math.max(0, out - c.scoreboard.sackedIn(c.sndUna, c.sndMax) - lost);
}

function sackOptions(c: Connection): TcpOptions | undefined {
  if (!c.sackOk || !c.rcvBuf.hasOutOfOrder) return undefined;
  const blocks = c.rcvBuf.sackBlocks(MAX_SACK_BLOCKS);
  return { sack: blocks.map(([s, e]) => [c.rseq(s), c.rseq(e)] as [number, number]) };
}

/** Data bytes that fit in one segment now (MSS minus the options this segment carries). */
function maxPayload(c: Connection, options: TcpOptions | undefined): number {
  return c.sendMss - tcpOptionsLength(options);
}

/** The receive window field and the right edge (receive offset) it advertises. */
function windowField(c: Connection): { field: number; edge: number } {
  const free = c.rcvBuf.window;
  const field = Math.min(0xffff, Math.floor(free / 2 ** c.rcvScale));
  return { field, edge: c.rcvBuf.nxt + field * 2 ** c.rcvScale };
}

export function advertisedEdge(c: Connection): number {
  return windowField(c).edge;
}

/** Sends one segment starting at send offset `off` with `len` data bytes; returns the next offset. */
function sendSegment(c: Connection, off: number, len: number, fin: boolean): number {
  const host = c.ctx.host;
  let flags: number = TcpFlag.ACK;
  let options: TcpOptions | undefined;
  let window: number;
  if (off === -1) {
    // SYN or SYN-ACK: our MSS, window scale and SACK-permitted (in a SYN-ACK only if offered).
    const active = c.state === "SYN_SENT";
    flags = active ? TcpFlag.SYN : TcpFlag.SYN | TcpFlag.ACK;
    options = { mss: c.ourMss };
    if (active || c.wsOk) options.windowScale = c.ourScale;
    if (active || c.sackOk) options.sackPermitted = true;
    window = Math.min(0xffff, c.rcvBuf.window);
    c.lastEdge = Math.max(c.lastEdge, window);
    len = 0;
    fin = false;
  } else {
    options = sackOptions(c);
    const w = windowField(c);
    window = w.field;
    if (w.edge > c.lastEdge) c.lastEdge = w.edge;
  }
  if (len > 0 && off + len === c.sendBuffer.end) flags |= TcpFlag.PSH;
  if (fin) flags |= TcpFlag.FIN;
  const hlen = TCP_HEADER_LENGTH + tcpOptionsLength(options);
  const seg = new Uint8Array(hlen + len);
  writeTcpHeader(seg, {
    srcPort: c.localPort,
    dstPort: c.remotePort,
    seq: c.sseq(off),
    ack: flags & TcpFlag.ACK ? c.rseq(c.rcvNxt) : 0,
    flags,
    window,
    options,
  });
  if (len > 0) c.sendBuffer.copy(off, seg.subarray(hlen));
  setTcpChecksum(seg, c.localAddress, c.remoteAddress);
  c.stats.segmentsSent++;
  c.ctx.stats.segmentsSent++;
  c.ackNow = false;
  c.unackedBytes = 0;
  c.delackTimer.clear();
  host.output(c.localAddress, c.remoteAddress, seg);
  return off + (off === -1 ? 1 : len + (fin ? 1 : 0));
}

/** Resends what lies at [start, end) from `start`: one segment; returns the offset after it. */
export function resend(c: Connection, start: number, end: number): number {
  c.stats.retransmissions++;
  c.ctx.stats.retransmissions++;
  c.rttOff = undefined; // Karn's rule
  if (start === -1) return sendSegment(c, -1, 0, false);
  const dataEnd = Math.min(end, c.sendBuffer.end, start + maxPayload(c, sackOptions(c)));
  const len = Math.max(0, dataEnd - start);
  const fin = c.finQueued && start + len === c.finOff && end > c.finOff;
  const next = sendSegment(c, start, len, fin);
  c.rack.record(start, next, c.ctx.host.clock.now(), true);
  return next;
}

/** Sends whatever may be sent now, then a pure ACK if one is owed and nothing carried it. */
export function transmit(c: Connection): void {
  const st = c.state;
  if (st === "CLOSED" || st === "TIME_WAIT") return;
  const cwnd = c.cc.cwnd;
  // 1. Retransmissions RACK found lost again (below the sweep), then ranges deemed lost,
  // skipping SACKed ones.
  while (c.rack.lost.length > 0) {
    const [s, e] = c.rack.lost[0]!;
    const hole = s < e ? c.scoreboard.nextHole(Math.max(s, c.sndUna), e) : undefined;
    if (!hole || hole[0] >= hole[1]) {
      c.rack.resent(s, e);
      continue;
    }
    if (pipe(c) + Math.min(c.sendMss, hole[1] - hole[0]) > cwnd) break;
    const next = resend(c, hole[0], hole[1]);
    c.rack.resent(s, next > hole[0] ? next : e); // never spin on a range that sent nothing
    if (hole[0] === c.sndUna) c.rtoTimer.set(c.rto.rto);
  }
  while (c.retxNext < c.lossPoint) {
    const hole = c.scoreboard.nextHole(c.retxNext, c.lossPoint);
    if (!hole) {
      c.retxNext = c.lossPoint;
      break;
    }
    if (!c.forceOne && pipe(c) + Math.min(c.sendMss, hole[1] - hole[0]) > cwnd) break;
    c.forceOne = false;
    c.retxNext = resend(c, hole[0], hole[1]);
    // Resending the head restarts the timer: its ACK is a round trip away (as Linux does).
    if (hole[0] === c.sndUna) c.rtoTimer.set(c.rto.rto);
  }
  // 2. New data (and the SYN, and the FIN).
  const now = c.ctx.host.clock.now();
  for (;;) {
    if (c.sndMax === -1) {
      c.rttOff = -1;
      c.rttStart = now;
      c.sndMax = sendSegment(c, -1, 0, false);
      break;
    }
    if (c.sndUna < 0) break; // no data before our SYN is acknowledged
    const avail = c.sendBuffer.end - c.sndMax;
    const finPending = c.finQueued && c.sndMax <= c.finOff;
    if (avail <= 0 && !finPending) break;
    const room = c.sndUna + c.sndWnd - c.sndMax;
    const mp = maxPayload(c, sackOptions(c));
    const len = Math.max(0, Math.min(avail, mp, room));
    if (avail > 0 && len === 0) {
      if (c.sndMax === c.sndUna || c.sndWnd === 0) c.armPersist();
      break;
    }
    const p = pipe(c);
    if (p > 0 && p + len > cwnd) break;
    const inFlight = c.sndMax > c.sndUna;
    if (len < mp && len < avail && inFlight) break; // sender SWS avoidance
    if (c.nagle && len < mp && inFlight && !finPending) break;
    const fin = finPending && c.sndMax + len === c.finOff;
    if (c.rttOff === undefined) {
      c.rttOff = c.sndMax;
      c.rttStart = now;
    }
    const start = c.sndMax;
    c.sndMax = sendSegment(c, start, len, fin);
    c.rack.record(start, c.sndMax, now, false);
    c.stats.bytesSent += len;
  }
  if (c.sndMax > c.sndUna && !c.rtoTimer.armed) c.rtoTimer.set(c.rto.rto);
  if (c.ackNow) sendAck(c);
}

/** A segment without data at SND.NXT: acknowledges, advertises the window, carries SACK. */
export function sendAck(c: Connection): void {
  if (c.state === "CLOSED" || c.state === "SYN_SENT") return;
  sendSegment(c, Math.max(0, c.sndMax), 0, false);
}

/** Window probe / keepalive: one below SND.UNA, so the peer must answer with an ACK. */
export function sendProbe(c: Connection): void {
  sendSegment(c, c.sndUna - 1, 0, false);
}

/**
 * After the application read: tell the peer if the window opened by a useful amount, and only
 * while the window it last saw is under half the buffer (as Linux's tcp_cleanup_rbuf): above
 * that the sender is not held by our window, and the ACKs that data brings carry the new edge.
 * Without that rule every read of a download cost one more packet through the tunnel.
 */
export function maybeWindowUpdate(c: Connection): void {
  if (c.state === "CLOSED" || c.state === "TIME_WAIT" || c.state === "SYN_SENT") return;
  if (c.lastEdge - c.rcvBuf.nxt >= c.rcvBuf.limit / 2) return;
  const { edge } = windowField(c);
  const threshold = Math.min(2 * c.ourMss, Math.floor(c.rcvBuf.limit / 2));
  if (edge - c.lastEdge >= threshold) sendAck(c);
}

/**
 * A reset (RFC 9293 §3.10.7.1): in answer to segment `h` (seq from its ACK, or ACK of its
 * length), or, without `h`, from connection `c` aborting (seq = SND.NXT).
 */
export function sendReset(
  ctx: StackContext,
  local: Uint8Array,
  remote: Uint8Array,
  h: TcpHeader | undefined,
  c?: Connection,
): void {
  let seq = 0;
  let ack = 0;
  let flags: number = TcpFlag.RST;
  let srcPort: number;
  let dstPort: number;
  if (h) {
    srcPort = h.dstPort;
    dstPort = h.srcPort;
    if (h.flags & TcpFlag.ACK) seq = h.ack;
    else {
      const len =
        h.payload.length + (h.flags & TcpFlag.SYN ? 1 : 0) + (h.flags & TcpFlag.FIN ? 1 : 0);
      ack = (h.seq + len) >>> 0;
      flags |= TcpFlag.ACK;
    }
  } else if (c) {
    srcPort = c.localPort;
    dstPort = c.remotePort;
    seq = c.sseq(Math.max(0, c.sndMax));
    ack = c.rseq(c.rcvNxt);
    flags |= TcpFlag.ACK;
  } else return;
  const seg = new Uint8Array(TCP_HEADER_LENGTH);
  writeTcpHeader(seg, { srcPort, dstPort, seq, ack, flags, window: 0 });
  setTcpChecksum(seg, local, remote);
  ctx.stats.resetsSent++;
  ctx.stats.segmentsSent++;
  ctx.host.output(local, remote, seg);
}
