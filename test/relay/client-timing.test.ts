// RelayBind timing on a fake clock with a scripted in-memory socket: the backoff schedule
// (doubling, jitter, cap), RESTARTING's wait and window, hello timeout; and parseEndpoint.

import { describe, expect, it } from "vitest";
import { loadCryptoCore, nobleX25519 } from "../../worker/crypto/index.ts";
import { parseRelayEndpoint, RelayBind } from "../../worker/relay/client.ts";
import * as F from "../../worker/relay/frames.ts";
import type { RelaySocket, RelaySocketEvents } from "../../worker/relay/socket.ts";
import { seededBytes } from "../helpers/seeded.ts";
import { advanceExact, SteppingClock, settle } from "../wireguard/device-pair.ts";

/** A socket the test drives: what the client sent, and events to raise. */
class ScriptedSocket implements RelaySocket {
  bufferedAmount = 0;
  readonly sent: Uint8Array[] = [];
  events: RelaySocketEvents | undefined;
  closedWith: number | undefined;
  listen(events: RelaySocketEvents): void {
    this.events = events;
  }
  send(data: Uint8Array): void {
    this.sent.push(data.slice());
  }
  close(code?: number): void {
    this.closedWith = code ?? 1000;
  }
  message(frame: Uint8Array): void {
    this.events?.onMessage(frame);
  }
}

async function harness(options: { failConnects?: boolean } = {}) {
  const clock = new SteppingClock();
  const sockets: ScriptedSocket[] = [];
  const times: number[] = [];
  const random = seededBytes(0x71de);
  const bind = new RelayBind({
    url: "ws://relay.test/relay",
    privateKey: random(32),
    core: await loadCryptoCore(),
    x25519: nobleX25519,
    clock,
    random: seededBytes(0x1177e5),
    connect: (url, protocol) => {
      expect(url).toBe("ws://relay.test/relay");
      expect(protocol).toBe(F.RELAY_SUBPROTOCOL);
      const socket = new ScriptedSocket();
      sockets.push(socket);
      times.push(clock.now());
      if (options.failConnects) queueMicrotask(() => socket.events?.onClose(1006, ""));
      return socket;
    },
  });
  /** Runs the hello on the newest socket and waits for WELCOME to be processed. */
  const welcome = async () => {
    const socket = sockets.at(-1)!;
    socket.message(F.encodeServerHello(random(32), random(32)));
    for (let i = 0; i < 50 && socket.sent.length === 0; i++) await settle(1);
    expect(socket.sent[0]![0]).toBe(F.CLIENT_HELLO);
    socket.message(F.encodeText(F.WELCOME, "{}"));
  };
  return { clock, sockets, times, bind, welcome };
}

describe("RelayBind timing", () => {
  it("backs off exponentially with jitter from 250 ms up to 30 s", async () => {
    const h = await harness({ failConnects: true });
    void h.bind.open(() => {}).catch(() => {});
    const start = h.clock.now();
    await advanceExact(h.clock, 120_000);
    const gaps = h.times.slice(1).map((t, i) => t - h.times[i]!);
    expect(h.times[0]).toBe(start);
    expect(gaps.length).toBeGreaterThan(8);
    for (const [i, gap] of gaps.entries()) {
      const ceiling = Math.min(30_000, 250 * 2 ** i);
      expect(gap).toBeGreaterThanOrEqual(ceiling / 2);
      expect(gap).toBeLessThan(ceiling);
    }
    expect(new Set(gaps.map((g, i) => g / Math.min(30_000, 250 * 2 ** i))).size).toBeGreaterThan(3);
    await h.bind.close();
    expect(h.bind.state).toBe("closed");
    const count = h.times.length;
    await advanceExact(h.clock, 60_000);
    expect(h.times.length).toBe(count);
  });

  it("resets the backoff after a WELCOME", async () => {
    const h = await harness();
    const open = h.bind.open(() => {});
    await h.welcome();
    await open;
    h.sockets[0]!.events?.onClose(1006, "");
    await advanceExact(h.clock, 249);
    expect(h.sockets.length).toBe(2);
    expect(h.times[1]! - h.times[0]!).toBeLessThan(250);
    await h.bind.close();
  });

  it("waits for RESTARTING's reconnect-in, then retries quickly within try-for", async () => {
    const h = await harness();
    const open = h.bind.open(() => {});
    await h.welcome();
    await open;
    const at = h.clock.now();
    h.sockets[0]!.message(F.encodeRestarting(5000, 10_000));
    h.sockets[0]!.events?.onClose(1012, "restarting");
    await advanceExact(h.clock, 4999);
    expect(h.sockets.length).toBe(1);
    await advanceExact(h.clock, 1001);
    expect(h.sockets.length).toBe(2);
    expect(h.times[1]! - at).toBeGreaterThanOrEqual(5000);
    expect(h.times[1]! - at).toBeLessThanOrEqual(6000);
    // That try fails: the next comes after the short first backoff, not a long one.
    h.sockets[1]!.events?.onClose(1006, "");
    await advanceExact(h.clock, 250);
    expect(h.sockets.length).toBe(3);
    expect(h.bind.stats.restarting).toBe(1);
    await h.bind.close();
  });

  it("gives up on a hello that does not finish in time and tries again", async () => {
    const h = await harness();
    void h.bind.open(() => {}).catch(() => {});
    await advanceExact(h.clock, 10_000);
    expect(h.sockets[0]!.closedWith).toBe(4408);
    await advanceExact(h.clock, 250);
    expect(h.sockets.length).toBe(2);
    await h.bind.close();
  });

  it("answers the relay's PING with PONG and ignores unknown frame types", async () => {
    const h = await harness();
    const open = h.bind.open(() => {});
    await h.welcome();
    await open;
    const socket = h.sockets[0]!;
    socket.message(Uint8Array.of(0x7f, 1, 2, 3));
    socket.message(F.encodePing(F.PING, Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8)));
    expect([...socket.sent.at(-1)!]).toEqual([F.PONG, 1, 2, 3, 4, 5, 6, 7, 8]);
    socket.message(Uint8Array.of(F.RECV, 1)); // too short: counted, ignored
    expect(h.bind.stats.invalidFrames).toBe(1);
    expect(h.bind.state).toBe("ready");
    await h.bind.close();
  });
});

describe("parseRelayEndpoint", () => {
  const key = "UZUL73zmDZn5U+AnU9joI36qsTPdHQrEUwcddKEbNww=";

  it("accepts peer keys and IP endpoints, canonically", () => {
    expect(parseRelayEndpoint(`peer:${key}`)).toEqual({
      key: `peer:${key}`,
      host: `peer:${key}`,
      port: 0,
    });
    expect(parseRelayEndpoint("192.0.2.1:51820").key).toBe("192.0.2.1:51820");
    expect(parseRelayEndpoint("[::ffff:192.0.2.1]:51820").key).toBe("192.0.2.1:51820");
    expect(parseRelayEndpoint("[2001:DB8:0:0::1]:1").key).toBe("[2001:db8::1]:1");
  });

  it.each([
    ["peer:", /peer key.*empty/],
    [`peer:${key.slice(1)}`, /43 characters/],
    [`peer: ${key}`, /whitespace/],
    ["peer:!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!=", /peer key/],
    ["10.0.0.1", /expected "peer:<key>" or "ip:port"/],
    ["10.0.0.1:0", /port must be a number 1-65535/],
    ["10.0.0.1:65536", /port must be/],
    ["10.0.0.1:x", /port must be/],
    ["fd00::1:51820", /needs brackets/],
    ["[fd00::1]51820", /missing ":port"/],
    ["[10.0.0.1]:1", /brackets are for IPv6/],
    ["[fd00::1:1", /'\[' without '\]'/],
    ["relay.example.com:51820", /host/],
    ["10.0.0.256:1", /octet 4 out of range/],
  ])("refuses %j", (text, message) => {
    expect(() => parseRelayEndpoint(text)).toThrow(TypeError);
    expect(() => parseRelayEndpoint(text)).toThrow(message);
  });
});
