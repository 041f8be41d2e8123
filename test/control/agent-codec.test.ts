// The map stream's fields for the agent (issue 14): UserRef.signedInAt, Hostinfo.sshUsers and
// RelayInfo.stun decode with their bounds, and refusals name the field. A seeded fuzz of the
// "host:port" check (hostPortReason) and of sshUsers: it never throws, and what it accepts has
// the documented form.

import { describe, expect, it } from "vitest";
import {
  ControlProtocolError,
  decodeClientMessage,
  decodeServerMessage,
  encodeClientMessage,
} from "../../worker/control/codec.ts";
import type { LoginMessage, MapMessage } from "../../worker/control/messages.ts";
import { hostPortReason, UNIX_USER_PATTERN } from "../../worker/control/schema.ts";
import { seededInts } from "../helpers/seeded.ts";
import { key, mapMessage } from "./codec-fixtures.ts";

function refusal(decode: () => unknown): string {
  try {
    decode();
  } catch (error) {
    expect(error).toBeInstanceOf(ControlProtocolError);
    return (error as ControlProtocolError).message;
  }
  throw new Error("decoded");
}

function login(sshUsers: unknown): string {
  return JSON.stringify({
    type: "login",
    nodeKey: key(1),
    proof: key(2),
    hostinfo: { hostname: "h", os: "linux", sshUsers },
  });
}

function mapWith(mutate: (m: MapMessage) => void): string {
  const message = mapMessage(2);
  mutate(message);
  return JSON.stringify(message);
}

describe("UserRef.signedInAt", () => {
  it("is carried when present", () => {
    const text = mapWith((m) => {
      m.map.self.user = { id: 3, name: "a", email: "", signedInAt: 1_760_000_000_123 };
    });
    const decoded = decodeServerMessage(text) as MapMessage;
    expect(decoded.map.self.user?.signedInAt).toBe(1_760_000_000_123);
  });

  it("decodes as null from a server that does not send it", () => {
    const text = mapWith((m) => {
      m.map.self.user = { id: 3, name: "a", email: "" } as never;
    });
    const decoded = decodeServerMessage(text) as MapMessage;
    expect(decoded.map.self.user).toEqual({ id: 3, name: "a", email: "", signedInAt: null });
  });

  it.each<[unknown, string]>([
    [-1, "must be >= 0, got -1"],
    [1.5, "expected an integer, got 1.5"],
    ["1", 'expected a number, got "1"'],
  ])("refuses %j", (value, why) => {
    const text = mapWith((m) => {
      m.map.peers[0]!.user = { id: 3, name: "a", email: "", signedInAt: value as number };
    });
    expect(refusal(() => decodeServerMessage(text))).toBe(`map.peers[0].user.signedInAt: ${why}`);
  });
});

describe("Hostinfo.sshUsers", () => {
  it("accepts unix user names and round-trips through the client encoder", () => {
    const decoded = decodeClientMessage(login(["ada", "_svc", "deploy-1", "Ada.B", "host$"]));
    expect((decoded as LoginMessage).hostinfo.sshUsers).toEqual([
      "ada",
      "_svc",
      "deploy-1",
      "Ada.B",
      "host$",
    ]);
    expect(decodeClientMessage(encodeClientMessage(decoded))).toEqual(decoded);
  });

  it("is optional (a root agent sends none)", () => {
    const decoded = decodeClientMessage(login(undefined)) as LoginMessage;
    expect(decoded.hostinfo.sshUsers).toBeUndefined();
  });

  it.each<[string, unknown, string]>([
    ["an empty name", [""], "hostinfo.sshUsers[0]: must not be empty"],
    ["a leading dash", ["-rf"], "hostinfo.sshUsers[0]: not a unix user name"],
    ["a digit first", ["1000"], "hostinfo.sshUsers[0]: not a unix user name"],
    ["a space", ["a b"], "hostinfo.sshUsers[0]: not a unix user name"],
    ["a slash", ["../root"], "hostinfo.sshUsers[0]: not a unix user name"],
    ["a colon", ["a:b"], "hostinfo.sshUsers[0]: not a unix user name"],
    ["33 characters", ["a".repeat(33)], "hostinfo.sshUsers[0]: at most 32 characters, got 33"],
    ["17 names", Array.from({ length: 17 }, (_, i) => `u${i}`), "at most 16 items, got 17"],
    ["a name twice", ["ada", "ada"], "hostinfo.sshUsers: a user appears twice"],
    ["not a list", "ada", 'hostinfo.sshUsers: expected an array, got "ada"'],
  ])("refuses %s", (_what, users, why) => {
    expect(refusal(() => decodeClientMessage(login(users)))).toContain(why);
  });
});

describe("RelayInfo.stun", () => {
  it.each(["relay.example.com:3478", "localhost:3478", "127.0.0.1:65535", "[2001:db8::1]:3478"])(
    "accepts %s",
    (stun) => {
      const text = mapWith((m) => {
        m.map.relays[0]!.stun = stun;
      });
      expect((decodeServerMessage(text) as MapMessage).map.relays[0]!.stun).toBe(stun);
    },
  );

  it.each<[string, string]>([
    ["relay.example.com", 'expected "host:port"'],
    ["relay.example.com:0", "port must be a number 1-65535"],
    ["relay.example.com:65536", "port must be a number 1-65535"],
    ["2001:db8::1:3478", 'an IPv6 address needs brackets: "[addr]:port"'],
    ["300.1.1.1:3478", "not an IP address"],
    ["-bad-.example:3478", "is not a host name or IP address"],
    ["a b:1", "is not a host name or IP address"],
    [":3478", "the host is missing"],
  ])("refuses %j", (stun, why) => {
    const text = mapWith((m) => {
      m.map.relays[0]!.stun = stun;
    });
    expect(refusal(() => decodeServerMessage(text))).toContain(why);
  });
});

describe("fuzz (seeded)", () => {
  const ALPHABET = "ab.-_:[]019$ /\u0000é";
  const INPUTS = 40_000;

  function randomText(next: (n: number) => number): string {
    let out = "";
    const length = next(24);
    for (let i = 0; i < length; i++) out += ALPHABET[next(ALPHABET.length)];
    return out;
  }

  it(`hostPortReason on ${INPUTS} inputs: never throws; accepted values have a port 1-65535`, () => {
    const next = seededInts(0x57a7);
    let accepted = 0;
    for (let i = 0; i < INPUTS; i++) {
      // Half the inputs end in a plausible port so that the host checks are reached.
      const text = randomText(next) + (next(2) === 0 ? `:${next(70_000)}` : "");
      const why = hostPortReason(text);
      if (why !== undefined) {
        expect(typeof why).toBe("string");
        continue;
      }
      accepted++;
      const port = Number(text.slice(text.lastIndexOf(":") + 1));
      expect(port >= 1 && port <= 65535, text).toBe(true);
      // Only the characters of names, addresses and ports survive.
      expect(text, text).toMatch(/^[A-Za-z0-9.:[\]-]+$/);
    }
    console.log(`hostPortReason fuzz: ${INPUTS} inputs, ${accepted} accepted`);
    expect(accepted).toBeGreaterThan(0);
  });

  it(`sshUsers decoding on ${INPUTS} inputs: ControlProtocolError or names of the pattern`, () => {
    const next = seededInts(0x55e5);
    let accepted = 0;
    for (let i = 0; i < INPUTS; i++) {
      const users = Array.from({ length: next(4) }, () => randomText(next));
      let decoded: LoginMessage;
      try {
        decoded = decodeClientMessage(login(users)) as LoginMessage;
      } catch (error) {
        expect(error).toBeInstanceOf(ControlProtocolError);
        continue;
      }
      accepted++;
      for (const user of decoded.hostinfo.sshUsers ?? []) {
        expect(user).toMatch(UNIX_USER_PATTERN);
        expect(user.length).toBeLessThanOrEqual(32);
      }
    }
    console.log(`sshUsers fuzz: ${INPUTS} inputs, ${accepted} accepted`);
    expect(accepted).toBeGreaterThan(0);
  });
});
