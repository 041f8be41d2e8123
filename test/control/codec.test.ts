// The map stream's codec: every message round-trips; whole-message refusals (size checked
// before parsing, not JSON, not an object, unknown type) and client-message bounds, each a
// ControlProtocolError naming the field. The map's bounds are in codec-bounds.test.ts.

import { describe, expect, it } from "vitest";
import {
  ControlProtocolError,
  decodeClientMessage,
  decodeServerMessage,
  encodeClientMessage,
  encodeServerMessage,
} from "../../worker/control/codec.ts";
import type { ClientMessage, ServerMessage } from "../../worker/control/messages.ts";
import { MAX_CONTROL_MESSAGE } from "../../worker/control/messages.ts";
import { fullDelta, key, mapMessage } from "./codec-fixtures.ts";

/** The error decoding `text` as a server message (fails when it decodes). */
function refusal(text: string, max?: number): ControlProtocolError {
  try {
    decodeServerMessage(text, max);
  } catch (error) {
    expect(error).toBeInstanceOf(ControlProtocolError);
    return error as ControlProtocolError;
  }
  throw new Error(`decoded: ${text.slice(0, 200)}`);
}

function clientRefusal(message: unknown): string {
  try {
    decodeClientMessage(JSON.stringify(message));
  } catch (error) {
    expect(error).toBeInstanceOf(ControlProtocolError);
    return (error as Error).message;
  }
  throw new Error("decoded");
}

const login: ClientMessage = {
  type: "login",
  nodeKey: key(1),
  proof: key(2),
  hostinfo: { hostname: "build-01", os: "linux", sshHostKeys: ["ssh-ed25519 AAAA root@b"] },
  authKey: "cak_0123456789abcdef",
  ephemeral: true,
  tags: ["tag:ci"],
  resume: { session: "s-1", seq: 41 },
  rotateFrom: { nodeKey: key(3), proof: key(4) },
};

describe("round trips", () => {
  const server: ServerMessage[] = [
    { type: "hello", version: 1, serverKey: key(10), challenge: key(11) },
    { type: "waiting", approvalUrl: "https://control.example.com/approve/abc123" },
    mapMessage(5, 0, "sess_A-1"),
    fullDelta(2),
    { type: "delta", seq: 3 },
    { type: "keepalive" },
    { type: "refused", code: "authkey_revoked", message: "The auth key was revoked." },
  ];
  for (const message of server) {
    it(`server ${message.type}`, () => {
      expect(decodeServerMessage(encodeServerMessage(message))).toEqual(message);
    });
  }
  const client: ClientMessage[] = [
    login,
    { type: "login", nodeKey: key(1), proof: key(2), hostinfo: { hostname: "tab", os: "browser" } },
    { type: "update", endpoints: ["203.0.113.9:51820", "[2001:db8::2]:1"], homeRelay: "eu-1" },
    { type: "update", hostinfo: { hostname: "renamed", os: "linux" } },
  ];
  for (const message of client) {
    it(`client ${message.type} ${Object.keys(message).length}`, () => {
      expect(decodeClientMessage(encodeClientMessage(message))).toEqual(message);
    });
  }

  it("drops unknown fields (a newer peer may add optional ones) and keeps absent ones absent", () => {
    const decoded = decodeServerMessage('{"type":"delta","seq":4,"future":{"x":1}}');
    expect(decoded).toEqual({ type: "delta", seq: 4 });
    expect(Object.keys(decoded)).toEqual(["type", "seq"]);
  });
});

describe("the message as a whole", () => {
  it("checks the size before parsing: an oversized non-JSON text is refused as too large", () => {
    const error = refusal(`{${"x".repeat(2000)}`, 1000);
    expect(error.message).toBe("(message): at least 2001 bytes, over the limit of 1000");
    expect(error.closeCode).toBe(1009);
  });

  it("counts UTF-8 bytes, not characters", () => {
    const text = JSON.stringify({ type: "refused", code: "x", message: "é".repeat(500) });
    expect(text.length).toBeLessThan(1000);
    expect(refusal(text, 1000).message).toBe(
      `(message): ${text.length + 500} bytes, over the limit of 1000`,
    );
    expect(decodeServerMessage(text, text.length + 500).type).toBe("refused");
  });

  it("has a default cap of MAX_CONTROL_MESSAGE", () => {
    const text = `"${"a".repeat(MAX_CONTROL_MESSAGE)}"`;
    expect(refusal(text).closeCode).toBe(1009);
    const big: ServerMessage = { type: "refused", code: "x", message: text };
    expect(() => encodeServerMessage(big)).toThrow(
      `(message): at least ${JSON.stringify(big).length} bytes, over the limit of ${MAX_CONTROL_MESSAGE}`,
    );
  });

  it.each([
    ["not json", "(message): not JSON: Unexpected token 'o', \"not json\" is not valid JSON"],
    ["[1,2]", "(message): expected a JSON object, got an array"],
    ["null", "(message): expected a JSON object, got null"],
    ['"hello"', "(message): expected a JSON object, got string"],
    ["{}", "type: unknown message type undefined"],
    ['{"type":"login"}', 'type: unknown message type "login"'],
    ['{"type":"map"}', "session: missing"],
    ['{"type":"hello","version":2}', "version: unsupported version 2 (this client speaks 1)"],
  ])("%s", (text, message) => {
    const error = refusal(text);
    expect(error.message).toBe(message);
    expect(error.closeCode).toBe(4400);
  });

  it("refuses a non-string from a careless caller with the same error type", () => {
    expect(() => decodeServerMessage(42 as unknown as string)).toThrow(ControlProtocolError);
  });

  it("a client message is not a server message and the other way round", () => {
    expect(clientRefusal({ type: "keepalive" })).toBe('type: unknown message type "keepalive"');
    expect(refusal(JSON.stringify(login)).message).toBe('type: unknown message type "login"');
  });
});

describe("client messages", () => {
  it.each<[string, Record<string, unknown>, string]>([
    [
      "a bad proof",
      { ...login, proof: "x" },
      "proof: not base64 of 32 bytes: 1 characters, expected 44",
    ],
    ["no hostinfo", { ...login, hostinfo: undefined }, "hostinfo: missing"],
    [
      "an empty hostname",
      { ...login, hostinfo: { hostname: "", os: "" } },
      "hostinfo.hostname: must not be empty",
    ],
    [
      "a negative resume seq",
      { ...login, resume: { session: "s", seq: -2 } },
      "resume.seq: must be >= 0, got -2",
    ],
    [
      "a bad rotateFrom key",
      { ...login, rotateFrom: { nodeKey: "k", proof: key(1) } },
      "rotateFrom.nodeKey: not base64 of 32 bytes: 1 characters, expected 44",
    ],
    [
      "a long auth key",
      { ...login, authKey: "k".repeat(257) },
      "authKey: at most 256 characters, got 257",
    ],
    ["65 tags", { ...login, tags: Array(65).fill("tag:a") }, "tags: at most 64 items, got 65"],
    [
      "33 endpoints",
      { type: "update", endpoints: Array(33).fill("192.0.2.1:9") },
      "endpoints: at most 32 items, got 33",
    ],
    [
      "port 0",
      { type: "update", endpoints: ["192.0.2.1:0"] },
      "endpoints[0]: port must be a number 1-65535",
    ],
    [
      "a long home relay",
      { type: "update", homeRelay: "r".repeat(65) },
      "homeRelay: at most 64 characters, got 65",
    ],
  ])("refuses %s", (_what, message, expected) => {
    expect(clientRefusal(message)).toBe(expected);
  });

  it("encodeClientMessage refuses what the server would refuse, naming the field", () => {
    expect(() => encodeClientMessage({ type: "update", endpoints: ["not an endpoint"] })).toThrow(
      new ControlProtocolError("endpoints[0]", 'expected "ip:port"'),
    );
  });
});
