// The rate limiter, on a FakeClock: wireguard-go's ratelimiter_test.go sequence, the burst and
// steady rate, independence of sources, garbage collection and the cap on tracked sources.

import { describe, expect, it } from "vitest";
import { FakeClock } from "../../worker/wireguard/clock.ts";
import {
  DEFAULT_MAX_SOURCES,
  GARBAGE_COLLECT_TIME_MS,
  PACKETS_BURSTABLE,
  PACKETS_PER_SECOND,
  RateLimiter,
} from "../../worker/wireguard/ratelimiter.ts";

const COST_MS = 1000 / PACKETS_PER_SECOND;

describe("RateLimiter constants", () => {
  it("match wireguard-go", () => {
    expect(PACKETS_PER_SECOND).toBe(20);
    expect(PACKETS_BURSTABLE).toBe(5);
    expect(GARBAGE_COLLECT_TIME_MS).toBe(1000);
    expect(DEFAULT_MAX_SOURCES).toBe(65_536);
  });
});

describe("wireguard-go ratelimiter_test.go", () => {
  const ips = [
    "127.0.0.1",
    "192.168.1.1",
    "172.167.2.3",
    "97.231.252.215",
    "248.97.91.167",
    "188.208.233.47",
    "104.2.183.179",
    "72.129.46.120",
    "2001:0db8:0a0b:12f0:0000:0000:0000:0001",
    "f5c2:818f:c052:655a:9860:b136:6894:25f0",
    "b2d7:15ab:48a7:b07c:a541:f144:a9fe:54fc",
    "a47b:786e:1671:a22b:d6f9:4ab0:abc7:c918",
    "ea1e:d155:7f7a:98fb:2bf5:9483:80f6:5445",
    "3f0e:54a2:f5b4:cd19:a21d:58e1:3746:84c4",
  ];
  const expected: { allowed: boolean; text: string; waitMs?: number }[] = [];
  for (let i = 0; i < PACKETS_BURSTABLE; i++) expected.push({ allowed: true, text: "burst" });
  expected.push({ allowed: false, text: "after burst" });
  expected.push({ allowed: true, waitMs: COST_MS, text: "filling tokens for single packet" });
  expected.push({ allowed: false, text: "not having refilled enough" });
  expected.push({ allowed: true, waitMs: 2 * COST_MS, text: "filling tokens for 2 packets" });
  expected.push({ allowed: true, text: "second packet in 2 packet burst" });
  expected.push({ allowed: false, text: "packet following 2 packet burst" });

  // wireguard-go sleeps wait + 1 ns before each step; also run with no extra time at all,
  // which a millisecond clock can report.
  for (const [name, epsilonMs] of [
    ["wait + 1 ns", 1e-6],
    ["exact waits", 0],
  ] as const) {
    it(`matches the expected sequence (${name})`, () => {
      const clock = new FakeClock();
      const rate = new RateLimiter(clock);
      expected.forEach((step, i) => {
        clock.advance((step.waitMs ?? 0) + epsilonMs);
        for (const ip of ips) {
          expect(rate.allow(ip), `${i}: ${step.text}: ${ip}`).toBe(step.allowed);
        }
      });
    });
  }
});

describe("RateLimiter", () => {
  it("allows a burst of 5, then about 20 per second", () => {
    const clock = new FakeClock();
    const rate = new RateLimiter(clock);
    let allowed = 0;
    for (let i = 0; i < 50; i++) if (rate.allow("198.51.100.7")) allowed++;
    expect(allowed).toBe(PACKETS_BURSTABLE);
    // Offer 1000 packets per second for 10 s: 20 per second get through.
    allowed = 0;
    for (let ms = 0; ms < 10_000; ms++) {
      clock.advance(1);
      if (rate.allow("198.51.100.7")) allowed++;
    }
    expect(allowed).toBe(10 * PACKETS_PER_SECOND);
  });

  it("refills to the burst, no further, after a quiet spell", () => {
    const clock = new FakeClock();
    const rate = new RateLimiter(clock);
    for (let i = 0; i < 10; i++) rate.allow("a");
    clock.advance(900); // under the GC time, so the entry survives and is capped at 5
    let allowed = 0;
    for (let i = 0; i < 10; i++) if (rate.allow("a")) allowed++;
    expect(allowed).toBe(PACKETS_BURSTABLE);
  });

  it("keeps sources independent", () => {
    const clock = new FakeClock();
    const rate = new RateLimiter(clock);
    for (let i = 0; i < 100; i++) rate.allow("203.0.113.1");
    expect(rate.allow("203.0.113.1")).toBe(false);
    for (let i = 0; i < PACKETS_BURSTABLE; i++) expect(rate.allow("203.0.113.2")).toBe(true);
    expect(rate.allow("203.0.113.2")).toBe(false);
    expect(rate.allow("2001:db8::1")).toBe(true);
  });

  it("counts an IPv4-mapped IPv6 source as its IPv4 address", () => {
    const clock = new FakeClock();
    const rate = new RateLimiter(clock);
    for (let i = 0; i < 3; i++) expect(rate.allow("192.0.2.1")).toBe(true);
    expect(rate.allow("::ffff:192.0.2.1")).toBe(true);
    expect(rate.allow("::FFFF:192.0.2.1")).toBe(true);
    expect(rate.allow("::ffff:192.0.2.1")).toBe(false);
    expect(rate.size).toBe(1);
    expect(rate.allow("::1")).toBe(true);
    expect(rate.size).toBe(2);
  });

  it("forgets sources idle longer than the GC time", () => {
    const clock = new FakeClock();
    const rate = new RateLimiter(clock);
    for (let i = 0; i < 100; i++) rate.allow(`10.0.${i >> 8}.${i & 255}`);
    expect(rate.size).toBe(100);
    clock.advance(600);
    rate.allow("10.9.9.9"); // seen recently: survives the next collection
    clock.advance(500);
    expect(rate.allow("10.0.0.0")).toBe(true); // triggers collection; this one is new again
    expect(rate.size).toBe(2);
    clock.advance(GARBAGE_COLLECT_TIME_MS + 1);
    rate.allow("10.1.1.1");
    expect(rate.size).toBe(1);
  });

  it("collects without a timer", () => {
    const clock = new FakeClock();
    const rate = new RateLimiter(clock);
    rate.allow("a");
    expect(clock.pendingTimers).toBe(0);
  });

  it("caps the sources tracked, dropping the least recently seen", () => {
    const clock = new FakeClock();
    const rate = new RateLimiter(clock, { maxSources: 3 });
    for (const s of ["a", "b", "c"]) for (let i = 0; i < 5; i++) rate.allow(s);
    expect(rate.allow("a")).toBe(false); // "a" becomes the most recently seen
    expect(rate.allow("d")).toBe(true); // evicts "b"
    expect(rate.size).toBe(3);
    expect(rate.allow("a")).toBe(false); // still tracked and still empty
    expect(rate.allow("c")).toBe(false);
    expect(rate.allow("b")).toBe(true); // forgotten, so new again (evicts "d")
    expect(rate.size).toBe(3);
  });

  it("stays within the default cap under a flood of distinct sources", () => {
    const clock = new FakeClock();
    const rate = new RateLimiter(clock);
    for (let i = 0; i < DEFAULT_MAX_SOURCES + 5000; i++) rate.allow(`s${i}`);
    expect(rate.size).toBe(DEFAULT_MAX_SOURCES);
  });

  it("rejects a bad cap and clears", () => {
    const clock = new FakeClock();
    expect(() => new RateLimiter(clock, { maxSources: 0 })).toThrow(RangeError);
    const rate = new RateLimiter(clock);
    rate.allow("a");
    rate.clear();
    expect(rate.size).toBe(0);
  });
});
