// A seeded fuzz of RtcSessions (worker/path/rtc-sessions.ts): thousands of random sequences of
// peer signals (any kind, attempt id, sender, SDP, candidate, reason), platform events on any
// connection (open, close, candidates, datagrams, calls settling either way, even after close),
// wants, clock jumps, the disable setting, retain and close, fed to an offerer and an answerer
// that also pass real signals to each other. After every step: at most maxChannels, one
// connection per peer, every connection live or closed exactly once, every opened channel
// closed at most once (exactly once at the end), no bye in answer to a bye, no throw and no
// unhandled rejection; after close() no timer is left.

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { PeerSignalMessage } from "../../worker/control/messages.ts";
import type { DatagramChannel } from "../../worker/path/rtc-types.ts";
import { FakeClock } from "../../worker/wireguard/clock.ts";
import { CANDIDATE, OFFER } from "../control/signal-fixtures.ts";
import { seededInts } from "../helpers/seeded.ts";
import { ANSWER, arriving, randomKey, type Side, settle, side } from "./rtc-fake.ts";

const SEQUENCES = 3000;
const TCP = "candidate:1 1 tcp 1518280447 192.168.1.20 9 typ host tcptype active";
const REASONS = [
  ...["not_supported", "unknown_peer", "not_visible", "disabled", "refused", "busy"],
  ...["timeout", "closed", "rate_limited", "offline", "Bad Reason", "", undefined],
];

const rejections: unknown[] = [];
const onRejection = (reason: unknown) => rejections.push(reason);
beforeEach(() => {
  process.on("unhandledRejection", onRejection);
});
afterEach(() => {
  process.off("unhandledRejection", onRejection);
});

/** What one side's callbacks reported, per channel: opens and closes. */
class ChannelLog {
  readonly opens = new Map<DatagramChannel, string>();
  readonly closes = new Map<DatagramChannel, number>();
  problems: string[] = [];
  onOpen = (key: string, channel: DatagramChannel): void => {
    if (this.opens.has(channel)) this.problems.push("a channel opened twice");
    this.opens.set(channel, key);
  };
  onClosed = (key: string, channel: DatagramChannel): void => {
    if (this.opens.get(channel) !== key) this.problems.push("closed a channel never opened");
    const n = (this.closes.get(channel) ?? 0) + 1;
    if (n > 1) this.problems.push("a channel closed twice");
    this.closes.set(channel, n);
  };
  get open(): number {
    return this.opens.size - this.closes.size;
  }
}

describe("RtcSessions fuzz", () => {
  it(`keeps its invariants over ${SEQUENCES} random sequences`, async () => {
    const int = seededInts(0x19ad);
    const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
    let inputs = 0;
    let signals = 0;
    let opened = 0;
    for (let seq = 0; seq < SEQUENCES; seq++) {
      const clock = new FakeClock();
      const max = 1 + int(3);
      const logs = [new ChannelLog(), new ChannelLog()];
      const make = (role: "offer" | "answer", log: ChannelLog) =>
        side(role, clock, {
          maxChannels: max,
          onOpen: log.onOpen,
          onClosed: log.onClosed,
          eligible: () => int(8) !== 0,
        });
      const a = make("offer", logs[0]!);
      const b = make("answer", logs[1]!);
      const sides: Side[] = [a, b];
      const keys = [a.key, b.key, randomKey(), randomKey()];
      for (const s of sides) s.factory.hold = int(2) === 0;
      const sids = ["stale-attempt-0", "x"];

      const check = (where: string): void => {
        for (const [i, s] of sides.entries()) {
          const log = logs[i]!;
          const live = s.factory.conns.filter((c) => c.closes === 0).length;
          const perPeer = keys.filter((k) => s.sessions.stateOf(k) !== undefined).length;
          const openPeers = keys.filter((k) => s.sessions.stateOf(k) === "open").length;
          const twice = s.factory.conns.filter((c) => c.closes > 1).length;
          const state = {
            size: s.sessions.size,
            live,
            perPeer,
            openPeers,
            twice,
            log: log.problems,
          };
          const want = { size: live, live, perPeer: live, openPeers: log.open, twice: 0, log: [] };
          if (s.sessions.size > max || JSON.stringify(state) !== JSON.stringify(want)) {
            throw new Error(`seq ${seq} ${where} side ${i}: ${JSON.stringify(state)}`);
          }
        }
      };

      const steps = 5 + int(40);
      for (let step = 0; step < steps; step++) {
        inputs++;
        const s = pick(sides);
        for (const x of sides)
          for (const sig of x.sent) if (!sids.includes(sig.sid)) sids.push(sig.sid);
        const action = int(14);
        let what = `action ${action}`;
        if (action <= 3) {
          const kind = pick(["offer", "answer", "candidate", "bye", "bye", "junk"]);
          const message = {
            type: "signal",
            from: pick(keys),
            sid: int(4) === 0 ? `r${int(1e6)}` : pick(sids),
            kind,
            sdp: pick([OFFER, ANSWER, undefined, "", "v=0\r\n", OFFER.slice(0, int(OFFER.length))]),
            candidate: pick([CANDIDATE, TCP, undefined, "", "candidate:x"]),
            mid: pick(["0", undefined, "bad mid"]),
            mline: pick([0, undefined, 9]),
            reason: pick(REASONS),
          } as PeerSignalMessage;
          const before = s.sent.length;
          s.sessions.onSignal(message);
          signals++;
          what = `signal ${kind}`;
          if (kind === "bye" && s.sent.length !== before)
            throw new Error(`seq ${seq}: bye for bye`);
        } else if (action === 4) {
          a.sessions.want(pick(keys));
        } else if (action === 5) {
          // One round of the two sides' own signals to each other.
          for (const sig of a.queue.splice(0)) {
            if (sig.to === b.key) b.sessions.onSignal(arriving(a.key, sig));
          }
          for (const sig of b.queue.splice(0)) {
            if (sig.to === a.key) a.sessions.onSignal(arriving(b.key, sig));
          }
        } else if (action <= 7 && s.factory.conns.length > 0) {
          const conn = pick(s.factory.conns);
          const event = int(4);
          if (event === 0) conn.open();
          else if (event === 1) conn.events.onClose(pick(["failed", "closed"]));
          else if (event === 2) conn.events.onCandidate({ candidate: pick([CANDIDATE, TCP, ""]) });
          else conn.events.onDatagram(new Uint8Array(int(64)));
          what = `event ${event}`;
        } else if (action === 8) {
          const conn = s.factory.conns.length > 0 ? pick(s.factory.conns) : undefined;
          const held = conn?.held.splice(int(conn.held.length), 1)[0];
          if (held !== undefined) (int(3) === 0 ? held.reject : held.resolve)();
        } else if (action === 9) {
          clock.advance(pick([0, 1, 999, 1000, 2000, 15_000, 600_000]));
        } else if (action === 10) {
          s.stream = int(6) !== 0;
          s.sessions.setEnabled(int(4) !== 0);
        } else if (action === 11) {
          s.sessions.retain(new Set(keys.filter(() => int(3) !== 0)));
        } else if (action === 12 && int(10) === 0) {
          s.sessions.close();
        } else {
          await settle();
        }
        check(`step ${step} (${what})`);
      }
      a.sessions.close();
      b.sessions.close();
      for (const s of sides)
        for (const conn of s.factory.conns) for (const h of conn.held) h.resolve();
      await settle();
      check("after close");
      expect(clock.pendingTimers).toBe(0); // no open timeout outlives its attempt
      for (const [i, s] of sides.entries()) {
        expect(s.factory.conns.every((c) => c.closes === 1)).toBe(true);
        expect(logs[i]!.open).toBe(0);
        opened += logs[i]!.opens.size;
      }
    }
    await settle();
    expect(rejections).toEqual([]);
    expect(opened).toBeGreaterThan(SEQUENCES / 10); // the sequences reach open channels
    console.log(
      `rtc sessions fuzz: ${SEQUENCES} sequences, ${inputs} inputs (${signals} peer signals), ${opened} channels opened`,
    );
  });
});
