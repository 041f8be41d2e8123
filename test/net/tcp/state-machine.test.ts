import { describe, expect, it } from "vitest";
import type { TcpConnection, TcpStackOptions } from "../../../worker/net/tcp/stack.ts";
import { emitTcp, parseTcp, TcpFlag, type TcpHeader } from "../../../worker/net/wire/tcp.ts";
import { FakeClock } from "../../../worker/wireguard/clock.ts";
import { A4, A6, B4, B6, type LinkOptions, MemoryLink, runUntil } from "./link.ts";

function h(seg: Uint8Array): TcpHeader {
  const r = parseTcp(seg);
  if (!r.ok) throw new Error(r.error);
  return r;
}

async function pair(
  linkOpts: Partial<LinkOptions> = {},
  stackOpts: TcpStackOptions = {},
  connOpts: { nagle?: boolean; keepaliveMs?: number } = {},
  v6 = false,
) {
  const clock = new FakeClock();
  const link = new MemoryLink(clock, { seed: 5, delayMs: 10, ...linkOpts }, stackOpts);
  link.record = true;
  const l = link.b.listen("any", 22, connOpts);
  let server: TcpConnection | undefined;
  let client: TcpConnection | undefined;
  l.accept().then((c) => {
    server = c;
  });
  link.a.connect(v6 ? A6 : A4, v6 ? B6 : B4, 22, connOpts).then((c) => {
    client = c;
  });
  await runUntil(clock, () => client !== undefined && server !== undefined, 10_000);
  return { clock, link, client: client!, server: server!, listener: l };
}

function collect(c: TcpConnection) {
  const out = { bytes: [] as number[], done: false, error: undefined as Error | undefined };
  (async () => {
    const r = c.readable.getReader();
    try {
      for (;;) {
        const { value, done } = await r.read();
        if (done) break;
        out.bytes.push(...value);
      }
      out.done = true;
    } catch (e) {
      out.error = e as Error;
    }
  })();
  return out;
}

const dataSegs = (link: MemoryLink, from: "a" | "b") =>
  link.log.filter((e) => e.from === from && h(e.seg).payload.length > 0);

describe("TCP state machine", () => {
  it("three-way handshake: SYN options, MSS from the MTU, both sides ESTABLISHED", async () => {
    for (const v6 of [false, true]) {
      const { link, client, server } = await pair({}, {}, {}, v6);
      const [syn, synAck, ack] = link.log.map((e) => h(e.seg));
      expect(syn!.flags).toBe(TcpFlag.SYN);
      expect(syn!.options).toMatchObject({ mss: v6 ? 1360 : 1380, sackPermitted: true });
      expect(syn!.options.windowScale).toBeGreaterThan(0);
      expect(synAck!.flags).toBe(TcpFlag.SYN | TcpFlag.ACK);
      expect(synAck!.ack).toBe((syn!.seq + 1) >>> 0);
      expect(ack!.flags).toBe(TcpFlag.ACK);
      expect(ack!.ack).toBe((synAck!.seq + 1) >>> 0);
      expect(client.state).toBe("ESTABLISHED");
      expect(server.state).toBe("ESTABLISHED");
      expect(client.stats.sendMss).toBe(v6 ? 1360 : 1380);
      expect(server.localPort).toBe(22);
      expect(client.remotePort).toBe(22);
      expect(client.localPort).toBeGreaterThanOrEqual(49152);
    }
  });

  it("honours a smaller peer MSS and works without window scaling or SACK", async () => {
    const clock = new FakeClock();
    const link = new MemoryLink(clock, { seed: 1, delayMs: 5 });
    link.record = true;
    link.b.listen("any", 80);
    // A raw SYN from a minimal peer: MSS 536, no other options.
    const syn = emitTcp(
      {
        srcPort: 5555,
        dstPort: 80,
        seq: 1000,
        ack: 0,
        flags: TcpFlag.SYN,
        window: 8192,
        options: { mss: 536 },
      },
      A4,
      B4,
    );
    link.b.receive(A4, B4, syn);
    const synAck = h(link.log[0]!.seg);
    expect(synAck.options.windowScale).toBeUndefined();
    expect(synAck.options.sackPermitted).toBeUndefined();
    expect(synAck.options.mss).toBe(1380);
    expect(synAck.window).toBeLessThanOrEqual(0xffff);
  });

  it("a SYN to a closed port gets RST and connect() rejects with 'connection refused'", async () => {
    const clock = new FakeClock();
    const link = new MemoryLink(clock, { seed: 2, delayMs: 10 });
    let err: Error | undefined;
    link.a.connect(A4, B4, 9).catch((e) => {
      err = e;
    });
    await runUntil(clock, () => err !== undefined, 1000);
    expect(err!.message).toBe("connection refused");
    expect(link.b.stats.resetsSent).toBe(1);
    expect(link.a.stats.connections).toBe(0);
  });

  it("answers a stray segment with RST, but never a RST", () => {
    const clock = new FakeClock();
    const link = new MemoryLink(clock, { seed: 3 });
    link.record = true;
    const stray = emitTcp(
      { srcPort: 1, dstPort: 2, seq: 5, ack: 77, flags: TcpFlag.ACK, window: 1 },
      A4,
      B4,
      new Uint8Array(3),
    );
    link.b.receive(A4, B4, stray);
    const rst = h(link.log[0]!.seg);
    expect(rst.flags & TcpFlag.RST).toBeTruthy();
    expect(rst.seq).toBe(77);
    link.b.receive(
      A4,
      B4,
      emitTcp({ srcPort: 1, dstPort: 2, seq: 5, ack: 0, flags: TcpFlag.RST, window: 0 }, A4, B4),
    );
    expect(link.log.length).toBe(1);
    const bad = stray.slice();
    bad[20]! ^= 0xff;
    link.b.receive(A4, B4, bad);
    expect(link.b.stats.checksumErrors).toBe(1);
    link.b.receive(A4, B4, new Uint8Array(7));
    expect(link.b.stats.malformed).toBe(1);
  });

  it("connect() times out when nothing answers, after backed-off SYN retransmissions", async () => {
    const clock = new FakeClock();
    const link = new MemoryLink(clock, { seed: 4, loss: 1 });
    link.record = true;
    let err: Error | undefined;
    link.a.connect(A4, B4, 22, { timeoutMs: 20_000 }).catch((e) => {
      err = e;
    });
    await runUntil(clock, () => err !== undefined, 30_000, 10);
    expect(err!.message).toBe("connection timed out");
    const times = link.log.map((e) => e.at - link.log[0]!.at);
    expect(times.slice(0, 5)).toEqual([0, 1000, 3000, 7000, 15000]);
  });

  it("half-close: the client's FIN ends the server's readable; the server still writes", async () => {
    const { clock, client, server } = await pair();
    const atServer = collect(server);
    const atClient = collect(client);
    const w = client.writable.getWriter();
    await w.write(new Uint8Array([1, 2, 3]));
    await w.close();
    await runUntil(clock, () => atServer.done && client.state === "FIN_WAIT_2", 1000);
    expect(atServer.bytes).toEqual([1, 2, 3]);
    expect(client.state).toBe("FIN_WAIT_2");
    expect(server.state).toBe("CLOSE_WAIT");
    const sw = server.writable.getWriter();
    await sw.write(new Uint8Array([9, 8]));
    await runUntil(clock, () => atClient.bytes.length === 2, 1000);
    await sw.close();
    await runUntil(clock, () => atClient.done, 1000);
    expect(atClient.bytes).toEqual([9, 8]);
    expect(client.state).toBe("TIME_WAIT");
    await runUntil(clock, () => server.state === "CLOSED", 1000);
    await server.closed;
    await client.closed;
  });

  it("simultaneous close goes through CLOSING to TIME_WAIT on both sides, which expires after 2*MSL", async () => {
    const { clock, link, client, server } = await pair({}, { mslMs: 1000 });
    collect(client);
    collect(server);
    const seen = new Set<string>();
    const cw = client.writable.getWriter();
    const sw = server.writable.getWriter();
    await Promise.all([cw.close(), sw.close()]);
    await runUntil(
      clock,
      () => {
        seen.add(client.state);
        return client.state === "TIME_WAIT" && server.state === "TIME_WAIT";
      },
      1000,
    );
    expect(seen.has("CLOSING")).toBe(true);
    expect(link.a.stats.connections).toBe(1);
    clock.advance(1900);
    expect(link.a.stats.connections).toBe(1);
    clock.advance(200);
    expect(link.a.stats.connections + link.b.stats.connections).toBe(0);
    await Promise.all([client.closed, server.closed]);
  });

  it("TIME_WAIT lasts 60 s by default", async () => {
    const { clock, link, client, server } = await pair();
    collect(client);
    collect(server);
    await client.writable.getWriter().close();
    await server.writable.getWriter().close();
    await runUntil(clock, () => client.state === "TIME_WAIT", 1000);
    clock.advance(59_900);
    expect(link.a.stats.connections).toBe(1);
    clock.advance(200);
    expect(link.a.stats.connections).toBe(0);
  });

  it("abort() sends RST: the peer's streams and closed reject", async () => {
    const { clock, link, client, server } = await pair();
    const atServer = collect(server);
    client.abort("bye");
    await expect(client.closed).rejects.toThrow("bye");
    await runUntil(clock, () => atServer.error !== undefined, 1000);
    expect(atServer.error!.message).toBe("connection reset by peer");
    await expect(server.closed).rejects.toThrow("connection reset by peer");
    await expect(server.writable.getWriter().write(new Uint8Array(1))).rejects.toThrow();
    expect(link.a.stats.connections + link.b.stats.connections).toBe(0);
  });

  it("RST in CLOSE_WAIT and FIN_WAIT_2 resets; an in-window but inexact RST only draws a challenge ACK", async () => {
    const { clock, link, client, server } = await pair();
    collect(server);
    await client.writable.getWriter().close();
    await runUntil(
      clock,
      () => server.state === "CLOSE_WAIT" && client.state === "FIN_WAIT_2",
      1000,
    );
    expect(client.state).toBe("FIN_WAIT_2");
    // Forge an RST at the server with a sequence number 100 past RCV.NXT.
    const last = h([...link.log].reverse().find((e) => e.from === "b")!.seg);
    const forge = (seq: number) =>
      emitTcp(
        {
          srcPort: last.dstPort,
          dstPort: last.srcPort,
          seq,
          ack: 0,
          flags: TcpFlag.RST,
          window: 0,
        },
        A4,
        B4,
      );
    const before = link.log.length;
    link.b.receive(A4, B4, forge((last.ack + 100) >>> 0));
    expect(server.state).toBe("CLOSE_WAIT");
    expect(h(link.log[before]!.seg).flags).toBe(TcpFlag.ACK); // challenge ACK
    link.b.receive(A4, B4, forge(last.ack));
    expect(server.state).toBe("CLOSED");
    await expect(server.closed).rejects.toThrow("reset");
    await runUntil(clock, () => client.state === "FIN_WAIT_2", 10);
    server.abort(); // already closed: nothing more
    client.abort();
    expect(client.state).toBe("CLOSED");
  });

  it("RST in SYN_RECEIVED drops the half-open connection from the backlog", async () => {
    const clock = new FakeClock();
    const link = new MemoryLink(clock, { seed: 1 });
    link.record = true;
    const l = link.b.listen("any", 80, { backlog: 2 });
    const syn = (port: number) =>
      emitTcp(
        { srcPort: port, dstPort: 80, seq: 1000, ack: 0, flags: TcpFlag.SYN, window: 8192 },
        A4,
        B4,
      );
    for (let p = 1000; p < 1005; p++) link.b.receive(A4, B4, syn(p));
    expect(link.b.stats.droppedSyns).toBe(3);
    expect(l.halfOpen.size).toBe(2);
    const rst = emitTcp(
      { srcPort: 1000, dstPort: 80, seq: 1001, ack: 0, flags: TcpFlag.RST, window: 0 },
      A4,
      B4,
    );
    link.b.receive(A4, B4, rst);
    expect(l.halfOpen.size).toBe(1);
    link.b.receive(A4, B4, syn(2000));
    expect(l.halfOpen.size).toBe(2);
    l.close();
    expect(l.halfOpen.size).toBe(0);
    await expect(l.accept()).rejects.toThrow("listener closed");
  });

  it("Nagle is off by default: small writes go out at once; with nagle:true they wait for the ACK", async () => {
    for (const nagle of [false, true]) {
      const { clock, link, client, server } = await pair({}, {}, { nagle });
      collect(server);
      const w = client.writable.getWriter();
      const before = dataSegs(link, "a").length;
      await w.write(new Uint8Array([1]));
      await w.write(new Uint8Array([2]));
      await w.write(new Uint8Array([3]));
      expect(dataSegs(link, "a").length - before).toBe(nagle ? 1 : 3);
      if (nagle) await runUntil(clock, () => dataSegs(link, "a").length - before === 2, 1000);
    }
  });

  it("delayed ACK: one small segment is acknowledged after 40 ms; two full segments at once", async () => {
    const { clock, link, client, server } = await pair({ delayMs: 0 });
    collect(server);
    const w = client.writable.getWriter();
    await w.write(new Uint8Array(10)); // the first read opens the window from the SYN's 64 KiB
    clock.advance(200);
    await runUntil(clock, () => true, 10);
    const t0 = clock.now();
    const n0 = link.log.length;
    await w.write(new Uint8Array(10));
    await runUntil(clock, () => link.log.slice(n0).some((e) => e.from === "b"), 100);
    expect(clock.now() - t0).toBe(40);
    const t1 = clock.now();
    const n1 = link.log.length;
    await w.write(new Uint8Array(2 * 1380));
    await runUntil(clock, () => link.log.slice(n1).some((e) => e.from === "b"), 100);
    expect(clock.now() - t1).toBeLessThanOrEqual(1);
  });

  it("retransmission timer: RTO backs off exponentially while the peer is silent", async () => {
    const { clock, link, client } = await pair();
    let dead = true;
    link.opts.filter = (from) => from === "b" && dead;
    const w = client.writable.getWriter();
    await w.write(new Uint8Array(100));
    const n0 = link.log.length;
    clock.advance(8000);
    const times = dataSegs(link, "a")
      .filter((_, i, all) => i >= all.length - (link.log.length - n0))
      .map((e) => e.at);
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    for (let i = 1; i < gaps.length; i++) expect(gaps[i]).toBe(Math.min(2 * gaps[i - 1]!, 60_000));
    expect(client.stats.timeouts).toBeGreaterThanOrEqual(4);
    dead = false;
    await runUntil(clock, () => client.stats.rto < 1000, 20_000);
  });

  it("fast retransmit after three duplicate ACKs, without a timeout", async () => {
    const { clock, link, client, server } = await pair();
    const got = collect(server);
    let n = 0;
    link.opts.filter = (from, seg) => from === "a" && h(seg).payload.length > 0 && ++n === 3;
    const w = client.writable.getWriter();
    await w.write(new Uint8Array(10 * 1380));
    await runUntil(clock, () => got.bytes.length === 10 * 1380, 2000);
    expect(client.stats.fastRetransmits).toBe(1);
    expect(client.stats.timeouts).toBe(0);
    expect(client.stats.retransmissions).toBe(1);
    expect(server.stats.dupAcks).toBe(0);
    expect(client.stats.dupAcks).toBeGreaterThanOrEqual(3);
  });

  it("SACK: only the lost segments are resent", async () => {
    const { clock, link, client, server } = await pair();
    const got = collect(server);
    let n = 0;
    link.opts.filter = (from, seg) =>
      from === "a" && h(seg).payload.length > 0 && [2, 5, 7].includes(++n);
    const w = client.writable.getWriter();
    await w.write(new Uint8Array(10 * 1380).map((_, i) => i));
    await runUntil(clock, () => got.bytes.length === 10 * 1380, 3000);
    expect(got.bytes.every((b, i) => b === (i & 0xff))).toBe(true);
    expect(client.stats.retransmissions).toBe(3);
    expect(client.stats.timeouts).toBe(0);
    expect(link.log.some((e) => e.from === "b" && (h(e.seg).options.sack?.length ?? 0) > 0)).toBe(
      true,
    );
  });

  it("zero window: the sender stops, persists with probes, resumes when the reader reads", async () => {
    const { clock, link, client, server } = await pair({}, { receiveWindow: 8192 });
    const w = client.writable.getWriter();
    const written = w.write(new Uint8Array(50_000).fill(7));
    clock.advance(1000);
    const zeroAcks = link.log.filter((e) => e.from === "b" && h(e.seg).window === 0);
    expect(zeroAcks.length).toBeGreaterThan(0);
    const sentBefore = client.stats.bytesSent;
    expect(sentBefore).toBe(8192);
    const n0 = link.log.length;
    clock.advance(10_000);
    const probes = link.log.slice(n0).filter((e) => e.from === "a");
    expect(probes.length).toBeGreaterThanOrEqual(3);
    expect(probes.every((e) => h(e.seg).payload.length === 0)).toBe(true);
    expect(client.stats.bytesSent).toBe(sentBefore);
    const got = collect(server);
    await runUntil(clock, () => got.bytes.length === 50_000, 5000);
    await written;
  });

  it("the writable applies backpressure when the send buffer is full", async () => {
    const { clock, client, server } = await pair({}, { sendBuffer: 16_384, receiveWindow: 4096 });
    const w = client.writable.getWriter();
    let resolved = false;
    w.write(new Uint8Array(100_000)).then(() => {
      resolved = true;
    });
    clock.advance(2000);
    await runUntil(clock, () => true, 10);
    expect(resolved).toBe(false);
    const got = collect(server);
    await runUntil(clock, () => resolved && got.bytes.length === 100_000, 20_000);
  });

  it("keepalive probes an idle connection and gives up on a dead peer", async () => {
    const { clock, link, client, server } = await pair({}, {}, { keepaliveMs: 1000 });
    collect(client);
    collect(server);
    const n0 = link.log.length;
    clock.advance(1500);
    const probes = link.log.slice(n0).filter((e) => e.from === "a");
    expect(probes.length).toBeGreaterThanOrEqual(1);
    expect(client.state).toBe("ESTABLISHED");
    link.opts.filter = () => true;
    clock.advance(20_000);
    expect(client.state).toBe("CLOSED");
    await expect(client.closed).rejects.toThrow("keepalive timeout");
  });

  it("keepalive is off by default", async () => {
    const { clock, link } = await pair();
    const n0 = link.log.length;
    clock.advance(3_600_000);
    expect(link.log.length).toBe(n0);
  });
});
