// The agent's werift factory (server/agent/rtc-werift.ts) under the shared signalling state
// machine: two factories, one offering and one answering, each driven by an RtcSessions, with the
// signals passed in memory (and checked by the same content rules the control server applies).
// The channel opens on loopback, datagrams flow both ways, a side that closes makes the other
// report the close, mDNS candidates never reach werift, send() drops above its bound instead of
// queueing, and closing leaves no socket or timer behind.

import { afterEach, describe, expect, it } from "vitest";
import {
  isMdnsCandidate,
  weriftConfig,
  weriftFactory,
  withoutCandidates,
} from "../../server/agent/rtc-werift.ts";
import type { PeerSignalMessage } from "../../worker/control/messages.ts";
import { signalContentReason } from "../../worker/control/signal-values.ts";
import { type OutgoingSignal, RtcSessions } from "../../worker/path/rtc-sessions.ts";
import type { DatagramChannel, RtcConnection, RtcFactory } from "../../worker/path/rtc-types.ts";
import { systemClock } from "../../worker/wireguard/clock.ts";
import { CANDIDATES, OFFER } from "../control/signal-fixtures.ts";
import { waitUntil } from "../helpers/wait.ts";

const OFFERER = `${"b".repeat(43)}=`;
const ANSWERER = `${"a".repeat(43)}=`;

/** What one side's RtcSessions reported. */
interface Side {
  sessions: RtcSessions;
  channel: DatagramChannel | undefined;
  received: Uint8Array[];
  closed: number;
  /** Signals it sent that the shared checks refuse (must stay empty). */
  refused: string[];
  sent: OutgoingSignal[];
}

interface Pair {
  offer: Side;
  answer: Side;
  /** Whether byes are passed on (off: a side learns of a close from werift alone). */
  passByes: boolean;
  /** Rewrites a signal on its way (tests: add mDNS candidates). */
  rewrite: (signal: PeerSignalMessage) => PeerSignalMessage;
}

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const fn of cleanup.splice(0).reverse()) fn();
});

let ids = 0;

function side(
  role: "offer" | "answer",
  factory: RtcFactory,
  deliver: (s: OutgoingSignal) => void,
): Side {
  const out: Side = {
    sessions: undefined as unknown as RtcSessions,
    channel: undefined,
    received: [],
    closed: 0,
    refused: [],
    sent: [],
  };
  out.sessions = new RtcSessions({
    role,
    factory,
    signal: (signal) => {
      const reason = signalContentReason(signal);
      if (reason !== null) {
        out.refused.push(reason);
        throw new Error(reason);
      }
      out.sent.push(signal);
      deliver(signal);
      return true;
    },
    iceServers: () => [],
    clock: systemClock,
    randomId: () => `attempt${++ids}`,
    maxChannels: 4,
    onOpen: (_key, channel) => {
      out.channel = channel;
    },
    onDatagram: (_key, packet) => out.received.push(packet),
    onClosed: () => {
      out.closed++;
    },
  });
  cleanup.push(() => out.sessions.close());
  return out;
}

function pair(
  options: { maxBuffered?: number; excluded?: (address: string) => boolean } = {},
): Pair {
  const p = { passByes: true, rewrite: (s: PeerSignalMessage) => s } as Pair;
  // Signals arrive on a later turn, as they would over a socket.
  const to = (target: () => Side, from: string) => (signal: OutgoingSignal) => {
    if (signal.kind === "bye" && !p.passByes) return;
    const { to: _to, ...fields } = signal;
    const message = p.rewrite({ type: "signal", from, ...fields });
    setImmediate(() => target().sessions.onSignal(message));
  };
  p.offer = side(
    "offer",
    weriftFactory({ role: "offer", loopback: true, ...options }),
    to(() => p.answer, OFFERER),
  );
  p.answer = side(
    "answer",
    weriftFactory({ role: "answer", loopback: true, ...options }),
    to(() => p.offer, ANSWERER),
  );
  return p;
}

async function opened(p: Pair): Promise<void> {
  p.offer.sessions.want(ANSWERER);
  await waitUntil(
    () => p.offer.channel !== undefined && p.answer.channel !== undefined,
    "the channel open on both sides",
    { hangAfterMs: 10_000 },
  );
}

/**
 * Whether the process holds no UDP socket and no timer: what would keep it from exiting. This
 * file runs nothing else in the background (each test closes what it made), and measured so,
 * both are zero within ~1 s of werift's close.
 */
function idle(): boolean {
  const info = process.getActiveResourcesInfo();
  return !info.includes("UDPWrap") && !info.includes("Timeout");
}

describe("werift factory", () => {
  it("opens a channel through RtcSessions; datagrams flow both ways; a close reaches the other side", async () => {
    const p = pair();
    p.passByes = false; // the answerer must learn of the close from werift itself
    const started = performance.now();
    await opened(p);
    const openMs = performance.now() - started;
    expect(openMs).toBeLessThan(5_000);
    expect(p.offer.sessions.stateOf(ANSWERER)).toBe("open");
    expect(p.answer.sessions.stateOf(OFFERER)).toBe("open");
    expect(p.offer.refused).toEqual([]);
    expect(p.answer.refused).toEqual([]);

    const toAnswer = Array.from({ length: 20 }, (_, i) => new Uint8Array(1200).fill(i));
    for (const packet of toAnswer) expect(p.offer.channel?.send(packet)).toBe(true);
    // The sender may reuse its buffer at once: the channel copied it.
    toAnswer[0]?.fill(0xff);
    for (let i = 0; i < 20; i++) {
      expect(p.answer.channel?.send(new Uint8Array([i, 0xab]))).toBe(true);
    }
    await waitUntil(
      () => p.answer.received.length >= 18 && p.offer.received.length >= 18,
      "datagrams both ways",
      { hangAfterMs: 5_000 },
    );
    // Unreliable on purpose, but nothing is lost on an idle loopback.
    await waitUntil(
      () => p.answer.received.length === 20 && p.offer.received.length === 20,
      "every datagram",
      { hangAfterMs: 2_000 },
    ).catch(() => {});
    for (const packet of p.answer.received) {
      expect(packet.length).toBe(1200);
      expect(packet[0]).not.toBe(0xff);
      expect(packet.every((b) => b === packet[0])).toBe(true);
    }
    expect(p.offer.received.every((d) => d.length === 2 && d[1] === 0xab)).toBe(true);

    // The offerer closes (its bye is lost): the answerer's werift reports the close.
    const closing = performance.now();
    p.offer.sessions.close();
    expect(p.offer.closed).toBe(1);
    await waitUntil(() => p.answer.closed === 1, "the answerer's channel closed", {
      hangAfterMs: 5_000,
    });
    const closeMs = performance.now() - closing;
    expect(p.answer.sessions.stateOf(OFFERER)).toBeUndefined();
    expect(p.answer.sessions.stats.failed).toBe(1);
    // Nothing more is reported after close, and nothing is left running.
    await waitUntil(idle, "werift's sockets and timers gone", { hangAfterMs: 3_000 });
    expect(p.offer.closed).toBe(1);
    expect(p.answer.closed).toBe(1);
    console.log(
      `werift pair: open ${openMs.toFixed(0)} ms, close seen by the peer in ${closeMs.toFixed(0)} ms`,
    );
  });

  it("never hands an mDNS candidate to werift (its lookup blocks 10 s and outlives close)", async () => {
    expect(
      isMdnsCandidate(
        "candidate:1 1 udp 2122260223 0b6f5a3e-1d2c-4c1e-9d7e-5a1f.local 54321 typ host",
      ),
    ).toBe(true);
    expect(isMdnsCandidate("a=candidate:1 1 udp 2122260223 ABC.LOCAL 1 typ host")).toBe(true);
    expect(isMdnsCandidate("candidate:1 1 udp 2122260223 192.0.2.7 54321 typ host")).toBe(false);
    const sdp =
      "v=0\r\na=candidate:1 1 udp 1 x.local 9 typ host\r\na=candidate:2 1 udp 1 192.0.2.7 9 typ host\r\na=mid:0\r\n";
    expect(withoutCandidates(sdp, isMdnsCandidate)).toBe(
      "v=0\r\na=candidate:2 1 udp 1 192.0.2.7 9 typ host\r\na=mid:0\r\n",
    );

    const p = pair();
    const name = "4f1c8e2a-7b3d-4e5f-9a6b-1c2d3e4f5a6b.local";
    // The page's (Chromium's) host addresses are mDNS names: inside the offer and trickled.
    p.rewrite = (signal) => {
      if (signal.kind === "offer" && signal.sdp !== undefined) {
        const line = `a=candidate:9 1 udp 2122260223 ${name} 50000 typ host\r\n`;
        return {
          ...signal,
          sdp: signal.sdp.replace("a=end-of-candidates", `${line}a=end-of-candidates`),
        };
      }
      if (signal.kind === "candidate" && signal.candidate !== undefined) {
        return {
          ...signal,
          candidate: signal.candidate.replace(/ (127\.0\.0\.1|192\.0\.2\.2) /, ` ${name} `),
        };
      }
      return signal;
    };
    await opened(p);
    p.offer.sessions.close();
    p.answer.sessions.close();
    // A lookup werift had started would hold a UDP socket on 5353 and a 10 s timer.
    await waitUntil(idle, "nothing left running", { hangAfterMs: 3_000 });
  });

  it("leaves excluded addresses (the mesh's own) out of its candidates and the peer's", async () => {
    // Everything but loopback is "the mesh" here: the channel must still open, over loopback.
    const excluded = (address: string) => address !== "127.0.0.1";
    const p = pair({ excluded });
    await opened(p);
    const addresses = (side: Side) =>
      side.sent
        .flatMap((signal) => [
          ...(signal.candidate === undefined ? [] : [signal.candidate]),
          ...(signal.sdp ?? "").split("\r\n").filter((line) => line.startsWith("a=candidate:")),
        ])
        .map((line) => line.split(" ")[4]);
    expect(addresses(p.answer).length).toBeGreaterThan(0);
    expect(new Set(addresses(p.answer))).toEqual(new Set(["127.0.0.1"]));
    expect(new Set(addresses(p.offer))).toEqual(new Set(["127.0.0.1"]));
  });

  it("drops instead of queueing above the send bound", async () => {
    const maxBuffered = 8 * 1200;
    const p = pair({ maxBuffered });
    await opened(p);
    const packet = new Uint8Array(1200);
    let accepted = 0;
    for (let i = 0; i < 1000; i++) if (p.offer.channel?.send(packet)) accepted++;
    // One synchronous burst: werift cannot have sent much yet, so most are refused.
    expect(accepted).toBeGreaterThan(0);
    expect(accepted).toBeLessThanOrEqual(maxBuffered / 1200);
    await waitUntil(() => p.answer.received.length >= accepted, "the accepted datagrams", {
      hangAfterMs: 5_000,
    });
    expect(p.answer.received.length).toBe(accepted);
    // Once drained, it takes datagrams again.
    await waitUntil(() => p.offer.channel?.send(packet) === true, "room again", {
      hangAfterMs: 2_000,
    });
  });

  it("answers a Chromium offer nobody will connect, takes its candidates, and closes cleanly", async () => {
    const events: string[] = [];
    const conn = weriftFactory({ role: "answer", interfaceAddress: "127.0.0.1" }).create(
      { iceServers: [] },
      {
        onCandidate: () => events.push("candidate"),
        onOpen: () => events.push("open"),
        onDatagram: () => events.push("datagram"),
        onClose: (reason) => events.push(`close ${reason}`),
      },
    );
    const sdp = await conn.answer(OFFER);
    expect(signalContentReason({ sid: "s0000000", kind: "answer", sdp })).toBeNull();
    expect(sdp).toContain("a=setup:active");
    // Every candidate form a browser sends: applied or skipped, never a hang or a throw.
    const started = performance.now();
    await Promise.all(
      CANDIDATES.map((candidate) => conn.addCandidate({ candidate, mid: "0", mline: 0 })),
    );
    expect(performance.now() - started).toBeLessThan(1_000);
    conn.close();
    conn.close();
    await waitUntil(idle, "nothing left running", { hangAfterMs: 3_000 });
    expect(events.filter((e) => e !== "candidate")).toEqual([]);
    // An offer werift cannot use (the control server never passes one) ends the attempt: werift
    // rejects it, or writes an answer the shared checks refuse (RtcSessions: bye bad_sdp).
    const broken = weriftFactory({ role: "answer" }).create(
      { iceServers: [] },
      { onCandidate: () => {}, onOpen: () => {}, onDatagram: () => {}, onClose: () => {} },
    );
    const outcome = await broken.answer("v=0\r\n").then(
      (answer) => signalContentReason({ sid: "s0000000", kind: "answer", sdp: answer }),
      () => "rejected",
    );
    expect(outcome).not.toBeNull();
    broken.close();
    await waitUntil(idle, "nothing left running", { hangAfterMs: 3_000 });
  });

  it("reports a peer's close once (channel and connection both end), and nothing after close()", async () => {
    const closes = { offer: [] as string[], answer: [] as string[] };
    const opens = { offer: 0, answer: 0 };
    const conns = {} as Record<"offer" | "answer", RtcConnection>;
    for (const role of ["offer", "answer"] as const) {
      const other = role === "offer" ? "answer" : "offer";
      conns[role] = weriftFactory({ role, loopback: true }).create(
        { iceServers: [] },
        {
          onCandidate: (candidate) => void conns[other].addCandidate(candidate).catch(() => {}),
          onOpen: () => opens[role]++,
          onDatagram: () => {},
          onClose: (reason) => closes[role].push(reason),
        },
      );
    }
    await conns.offer.acceptAnswer(await conns.answer.answer(await conns.offer.offer()));
    await waitUntil(() => opens.offer === 1 && opens.answer === 1, "both open", {
      hangAfterMs: 5_000,
    });
    conns.offer.close();
    await waitUntil(() => closes.answer.length > 0, "the answerer's close", { hangAfterMs: 5_000 });
    conns.answer.close();
    await waitUntil(idle, "nothing left running", { hangAfterMs: 3_000 });
    expect(closes.answer).toEqual(["channel closed"]);
    expect(closes.offer).toEqual([]);
  });

  it("passes our STUN servers, never werift's default, and binds one address when asked", () => {
    expect(weriftConfig({ role: "answer" }, { iceServers: [] })).toMatchObject({
      iceServers: [],
      iceUseIpv6: false,
    });
    expect(
      weriftConfig({ role: "answer" }, { iceServers: ["stun:192.0.2.1:3478"] }).iceServers,
    ).toEqual([{ urls: "stun:192.0.2.1:3478" }]);
    const bound = weriftConfig(
      { role: "answer", interfaceAddress: "127.0.0.1" },
      { iceServers: [] },
    );
    expect(bound.iceInterfaceAddresses).toEqual({ udp4: "127.0.0.1" });
    expect(bound.iceAdditionalHostAddresses).toEqual(["127.0.0.1"]);
    expect(
      weriftConfig({ role: "answer", interfaceAddress: "0.0.0.0" }, { iceServers: [] })
        .iceInterfaceAddresses,
    ).toBeUndefined();
  });
});
