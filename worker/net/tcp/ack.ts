// Acknowledgment processing and loss recovery for a connection (RFC 9293 §3.10.7.4 fifth
// check; RFC 2018/6675 SACK scoreboard and pipe; RFC 5681/6582 fast retransmit and NewReno
// recovery; RFC 6298 timer expiry with exponential backoff and go-back-N that skips SACKed data).

import { seqDiff, TcpFlag, type TcpHeader } from "../wire/tcp.ts";
import type { Connection } from "./connection.ts";
import { resend, sendAck, sendReset, transmit } from "./output.ts";
import { holes } from "./rack.ts";

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
  const now = c.ctx.host.clock.now();
  let newSack = false;
  const blocks = h.options.sack;
  if (c.sackOk && blocks) {
    for (const [l, r] of blocks) {
      const s = c.soff(l);
      const e = c.soff(r);
      if (s > c.sndUna && e <= c.sndMax && e > s) {
        // Only what this block newly reports was delivered now (RACK's reference).
        for (const [a, b] of holes(c.scoreboard, s, e)) c.rack.delivered(a, b, now);
        newSack = c.scoreboard.add(s, e) || newSack;
      }
    }
  }
  if (ackOff > c.sndUna) c.rack.delivered(c.sndUna, ackOff, now);
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
  // RACK also starts recovery when a window too small for three SACKed segments lost one.
  if (!c.inRecovery && c.sackOk && c.sndMax > c.sndUna && c.sndUna >= c.recoverPoint) {
    const srtt = c.rto.srtt ?? c.rto.rto;
    if (c.rack.detect(c.scoreboard, c.sndUna, c.sndMax, now, srtt, false)) enterRecovery(c);
  }
  if (c.inRecovery && c.sackOk) c.lossPoint = Math.max(c.lossPoint, c.scoreboard.high(c.sndUna));
  rackDetect(c);
  armProbe(c);
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
    const rtt = c.ctx.host.clock.now() - c.rttStart;
    c.rto.sample(rtt);
    c.rack.minRtt = Math.min(c.rack.minRtt ?? rtt, rtt);
    c.rttOff = undefined;
    c.stats.srtt = c.rto.srtt;
  }
  c.sndUna = ackOff;
  c.sendBuffer.ack(Math.max(0, ackOff));
  c.scoreboard.ackTo(ackOff);
  c.rack.ackTo(ackOff);
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
  c.rack.clearLost();
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
  c.rack.clearLost();
  c.lossPoint = c.sndMax;
  c.forceOne = true;
  c.rttOff = undefined;
  c.rto.backoff();
  c.rtoTimer.set(c.rto.rto);
  c.syncStats();
  transmit(c);
}

/** RACK over the retransmissions the sweep already passed (see rack.ts). */
function rackDetect(c: Connection): boolean {
  if (!c.sackOk || c.retxNext <= c.sndUna) {
    c.rack.timer.clear();
    return false;
  }
  const now = c.ctx.host.clock.now();
  return c.rack.detect(c.scoreboard, c.sndUna, c.retxNext, now, c.rto.srtt ?? c.rto.rto);
}

/** The reordering window ran out for a retransmission still missing: resend it now. */
export function onRackTimeout(c: Connection): void {
  if (c.state === "CLOSED" || c.sndMax <= c.sndUna) return;
  if (rackDetect(c)) transmit(c);
}

/** Least probe timeout (RFC 8985 §7.2); and the peer's delayed ACK when one segment is out. */
const MIN_PTO_MS = 10;
const DELAYED_ACK_ALLOWANCE_MS = 40;

/**
 * Arms the tail loss probe: when the last segments of a flight are lost no later segment's
 * SACK reveals it, and a small window never gathers three SACKed segments; a probe after
 * about two round trips draws the ACK that lets SACK and RACK recover instead of the RTO.
 */
export function armProbe(c: Connection): void {
  const srtt = c.rto.srtt;
  if (!c.sackOk || c.inRecovery || c.sndMax <= c.sndUna || srtt === undefined) {
    c.rack.probe.clear();
    return;
  }
  let pto = Math.max(2 * srtt, MIN_PTO_MS);
  if (c.sndMax - c.sndUna <= c.sendMss) pto += DELAYED_ACK_ALLOWANCE_MS;
  const rtoLeft = (c.rtoTimer.at ?? Number.POSITIVE_INFINITY) - c.ctx.host.clock.now();
  if (pto < rtoLeft) c.rack.probe.set(pto);
  else c.rack.probe.clear();
}

/** The probe timer ran out with no ACK since: resend the last segment (RFC 8985 §7.3). */
export function onProbeTimeout(c: Connection): void {
  if (c.state === "CLOSED" || c.sndMax <= c.sndUna || c.inRecovery) return;
  const start = Math.max(c.sndUna, c.sndMax - c.sendMss);
  const hole = holes(c.scoreboard, start, c.sndMax).pop();
  if (!hole) return;
  c.stats.tailProbes++;
  resend(c, hole[0], hole[1]);
}
