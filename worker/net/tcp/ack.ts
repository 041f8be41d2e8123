// Acknowledgment processing and loss recovery for a connection (RFC 9293 §3.10.7.4 fifth
// check; RFC 2018/6675 SACK scoreboard and pipe; RFC 5681/6582 fast retransmit and NewReno
// recovery; RFC 6298 timer expiry with exponential backoff and go-back-N that skips SACKed data).

import { seqDiff, TcpFlag, type TcpHeader } from "../wire/tcp.ts";
import type { Connection } from "./connection.ts";
import { sendAck, sendReset, transmit } from "./output.ts";

const MAX_SYN_RETRIES = 6;
const MAX_RETRIES = 15;

/** ACK processing (RFC 9293 §3.10.7.4 fifth check). False when the segment is dropped. */
export function processAck(c: Connection, h: TcpHeader): boolean {
  const ackOff = c.soff(h.ack);
  if (c.state === "SYN_RECEIVED") {
    if (ackOff < 0 || ackOff > c.sndMax) {
      sendReset(c.ctx, c.localAddress, c.remoteAddress, h);
      return false;
    }
    ackedTo(c, 0);
    c.sndWnd = h.window << c.sndScale;
    c.sndWl1 = h.seq;
    c.sndWl2 = 0;
    c.establish();
  }
  if (ackOff > c.sndMax) {
    sendAck(c);
    return false;
  }
  if (ackOff < c.sndUna) return true; // old duplicate
  const wnd = h.window << c.sndScale;
  let newSack = false;
  const blocks = h.options.sack;
  if (c.sackOk && blocks) {
    for (const [l, r] of blocks) {
      const s = c.soff(l);
      const e = c.soff(r);
      if (s > c.sndUna && e <= c.sndMax && e > s) newSack = c.scoreboard.add(s, e) || newSack;
    }
  }
  const isDup =
    ackOff === c.sndUna &&
    c.sndMax > c.sndUna &&
    h.payload.length === 0 &&
    !(h.flags & (TcpFlag.FIN | TcpFlag.SYN)) &&
    (wnd === c.sndWnd || newSack);
  if (seqDiff(c.sndWl1, h.seq) < 0 || (c.sndWl1 === h.seq && c.sndWl2 <= ackOff)) {
    c.sndWnd = wnd;
    c.sndWl1 = h.seq;
    c.sndWl2 = ackOff;
    if (wnd > 0) {
      c.persistTimer.clear();
      c.persistMs = 0;
    }
  }
  if (ackOff > c.sndUna) ackedTo(c, ackOff);
  else if (isDup) {
    c.dupAcks++;
    c.stats.dupAcks++;
    c.ctx.stats.dupAcks++;
    if (c.inRecovery && !c.sackOk) c.cc.inflate();
  }
  const mss = c.sendMss;
  if (
    !c.inRecovery &&
    c.sndMax > c.sndUna &&
    c.sndUna >= c.recoverPoint &&
    (c.dupAcks >= 3 || (c.sackOk && c.scoreboard.sackedIn(c.sndUna, c.sndMax) >= 3 * mss))
  )
    enterRecovery(c);
  if (c.inRecovery && c.sackOk) c.lossPoint = Math.max(c.lossPoint, c.scoreboard.high(c.sndUna));
  if (c.finQueued && c.sndUna > c.finOff) {
    if (c.state === "FIN_WAIT_1") c.state = "FIN_WAIT_2";
    else if (c.state === "CLOSING") c.enterTimeWait();
    else if (c.state === "LAST_ACK") c.finish();
  }
  return true;
}

/** New data acknowledged up to send offset `ackOff`. */
export function ackedTo(c: Connection, ackOff: number): void {
  const acked = ackOff - c.sndUna;
  if (c.rttOff !== undefined && ackOff > c.rttOff) {
    c.rto.sample(c.ctx.host.clock.now() - c.rttStart);
    c.rttOff = undefined;
    c.stats.srtt = c.rto.srtt;
  }
  c.sndUna = ackOff;
  c.sendBuffer.ack(Math.max(0, ackOff));
  c.scoreboard.ackTo(ackOff);
  c.retxNext = Math.max(c.retxNext, ackOff);
  c.lossPoint = Math.max(c.lossPoint, ackOff);
  c.consecutiveTimeouts = 0;
  c.dupAcks = 0;
  c.rto.resetBackoff();
  if (c.inRecovery) {
    if (ackOff >= c.recoverPoint) {
      c.inRecovery = false;
      c.cc.onRecoveryEnd(c.sndMax - c.sndUna);
    } else if (!c.sackOk) {
      // RFC 6582 partial ACK: retransmit the next segment, deflate the window.
      c.cc.onPartialAck(acked);
      c.retxNext = ackOff;
      c.lossPoint = Math.max(c.lossPoint, Math.min(c.sndMax, ackOff + c.sendMss));
      c.forceOne = true;
    }
  } else if (ackOff > 0) c.cc.onAck(acked);
  if (c.sndMax > c.sndUna) c.rtoTimer.set(c.rto.rto);
  else c.rtoTimer.clear();
  c.syncStats();
  c.io.wakeWriter();
}

export function enterRecovery(c: Connection): void {
  const flight = c.sndMax - c.sndUna;
  c.cc.onLoss(flight);
  if (!c.sackOk) c.cc.cwnd += 3 * c.sendMss;
  c.inRecovery = true;
  c.recoverPoint = c.sndMax;
  c.retxNext = c.sndUna;
  c.lossPoint = Math.max(
    Math.min(c.sndMax, c.sndUna + c.sendMss),
    c.sackOk ? c.scoreboard.high(c.sndUna) : 0,
  );
  c.forceOne = true;
  c.rttOff = undefined;
  c.stats.fastRetransmits++;
  c.ctx.stats.fastRetransmits++;
}

export function onRetransmitTimeout(c: Connection): void {
  if (c.state === "CLOSED" || c.sndMax <= c.sndUna) return;
  c.stats.timeouts++;
  c.ctx.stats.timeouts++;
  c.consecutiveTimeouts++;
  const synState = c.state === "SYN_SENT" || c.state === "SYN_RECEIVED";
  if (c.consecutiveTimeouts > (synState ? MAX_SYN_RETRIES : MAX_RETRIES)) {
    c.fail("connection timed out", !synState);
    return;
  }
  c.cc.onTimeout(c.sndMax - c.sndUna);
  c.inRecovery = false;
  c.recoverPoint = c.sndMax;
  c.dupAcks = 0;
  if (c.consecutiveTimeouts > 1) c.scoreboard.clear();
  c.retxNext = c.sndUna;
  c.lossPoint = c.sndMax;
  c.forceOne = true;
  c.rttOff = undefined;
  c.rto.backoff();
  c.rtoTimer.set(c.rto.rto);
  c.syncStats();
  transmit(c);
}
