// The relay's STUN server (server/relay/stun-server.ts) on loopback: coturn's
// turnutils_stunclient (a client we did not write) learns its reflexive address from it; raw
// datagrams check FINGERPRINT echo, the 420 for unknown comprehension-required attributes,
// silence for everything that is not a Binding request, and the per-source limit.

import { execFile } from "node:child_process";
import { createSocket, type Socket } from "node:dgram";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { type StunServer, startStunServer } from "../../server/relay/stun-server.ts";
import {
  encodeBindingRequest,
  errorCode,
  mappedAddress,
  parseStun,
  STUN_MAGIC_COOKIE,
  StunAttr,
  stunType,
} from "../../worker/path/stun.ts";
import { onPath, prereq } from "../helpers/prereq.ts";
import { seededBytes } from "../helpers/seeded.ts";
import { waitUntil } from "../helpers/wait.ts";

const run = promisify(execFile);
const random = seededBytes(0x57a1);
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function server(options: Partial<Parameters<typeof startStunServer>[0]> = {}) {
  const s = await startStunServer({ host: "127.0.0.1", port: 0, ...options });
  cleanup.push(() => s.close());
  return s;
}

/** A loopback UDP socket collecting what it receives. */
async function client(): Promise<{ socket: Socket; port: number; got: Uint8Array[] }> {
  const socket = createSocket("udp4");
  const got: Uint8Array[] = [];
  socket.on("message", (m) => got.push(new Uint8Array(m)));
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", () => resolve()));
  cleanup.push(() => new Promise((resolve) => socket.close(() => resolve())));
  return { socket, port: socket.address().port, got };
}

function send(socket: Socket, s: StunServer, bytes: Uint8Array): void {
  socket.send(bytes, s.port, "127.0.0.1");
}

/** A request with one extra attribute of `type` (4 bytes of value). */
function requestWith(type: number, id: Uint8Array): Uint8Array {
  const out = new Uint8Array(28);
  const view = new DataView(out.buffer);
  view.setUint16(0, stunType(1, "request"));
  view.setUint16(2, 8);
  view.setUint32(4, STUN_MAGIC_COOKIE);
  out.set(id, 8);
  view.setUint16(20, type);
  view.setUint16(22, 4);
  return out;
}

const coturn = prereq(onPath("turnutils_stunclient"));

describe("STUN server", () => {
  it.skipIf(coturn.skip)("answers coturn's turnutils_stunclient", async () => {
    coturn.assert();
    const s = await server();
    const { stdout } = await run("turnutils_stunclient", ["-p", String(s.port), "127.0.0.1"], {
      timeout: 20_000,
    });
    expect(stdout).toMatch(/UDP reflexive addr: 127\.0\.0\.1:\d+/);
    expect(s.stats.answered).toBeGreaterThanOrEqual(1);
  });

  it("answers a Binding request with the source's address, echoing FINGERPRINT", async () => {
    const s = await server();
    const c = await client();
    const plainId = random(12);
    const printedId = random(12);
    send(c.socket, s, encodeBindingRequest(plainId));
    send(c.socket, s, encodeBindingRequest(printedId, true));
    await waitUntil(() => c.got.length === 2, "two answers");
    const answers = c.got.map((bytes) => {
      const parsed = parseStun(bytes);
      if (!parsed.ok) throw new Error(parsed.error);
      return parsed.message;
    });
    const plain = answers.find((m) => m.transactionId.every((b, i) => b === plainId[i]));
    const printed = answers.find((m) => m.transactionId.every((b, i) => b === printedId[i]));
    expect(plain?.cls).toBe("success");
    expect(plain?.fingerprint).toBe(false);
    expect(printed?.fingerprint).toBe(true);
    for (const m of [plain, printed]) {
      expect(m && mappedAddress(m)).toEqual({ family: 4, address: "127.0.0.1", port: c.port });
      // Nothing but XOR-MAPPED-ADDRESS: the smallest answer.
      expect(m?.attributes.map((a) => a.type)).toEqual([StunAttr.XOR_MAPPED_ADDRESS]);
    }
  });

  it("answers an unknown comprehension-required attribute with 420 naming it", async () => {
    const s = await server();
    const c = await client();
    send(c.socket, s, requestWith(0x0003, random(12)));
    await waitUntil(() => c.got.length === 1, "the 420");
    const parsed = parseStun(c.got[0] as Uint8Array);
    if (!parsed.ok) throw new Error(parsed.error);
    expect(parsed.message.cls).toBe("error");
    expect(errorCode(parsed.message)?.code).toBe(420);
    const unknown = parsed.message.attributes.find((a) => a.type === StunAttr.UNKNOWN_ATTRIBUTES);
    expect([...(unknown?.value ?? [])]).toEqual([0x00, 0x03]);
    expect(s.stats.unknownAttributes).toBe(1);
  });

  it("ignores comprehension-optional attributes and answers", async () => {
    const s = await server();
    const c = await client();
    send(c.socket, s, requestWith(StunAttr.SOFTWARE, random(12)));
    await waitUntil(() => c.got.length === 1, "the answer");
    const parsed = parseStun(c.got[0] as Uint8Array);
    expect(parsed.ok && parsed.message.cls).toBe("success");
  });

  it("stays silent for what is not a Binding request, then answers a good one", async () => {
    const s = await server();
    const c = await client();
    const id = random(12);
    const indication = encodeBindingRequest(random(12));
    new DataView(indication.buffer).setUint16(0, stunType(1, "indication"));
    const otherMethod = encodeBindingRequest(random(12));
    new DataView(otherMethod.buffer).setUint16(0, stunType(3, "request"));
    const noCookie = encodeBindingRequest(random(12));
    noCookie[4] = 0;
    const badFingerprint = encodeBindingRequest(random(12), true);
    badFingerprint[badFingerprint.length - 1] = (badFingerprint.at(-1) ?? 0) ^ 1;
    for (const junk of [
      random(20),
      random(64),
      indication,
      otherMethod,
      noCookie,
      badFingerprint,
    ]) {
      send(c.socket, s, junk);
    }
    send(c.socket, s, encodeBindingRequest(id));
    // Datagrams on loopback arrive in order: once the last one is answered, the rest were seen.
    await waitUntil(() => s.stats.answered === 1 && c.got.length >= 1, "the good request");
    expect(c.got).toHaveLength(1);
    expect(s.stats.ignored).toBe(6);
  });

  it("limits each source to its bucket", async () => {
    let t = 0;
    const s = await server({ perSourceRate: 1, perSourceBurst: 3, now: () => t });
    const c = await client();
    for (let i = 0; i < 5; i++) send(c.socket, s, encodeBindingRequest(random(12)));
    await waitUntil(() => s.stats.answered + s.stats.rateLimited === 5, "five requests seen");
    expect(s.stats.answered).toBe(3);
    expect(s.stats.rateLimited).toBe(2);
    t += 1000; // one token back
    send(c.socket, s, encodeBindingRequest(random(12)));
    await waitUntil(() => s.stats.answered === 4, "the refilled request");
    await waitUntil(() => c.got.length === 4, "four answers");
  });
});
