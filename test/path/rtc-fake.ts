// A fake of the platform's WebRTC (worker/path/rtc-types.ts) for RtcSessions tests: connections
// record what they are asked and let the test fire the platform's events; a "side" is one node's
// RtcSessions whose signals are checked as ControlClient checks them and queued for the other.

import type { PeerSignalMessage } from "../../worker/control/messages.ts";
import { signalContentReason } from "../../worker/control/signal-values.ts";
import {
  type OutgoingSignal,
  RtcSessions,
  type RtcSessionsOptions,
} from "../../worker/path/rtc-sessions.ts";
import type {
  DatagramChannel,
  RtcCandidate,
  RtcConnection,
  RtcEvents,
} from "../../worker/path/rtc-types.ts";
import { FakeClock } from "../../worker/wireguard/clock.ts";
import { keyToBase64 } from "../../worker/wireguard/keys.ts";
import { CHROMIUM_OFFER, OFFER } from "../control/signal-fixtures.ts";
import { seededBytes } from "../helpers/seeded.ts";

/** A data-channel answer as Chromium writes it (the offer, setup active). */
export const ANSWER = CHROMIUM_OFFER.map((l) => `${l.replace("actpass", "active")}\r\n`).join("");
/** A fresh node key (base64), the same sequence every run. */
export const randomKey = (() => {
  const bytes = seededBytes(0x5e55);
  return () => keyToBase64(bytes(32));
})();

/** A channel that records what is sent on it. */
export class FakeChannel implements DatagramChannel {
  readonly sent: Uint8Array[] = [];
  send(packet: Uint8Array): boolean {
    this.sent.push(packet.slice());
    return true;
  }
}

/** The platform's answer to one call, settled by the test when the factory holds calls. */
export interface Held {
  name: string;
  resolve: () => void;
  reject: () => void;
}

/** A connection that records calls; the test fires its events. */
export class FakeConn implements RtcConnection {
  readonly calls: string[] = [];
  readonly added: RtcCandidate[] = [];
  readonly held: Held[] = [];
  closes = 0;
  constructor(
    readonly events: RtcEvents,
    readonly iceServers: string[],
    private readonly factory: FakeFactory,
  ) {}
  private step<T>(name: string, value: () => T): Promise<T> {
    this.calls.push(name);
    return new Promise<T>((resolve, reject) => {
      const settle = () => {
        try {
          resolve(value());
        } catch (error) {
          reject(error);
        }
      };
      if (this.factory.hold) this.held.push({ name, resolve: settle, reject: () => reject(0) });
      else settle();
    });
  }
  offer(): Promise<string> {
    return this.step("offer", () => this.factory.offerSdp);
  }
  acceptAnswer(sdp: string): Promise<void> {
    return this.step("acceptAnswer", () => check(sdp));
  }
  answer(sdp: string): Promise<string> {
    return this.step("answer", () => {
      check(sdp);
      return this.factory.answerSdp;
    });
  }
  addCandidate(candidate: RtcCandidate): Promise<void> {
    this.added.push(candidate);
    return this.step("addCandidate", () => undefined);
  }
  close(): void {
    this.closes++;
  }
  /** The platform's channel opened. */
  open(): FakeChannel {
    const channel = new FakeChannel();
    this.events.onOpen(channel);
    return channel;
  }
}

/** Refuses SDP as the platforms would: what the shared checks refuse. */
function check(sdp: string): void {
  if (signalContentReason({ sid: "s0000000", kind: "offer", sdp }) !== null) throw new Error("sdp");
}

/** Makes FakeConns; `hold` keeps every call pending until the test settles it. */
export class FakeFactory {
  readonly conns: FakeConn[] = [];
  hold = false;
  offerSdp = OFFER;
  answerSdp = ANSWER;
  create(options: { iceServers: string[] }, events: RtcEvents): RtcConnection {
    const conn = new FakeConn(events, options.iceServers, this);
    this.conns.push(conn);
    return conn;
  }
  get last(): FakeConn {
    return this.conns.at(-1)!;
  }
}

/** One node's RtcSessions with everything it says and is told recorded. */
export function side(
  role: "offer" | "answer",
  clock: FakeClock,
  extra: Partial<RtcSessionsOptions> = {},
) {
  const factory = new FakeFactory();
  const sent: OutgoingSignal[] = [];
  const log = { opened: [] as string[], closed: [] as string[], datagrams: [] as string[] };
  const node = {
    key: randomKey(),
    factory,
    sent,
    log,
    stream: true,
    queue: [] as OutgoingSignal[],
    sessions: undefined as unknown as RtcSessions,
  };
  let ids = 0;
  node.sessions = new RtcSessions({
    role,
    factory,
    // As ControlClient.signal: throws on what the shared checks refuse, false without a stream.
    signal: (signal) => {
      const reason = signalContentReason(signal);
      if (reason !== null) throw new Error(reason);
      if (!node.stream) return false;
      sent.push(signal);
      node.queue.push(signal);
      return true;
    },
    iceServers: () => ["stun:relay.example:3478"],
    clock,
    randomId: () => `${role}-sid-${++ids}`,
    maxChannels: 4,
    onOpen: (key) => log.opened.push(key),
    onDatagram: (key, packet) => log.datagrams.push(`${key}:${packet.length}`),
    onClosed: (key) => log.closed.push(key),
    // Attempts at once (the spacing has its own test).
    timings: { attemptGapMs: 0 },
    ...extra,
  });
  return node;
}
/** What side() returns. */
export type Side = ReturnType<typeof side>;

/** A signal `from` sent, as the other side receives it. */
export function arriving(from: string, signal: OutgoingSignal): PeerSignalMessage {
  const { to: _to, ...fields } = signal;
  return { type: "signal", from, ...fields };
}

/** Lets promise callbacks and deliveries run. */
export const settle = async () => {
  for (let i = 0; i < 4; i++) await new Promise((resolve) => setImmediate(resolve));
};

/** Delivers queued signals between two sides until none are left. */
export async function exchange(a: Side, b: Side): Promise<void> {
  for (let round = 0; round < 20; round++) {
    await settle();
    if (a.queue.length === 0 && b.queue.length === 0) return;
    for (const s of a.queue.splice(0)) if (s.to === b.key) b.sessions.onSignal(arriving(a.key, s));
    for (const s of b.queue.splice(0)) if (s.to === a.key) a.sessions.onSignal(arriving(b.key, s));
  }
}

/** The kinds of signals a side sent, a bye with its reason. */
export const kinds = (s: Side) =>
  s.sent.map((x) => (x.kind === "bye" ? `bye:${x.reason}` : x.kind));

/** An offer side and an answer side on one fake clock. */
export function pair(extra: Partial<RtcSessionsOptions> = {}) {
  const clock = new FakeClock();
  return { clock, a: side("offer", clock, extra), b: side("answer", clock, extra) };
}
