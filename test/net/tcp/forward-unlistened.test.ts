// The stack's hook for SYNs to ports nothing listens on (TcpStack.forwardUnlistened): asked
// once per flow while retransmitted SYNs wait, yes completes the handshake and hands over the
// connection, no answers RST (the client sees "connection refused"), undecided flows are
// bounded and time out, a peer's RST withdraws its flow, and listeners are never asked.

import { describe, expect, it } from "vitest";
import type {
  TcpConnection,
  UnlistenedFlow,
  UnlistenedHandler,
} from "../../../worker/net/tcp/stack.ts";
import { emitTcp, parseTcp, TcpFlag } from "../../../worker/net/wire/tcp.ts";
import { FakeClock } from "../../../worker/wireguard/clock.ts";
import { seededInts } from "../../helpers/seeded.ts";
import { A4, A6, B4, B6, flush, MemoryLink, runUntil } from "./link.ts";

/** A handler whose answers the test gives by hand, recording every call. */
function manualHandler() {
  const asked: { flow: UnlistenedFlow; answer: (yes: boolean) => void; fail: () => void }[] = [];
  const accepted: { conn: TcpConnection; flow: UnlistenedFlow }[] = [];
  const abandoned: { flow: UnlistenedFlow; reason: string }[] = [];
  const handler: UnlistenedHandler = {
    decide: (flow) =>
      new Promise<boolean>((resolve, reject) =>
        asked.push({ flow, answer: resolve, fail: () => reject(new Error("handler failed")) }),
      ),
    accept: (conn, flow) => accepted.push({ conn, flow }),
    abandon: (flow, reason) => abandoned.push({ flow, reason }),
  };
  return { handler, asked, accepted, abandoned };
}

function setup(options: { maxPending?: number; decideTimeoutMs?: number } = {}) {
  const clock = new FakeClock();
  const link = new MemoryLink(clock, { seed: 7, delayMs: 5 });
  link.record = true;
  const m = manualHandler();
  link.b.forwardUnlistened(m.handler, options);
  return { clock, link, ...m };
}

const flagsFrom = (link: MemoryLink, side: "a" | "b") =>
  link.log.filter((e) => e.from === side).map((e) => parseTcp(e.seg) as { flags: number });

const syn = (srcPort: number, dstPort: number, seq = 1000) =>
  emitTcp({ srcPort, dstPort, seq, ack: 0, flags: TcpFlag.SYN, window: 8192 }, A4, B4);

async function readAll(c: TcpConnection): Promise<string> {
  const reader = c.readable.getReader();
  let text = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return text;
    text += new TextDecoder().decode(value);
  }
}

describe("TcpStack.forwardUnlistened", () => {
  it("asks once while the client retransmits its SYN; yes completes the handshake and hands over the connection", async () => {
    for (const [local, remote] of [
      [A4, B4],
      [A6, B6],
    ] as const) {
      const { clock, link, asked, accepted } = setup();
      let client: TcpConnection | undefined;
      link.a.connect(local, remote, 8000).then((c) => {
        client = c;
      });
      // Past two of the client's SYN retransmissions (RTO 1 s, then 2 s).
      for (let t = 0; t < 3_500; t += 10) {
        clock.advance(10);
        await flush();
      }
      expect(flagsFrom(link, "a").filter((h) => h.flags === TcpFlag.SYN).length).toBeGreaterThan(1);
      expect(asked.length).toBe(1);
      expect(flagsFrom(link, "b")).toEqual([]);
      expect(asked[0]!.flow).toMatchObject({ localPort: 8000, remoteAddress: local });
      asked[0]!.answer(true);
      await runUntil(clock, () => client !== undefined && accepted.length === 1, 5_000);
      const server = accepted[0]!.conn;
      expect(server.localPort).toBe(8000);
      expect(server.remotePort).toBe(client!.localPort);
      expect(accepted[0]!.flow).toBe(asked[0]!.flow);
      // Data both ways, each side half-closing.
      const fromServer = readAll(client!);
      const fromClient = readAll(server);
      const cw = client!.writable.getWriter();
      await cw.write(new TextEncoder().encode("hello server"));
      await cw.close();
      const sw = server.writable.getWriter();
      await sw.write(new TextEncoder().encode("hello client"));
      await sw.close();
      let texts: string[] | undefined;
      Promise.all([fromServer, fromClient]).then((t) => {
        texts = t;
      });
      await runUntil(clock, () => texts !== undefined, 10_000);
      expect(texts).toEqual(["hello client", "hello server"]);
      expect(link.b.stats.unlistenedAsked).toBe(1);
    }
  });

  it("no answers RST: the client's connect fails with 'connection refused' one round trip later", async () => {
    const { clock, link, asked } = setup();
    let error: Error | undefined;
    link.a.connect(A4, B4, 8001).catch((e: Error) => {
      error = e;
    });
    await runUntil(clock, () => asked.length === 1, 1_000);
    asked[0]!.answer(false);
    await runUntil(clock, () => error !== undefined, 100);
    expect(error!.message).toMatch(/connection refused/);
    expect(flagsFrom(link, "b").map((h) => h.flags)).toEqual([TcpFlag.RST | TcpFlag.ACK]);
  });

  it("a handler that rejects counts as no (RST)", async () => {
    const { clock, link, asked } = setup();
    let error: Error | undefined;
    link.a.connect(A4, B4, 8002).catch((e: Error) => {
      error = e;
    });
    await runUntil(clock, () => asked.length === 1, 1_000);
    asked[0]!.fail();
    await runUntil(clock, () => error !== undefined, 100);
    expect(error!.message).toMatch(/connection refused/);
  });

  it("bounds the undecided flows: SYNs of new flows beyond are dropped and counted, not reset", async () => {
    const { link, asked } = setup({ maxPending: 2 });
    for (let port = 40000; port < 40005; port++) link.b.receive(A4, B4, syn(port, 80));
    expect(asked.length).toBe(2);
    expect(link.b.stats.unlistenedAsked).toBe(2);
    expect(link.b.stats.unlistenedDropped).toBe(3);
    expect(flagsFrom(link, "b")).toEqual([]);
    // Once one is decided there is room again.
    asked[0]!.answer(false);
    await new Promise((r) => setImmediate(r));
    link.b.receive(A4, B4, syn(40009, 80));
    expect(asked.length).toBe(3);
  });

  it("drops a flow not decided in time; a late yes is abandoned without a SYN-ACK", async () => {
    const { clock, link, asked, abandoned } = setup({ decideTimeoutMs: 500 });
    link.b.receive(A4, B4, syn(40000, 80));
    clock.advance(600);
    expect(link.b.stats.unlistenedDropped).toBe(1);
    asked[0]!.answer(true);
    await runUntil(clock, () => abandoned.length === 1, 100);
    expect(abandoned[0]!.reason).toMatch(/too late/);
    expect(flagsFrom(link, "b")).toEqual([]);
    expect(link.b.connections.length).toBe(0);
    // The same flow's SYN is a new flow now: asked again.
    link.b.receive(A4, B4, syn(40000, 80));
    expect(asked.length).toBe(2);
  });

  it("a RST from the peer withdraws its flow: a later yes is abandoned, a later no sends nothing", async () => {
    const { clock, link, asked, abandoned } = setup();
    const rst = (port: number) =>
      emitTcp(
        { srcPort: port, dstPort: 80, seq: 1001, ack: 0, flags: TcpFlag.RST, window: 0 },
        A4,
        B4,
      );
    link.b.receive(A4, B4, syn(40000, 80));
    link.b.receive(A4, B4, syn(40001, 80));
    link.b.receive(A4, B4, rst(40000));
    link.b.receive(A4, B4, rst(40001));
    asked[0]!.answer(true);
    asked[1]!.answer(false);
    await runUntil(clock, () => abandoned.length === 1, 100);
    expect(abandoned[0]!.reason).toMatch(/reset/);
    expect(flagsFrom(link, "b")).toEqual([]);
    expect(link.b.connections.length).toBe(0);
  });

  it("a yes whose SYN-ACK is never answered is abandoned when the handshake gives up", async () => {
    const { clock, link, asked, abandoned, accepted } = setup();
    link.b.receive(A4, B4, syn(40000, 80));
    asked[0]!.answer(true);
    // The SYN-ACK goes to stack a, which has no such connection and resets it.
    await runUntil(clock, () => abandoned.length === 1, 5_000);
    expect(accepted.length).toBe(0);
    expect(abandoned[0]!.reason).toMatch(/handshake/);
    expect(link.b.connections.length).toBe(0);
  });

  it("ports with a listener are never asked; null restores the immediate RST", async () => {
    const { clock, link, asked } = setup();
    const l = link.b.listen("any", 22);
    let accepted: TcpConnection | undefined;
    l.accept().then((c) => {
      accepted = c;
    });
    link.a.connect(A4, B4, 22).catch(() => {});
    await runUntil(clock, () => accepted !== undefined, 1_000);
    expect(asked.length).toBe(0);
    link.b.forwardUnlistened(null);
    let error: Error | undefined;
    link.a.connect(A4, B4, 8003).catch((e: Error) => {
      error = e;
    });
    await runUntil(clock, () => error !== undefined, 100);
    expect(error!.message).toMatch(/connection refused/);
    expect(asked.length).toBe(0);
  });

  it("survives 20,000 hostile segments on 32 flows with random answers: bounded, every yes accepted or abandoned once", async () => {
    const rand = seededInts(0xf0e4);
    const clock = new FakeClock();
    const link = new MemoryLink(clock, { seed: 3, delayMs: 2 });
    const maxPending = 6;
    const yes = new Set<UnlistenedFlow>();
    const accepted = new Map<UnlistenedFlow, number>();
    const abandoned = new Map<UnlistenedFlow, number>();
    link.b.forwardUnlistened(
      {
        // Answers yes, no or with a rejection after 0-300 ms (the timeout is 200 ms).
        decide: (flow) =>
          new Promise<boolean>((resolve, reject) => {
            const choice = rand(3);
            clock.setTimer(rand(300), () => {
              if (choice === 0) {
                yes.add(flow);
                resolve(true);
              } else if (choice === 1) resolve(false);
              else reject(new Error("no"));
            });
          }),
        accept: (conn, flow) => {
          accepted.set(flow, (accepted.get(flow) ?? 0) + 1);
          conn.abort("fuzz");
        },
        abandon: (flow) => abandoned.set(flow, (abandoned.get(flow) ?? 0) + 1),
      },
      { maxPending, decideTimeoutMs: 200 },
    );
    const undecided = () =>
      (link.b as unknown as { unlistened?: { size: number } }).unlistened?.size ?? 0;
    const flagChoices = [
      TcpFlag.SYN,
      TcpFlag.SYN,
      TcpFlag.SYN,
      TcpFlag.RST,
      TcpFlag.ACK,
      TcpFlag.SYN | TcpFlag.ACK,
      TcpFlag.FIN | TcpFlag.ACK,
      TcpFlag.RST | TcpFlag.ACK,
      TcpFlag.SYN | TcpFlag.RST,
    ];
    for (let i = 0; i < 20_000; i++) {
      const seg = emitTcp(
        {
          srcPort: 40000 + rand(16),
          dstPort: 80 + rand(2),
          seq: rand(4) === 0 ? rand(2 ** 32) : 1000 + rand(3),
          ack: rand(2 ** 32),
          flags: flagChoices[rand(flagChoices.length)]!,
          window: rand(65536),
        },
        A4,
        B4,
        rand(8) === 0 ? new Uint8Array(rand(100)) : new Uint8Array(0),
      );
      link.b.receive(A4, B4, seg);
      // Real clients among the forged segments, so that some handshakes complete.
      if (i % 200 === 0) link.a.connect(A4, B4, 82).catch(() => {});
      if (undecided() > maxPending)
        expect.fail(`${undecided()} undecided flows after segment ${i}`);
      if (rand(10) === 0) {
        clock.advance(rand(50));
        await flush();
      }
    }
    // Let every answer, handshake, reset and TIME_WAIT run out.
    for (let t = 0; t < 200; t++) {
      clock.advance(1000);
      await flush();
    }
    expect(undecided()).toBe(0);
    expect(link.b.connections.length).toBe(0);
    expect(link.b.stats.unlistenedAsked).toBeGreaterThan(500);
    expect(link.b.stats.unlistenedDropped).toBeGreaterThan(0);
    expect(accepted.size).toBeGreaterThan(0);
    for (const flow of yes) {
      const n = (accepted.get(flow) ?? 0) + (abandoned.get(flow) ?? 0);
      if (n !== 1) expect.fail(`a flow answered yes was accepted or abandoned ${n} times`);
    }
    for (const flow of [...accepted.keys(), ...abandoned.keys()]) {
      if (!yes.has(flow)) expect.fail("accept or abandon for a flow never answered yes");
    }
    console.log(
      `fuzz unlistened: 20000 segments, asked ${link.b.stats.unlistenedAsked}, dropped ${link.b.stats.unlistenedDropped}, accepted ${accepted.size}, abandoned ${abandoned.size}`,
    );
  });
});
