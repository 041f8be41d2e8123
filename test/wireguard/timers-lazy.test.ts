// PeerTimers on the per-packet path: moving a timer on every packet must not cost a platform
// timer each time (the persistent keepalive moves on every packet either way; on a two-way flow
// the passive keepalive and new-handshake timers are deleted and set again per batch), and the
// timers must still fire exactly when the eager version would. Driven by a FakeClock that
// counts the platform timers it was asked for.

import { describe, expect, it } from "vitest";
import { FakeClock, type TimerHandle } from "../../worker/wireguard/clock.ts";
import { KEEPALIVE_TIMEOUT_MS, REKEY_TIMEOUT_MS } from "../../worker/wireguard/constants.ts";
import { PeerTimers } from "../../worker/wireguard/timers.ts";
import { seededInts } from "../helpers/seeded.ts";

/** A FakeClock that counts setTimer calls. */
class CountingClock extends FakeClock {
  armed = 0;
  override setTimer(ms: number, fn: () => void): TimerHandle {
    this.armed++;
    return super.setTimer(ms, fn);
  }
}

function setup() {
  const clock = new CountingClock();
  const fired: { what: string; at: number }[] = [];
  const timers = new PeerTimers(
    clock,
    {
      sendInitiation: () => fired.push({ what: "initiation", at: clock.now() }),
      sendKeepalive: () => fired.push({ what: "keepalive", at: clock.now() }),
      handshakeFailed: () => fired.push({ what: "failed", at: clock.now() }),
      zeroKeys: () => fired.push({ what: "zero", at: clock.now() }),
    },
    () => 0,
  );
  return { clock, fired, timers };
}

describe("PeerTimers moved per packet", () => {
  it("moves the persistent keepalive 10,000 times with a handful of platform timers, and fires it 25 s after the last packet", () => {
    const { clock, fired, timers } = setup();
    timers.persistentKeepaliveSeconds = 25;
    const start = clock.now();
    for (let i = 0; i < 10_000; i++) {
      timers.onAnyAuthenticatedPacketTraversal();
      clock.advance(1); // 10 s of packets, one per millisecond
    }
    const last = clock.now() - 1;
    // Eager re-arming would be 10,000 timers; a timer that fires early re-arms once.
    expect(clock.armed).toBeLessThan(5);
    expect(fired).toEqual([]);
    clock.advance(last + 25_000 - clock.now() - 1);
    expect(fired).toEqual([]);
    clock.advance(1);
    expect(fired).toEqual([{ what: "keepalive", at: last + 25_000 }]);
    expect(clock.now() - start).toBe(10_000 + 25_000 - 1);
  });

  it("a two-way flow (received, sent, received, ...) 10,000 times arms a handful of platform timers", () => {
    const { clock, fired, timers } = setup();
    for (let i = 0; i < 10_000; i++) {
      // What the device does for a data packet in, then one out (TCP data and its ACK).
      timers.onAnyAuthenticatedPacketReceived();
      timers.onDataReceived();
      timers.onAnyAuthenticatedPacketSent();
      timers.onDataSent();
      clock.advance(1);
    }
    // Eager: a passive-keepalive and a new-handshake timer set and cleared per round (20,000).
    expect(clock.armed).toBeLessThan(10);
    expect(fired).toEqual([]);
    // The last data went out unanswered: a new handshake 15 s after it, not before.
    const last = clock.now() - 1;
    clock.advance(last + KEEPALIVE_TIMEOUT_MS + REKEY_TIMEOUT_MS - clock.now() - 1);
    expect(fired).toEqual([]);
    clock.advance(1);
    expect(fired).toEqual([
      { what: "initiation", at: last + KEEPALIVE_TIMEOUT_MS + REKEY_TIMEOUT_MS },
    ]);
  });

  it("a deleted timer does not fire, and setting it again counts from then", () => {
    const { clock, fired, timers } = setup();
    timers.onDataReceived(); // passive keepalive due in 10 s
    clock.advance(4_000);
    timers.onAnyAuthenticatedPacketSent(); // deleted
    clock.advance(KEEPALIVE_TIMEOUT_MS);
    expect(fired).toEqual([]);
    const again = clock.now();
    timers.onDataReceived();
    clock.advance(KEEPALIVE_TIMEOUT_MS - 1);
    expect(fired).toEqual([]);
    clock.advance(1);
    expect(fired).toEqual([{ what: "keepalive", at: again + KEEPALIVE_TIMEOUT_MS }]);
  });

  it("matches an eager model on 40 seeds of 300 random per-packet events, with few platform timers", () => {
    for (let seed = 1; seed <= 40; seed++) {
      const random = seededInts(seed);
      const { clock, fired, timers } = setup();
      // The eager model: each timer's due time, set and cleared exactly as wireguard-go does.
      let keepaliveDue: number | undefined;
      let newHandshakeDue: number | undefined;
      let eagerArms = 0; // platform timers the eager version asks for: one per mod
      const expected: { what: string; at: number }[] = [];
      const settleModel = (until: number) => {
        const due = [
          ...(keepaliveDue !== undefined && keepaliveDue <= until
            ? [{ what: "keepalive", at: keepaliveDue }]
            : []),
          ...(newHandshakeDue !== undefined && newHandshakeDue <= until
            ? [{ what: "initiation", at: newHandshakeDue }]
            : []),
        ].sort((x, y) => x.at - y.at);
        for (const d of due) {
          expected.push(d);
          if (d.what === "keepalive") keepaliveDue = undefined;
          else newHandshakeDue = undefined;
        }
      };
      for (let step = 0; step < 300; step++) {
        const gap = random(3) === 0 ? random(20_000) : random(50);
        settleModel(clock.now() + gap);
        clock.advance(gap);
        const now = clock.now();
        switch (random(3)) {
          case 0: // a data packet received
            timers.onAnyAuthenticatedPacketReceived();
            newHandshakeDue = undefined;
            timers.onDataReceived();
            if (keepaliveDue === undefined) eagerArms++;
            keepaliveDue ??= now + KEEPALIVE_TIMEOUT_MS;
            break;
          case 1: // a data packet sent
            timers.onAnyAuthenticatedPacketSent();
            keepaliveDue = undefined;
            timers.onDataSent();
            if (newHandshakeDue === undefined) eagerArms++;
            newHandshakeDue ??= now + KEEPALIVE_TIMEOUT_MS + REKEY_TIMEOUT_MS;
            break;
          default: // a keepalive received
            timers.onAnyAuthenticatedPacketReceived();
            newHandshakeDue = undefined;
        }
      }
      settleModel(clock.now() + 60_000);
      clock.advance(60_000);
      // Same-millisecond ties may come out in either order; compare as sorted lists.
      const order = (x: { what: string; at: number }, y: { what: string; at: number }) =>
        x.at - y.at || x.what.localeCompare(y.what);
      expect([...fired].sort(order), `seed ${seed}`).toEqual([...expected].sort(order));
      // Never more platform timers than the eager version (a deadline moved later is free).
      expect(clock.armed, `seed ${seed}`).toBeLessThanOrEqual(eagerArms);
    }
  });

  it("stop() leaves no platform timer behind", () => {
    const { clock, timers } = setup();
    timers.persistentKeepaliveSeconds = 25;
    timers.onAnyAuthenticatedPacketTraversal();
    timers.onDataReceived();
    timers.onDataSent();
    timers.onSessionDerived();
    timers.onHandshakeInitiated();
    expect(clock.pendingTimers).toBe(5);
    timers.stop();
    expect(clock.pendingTimers).toBe(0);
  });
});
