// The frame codec and message assembly: RFC 6455's examples, every refusal with its close code,
// frames split anywhere, and seeded fuzzers of hostile bytes.

import { describe, expect, it } from "vitest";
import {
  encodeClosePayload,
  encodeFrame,
  type Frame,
  type FrameLimits,
  Opcode,
  parseClosePayload,
  WebSocketProtocolError,
} from "../../worker/http/websocket/frame.ts";
import { MessageAssembler } from "../../worker/http/websocket/message.ts";
import { FrameParser } from "../../worker/http/websocket/parser.ts";
import { seededBytes, seededInts } from "../helpers/seeded.ts";

const hex = (s: string) => Uint8Array.from(s.match(/../g)!.map((h) => Number.parseInt(h, 16)));
const server: FrameLimits = { expectMasked: false, maxPayload: 1 << 20 };
const client: FrameLimits = { expectMasked: true, maxPayload: 1 << 20 };
const text = (s: string) => new TextEncoder().encode(s);

const buf = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.length);
const same = (a: Uint8Array, b: Uint8Array) => buf(a).equals(buf(b));
// Frames as comparable summaries: deep-equal over 64 KiB typed arrays is slow.
const summary = (fs: Frame[]) =>
  fs.map(
    (f) =>
      `${f.fin}/${f.rsv}/${f.opcode}/${f.masked}/${f.payload.length}/${buf(f.payload).toString("base64")}`,
  );

function parseAll(bytes: Uint8Array, limits: FrameLimits = server): Frame[] {
  return new FrameParser(limits).pushAll(bytes);
}

function refusal(bytes: Uint8Array, limits: FrameLimits = server): WebSocketProtocolError {
  try {
    parseAll(bytes, limits);
  } catch (e) {
    if (e instanceof WebSocketProtocolError) return e;
    throw e;
  }
  throw new Error("accepted");
}

describe("frame codec", () => {
  it("decodes RFC 6455 §5.7's examples", () => {
    expect(parseAll(hex("810548656c6c6f"))[0]).toMatchObject({
      fin: true,
      opcode: 1,
      payload: text("Hello"),
    });
    const masked = parseAll(hex("818537fa213d7f9f4d5158"), client)[0]!;
    expect(masked).toMatchObject({ masked: true, payload: text("Hello") });
    const frag = parseAll(hex("010348656c80026c6f"));
    expect(frag.map((f) => [f.fin, f.opcode])).toEqual([
      [false, 1],
      [true, 0],
    ]);
    expect(parseAll(hex("890548656c6c6f"))[0]).toMatchObject({ opcode: Opcode.Ping });
    const f256 = new Uint8Array(4 + 256);
    f256.set(hex("827e0100"));
    expect(parseAll(f256)[0]!.payload.length).toBe(256);
    const f64k = new Uint8Array(10 + 65536);
    f64k.set(hex("827f0000000000010000"));
    expect(parseAll(f64k)[0]!.payload.length).toBe(65536);
  });

  it("encodes the same bytes, with the minimal length form", () => {
    expect(encodeFrame({ opcode: 1, payload: text("Hello") })).toEqual(hex("810548656c6c6f"));
    expect(encodeFrame({ opcode: 1, payload: text("Hello"), maskKey: hex("37fa213d") })).toEqual(
      hex("818537fa213d7f9f4d5158"),
    );
    expect(encodeFrame({ opcode: 2, payload: new Uint8Array(125) }).length).toBe(127);
    expect(encodeFrame({ opcode: 2, payload: new Uint8Array(126) }).subarray(0, 4)).toEqual(
      hex("827e007e"),
    );
    expect(encodeFrame({ opcode: 2, payload: new Uint8Array(65536) }).subarray(0, 10)).toEqual(
      hex("827f0000000000010000"),
    );
    expect(() => encodeFrame({ opcode: 9, payload: new Uint8Array(126) })).toThrow(RangeError);
    expect(() => encodeFrame({ opcode: 3, payload: new Uint8Array(0) })).toThrow(RangeError);
  });

  it("refuses what RFC 6455 forbids, naming it and the close code", () => {
    const cases: [string, string, number, RegExp][] = [
      ["c100", "server", 1002, /RSV/],
      ["8300", "server", 1002, /reserved opcode 0x3/],
      ["8b00", "server", 1002, /reserved opcode 0xb/],
      ["0900", "server", 1002, /fragmented control/],
      ["897e007e", "server", 1002, /longer than 125/],
      ["81850000000000", "server", 1002, /masked frame from a server/],
      ["8100", "client", 1002, /unmasked frame from a client/],
      ["827e0005", "server", 1002, /non-minimal 16-bit/],
      ["827f000000000000ffff", "server", 1002, /non-minimal 64-bit/],
      ["827f8000000000000000", "server", 1002, /top bit/],
      ["827f0000000100000000", "server", 1009, /exceeds the limit/],
    ];
    for (const [bytes, dir, code, msg] of cases) {
      const e = refusal(hex(bytes), dir === "server" ? server : client);
      expect(e.closeCode, bytes).toBe(code);
      expect(e.message, bytes).toMatch(msg);
    }
    expect(parseAll(hex("c100"), { expectMasked: false, allowedRsv: 4 })[0]!.rsv).toBe(4);
  });

  it("checks Close bodies: code, length and UTF-8 reason", () => {
    expect(parseClosePayload(new Uint8Array(0))).toEqual({ code: undefined, reason: "" });
    expect(parseClosePayload(encodeClosePayload(4001, "bye ✓"))).toEqual({
      code: 4001,
      reason: "bye ✓",
    });
    expect(() => parseClosePayload(hex("03"))).toThrow(/1-byte/);
    for (const bad of [999, 1004, 1005, 1006, 1015, 2000, 5000]) {
      const e = (() => {
        try {
          parseClosePayload(encodeClosePayload(bad));
        } catch (err) {
          return err as WebSocketProtocolError;
        }
      })();
      expect(e?.closeCode, String(bad)).toBe(1002);
    }
    expect(() => parseClosePayload(hex("03e8c3"))).toThrow(/UTF-8/);
    expect(() => encodeClosePayload(1000, "x".repeat(124))).toThrow(RangeError);
  });

  it("parses frames split at every byte boundary", () => {
    const frames = [
      encodeFrame({ opcode: 1, payload: text("héllo"), fin: false }),
      encodeFrame({ opcode: 9, payload: text("p") }),
      encodeFrame({ opcode: 0, payload: new Uint8Array(300).fill(7) }),
      encodeFrame({ opcode: 2, payload: new Uint8Array(70000).fill(9) }),
    ];
    const all = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
    let at = 0;
    for (const f of frames) {
      all.set(f, at);
      at += f.length;
    }
    const whole = parseAll(all);
    const p = new FrameParser(server);
    const got: Frame[] = [];
    for (let i = 0; i < all.length; i++) p.push(all.subarray(i, i + 1), (f) => got.push(f));
    expect(summary(got)).toEqual(summary(whole));
    expect(got.map((f) => f.payload.length)).toEqual([6, 1, 300, 70000]);
    expect(p.pendingBytes).toBe(0);
  });
});

/** Feeds `bytes` in random pieces; returns the frames or the refusal. */
function feed(bytes: Uint8Array, limits: FrameLimits, cuts: (n: number) => number) {
  const p = new FrameParser(limits);
  const frames: Frame[] = [];
  let at = 0;
  try {
    while (at < bytes.length) {
      const n = 1 + cuts(Math.min(64, bytes.length - at));
      p.push(bytes.subarray(at, at + n), (f) => frames.push(f));
      at += n;
    }
    return { frames, error: undefined };
  } catch (e) {
    if (!(e instanceof WebSocketProtocolError)) throw e;
    return { frames, error: e };
  }
}

describe("frame parser fuzz (seeded)", () => {
  it("5000 hostile inputs: refusals are protocol errors, frames re-encode to the same bytes, splits change nothing", () => {
    const rand = seededInts(0x5eed);
    const bytes = seededBytes(0xf00d);
    const limits: FrameLimits = { expectMasked: false, maxPayload: 4096 };
    let accepted = 0;
    let refused = 0;
    for (let i = 0; i < 5000; i++) {
      let input: Uint8Array;
      if (i % 3 === 0) {
        input = bytes(rand(200));
      } else {
        // Valid frames, then hostile edits: bit flips, cuts, inserted bytes.
        const parts: Uint8Array[] = [];
        for (let k = rand(4) + 1; k > 0; k--) {
          const op = [0, 1, 2, 8, 9, 10][rand(6)]!;
          const len =
            op >= 8 ? rand(126) : [rand(126), 126 + rand(400), 65536 + rand(10)][rand(3)]!;
          parts.push(
            encodeFrame({ opcode: op, payload: bytes(len), fin: op >= 8 || rand(2) === 0 }),
          );
        }
        const joined = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
        let at = 0;
        for (const p of parts) {
          joined.set(p, at);
          at += p.length;
        }
        input = joined;
        for (let e = rand(4); e > 0; e--) {
          const pos = rand(Math.max(1, Math.min(input.length, 40)));
          if (rand(2) === 0 && input.length > 0) input[pos] = input[pos]! ^ (1 << rand(8));
          else
            input = Buffer.concat([
              input.subarray(0, pos),
              Uint8Array.of(rand(256)),
              input.subarray(pos),
            ]);
        }
        if (rand(4) === 0) input = input.subarray(0, rand(input.length + 1));
      }
      const whole = feed(input, limits, () => input.length);
      const split = feed(input, limits, rand);
      expect(summary(split.frames)).toEqual(summary(whole.frames));
      expect(split.error?.message).toBe(whole.error?.message);
      if (whole.error !== undefined) {
        refused++;
        expect([1002, 1007, 1009]).toContain(whole.error.closeCode);
      } else accepted++;
      // Every frame accepted is canonical: encoding it again gives the input's bytes.
      let at = 0;
      for (const f of whole.frames) {
        if (f.opcode >= 8) expect(f.fin && f.payload.length <= 125).toBe(true);
        expect(f.rsv).toBe(0);
        expect(f.payload.length).toBeLessThanOrEqual(4096);
        const again = encodeFrame({ opcode: f.opcode, payload: f.payload, fin: f.fin });
        expect(same(input.subarray(at, at + again.length), again)).toBe(true);
        at += again.length;
      }
    }
    expect(accepted).toBeGreaterThan(300);
    expect(refused).toBeGreaterThan(300);
  });

  it("2000 masked round trips: what the client encodes, a server-side parser decodes", () => {
    const rand = seededInts(77);
    const bytes = seededBytes(78);
    for (let i = 0; i < 2000; i++) {
      const op = [0, 1, 2, 8, 9, 10][rand(6)]!;
      const payload = bytes(op >= 8 ? rand(126) : rand(3) === 0 ? 65536 + rand(100) : rand(500));
      const wire = encodeFrame({
        opcode: op,
        payload,
        maskKey: bytes(4),
        fin: op >= 8 || rand(2) === 0,
      });
      const { frames, error } = feed(wire, client, rand);
      expect(error).toBeUndefined();
      expect(frames).toHaveLength(1);
      expect(same(frames[0]!.payload, payload)).toBe(true);
    }
  });

  it("3000 random fragment sequences: assembly obeys §5.4, the size limit and UTF-8", () => {
    const rand = seededInts(99);
    const bytes = seededBytes(100);
    const sample = text("ascii é ✓ 𝄞 mixed ");
    const seen = new Set<string>();
    for (let i = 0; i < 3000; i++) {
      const a = new MessageAssembler(48);
      try {
        for (let k = rand(6) + 1; k > 0; k--) {
          const op = [0, 1, 2][rand(3)]!;
          const payload =
            rand(3) === 0 ? bytes(rand(40)) : sample.subarray(rand(5), 5 + rand(sample.length - 4));
          const m = a.push({ fin: rand(2) === 0, rsv: 0, opcode: op, masked: false, payload });
          if (typeof m === "string")
            expect(new TextDecoder("utf-8", { fatal: true }).decode(text(m))).toBe(m);
        }
        seen.add("ok");
      } catch (e) {
        if (!(e instanceof WebSocketProtocolError)) throw e;
        seen.add(String(e.closeCode));
      }
    }
    expect([...seen].sort()).toEqual(["1002", "1007", "1009", "ok"]);
  });

  it("joins a text message split inside multi-byte characters", () => {
    const whole = text("a✓𝄞é");
    for (let cut = 0; cut <= whole.length; cut++) {
      const a = new MessageAssembler(48);
      expect(
        a.push({ fin: false, rsv: 0, opcode: 1, masked: false, payload: whole.subarray(0, cut) }),
      ).toBeUndefined();
      expect(
        a.push({ fin: true, rsv: 0, opcode: 0, masked: false, payload: whole.subarray(cut) }),
      ).toBe("a✓𝄞é");
    }
    const a = new MessageAssembler(100);
    a.push({ fin: false, rsv: 0, opcode: 1, masked: false, payload: whole.subarray(0, 2) });
    expect(() =>
      a.push({ fin: true, rsv: 0, opcode: 0, masked: false, payload: new Uint8Array(0) }),
    ).toThrow(/UTF-8/);
  });
});
