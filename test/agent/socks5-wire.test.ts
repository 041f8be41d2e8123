// The SOCKS5 handshake codec (server/agent/socks5-wire.ts): what curl sends, each refusal with
// its RFC 1928 reply code, and a seeded fuzz of 40,000 inputs (well-formed exchanges, mutated
// ones and random bytes), each fed in random pieces, against a reference model that reads the
// whole input at once with a cursor.

import { describe, expect, it } from "vitest";
import {
  encodeReply,
  Reply,
  type Socks5Event,
  Socks5ServerParser,
} from "../../server/agent/socks5-wire.ts";
import { formatIp } from "../../worker/wireguard/ip-address.ts";
import { seededInts } from "../helpers/seeded.ts";

const hex = (s: string) => Uint8Array.from(s.match(/[0-9a-f]{2}/gi)!.map((x) => parseInt(x, 16)));
const ascii = (s: string) => new TextEncoder().encode(s);
const cat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
};

function run(...chunks: Uint8Array[]): Socks5Event[] {
  const p = new Socks5ServerParser();
  return chunks.flatMap((c) => p.push(c));
}

describe("SOCKS5 handshake codec", () => {
  it("curl --socks5-hostname: greeting, then CONNECT web-01:8000 with the first payload behind it", () => {
    const greeting = hex("050100");
    const request = cat(hex("0501000306"), ascii("web-01"), hex("1f40"));
    const events = run(greeting, cat(request, ascii("GET / HTTP/1.1\r\n")));
    expect(events).toEqual([
      { kind: "method", accepted: true, reply: hex("0500") },
      {
        kind: "connect",
        host: "web-01",
        port: 8000,
        addressType: "domain",
        rest: ascii("GET / HTTP/1.1\r\n"),
      },
    ]);
  });

  it("IPv4 and IPv6 targets, byte by byte", () => {
    const v4 = cat(hex("050200010501000164400007"), hex("0016"));
    const v6 = cat(hex("05010005010004"), hex("fd7a115ca1e000000000000000000007"), hex("01bb"));
    for (const [input, host, port, addressType] of [
      [v4, "100.64.0.7", 22, "ipv4"],
      [v6, "fd7a:115c:a1e0::7", 443, "ipv6"],
    ] as const) {
      const p = new Socks5ServerParser();
      const events = [...input].flatMap((b) => p.push(Uint8Array.of(b)));
      expect(events[1]).toEqual({
        kind: "connect",
        host,
        port,
        addressType,
        rest: new Uint8Array(0),
      });
      expect(p.done).toBe(true);
      expect(p.push(hex("00"))).toEqual([]);
    }
  });

  it("refusals: each with the reply code RFC 1928 gives it, or none before a SOCKS5 greeting", () => {
    const greeting = hex("050100");
    const failWith = (request: Uint8Array) => run(greeting, request)[1];
    expect(failWith(hex("05020001"))).toMatchObject({
      kind: "fail",
      reply: encodeReply(Reply.commandNotSupported),
    });
    expect(failWith(hex("05030001"))).toMatchObject({
      reply: encodeReply(Reply.commandNotSupported),
    });
    expect(failWith(hex("05010005"))).toMatchObject({
      reply: encodeReply(Reply.addressTypeNotSupported),
    });
    expect(failWith(hex("0501000300"))).toMatchObject({
      reply: encodeReply(Reply.generalFailure),
      message: /empty/,
    });
    expect(failWith(cat(hex("0501000303"), ascii("a\nb"), hex("0050")))).toMatchObject({
      reply: encodeReply(Reply.generalFailure),
      message: /byte 0x0a/,
    });
    expect(failWith(hex("05010001010203040000"))).toMatchObject({ message: /port 0/ });
    expect(failWith(hex("05010101"))).toMatchObject({ message: /reserved/ });
    // SOCKS4 and other protocols: no SOCKS5 reply at all.
    expect(run(hex("04010050"))).toEqual([
      { kind: "fail", reply: null, message: "not SOCKS5: version byte 0x04" },
    ]);
    expect(run(ascii("GET / HTTP/1.1"))[0]).toMatchObject({ kind: "fail", reply: null });
    expect(run(hex("0500"))[0]).toMatchObject({
      kind: "fail",
      reply: null,
      message: /no authentication method/,
    });
    // Only username/password offered: "no acceptable methods".
    expect(run(hex("050102"))).toEqual([{ kind: "method", accepted: false, reply: hex("05ff") }]);
  });

  it("encodes replies with a bound address", () => {
    expect(encodeReply(Reply.succeeded)).toEqual(hex("05000001000000000000"));
    expect(encodeReply(Reply.connectionRefused, Uint8Array.of(127, 0, 0, 1), 1080)).toEqual(
      hex("050500017f0000010438"),
    );
    expect(encodeReply(Reply.hostUnreachable, new Uint8Array(16), 1).length).toBe(22);
  });

  /** The reference: the whole input at once, read with a cursor; "short" ends the reading. */
  function model(input: Uint8Array): Socks5Event[] {
    const events: Socks5Event[] = [];
    let i = 0;
    const short = Symbol("short");
    const byte = () => {
      if (i >= input.length) throw short;
      return input[i++]!;
    };
    const take = (n: number) => {
      if (i + n > input.length) throw short;
      i += n;
      return input.subarray(i - n, i);
    };
    const refuse = (code: number | null) => {
      events.push({
        kind: "fail",
        reply: code === null ? null : encodeReply(code as 0),
        message: "",
      });
      return events;
    };
    try {
      if (byte() !== 5) return refuse(null);
      const n = byte();
      if (n === 0) return refuse(null);
      const methods = take(n);
      const ok = methods.includes(0);
      events.push({ kind: "method", accepted: ok, reply: Uint8Array.of(5, ok ? 0 : 0xff) });
      if (!ok) return events;
      if (byte() !== 5) return refuse(null);
      if (byte() !== 1) return refuse(7);
      if (byte() !== 0) return refuse(1);
      const atyp = byte();
      let host: string;
      let addressType: "ipv4" | "domain" | "ipv6";
      if (atyp === 1 || atyp === 4) {
        host = formatIp(take(atyp === 1 ? 4 : 16));
        addressType = atyp === 1 ? "ipv4" : "ipv6";
      } else if (atyp === 3) {
        const len = byte();
        if (len === 0) return refuse(1);
        const name = take(len);
        // The codec judges the name once the whole request (port included) is in.
        take(2);
        i -= 2;
        if (name.some((c) => c <= 32 || c >= 127)) return refuse(1);
        host = String.fromCharCode(...name);
        addressType = "domain";
      } else return refuse(8);
      const port = byte() * 256 + byte();
      if (port === 0) return refuse(1);
      events.push({ kind: "connect", host, port, addressType, rest: input.slice(i) });
    } catch (e) {
      if (e !== short) throw e;
    }
    return events;
  }

  it("agrees with the reference model on 40,000 seeded inputs fed in random pieces", () => {
    const rand = seededInts(0x50c55);
    const bytes = (n: number) => Uint8Array.from({ length: n }, () => rand(256));
    const domain = () => {
      const n = rand(10) === 0 ? rand(256) : 1 + rand(20);
      const chars = "abcdefghijklmnopqrstuvwxyz0123456789-.";
      return Uint8Array.from({ length: n }, () =>
        rand(50) === 0 ? rand(256) : chars.charCodeAt(rand(chars.length)),
      );
    };
    const wellFormed = () => {
      const methods = Uint8Array.from({ length: 1 + rand(4) }, () =>
        rand(3) === 0 ? 0 : rand(256),
      );
      const atyp = [1, 3, 4][rand(3)]!;
      const address =
        atyp === 1
          ? bytes(4)
          : atyp === 4
            ? bytes(16)
            : (() => {
                const d = domain();
                return cat(Uint8Array.of(d.length & 0xff), d);
              })();
      return cat(
        Uint8Array.of(5, methods.length),
        methods,
        Uint8Array.of(5, 1, 0, atyp),
        address,
        bytes(2),
        bytes(rand(4) === 0 ? rand(40) : 0),
      );
    };
    const mutate = (b: Uint8Array) => {
      const out = [...b];
      for (let k = 1 + rand(3); k > 0; k--) {
        const at = rand(out.length + 1);
        switch (rand(4)) {
          case 0:
            if (out.length) out[at % out.length] = rand(256);
            break;
          case 1:
            out.splice(at, 1);
            break;
          case 2:
            out.splice(at, 0, rand(256));
            break;
          default:
            out.length = at;
        }
      }
      return Uint8Array.from(out);
    };
    const counts = { connect: 0, fail: 0, method: 0, need: 0 };
    for (let n = 0; n < 40_000; n++) {
      const kind = rand(10);
      const input = kind < 4 ? wellFormed() : kind < 8 ? mutate(wellFormed()) : bytes(rand(300));
      const want = model(input);
      // Cut into 1-6 pieces at random places (some empty).
      const cuts = Array.from({ length: rand(6) }, () => rand(input.length + 1)).sort(
        (a, b) => a - b,
      );
      const p = new Socks5ServerParser();
      const got: Socks5Event[] = [];
      let last = 0;
      // Bytes after the chunk that completed the request are the caller's to forward after
      // `rest` (the parser takes no more): join them as the proxy does.
      const after: Uint8Array[] = [];
      for (const c of [...cuts, input.length]) {
        const piece = input.subarray(last, c);
        if (p.done) after.push(piece);
        else got.push(...p.push(piece));
        last = c;
      }
      const connect = got.find((e) => e.kind === "connect");
      if (connect) connect.rest = cat(connect.rest, ...after);
      const strip = (events: Socks5Event[]) =>
        events.map((e) => (e.kind === "fail" ? { ...e, message: "" } : e));
      const a = JSON.stringify(strip(got), (_, v) => (v instanceof Uint8Array ? [...v] : v));
      const b = JSON.stringify(want, (_, v) => (v instanceof Uint8Array ? [...v] : v));
      if (a !== b) expect.fail(`input ${Buffer.from(input).toString("hex")}: got ${a}, model ${b}`);
      for (const e of got)
        if (e.kind === "fail" && e.message === "") expect.fail("a refusal without a message");
      const lastEvent = got.at(-1);
      if (!lastEvent) counts.need++;
      else counts[lastEvent.kind]++;
    }
    // Every outcome must be reached often, or the comparison proves little.
    for (const k of ["connect", "fail", "method", "need"] as const)
      expect(counts[k]).toBeGreaterThan(1000);
  });
});
