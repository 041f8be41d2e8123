// WebRTC attempts to peers (docs/paths.md, "Direct paths from the browser"): the offer and answer
// exchange over the map stream's signals, trickled candidates, the open data channel handed to
// the node's ChannelBind, and the limits around it. The page offers (it creates the channel:
// werift marks a channel it creates in-band as ordered), the agent answers; both use this class
// with the platform's RtcFactory. Bounded: at most `maxChannels` connections (open or being
// made), one per peer; a failed attempt backs off (2 s doubling to 1 min), a refusal (the peer
// takes no signals, is hidden, or has direct paths off) waits 10 min; an answerer takes at most
// one offer per peer per second. Nothing here runs per packet but `want`, a map lookup.

import type { PeerSignalMessage, SignalMessage } from "../control/messages.ts";
import type { Clock, TimerHandle } from "../wireguard/clock.ts";
import type { DatagramChannel, RtcCandidate, RtcConnection, RtcFactory } from "./rtc-types.ts";

/** A signal as RtcSessions sends it (ControlClient.signal). */
export type OutgoingSignal = Omit<SignalMessage, "type">;

/** Timings of attempts. */
export interface RtcTimings {
  /** An attempt that has not opened its channel by then is ended (ms). */
  openTimeoutMs: number;
  /** First wait after a failed attempt (ms); doubles per failure in a row. */
  retryBaseMs: number;
  /** The longest wait after failures (ms). */
  retryMaxMs: number;
  /** The wait after a refusal: the peer cannot take signals, is hidden, or said no (ms). */
  refusedRetryMs: number;
  /** Answerer: offers from one peer closer together than this are refused (ms). */
  offerGapMs: number;
  /**
   * Offerer: new attempts at least this far apart (ms): a burst of them (each an offer and its
   * candidates) would meet the server's signal rate (40, then 10 a second) and be refused.
   */
  attemptGapMs: number;
}

export const DEFAULT_RTC_TIMINGS: RtcTimings = {
  openTimeoutMs: 15_000,
  retryBaseMs: 2_000,
  retryMaxMs: 60_000,
  refusedRetryMs: 600_000,
  offerGapMs: 1_000,
  attemptGapMs: 250,
};

/** Bye reasons after which the attempt is not repeated for `refusedRetryMs`. */
const REFUSALS = new Set(["not_supported", "unknown_peer", "not_visible", "disabled", "refused"]);
/** A channel open this long (ms) resets the failures in a row behind its peer's backoff. */
const STABLE_MS = 30_000;
/** Our candidates kept while our description is not sent yet. */
const MAX_EARLY_CANDIDATES = 32;
/** A peer's candidates taken per attempt (trickled, before or after its description). */
const MAX_REMOTE_CANDIDATES = 32;

/** Options of RtcSessions. */
export interface RtcSessionsOptions {
  /** "offer": starts attempts for wanted peers (the page); "answer": takes offers (the agent). */
  role: "offer" | "answer";
  factory: RtcFactory;
  /** Sends a signal on the map stream (ControlClient.signal): false without a stream; throws on a value the shared checks refuse. */
  signal: (signal: OutgoingSignal) => boolean;
  /** The STUN servers to use now ("stun:host:port", from the map's relays). */
  iceServers: () => string[];
  clock: Clock;
  /** A fresh attempt id (8-64 of A-Z a-z 0-9 _ -). */
  randomId: () => string;
  /** Connections at most, open or being made (the page's per-tab limit; the agent's total). */
  maxChannels: number;
  /** Free slots of the platform now (the page's hosting tabs); absent: only maxChannels. */
  capacity?: () => number;
  /** Offerer: whether a peer may be offered to now (in the map, online, takes answers). */
  eligible?: (key: string) => boolean;
  /** The channel to `key` opened. */
  onOpen: (key: string, channel: DatagramChannel) => void;
  /** A datagram from `key`'s channel. */
  onDatagram: (key: string, packet: Uint8Array) => void;
  /** The channel to `key` (open before) closed. */
  onClosed: (key: string, channel: DatagramChannel) => void;
  timings?: Partial<RtcTimings>;
}

/** A random attempt id: 16 characters of A-Z a-z 0-9 (the signal's `sid`). */
export function randomSid(): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  let out = "";
  for (const byte of globalThis.crypto.getRandomValues(new Uint8Array(16))) {
    out += alphabet[byte % alphabet.length];
  }
  return out;
}

/** Counters; they only grow. */
export interface RtcSessionsStats {
  offersSent: number;
  offersAnswered: number;
  opened: number;
  failed: number;
  /** Attempts the peer (or its server) refused with a bye. */
  refused: number;
  /** Offers refused here: limit, rate, direct paths off, wrong role. */
  offersRefused: number;
  byesSent: number;
  /** Local candidates not sent because the shared checks refuse them (TCP, for one). */
  candidatesSkipped: number;
  /** A peer's candidates beyond MAX_REMOTE_CANDIDATES in one attempt, not used. */
  candidatesRefused: number;
}

interface Session {
  key: string;
  sid: string;
  conn: RtcConnection;
  channel: DatagramChannel | undefined;
  /** The peer's description arrived (being applied, or applied: `remoteSet`). */
  remoteSeen: boolean;
  remoteSet: boolean;
  early: RtcCandidate[];
  /** Our offer or answer went out: our candidates before it wait (the peer drops them). */
  localSent: boolean;
  localEarly: RtcCandidate[];
  timer: TimerHandle | undefined;
  /** When the channel opened (clock time), or undefined before. */
  openedAt: number | undefined;
  /** The peer's candidates taken so far. */
  remoteCandidates: number;
}

/** The WebRTC attempts and open channels of one node. */
export class RtcSessions {
  readonly stats: RtcSessionsStats = {
    offersSent: 0,
    offersAnswered: 0,
    opened: 0,
    failed: 0,
    refused: 0,
    offersRefused: 0,
    byesSent: 0,
    candidatesSkipped: 0,
    candidatesRefused: 0,
  };
  private readonly timings: RtcTimings;
  private readonly sessions = new Map<string, Session>();
  /** Per peer: no attempt before this time, and the failures in a row behind it. */
  private readonly retry = new Map<string, { notBefore: number; failures: number }>();
  private readonly lastOffer = new Map<string, number>();
  private enabled = true;
  private lastAttempt = Number.NEGATIVE_INFINITY;
  private closed = false;

  constructor(private readonly options: RtcSessionsOptions) {
    this.timings = { ...DEFAULT_RTC_TIMINGS, ...options.timings };
  }

  /** Connections open or being made. */
  get size(): number {
    return this.sessions.size;
  }

  /** "open", "connecting", or undefined when there is no connection to `key`. */
  stateOf(key: string): "open" | "connecting" | undefined {
    const session = this.sessions.get(key);
    if (session === undefined) return undefined;
    return session.channel === undefined ? "connecting" : "open";
  }

  /** Turns direct paths on or off; off closes every connection and refuses offers. */
  setEnabled(enabled: boolean): void {
    this.enabled = enabled;
    if (!enabled) for (const session of [...this.sessions.values()]) this.end(session, "disabled");
  }

  /** Offerer: the node has traffic for `key`; starts an attempt when one is allowed now. */
  want(key: string): void {
    if (this.options.role !== "offer" || !this.enabled || this.closed) return;
    if (this.sessions.has(key) || this.sessions.size >= this.options.maxChannels) return;
    const now = this.options.clock.now();
    if (now - this.lastAttempt < this.timings.attemptGapMs) return;
    const retry = this.retry.get(key);
    if (retry !== undefined && retry.notBefore > this.options.clock.now()) return;
    if (this.options.capacity !== undefined && this.options.capacity() <= 0) return;
    if (this.options.eligible?.(key) === false) return;
    const session = this.open(key, this.options.randomId(), "offer");
    this.lastAttempt = now;
    if (session === undefined) return;
    session.conn.offer().then(
      (sdp) => {
        if (this.sessions.get(key) !== session) return;
        const sent = this.sendDescription(session, "offer", sdp);
        if (sent) this.stats.offersSent++;
      },
      () => this.fail(session, "offer_failed"),
    );
  }

  /** A signal from a peer (ControlClient's onSignal). */
  onSignal(message: PeerSignalMessage): void {
    if (this.closed) return;
    const key = message.from;
    const session = this.sessions.get(key);
    const current = session !== undefined && session.sid === message.sid ? session : undefined;
    switch (message.kind) {
      case "offer":
        this.onOffer(key, message);
        return;
      case "answer":
        if (current === undefined || this.options.role !== "offer" || current.remoteSeen) return;
        current.remoteSeen = true;
        current.conn.acceptAnswer(message.sdp ?? "").then(
          () => this.remoteApplied(current),
          () => this.fail(current, "bad_answer"),
        );
        return;
      case "candidate":
        if (current === undefined || message.candidate === undefined) return;
        this.addRemoteCandidate(current, {
          candidate: message.candidate,
          mid: message.mid,
          mline: message.mline,
        });
        return;
      case "bye":
        if (current === undefined) return;
        // The wait first: onClosed (inside end) may want the peer again at once.
        if (REFUSALS.has(message.reason ?? "")) {
          this.stats.refused++;
          this.retry.set(key, {
            notBefore: this.options.clock.now() + this.timings.refusedRetryMs,
            failures: 0,
          });
        } else this.backOff(current);
        this.end(current, null);
        return;
    }
  }

  /** Ends the connection to `key` (its channel is of no use: the path chooser could not take it). */
  drop(key: string, reason: string): void {
    const session = this.sessions.get(key);
    if (session === undefined) return;
    this.fail(session, reason);
  }

  /** Closes connections to peers not in `keys` (the map dropped them). */
  retain(keys: ReadonlySet<string>): void {
    for (const session of [...this.sessions.values()]) {
      if (!keys.has(session.key)) this.end(session, "peer_gone");
    }
    for (const key of [...this.retry.keys()]) if (!keys.has(key)) this.retry.delete(key);
    for (const key of [...this.lastOffer.keys()]) if (!keys.has(key)) this.lastOffer.delete(key);
  }

  /** Closes every connection (saying bye); nothing starts after. */
  close(): void {
    for (const session of [...this.sessions.values()]) this.end(session, "closed");
    this.closed = true;
  }

  private onOffer(key: string, message: PeerSignalMessage): void {
    const refuse = (reason: string): void => {
      this.stats.offersRefused++;
      this.send({ to: key, sid: message.sid, kind: "bye", reason });
    };
    if (this.options.role !== "answer") {
      refuse("not_supported");
      return;
    }
    if (!this.enabled) {
      refuse("disabled");
      return;
    }
    // The same offer again (a duplicate delivery) changes nothing.
    const current = this.sessions.get(key);
    if (current !== undefined && current.sid === message.sid) return;
    const now = this.options.clock.now();
    const last = this.lastOffer.get(key);
    if (last !== undefined && now - last < this.timings.offerGapMs) {
      refuse("rate_limited");
      return;
    }
    // A new offer from a peer replaces its old connection (its page reloaded).
    const old = this.sessions.get(key);
    if (old !== undefined) this.end(old, null);
    if (this.sessions.size >= this.options.maxChannels) {
      refuse("busy");
      return;
    }
    this.lastOffer.set(key, now);
    const session = this.open(key, message.sid, "answer");
    if (session === undefined) {
      refuse("failed");
      return;
    }
    session.conn.answer(message.sdp ?? "").then(
      (sdp) => {
        if (this.sessions.get(key) !== session) return;
        if (!this.sendDescription(session, "answer", sdp)) return;
        this.stats.offersAnswered++;
        this.remoteApplied(session);
      },
      () => this.fail(session, "bad_offer"),
    );
  }

  /** Makes the connection of an attempt, with its events bound to it. */
  /** Undefined when the platform refused to make one (counted as failed, backed off). */
  private open(key: string, sid: string, role: "offer" | "answer"): Session | undefined {
    const session: Session = {
      key,
      sid,
      conn: undefined as unknown as RtcConnection,
      channel: undefined,
      remoteSeen: role === "answer",
      remoteSet: false,
      early: [],
      localSent: false,
      localEarly: [],
      timer: undefined,
      openedAt: undefined,
      remoteCandidates: 0,
    };
    const live = (): boolean => this.sessions.get(key) === session;
    try {
      session.conn = this.createConnection(session, live);
    } catch {
      this.stats.failed++;
      this.backOff(session);
      return undefined;
    }
    this.sessions.set(key, session);
    session.timer = this.options.clock.setTimer(this.timings.openTimeoutMs, () => {
      if (live() && session.channel === undefined) this.fail(session, "timeout");
    });
    return session;
  }

  /** The platform's connection for `session`, its events bound to it while it is `live`. */
  private createConnection(session: Session, live: () => boolean): RtcConnection {
    const key = session.key;
    return this.options.factory.create(
      { iceServers: this.options.iceServers() },
      {
        onCandidate: (candidate) => {
          if (!live()) return;
          if (session.localSent) this.sendCandidate(session, candidate);
          else if (session.localEarly.length < MAX_EARLY_CANDIDATES) {
            session.localEarly.push(candidate);
          } else this.stats.candidatesSkipped++;
        },
        onOpen: (channel) => {
          if (!live() || session.channel !== undefined) return;
          session.channel = channel;
          session.timer?.cancel();
          session.timer = undefined;
          this.stats.opened++;
          session.openedAt = this.options.clock.now();
          this.options.onOpen(key, channel);
        },
        onDatagram: (packet) => {
          if (live() && session.channel !== undefined) this.options.onDatagram(key, packet);
        },
        onClose: () => {
          if (live()) this.fail(session, "closed");
        },
      },
    );
  }

  private remoteApplied(session: Session): void {
    if (this.sessions.get(session.key) !== session) return;
    session.remoteSet = true;
    for (const candidate of session.early.splice(0)) this.applyCandidate(session, candidate);
  }

  private addRemoteCandidate(session: Session, candidate: RtcCandidate): void {
    // Each candidate becomes ICE checks to the address it names: a peer gets a bounded number.
    if (session.remoteCandidates >= MAX_REMOTE_CANDIDATES) {
      this.stats.candidatesRefused++;
      return;
    }
    session.remoteCandidates++;
    if (!session.remoteSet) session.early.push(candidate);
    else this.applyCandidate(session, candidate);
  }

  private applyCandidate(session: Session, candidate: RtcCandidate): void {
    // A candidate the platform cannot use is its own business: the others may still connect.
    session.conn.addCandidate(candidate).catch(() => {});
  }

  /** An attempt or channel failed here: bye to the peer, and back off. */
  private fail(session: Session, reason: string): void {
    if (this.sessions.get(session.key) !== session) return;
    this.stats.failed++;
    // The wait first: onClosed (inside end) may want the peer again at once.
    this.backOff(session);
    this.end(session, reason);
  }

  /**
   * The next attempt waits, doubling with failures in a row; a channel that stayed open a
   * while (STABLE_MS) counts as a success, so one that opens and dies at once keeps backing off.
   */
  private backOff(session: Session): void {
    const key = session.key;
    const now = this.options.clock.now();
    const stable = session.openedAt !== undefined && now - session.openedAt >= STABLE_MS;
    const failures = (stable ? 0 : (this.retry.get(key)?.failures ?? 0)) + 1;
    const wait = Math.min(this.timings.retryMaxMs, this.timings.retryBaseMs * 2 ** (failures - 1));
    this.retry.set(key, { notBefore: now + wait, failures });
  }

  /** Closes the session; `bye` is the reason told to the peer (null: the peer ended it). */
  private end(session: Session, bye: string | null): void {
    if (this.sessions.get(session.key) !== session) return;
    this.sessions.delete(session.key);
    session.timer?.cancel();
    session.conn.close();
    if (bye !== null) this.send({ to: session.key, sid: session.sid, kind: "bye", reason: bye });
    if (session.channel !== undefined) this.options.onClosed(session.key, session.channel);
  }

  /** Sends the local offer or answer; on failure the attempt ends (false). */
  private sendDescription(session: Session, kind: "offer" | "answer", sdp: string): boolean {
    let sent: boolean;
    try {
      sent = this.send({ to: session.key, sid: session.sid, kind, sdp });
    } catch {
      // The platform wrote SDP the shared checks refuse: the peer's server would too.
      this.fail(session, "bad_sdp");
      return false;
    }
    if (!sent) {
      this.fail(session, "no_stream");
      return false;
    }
    session.localSent = true;
    for (const candidate of session.localEarly.splice(0)) this.sendCandidate(session, candidate);
    return true;
  }

  private sendCandidate(session: Session, candidate: RtcCandidate): void {
    try {
      this.send({ to: session.key, sid: session.sid, kind: "candidate", ...candidate });
    } catch {
      this.stats.candidatesSkipped++; // a TCP or otherwise refused candidate
    }
  }

  private send(signal: OutgoingSignal): boolean {
    if (signal.kind === "bye") {
      try {
        if (this.options.signal(signal)) this.stats.byesSent++;
      } catch {
        // A bye is best effort; its values are ours and always pass the checks.
      }
      return true;
    }
    return this.options.signal(signal);
  }
}
