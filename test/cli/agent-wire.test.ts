// The local socket's codec (server/agent/local-wire.ts): every request decodes or fails naming
// its field; answers decode per operation, a failure answer becomes the agent's code and
// message; readLine puts back what follows the line. Seeded fuzz: 4,000 hostile request lines
// (random bytes, mutations of valid requests) and 2,000 hostile answers never throw anything
// but a LocalWireError, and whatever decodes is a valid request.

import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import {
  decodeAnswer,
  decodeRequest,
  encodeAnswer,
  encodeFailure,
  encodeRequest,
  type LocalRequest,
  LocalWireError,
  MAX_REQUEST_BYTES,
  readLine,
} from "../../server/agent/local-wire.ts";
import type { AgentStatus } from "../../server/agent/types.ts";
import { seededInts } from "../helpers/seeded.ts";

const VALID: LocalRequest[] = [
  { op: "status" },
  { op: "ping", host: "web-01", timeoutMs: 2000 },
  { op: "ping", host: "100.64.0.7" },
  { op: "dial", host: "web-01.mesh.example", port: 22, timeoutMs: 5000 },
  { op: "dial", host: "fd7a:115c:a1e0::7", port: 65535 },
  { op: "hostKeys", host: "web-01" },
  { op: "knownHosts" },
];

const STATUS: AgentStatus = {
  self: { name: "laptop", key: "k".repeat(44), addresses: ["100.64.0.1"], domain: "mesh" },
  control: { state: "streaming", url: "ws://127.0.0.1:8080/control", approvalUrl: null },
  mode: "userspace",
  relay: { id: "r1", url: "ws://127.0.0.1:8080/relay", state: "ready" },
  endpoints: ["192.0.2.1:41641"],
  peers: [
    {
      key: "p".repeat(44),
      name: "web-01",
      addresses: ["100.64.0.7"],
      online: true,
      path: "direct",
      endpoint: "192.0.2.7:41641",
      relay: null,
      rttMs: 1.25,
      lastHandshake: 1_700_000_000_000,
      rxBytes: 1234,
      txBytes: 5678,
    },
  ],
};

function failure(fn: () => unknown): LocalWireError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(LocalWireError);
    return error as LocalWireError;
  }
  throw new Error("expected a LocalWireError");
}

describe("local socket requests", () => {
  it("round-trips every valid request", () => {
    for (const request of VALID) {
      const line = encodeRequest(request);
      expect(line.endsWith("\n")).toBe(true);
      expect(decodeRequest(line.slice(0, -1))).toEqual(request);
    }
  });

  it("names what is wrong", () => {
    const cases: [string, RegExp][] = [
      ["not json", /^request: not JSON/],
      ["[]", /^request: expected a JSON object with op/],
      ['{"op":"reboot"}', /^request\.op: .*status, ping, dial/],
      ["{}", /^request\.op: op is missing/],
      ['{"op":"dial","host":"web-01","port":0}', /^request\.port: must be a port/],
      ['{"op":"dial","host":"web-01","port":"22"}', /^request\.port: must be a number/],
      ['{"op":"dial","host":"web-01","port":22.5}', /^request\.port: must be a whole number/],
      ['{"op":"ping","host":""}', /^request\.host: must not be empty/],
      ['{"op":"ping","host":"a b"}', /^request\.host: must be printable ASCII/],
      ['{"op":"ping","host":"x","timeoutMs":0}', /^request\.timeoutMs: must be at least 1/],
      ['{"op":"ping","host":"x","timeoutMs":1e9}', /^request\.timeoutMs: must be at most/],
      [`{"op":"ping","host":"${"a".repeat(254)}"}`, /^request\.host: must be at most 253/],
      [`{"op":"status","pad":"${"a".repeat(MAX_REQUEST_BYTES)}"}`, /longer than 4096 bytes/],
    ];
    for (const [line, message] of cases) {
      const error = failure(() => decodeRequest(line));
      expect(error.code).toBe("bad-request");
      expect(error.message).toMatch(message);
    }
  });

  it("fuzz: 4,000 hostile lines decode to valid requests or fail with LocalWireError", () => {
    const next = seededInts(0x10ca1);
    const alphabet = '{}[]":,0123456789.-eE truefalsnl\\u00opstatuspingdialhostKeysknownHosts';
    let decoded = 0;
    for (let i = 0; i < 4000; i++) {
      let line: string;
      if (i % 3 === 0) {
        line = Array.from({ length: next(80) }, () => String.fromCharCode(next(256))).join("");
      } else {
        const base = encodeRequest(VALID[next(VALID.length)]!).slice(0, -1).split("");
        for (let m = 0, n = 1 + next(4); m < n; m++) {
          const at = next(base.length + 1);
          const kind = next(3);
          const char = alphabet[next(alphabet.length)]!;
          if (kind === 0) base.splice(at, 1);
          else if (kind === 1) base.splice(at, 0, char);
          else base[at] = char;
        }
        line = base.join("");
      }
      try {
        const request = decodeRequest(line);
        decoded++;
        // Whatever decodes is one of the requests, and encodes back to something that decodes.
        expect(["status", "ping", "dial", "hostKeys", "knownHosts"]).toContain(request.op);
        expect(decodeRequest(encodeRequest(request).slice(0, -1))).toEqual(request);
      } catch (error) {
        expect(error).toBeInstanceOf(LocalWireError);
        expect((error as LocalWireError).message).toMatch(/^request/);
      }
    }
    // Mutations must leave some requests valid, or the fuzzer only tests JSON.parse.
    expect(decoded).toBeGreaterThan(100);
  });
});

describe("local socket answers", () => {
  it("decodes each operation's answer", () => {
    const line = (s: string) => s.slice(0, -1);
    expect(decodeAnswer("status", line(encodeAnswer("status", { status: STATUS })))).toEqual({
      status: STATUS,
    });
    expect(decodeAnswer("ping", line(encodeAnswer("ping", { rttMs: 3.5 })))).toEqual({
      rttMs: 3.5,
    });
    expect(decodeAnswer("dial", line(encodeAnswer("dial", {})))).toEqual({});
    const hostKeys = { name: "web-01", names: ["web-01", "100.64.0.7"], keys: ["ssh-ed25519 AA"] };
    expect(decodeAnswer("hostKeys", line(encodeAnswer("hostKeys", { hostKeys })))).toEqual({
      hostKeys,
    });
    expect(
      decodeAnswer("knownHosts", line(encodeAnswer("knownHosts", { lines: ["a b c"] }))),
    ).toEqual({ lines: ["a b c"] });
  });

  it("turns a failure answer into the agent's code and message", () => {
    const error = failure(() =>
      decodeAnswer("dial", encodeFailure("refused", "web-01 port 23: refused").slice(0, -1)),
    );
    expect(error.code).toBe("refused");
    expect(error.message).toBe("web-01 port 23: refused");
  });

  it("names the field of a malformed answer", () => {
    const bad = { ok: true, status: { ...STATUS, mode: "kernel" } };
    expect(failure(() => decodeAnswer("status", JSON.stringify(bad))).message).toMatch(
      /^answer\.status\.mode: must be userspace or tun/,
    );
    expect(failure(() => decodeAnswer("ping", '{"ok":true}')).message).toMatch(/^answer\.rttMs/);
    expect(failure(() => decodeAnswer("ping", '{"ok":"yes"}')).message).toMatch(/answer\.ok/);
    expect(
      failure(() => decodeAnswer("ping", '{"ok":false,"error":{"code":"x","message":"m"}}'))
        .message,
    ).toMatch(/^answer\.error\.code: is not a known error code/);
  });

  it("fuzz: 2,000 hostile answers fail only with LocalWireError", () => {
    const next = seededInts(0xa115);
    const valid = [
      encodeAnswer("status", { status: STATUS }),
      encodeFailure("timeout", "no answer"),
      encodeAnswer("ping", { rttMs: 1 }),
    ];
    const ops = ["status", "ping", "dial", "hostKeys", "knownHosts"] as const;
    for (let i = 0; i < 2000; i++) {
      const chars = valid[next(valid.length)]!.slice(0, -1).split("");
      for (let m = 0, n = 1 + next(6); m < n; m++) {
        chars.splice(next(chars.length + 1), next(2), String.fromCharCode(32 + next(95)));
      }
      try {
        decodeAnswer(ops[next(ops.length)]!, chars.join(""));
      } catch (error) {
        expect(error).toBeInstanceOf(LocalWireError);
      }
    }
  });
});

describe("readLine", () => {
  it("returns the line and puts back what followed it", async () => {
    const stream = new PassThrough();
    stream.write("hello ");
    stream.write('world\n{"raw":');
    const line = await readLine(stream, 100, "test line");
    expect(line).toBe("hello world");
    stream.end("bytes");
    const rest: Buffer[] = [];
    for await (const chunk of stream) rest.push(chunk as Buffer);
    expect(Buffer.concat(rest).toString()).toBe('{"raw":bytes');
  });

  it("refuses a line over its bound and a stream that ends first", async () => {
    const long = new PassThrough();
    long.write("x".repeat(50));
    await expect(readLine(long, 20, "the answer")).rejects.toThrow(
      "the answer: longer than 20 bytes",
    );
    const short = new PassThrough();
    short.end("no newline");
    await expect(readLine(short, 20, "the answer")).rejects.toThrow(/ended before a full line/);
  });
});
