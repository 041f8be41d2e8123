// Seeded fuzz of the map stream's decoders: structural mutations of valid messages, text-level
// mutations, random JSON and random text. Whatever comes in, decodeServerMessage and
// decodeClientMessage return a message or throw ControlProtocolError, nothing else; what they
// accept re-encodes to the same message, and a decoded map or delta applied to a MapState
// throws nothing but ControlProtocolError either. Prints how many inputs were tried.

import { describe, expect, it } from "vitest";
import {
  ControlProtocolError,
  decodeClientMessage,
  decodeServerMessage,
  encodeClientMessage,
  encodeServerMessage,
} from "../../worker/control/codec.ts";
import { MapState } from "../../worker/control/map-state.ts";
import type { ClientMessage, ServerMessage } from "../../worker/control/messages.ts";
import { seededInts } from "../helpers/seeded.ts";
import { fullDelta, key, mapMessage, peer } from "./codec-fixtures.ts";

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const SERVER: ServerMessage[] = [
  { type: "hello", version: 1, serverKey: key(10), challenge: key(11) },
  { type: "waiting", approvalUrl: "https://control.example.com/approve/abc" },
  mapMessage(4, 7, "s-1"),
  shareMapMessage(),
  fullDelta(8),
  { type: "delta", seq: 8, patches: [{ id: 3, online: false }] },
  { type: "keepalive" },
  { type: "refused", code: "key_expired", message: "The node key expired." },
];

/** A shared device's map: a share recipient's peer and the share's rules (issue 17). */
function shareMapMessage(): ServerMessage {
  const message = mapMessage(2, 9, "s-2");
  message.map.peers.push(peer(9, { user: null, tags: [], share: { acceptanceId: 41 } }));
  message.map.filter.push({
    src: { shares: [41, 42] },
    ports: [{ proto: "tcp", first: 8080, last: 8080 }],
  });
  message.map.ssh.push({ src: { shares: [41] }, users: ["alice"], action: "accept" });
  return message;
}

const CLIENT: ClientMessage[] = [
  {
    type: "login",
    nodeKey: key(1),
    proof: key(2),
    hostinfo: {
      hostname: "h",
      os: "linux",
      sshHostKeys: ["ssh-ed25519 AAAA"],
      sshUsers: ["ada", "_svc.deploy-1$"],
    },
    authKey: "cak_x",
    ephemeral: false,
    tags: ["tag:a"],
    resume: { session: "s-1", seq: 3 },
    rotateFrom: { nodeKey: key(3), proof: key(4) },
  },
  { type: "update", endpoints: ["192.0.2.1:5", "[2001:db8::1]:6"], homeRelay: "default" },
];

const ODD_STRINGS = [
  "",
  "tag:",
  "tag:x",
  "=",
  "A".repeat(44),
  `${"A".repeat(43)}=`,
  "100.64.0.1",
  "::",
  "[::1]:0",
  "wss://x/relay",
  "\u0000",
  "\ud800",
  "é",
  "__proto__",
  "constructor",
  "hello",
  "map",
  "delta",
  "login",
  "update",
  "keepalive",
  "x".repeat(300),
];

const ODD_NUMBERS = [0, -1, 1, 1.5, 65535, 65536, 2 ** 53, -(2 ** 53), 1e308, -0, 100_001];

/** A source of seeded choices. */
class Dice {
  readonly int: (bound: number) => number;
  constructor(seed: number) {
    this.int = seededInts(seed);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  value(depth = 0): Json {
    switch (this.int(depth > 2 ? 5 : 8)) {
      case 0:
        return null;
      case 1:
        return this.int(2) === 0;
      case 2:
        return this.pick(ODD_NUMBERS);
      case 3:
        return this.pick(ODD_STRINGS);
      case 4:
        return String.fromCharCode(...Array.from({ length: this.int(20) }, () => this.int(0x3000)));
      case 5:
        return Array.from({ length: this.int(4) }, () => this.value(depth + 1));
      case 6: {
        const o: Record<string, Json> = {};
        for (let i = this.int(4); i > 0; i--) o[this.pick(ODD_STRINGS)] = this.value(depth + 1);
        if (this.int(2) === 0) o.type = this.pick(ODD_STRINGS);
        return o;
      }
      default:
        return Array.from({ length: this.int(3) }, () => this.value(depth + 1));
    }
  }
}

/** Every container and its keys, so a mutation can reach any field. */
function slots(root: Json): { parent: Json[] | Record<string, Json>; key: string | number }[] {
  const out: { parent: Json[] | Record<string, Json>; key: string | number }[] = [];
  const walk = (node: Json) => {
    if (Array.isArray(node)) {
      node.forEach((child, i) => {
        out.push({ parent: node, key: i });
        walk(child);
      });
    } else if (node !== null && typeof node === "object") {
      for (const [k, child] of Object.entries(node)) {
        out.push({ parent: node, key: k });
        walk(child);
      }
    }
  };
  walk(root);
  return out;
}

/** A structural mutation of `message`: 1-3 fields replaced, deleted, duplicated or grown. */
function mutateJson(dice: Dice, message: object): string {
  const copy = structuredClone(message) as Json;
  for (let n = 1 + dice.int(3); n > 0; n--) {
    const all = slots(copy);
    if (all.length === 0) break;
    const { parent, key: k } = dice.pick(all);
    const p = parent as Record<string | number, Json>;
    switch (dice.int(5)) {
      case 0:
        if (Array.isArray(parent)) parent.splice(k as number, 1);
        else delete p[k];
        break;
      case 1: {
        const item = p[k]!;
        p[k] = Array.from({ length: 1 + dice.int(40) }, () => structuredClone(item));
        break;
      }
      case 2:
        if (Array.isArray(parent)) parent.push(structuredClone(parent[k as number]!));
        else p[k] = dice.value();
        break;
      default:
        p[k] = dice.value();
    }
  }
  return JSON.stringify(copy);
}

/** A text-level mutation: characters flipped, cut, inserted or duplicated. */
function mutateText(dice: Dice, text: string): string {
  let out = text;
  for (let n = 1 + dice.int(4); n > 0; n--) {
    const at = dice.int(out.length + 1);
    switch (dice.int(4)) {
      case 0:
        out = out.slice(0, at) + String.fromCharCode(dice.int(128)) + out.slice(at + 1);
        break;
      case 1:
        out = out.slice(0, at);
        break;
      case 2:
        out =
          out.slice(0, at) +
          dice.pick(['"', "{", "}", "[", "]", ",", ":", "\\", "0"]) +
          out.slice(at);
        break;
      default:
        out = out.slice(0, at) + out.slice(Math.max(0, at - 30), at) + out.slice(at);
    }
  }
  return out;
}

function randomText(dice: Dice): string {
  const length = dice.int(200);
  const codes = Array.from({ length }, () =>
    dice.int(4) === 0 ? dice.int(0x10000) : 0x20 + dice.int(0x5f),
  );
  return String.fromCharCode(...codes);
}

interface Tally {
  inputs: number;
  accepted: number;
  refused: number;
}

/** Feeds `text` to both decoders; fails on anything but a message or ControlProtocolError. */
function feed(text: string, tally: Tally): void {
  tally.inputs++;
  for (const side of ["server", "client"] as const) {
    let decoded: ServerMessage | ClientMessage;
    try {
      decoded = side === "server" ? decodeServerMessage(text) : decodeClientMessage(text);
    } catch (error) {
      if (!(error instanceof ControlProtocolError)) {
        throw new Error(`${side} decoder threw ${String(error)} for ${JSON.stringify(text)}`);
      }
      expect(error.message.startsWith(`${error.path}: `)).toBe(true);
      tally.refused++;
      continue;
    }
    tally.accepted++;
    if (side === "server") {
      const message = decoded as ServerMessage;
      expect(decodeServerMessage(encodeServerMessage(message))).toEqual(message);
      if (message.type === "map" || message.type === "delta") applyToState(message);
    } else {
      const message = decoded as ClientMessage;
      expect(decodeClientMessage(encodeClientMessage(message))).toEqual(message);
    }
  }
}

const started = () => {
  const state = new MapState();
  state.apply(mapMessage(4, 7, "s-1"));
  return state;
};

function applyToState(message: ServerMessage & { type: "map" | "delta" }): void {
  const state = started();
  try {
    state.apply(message.type === "delta" ? { ...message, seq: 8 } : message);
  } catch (error) {
    if (!(error instanceof ControlProtocolError)) throw error;
  }
}

describe("codec fuzz (seeded)", () => {
  const total: Tally = { inputs: 0, accepted: 0, refused: 0 };

  it("structural mutations of valid messages", () => {
    const dice = new Dice(0xc0de1);
    const tally: Tally = { inputs: 0, accepted: 0, refused: 0 };
    const all = [...SERVER, ...CLIENT];
    for (let i = 0; i < 30_000; i++) feed(mutateJson(dice, dice.pick(all)), tally);
    // Both outcomes happen: the mutations reach fields that matter and ones that do not.
    expect(tally.accepted).toBeGreaterThan(1000);
    expect(tally.refused).toBeGreaterThan(10_000);
    Object.assign(total, add(total, tally));
  });

  it("text mutations of valid messages", () => {
    const dice = new Dice(0xc0de2);
    const tally: Tally = { inputs: 0, accepted: 0, refused: 0 };
    const texts = [...SERVER, ...CLIENT].map((m) => JSON.stringify(m));
    for (let i = 0; i < 16_000; i++) feed(mutateText(dice, dice.pick(texts)), tally);
    expect(tally.refused).toBeGreaterThan(10_000);
    Object.assign(total, add(total, tally));
  });

  it("random JSON values", () => {
    const dice = new Dice(0xc0de3);
    const tally: Tally = { inputs: 0, accepted: 0, refused: 0 };
    for (let i = 0; i < 10_000; i++) feed(JSON.stringify(dice.value()), tally);
    Object.assign(total, add(total, tally));
  });

  it("random text", () => {
    const dice = new Dice(0xc0de4);
    const tally: Tally = { inputs: 0, accepted: 0, refused: 0 };
    for (let i = 0; i < 6_000; i++) feed(randomText(dice), tally);
    expect(tally.accepted).toBe(0);
    Object.assign(total, add(total, tally));
  });

  it("tried at least 60,000 inputs", () => {
    console.log(
      `control codec fuzz: ${total.inputs} inputs, each to both decoders: ` +
        `${total.accepted} decodes accepted, ${total.refused} refused with ControlProtocolError`,
    );
    expect(total.inputs).toBeGreaterThanOrEqual(60_000);
  });
});

function add(a: Tally, b: Tally): Tally {
  return {
    inputs: a.inputs + b.inputs,
    accepted: a.accepted + b.accepted,
    refused: a.refused + b.refused,
  };
}
