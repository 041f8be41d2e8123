// The opening handshake: the upgrade request head, the response-head reader and the client's
// checks of the 101, with a seeded fuzzer of hostile response heads.

import { describe, expect, it } from "vitest";
import {
  acceptFor,
  buildUpgradeRequest,
  checkUpgradeResponse,
  type HandshakeResult,
  MAX_RESPONSE_HEAD_BYTES,
  parseResponseHead,
  ResponseHeadReader,
  WebSocketHandshakeError,
} from "../../worker/http/websocket/handshake.ts";
import { seededInts } from "../helpers/seeded.ts";

const KEY = "dGhlIHNhbXBsZSBub25jZQ==";
const latin1 = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff);
const str = (b: Uint8Array) => String.fromCharCode(...b);

const good = (extra = "") =>
  `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptFor(KEY)}\r\n${extra}\r\n`;

function check(head: string, protocols: string[] = []): HandshakeResult {
  return checkUpgradeResponse(parseResponseHead(latin1(head)), { key: KEY, protocols });
}

function failure(f: () => unknown): WebSocketHandshakeError {
  try {
    f();
  } catch (e) {
    if (e instanceof WebSocketHandshakeError) return e;
    throw e;
  }
  throw new Error("accepted");
}

describe("upgrade request", () => {
  it("computes RFC 6455's Sec-WebSocket-Accept example", () => {
    expect(acceptFor(KEY)).toBe("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  });

  it("writes GET, Host, Upgrade, Connection, key, version, Origin, protocols and extra headers", () => {
    const { key, head } = buildUpgradeRequest({
      host: "web-01:8888",
      path: "/api/kernels/k/channels?session_id=s",
      origin: "http://web-01:8888",
      protocols: ["v1.kernel.websocket.jupyter.org", "chat"],
      headers: { Cookie: "_xsrf=abc; session=1", "User-Agent": "corridor" },
      key: KEY,
    });
    expect(key).toBe(KEY);
    expect(str(head)).toBe(
      [
        "GET /api/kernels/k/channels?session_id=s HTTP/1.1",
        "Host: web-01:8888",
        "Upgrade: websocket",
        "Connection: Upgrade",
        `Sec-WebSocket-Key: ${KEY}`,
        "Sec-WebSocket-Version: 13",
        "Origin: http://web-01:8888",
        "Sec-WebSocket-Protocol: v1.kernel.websocket.jupyter.org, chat",
        "Cookie: _xsrf=abc; session=1",
        "User-Agent: corridor",
        "",
        "",
      ].join("\r\n"),
    );
    const fresh = buildUpgradeRequest({ host: "h", path: "/" }).key;
    expect(atob(fresh)).toHaveLength(16);
    expect(fresh).not.toBe(buildUpgradeRequest({ host: "h", path: "/" }).key);
  });

  it("refuses values that would inject headers or break the handshake", () => {
    const base = { host: "h", path: "/" };
    expect(() => buildUpgradeRequest({ ...base, headers: { Cookie: "a\r\nX-Evil: 1" } })).toThrow(
      TypeError,
    );
    expect(() => buildUpgradeRequest({ ...base, headers: { "Bad Name": "x" } })).toThrow(TypeError);
    expect(() => buildUpgradeRequest({ ...base, headers: { "sec-websocket-key": "x" } })).toThrow(
      /handshake/,
    );
    expect(() => buildUpgradeRequest({ ...base, protocols: ["a b"] })).toThrow(/subprotocol/);
    expect(() => buildUpgradeRequest({ ...base, protocols: ["a", "a"] })).toThrow(/twice/);
    expect(() => buildUpgradeRequest({ ...base, path: "x" })).toThrow(/path/);
    expect(() => buildUpgradeRequest({ ...base, path: "/a b" })).toThrow(/path/);
    expect(() => buildUpgradeRequest({ ...base, host: "h\r\n" })).toThrow(/host/);
    expect(() => buildUpgradeRequest({ ...base, origin: "http://x\n" })).toThrow(TypeError);
  });
});

describe("101 response check", () => {
  it("accepts a correct 101 and reports the chosen subprotocol", () => {
    expect(check(good()).protocol).toBe("");
    expect(check(good("Sec-WebSocket-Protocol: chat\r\n"), ["a", "chat"]).protocol).toBe("chat");
    expect(check(good().replace("Upgrade: websocket", "upgrade:   WebSocket  ")).protocol).toBe("");
    expect(
      check(good().replace("Connection: Upgrade", "Connection: keep-alive, upgrade")).extensions,
    ).toBe("");
  });

  it("names what is wrong", () => {
    const cases: [string, string[], RegExp, number | undefined][] = [
      ["HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", [], /HTTP 403 Forbidden/, 403],
      ["HTTP/1.1 200 OK\r\n\r\n", [], /HTTP 200 OK .*expected 101/, 200],
      [good().replace("Upgrade: websocket", "Upgrade: h2c"), [], /Upgrade header/, 101],
      [good().replace("Connection: Upgrade", "Connection: close"), [], /Connection header/, 101],
      [good().replace(acceptFor(KEY), acceptFor("other")), [], /does not match/, 101],
      [good(`Sec-WebSocket-Accept: ${acceptFor(KEY)}\r\n`), [], /2 Sec-WebSocket-Accept/, 101],
      [good("Sec-WebSocket-Protocol: evil\r\n"), ["chat"], /"evil", which we did not offer/, 101],
      [good("Sec-WebSocket-Protocol: chat\r\n"), [], /did not offer/, 101],
      [
        good("Sec-WebSocket-Extensions: permessage-deflate\r\n"),
        [],
        /extension "permessage-deflate"/,
        101,
      ],
    ];
    for (const [head, protocols, msg, status] of cases) {
      const e = failure(() => check(head, protocols));
      expect(e.message, head).toMatch(msg);
      expect(e.status, head).toBe(status);
    }
    expect(failure(() => parseResponseHead(latin1("HTTP/2 101\r\n\r\n"))).message).toMatch(
      /status line/,
    );
    expect(failure(() => parseResponseHead(latin1(good(" folded\r\n")))).message).toMatch(
      /malformed/,
    );
  });

  it("reads a head split anywhere and hands back the bytes after it", () => {
    const bytes = latin1(`${good()}\x81\x02hi`);
    for (let cut = 0; cut <= bytes.length; cut++) {
      const r = new ResponseHeadReader();
      const first = r.push(bytes.subarray(0, cut));
      const got = first ?? r.push(bytes.subarray(cut));
      expect(got).not.toBeNull();
      const rest =
        first === null ? got!.rest : new Uint8Array([...first.rest, ...bytes.subarray(cut)]);
      expect(str(rest)).toBe("\x81\x02hi");
      expect(got!.head.status).toBe(101);
    }
    const r = new ResponseHeadReader();
    expect(() =>
      r.push(latin1(`HTTP/1.1 101 x\r\nX: ${"a".repeat(MAX_RESPONSE_HEAD_BYTES)}`)),
    ).toThrow(/longer than/);
  });
});

describe("handshake fuzz (seeded)", () => {
  it("4000 hostile response heads: only a real 101 for our key passes, split or whole", () => {
    const rand = seededInts(0xabc);
    const headers = [
      "Upgrade: websocket",
      "Connection: Upgrade",
      `Sec-WebSocket-Accept: ${acceptFor(KEY)}`,
      "Sec-WebSocket-Protocol: chat",
      "Sec-WebSocket-Extensions: permessage-deflate",
      "Set-Cookie: a=b",
      "Server: x",
    ];
    const junk = ["\r", "\n", "\0", ":", " ", "\t", "é", "\r\n", "101", "HTTP/1.1 ", ",", "\xff"];
    let accepted = 0;
    let refused = 0;
    for (let i = 0; i < 4000; i++) {
      const lines = [
        rand(6) === 0 ? `HTTP/1.1 ${rand(600)} X` : "HTTP/1.1 101 Switching Protocols",
      ];
      for (const h of headers) {
        const n =
          rand(10) === 0
            ? 2
            : rand(5) === 0
              ? 0
              : h.startsWith("Sec-WebSocket-Protocol") || h.startsWith("Sec-WebSocket-Ext")
                ? rand(2)
                : 1;
        for (let k = 0; k < n; k++)
          lines.splice(1 + rand(lines.length), 0, rand(8) === 0 ? h.toUpperCase() : h);
      }
      let text = `${lines.join("\r\n")}\r\n\r\n`;
      for (let e = rand(3); e > 0; e--) {
        const pos = rand(text.length - 4);
        text =
          rand(2) === 0
            ? text.slice(0, pos) + junk[rand(junk.length)]! + text.slice(pos)
            : text.slice(0, pos) + text.slice(pos + 1);
      }
      const bytes = latin1(text);
      const outcome = (split: boolean): string => {
        try {
          const r = new ResponseHeadReader();
          let got: ReturnType<ResponseHeadReader["push"]> = null;
          let at = 0;
          while (got === null && at < bytes.length) {
            const n = split ? 1 + rand(16) : bytes.length;
            got = r.push(bytes.subarray(at, at + n));
            at += n;
          }
          if (got === null) return "incomplete";
          const res = checkUpgradeResponse(got.head, { key: KEY, protocols: ["chat"] });
          // Whatever passed really is a 101 carrying exactly our Accept value.
          expect(got.head.status).toBe(101);
          expect(got.head.headers.filter(([n]) => n === "sec-websocket-accept")).toEqual([
            ["sec-websocket-accept", acceptFor(KEY)],
          ]);
          expect(["", "chat"]).toContain(res.protocol);
          expect(
            got.head.headers.some(([n, v]) => n === "sec-websocket-extensions" && v !== ""),
          ).toBe(false);
          return `ok:${res.protocol}`;
        } catch (e) {
          if (!(e instanceof WebSocketHandshakeError)) throw e;
          return `error:${e.message}`;
        }
      };
      const whole = outcome(false);
      expect(outcome(true)).toBe(whole);
      if (whole.startsWith("ok")) accepted++;
      else refused++;
    }
    expect(accepted).toBeGreaterThan(200);
    expect(refused).toBeGreaterThan(1000);
  });
});
