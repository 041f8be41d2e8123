// The wire codecs on their own: known-good and known-bad inputs, then seeded fuzzers feeding
// each parser hostile bytes in random splits. A parser may accept or refuse, but only with
// HttpParseError, and the same bytes must give the same answer however they are split.

import { describe, expect, it } from "vitest";
import { ChunkedDecoder } from "../../worker/http/wire/chunked.ts";
import { HttpEncodeError, HttpParseError } from "../../worker/http/wire/errors.ts";
import { responseFraming } from "../../worker/http/wire/framing.ts";
import { encodeRequestHead } from "../../worker/http/wire/request-head.ts";
import { type ResponseHead, ResponseHeadParser } from "../../worker/http/wire/response-head.ts";
import { seededBytes, seededInts } from "../helpers/seeded.ts";

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

function parseHead(bytes: Uint8Array, cuts: number[] = []): { head: ResponseHead; rest: string } {
  const p = new ResponseHeadParser();
  let at = 0;
  for (const cut of [...cuts, bytes.length]) {
    const r = p.push(bytes.subarray(at, Math.max(at, cut)));
    at = Math.max(at, cut);
    if (r !== null)
      return { head: r.head, rest: dec(Uint8Array.from([...r.rest, ...bytes.subarray(at)])) };
  }
  throw new Error("incomplete");
}

function decodeChunked(bytes: Uint8Array, cuts: number[] = []): { body: string; trailers: string } {
  const d = new ChunkedDecoder();
  const parts: Uint8Array[] = [];
  let at = 0;
  for (const cut of [...cuts, bytes.length]) {
    const r = d.push(bytes.subarray(at, Math.max(at, cut)));
    at = Math.max(at, cut);
    parts.push(...r.data);
    if (r.done) break;
  }
  if (!d.done) throw new Error("incomplete");
  return {
    body: dec(Uint8Array.from(parts.flatMap((p) => [...p]))),
    trailers: JSON.stringify(d.trailers),
  };
}

describe("request head encoder", () => {
  it("writes the request line and fields", () => {
    const out = encodeRequestHead({ method: "GET", target: "/a?b=1", headers: [["Host", "x:1"]] });
    expect(dec(out)).toBe("GET /a?b=1 HTTP/1.1\r\nHost: x:1\r\n\r\n");
  });
  it.each([
    ["CRLF in a value", { method: "GET", target: "/", headers: [["X", "a\r\nEvil: 1"]] }],
    ["LF in a value", { method: "GET", target: "/", headers: [["X", "a\nb"]] }],
    ["NUL in a value", { method: "GET", target: "/", headers: [["X", "a\0"]] }],
    ["a space in a name", { method: "GET", target: "/", headers: [["X Y", "1"]] }],
    ["a colon in a name", { method: "GET", target: "/", headers: [["X:", "1"]] }],
    ["a non-byte character", { method: "GET", target: "/", headers: [["X", "\u2603"]] }],
    ["a space in the method", { method: "GE T", target: "/", headers: [] }],
    ["a space in the target", { method: "GET", target: "/a b", headers: [] }],
    ["CRLF in the target", { method: "GET", target: "/\r\nX: 1", headers: [] }],
    ["a relative target", { method: "GET", target: "a", headers: [] }],
  ] as const)("refuses %s", (_, head) => {
    expect(() => encodeRequestHead(head)).toThrow(HttpEncodeError);
  });
});

describe("response head parser", () => {
  it("parses across any split, keeping the bytes after the head", () => {
    const text =
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Empty:\r\nSet-Cookie: a=1\r\n\r\nbody";
    for (let cut = 0; cut < text.length; cut++) {
      const { head, rest } = parseHead(enc(text), [cut]);
      expect(head).toEqual({
        minor: 1,
        status: 200,
        statusText: "OK",
        headers: [
          ["Content-Type", "text/plain"],
          ["X-Empty", ""],
          ["Set-Cookie", "a=1"],
        ],
      });
      expect(rest).toBe("body");
    }
  });
  it("accepts LF-only lines and an empty reason", () => {
    expect(parseHead(enc("HTTP/1.0 204\nA: b\n\n")).head.status).toBe(204);
  });
  it.each([
    ["obs-fold", "HTTP/1.1 200 OK\r\nA: b\r\n  c\r\n\r\n", "obs-fold", 23],
    ["whitespace before colon", "HTTP/1.1 200 OK\r\nA : b\r\n\r\n", "whitespace before colon", 18],
    ["bare CR", "HTTP/1.1 200 OK\r\nA: b\rc\r\n\r\n", "bare CR", 21],
    ["NUL in a value", "HTTP/1.1 200 OK\r\nA: b\0\r\n\r\n", "control byte", 21],
    ["HTTP/2", "HTTP/2.0 200 OK\r\n\r\n", "unsupported version", 5],
    ["a two-digit status", "HTTP/1.1 20 OK\r\n\r\n", "malformed status line", 0],
  ])("refuses %s, naming it and the byte", (_, text, what, at) => {
    try {
      parseHead(enc(text));
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(HttpParseError);
      expect((e as HttpParseError).message).toContain(what);
      expect((e as HttpParseError).offset).toBe(at);
    }
  });
  it("refuses a head over 64 KiB and more than 256 fields", () => {
    const big = enc(`HTTP/1.1 200 OK\r\nA: ${"x".repeat(70_000)}\r\n\r\n`);
    expect(() => parseHead(big)).toThrow(/longer than 65536 bytes at byte 65536/);
    const many = `HTTP/1.1 200 OK\r\n${"A: b\r\n".repeat(257)}\r\n`;
    expect(() => parseHead(enc(many))).toThrow(/more than 256 header fields/);
    expect(
      parseHead(enc(`HTTP/1.1 200 OK\r\n${"A: b\r\n".repeat(256)}\r\n`)).head.headers,
    ).toHaveLength(256);
  });
});

describe("chunked decoder", () => {
  const body = '5;ext=1;q="a b"\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nX-Sum: 9\r\n\r\nNEXT';
  it("decodes extensions and trailers across any split", () => {
    for (let cut = 0; cut < body.length; cut++) {
      expect(decodeChunked(enc(body), [cut])).toEqual({
        body: "hello 0123456789",
        trailers: JSON.stringify([["X-Sum", "9"]]),
      });
    }
  });
  it("accepts leading zeros within the size-line limit", () => {
    expect(decodeChunked(enc(`${"0".repeat(4000)}2\r\nok\r\n0\r\n\r\n`)).body).toBe("ok");
  });
  it("leaves the bytes after the body", () => {
    const r = new ChunkedDecoder().push(enc("0\r\n\r\nNEXT"));
    expect(r.done && dec(r.rest)).toBe("NEXT");
  });
  it.each([
    ["no digits", "\r\n", "without hex digits"],
    ["a hostile size", "fffffffffffffffffff\r\n", "too large"],
    ["data longer than its size", "2\r\nabc\r\n", "longer than its size"],
    ["junk after the size", "5x\r\n", "invalid byte after chunk size"],
    ["a long extension", `1;${"a".repeat(5000)}\r\n`, "line too long"],
    ["4,096 leading zeros", `${"0".repeat(4096)}1\r\nx\r\n0\r\n\r\n`, "line too long"],
    ["obs-fold in trailers", "0\r\nA: 1\r\n b\r\n\r\n", "obs-fold"],
  ])("refuses %s", (_, text, what) => {
    expect(() => decodeChunked(enc(text))).toThrow(what);
  });
});

describe("body framing (RFC 9112 §6.3)", () => {
  const head = (status: number, headers: [string, string][], minor: 0 | 1 = 1): ResponseHead => ({
    minor,
    status,
    statusText: "",
    headers,
  });
  it("decides framing and keep-alive", () => {
    expect(responseFraming("HEAD", head(200, [["Content-Length", "9"]])).framing.kind).toBe("none");
    expect(responseFraming("GET", head(204, [])).framing.kind).toBe("none");
    expect(responseFraming("GET", head(304, [["Content-Length", "9"]])).framing.kind).toBe("none");
    expect(responseFraming("GET", head(200, [["Transfer-Encoding", "chunked"]]))).toEqual({
      framing: { kind: "chunked" },
      keepAlive: true,
    });
    expect(
      responseFraming(
        "GET",
        head(200, [
          ["Transfer-Encoding", "chunked"],
          ["Content-Length", "3"],
        ]),
      ),
    ).toEqual({ framing: { kind: "chunked" }, keepAlive: false });
    expect(responseFraming("GET", head(200, [["Content-Length", "7, 7"]])).framing).toEqual({
      kind: "length",
      length: 7,
    });
    expect(responseFraming("GET", head(200, []))).toEqual({
      framing: { kind: "close" },
      keepAlive: false,
    });
    expect(responseFraming("GET", head(200, [["Content-Length", "1"]], 0)).keepAlive).toBe(false);
    expect(
      responseFraming(
        "GET",
        head(200, [
          ["Connection", "close"],
          ["Content-Length", "1"],
        ]),
      ).keepAlive,
    ).toBe(false);
  });
  it("refuses conflicting or invalid Content-Length and unknown codings", () => {
    const f = (h: [string, string][]) => () => responseFraming("GET", head(200, h));
    expect(
      f([
        ["Content-Length", "5"],
        ["Content-Length", "6"],
      ]),
    ).toThrow(/conflicting Content-Length/);
    expect(f([["Content-Length", "5, 6"]])).toThrow(/conflicting/);
    expect(f([["Content-Length", "-1"]])).toThrow(/invalid Content-Length/);
    expect(f([["Content-Length", "1e3"]])).toThrow(/invalid Content-Length/);
    expect(f([["Transfer-Encoding", "gzip, chunked"]])).toThrow(/unsupported Transfer-Encoding/);
  });
});

/** A valid sample mutated: bytes flipped, CR/LF/NUL/SP/colon inserted, pieces cut or repeated. */
function mutate(
  sample: Uint8Array,
  ints: (n: number) => number,
  bytes: (n: number) => Uint8Array,
): Uint8Array {
  const out = Array.from(sample);
  const specials = [0x0d, 0x0a, 0x00, 0x20, 0x09, 0x3a, 0x3b, 0x22, 0x7f, 0xff, 0x30, 0x66];
  const edits = 1 + ints(6);
  for (let e = 0; e < edits; e++) {
    const at = ints(out.length + 1);
    switch (ints(5)) {
      case 0:
        out[at] = specials[ints(specials.length)]!;
        break;
      case 1:
        out.splice(at, 0, specials[ints(specials.length)]!);
        break;
      case 2:
        out.splice(at, 1 + ints(8));
        break;
      case 3:
        out.splice(at, 0, ...bytes(1 + ints(16)));
        break;
      default:
        out.splice(at, 0, ...out.slice(ints(out.length), ints(out.length)));
    }
  }
  return Uint8Array.from(out);
}

function randomCuts(len: number, ints: (n: number) => number): number[] {
  const n = ints(5);
  return Array.from({ length: n }, () => ints(len + 1)).sort((a, b) => a - b);
}

/** Runs `parse` on whole and split input: same outcome (value or HttpParseError message). */
function outcome(parse: () => unknown): string {
  try {
    return `ok ${JSON.stringify(parse())}`;
  } catch (e) {
    if (e instanceof HttpParseError) return `err ${e.message}`;
    if (e instanceof Error && e.message === "incomplete") return "incomplete";
    throw e;
  }
}

describe("fuzz (seeded)", () => {
  it("response head parser: 20,000 hostile inputs, only HttpParseError, split-invariant", () => {
    const ints = seededInts(0x1605);
    const bytes = seededBytes(0x1606);
    const samples = [
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX: y\r\n\r\nhello",
      "HTTP/1.0 404 Not Found\nA:b\n\n",
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
    ].map(enc);
    for (let i = 0; i < 20_000; i++) {
      const input =
        i % 10 === 0 ? bytes(ints(200)) : mutate(samples[i % samples.length]!, ints, bytes);
      const whole = outcome(() => parseHead(input));
      const split = outcome(() => parseHead(input, randomCuts(input.length, ints)));
      if (whole !== split) expect({ i, input: Array.from(input), split }).toEqual({ whole });
    }
  });

  it("chunked decoder: 20,000 hostile inputs, only HttpParseError, split-invariant", () => {
    const ints = seededInts(0xc0de);
    const bytes = seededBytes(0xc0df);
    const samples = [
      "5\r\nhello\r\n0\r\n\r\n",
      "3;a=b\r\nabc\r\nA\r\n0123456789\r\n0\r\nT: 1\r\nU: 2\r\n\r\n",
      "1\nx\n0\n\n",
    ].map(enc);
    for (let i = 0; i < 20_000; i++) {
      const input =
        i % 10 === 0 ? bytes(ints(200)) : mutate(samples[i % samples.length]!, ints, bytes);
      const whole = outcome(() => decodeChunked(input));
      const split = outcome(() => decodeChunked(input, randomCuts(input.length, ints)));
      if (whole !== split) expect({ i, input: Array.from(input), split }).toEqual({ whole });
    }
  });

  it("body framing: 20,000 hostile header sets, only HttpParseError", () => {
    const ints = seededInts(0xf4a3);
    const values = [
      "chunked",
      "gzip",
      "5",
      "05",
      "5, 5",
      "5,6",
      "",
      " ",
      "-1",
      "9".repeat(20),
      "close",
      "keep-alive",
      "chunked, chunked",
      "identity",
    ];
    const names = [
      "Content-Length",
      "Transfer-Encoding",
      "Connection",
      "content-length",
      "TRANSFER-ENCODING",
    ];
    for (let i = 0; i < 20_000; i++) {
      const headers: [string, string][] = Array.from({ length: ints(4) }, () => [
        names[ints(names.length)]!,
        values[ints(values.length)]!,
      ]);
      const status = [100, 101, 200, 204, 304, 404, 500][ints(7)]!;
      const method = ["GET", "HEAD", "POST", "CONNECT"][ints(4)]!;
      const r = outcome(() =>
        responseFraming(method, { minor: ints(2) as 0 | 1, status, statusText: "", headers }),
      );
      if (r.startsWith("ok")) {
        const f = JSON.parse(r.slice(3)).framing;
        if (f.kind === "length") expect(Number.isSafeInteger(f.length)).toBe(true);
      }
    }
  });

  it("request head encoder: 20,000 hostile heads, sent only when no field can be injected", () => {
    const ints = seededInts(0xe4c0);
    const pieces = [
      "a",
      "X",
      "-",
      " ",
      "\t",
      "\r",
      "\n",
      "\0",
      ":",
      "/",
      "é",
      "\u2603",
      "\x7f",
      "?",
      "%0d",
    ];
    const str = (n: number): string =>
      Array.from({ length: n }, () => pieces[ints(pieces.length)]).join("");
    for (let i = 0; i < 20_000; i++) {
      const headers: [string, string][] = Array.from({ length: ints(3) }, () => [
        str(1 + ints(4)),
        str(ints(6)),
      ]);
      const head = { method: str(1 + ints(3)), target: `/${str(ints(5))}`, headers };
      let out: Uint8Array;
      try {
        out = encodeRequestHead(head);
      } catch (e) {
        expect(e).toBeInstanceOf(HttpEncodeError);
        continue;
      }
      // What was sent parses back as exactly one request line and these fields.
      const lines = String.fromCharCode(...out).split("\r\n");
      expect(lines).toHaveLength(headers.length + 3);
      expect(lines.join("")).not.toMatch(/[\r\n\0]/);
      expect(lines[0]!.split(" ")).toHaveLength(3);
    }
  });
});
