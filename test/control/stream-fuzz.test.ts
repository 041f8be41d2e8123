// Hostile input on the /control stream (seeded, bounded): random bytes, random JSON, logins
// with one field broken, deep nesting, a message over the size cap, and hostile updates from
// an attached node. Every stream must end with a clear code (4400 protocol, 4401 bad proof,
// 1007 invalid UTF-8, 1009 too large), never 1011 (an internal error); nothing is written to
// the store; and the server still serves a proper node afterwards.

import { afterAll, beforeAll, expect, it } from "vitest";
import WebSocket from "ws";
import { CONTROL_PROTOCOL, MAX_CONTROL_MESSAGE } from "../../worker/control/messages.ts";
import { seededInts, seededWords } from "../helpers/seeded.ts";
import { type Harness, RawNode, startHarness } from "./stream-harness.ts";

let h: Harness;
beforeAll(async () => {
  h = await startHarness({
    keepaliveMs: 3600_000,
    registrationRate: { burst: 1000, perSecond: 1000 },
  });
});
afterAll(async () => {
  await h.close();
});

const EXPECTED_CODES = new Set([4400, 4401, 1003, 1007, 1009]);

/** Sends `payloads` on a fresh stream after the hello; resolves with the close code. */
async function hostile(payloads: (string | Buffer)[]): Promise<number> {
  const ws = new WebSocket(h.url, CONTROL_PROTOCOL);
  const closed = new Promise<number>((resolve) => ws.on("close", (code) => resolve(code)));
  ws.on("error", () => {});
  await new Promise<void>((resolve) => ws.once("message", () => resolve()));
  for (const p of payloads) ws.send(p, { binary: false });
  return closed;
}

function randomJson(next: (bound: number) => number, depth = 0): unknown {
  switch (next(depth > 3 ? 4 : 7)) {
    case 0:
      return next(2) === 0;
    case 1:
      return next(1 << 30) - (1 << 29);
    case 2:
      return "x".repeat(next(40));
    case 3:
      return null;
    case 4:
      return Array.from({ length: next(4) }, () => randomJson(next, depth + 1));
    default: {
      const keys = [
        "type",
        "nodeKey",
        "proof",
        "hostinfo",
        "authKey",
        "resume",
        "tags",
        "endpoints",
        "__proto__",
      ];
      const out: Record<string, unknown> = {};
      for (let i = next(5); i > 0; i--) out[keys[next(keys.length)]!] = randomJson(next, depth + 1);
      return out;
    }
  }
}

it("every hostile stream ends with a clear code, nothing is written, the server stays up", async () => {
  const next = seededInts(0xc0de13);
  const word = seededWords(0xc0de14);
  const node = await RawNode.create(h);
  const validKey = node.publicKey;
  const login = {
    type: "login",
    nodeKey: validKey,
    proof: Buffer.alloc(32, 1).toString("base64"),
    hostinfo: { hostname: "h", os: "linux" },
  };
  const inputs: (string | Buffer)[][] = [];
  for (let i = 0; i < 120; i++) {
    inputs.push([Buffer.from(Array.from({ length: 1 + next(64) }, () => word() & 0xff))]);
  }
  for (let i = 0; i < 120; i++) inputs.push([JSON.stringify(randomJson(next))]);
  const breakers: ((m: Record<string, unknown>) => void)[] = [
    (m) => delete m[Object.keys(m)[next(4)]!],
    (m) => (m.nodeKey = "A".repeat(next(100))),
    (m) => (m.proof = 42),
    (m) => (m.hostinfo = { hostname: "h".repeat(300 + next(10_000)), os: "linux" }),
    (m) => (m.tags = Array.from({ length: 1000 }, () => "tag:x")),
    (m) => (m.resume = { session: "s", seq: -1 - next(10) }),
    (m) => (m.authKey = "cak_".padEnd(5000, "k")),
    (m) => (m.type = "update"),
  ];
  for (let i = 0; i < 160; i++) {
    const m: Record<string, unknown> = structuredClone(login);
    breakers[next(breakers.length)]!(m);
    inputs.push([JSON.stringify(m)]);
  }
  inputs.push([`${"[".repeat(100_000)}${"]".repeat(100_000)}`]);
  inputs.push([JSON.stringify(login), JSON.stringify(login)]); // a second login: 4400
  inputs.push([JSON.stringify(login)]); // well-formed, wrong proof: 4401
  inputs.push([`{"type":"login","pad":"${"x".repeat(MAX_CONTROL_MESSAGE)}"}`]);
  const codes = new Map<number, number>();
  for (let i = 0; i < inputs.length; i += 8) {
    const batch = await Promise.all(inputs.slice(i, i + 8).map((p) => hostile(p)));
    for (const code of batch) codes.set(code, (codes.get(code) ?? 0) + 1);
  }
  console.log(
    `control stream fuzz: ${inputs.length} hostile streams, close codes ${JSON.stringify([...codes])}`,
  );
  for (const code of codes.keys()) expect(EXPECTED_CODES).toContain(code);
  expect(codes.get(1009)).toBe(1);
  expect(codes.get(4401)).toBe(1);
  expect(await h.store.listNodes()).toEqual([]);

  // hostile updates from an attached node end only that node's stream, with 4400
  const good = await RawNode.create(h);
  await good.login({ authKey: await h.authKey({ userId: h.bob.id, reusable: true }) });
  await good.expect("map");
  const updates = [
    { type: "update", endpoints: Array.from({ length: 10_000 }, () => "1.2.3.4:5") },
    { type: "update", homeRelay: 7 },
    { type: "login" },
  ];
  let tried = 0;
  for (const update of updates) {
    const attached = await RawNode.create(h);
    Object.assign(attached, { privateKey: good.privateKey, publicKey: good.publicKey });
    await attached.login();
    await attached.expect("map");
    attached.ws!.send(JSON.stringify(update));
    expect((await attached.closed).code).toBe(4400);
    tried++;
  }
  console.log(`control stream fuzz: ${tried} hostile updates from an attached node`);
  const after = await RawNode.create(h);
  await after.login({ authKey: await h.authKey({ userId: h.bob.id }) });
  expect((await after.expect("map")).map.self.key).toBe(after.publicKey);
  after.close();
});
