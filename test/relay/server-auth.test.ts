// The relay's gate: every hello or auth failure closes with 4401 and forwards nothing; protocol
// errors close with 4400, oversized frames with 1009; Origin, subprotocol, path and connection
// limits are checked at the upgrade.

import { ed25519 } from "@noble/curves/ed25519.js";
import { afterEach, describe, expect, it } from "vitest";
import type { RelayOptions } from "../../server/relay/options.ts";
import type { RelayServer } from "../../server/relay/relay-server.ts";
import { type RelayTokenPayload, signRelayToken } from "../../server/relay/token.ts";
import { encodeKeyed, encodeText, RECV, SEND, WELCOME } from "../../worker/relay/frames.ts";
import { keyToBase64 } from "../../worker/wireguard/keys.ts";
import {
  connectAuthed,
  connectRaw,
  endTestRelay,
  type NodeKeys,
  nodeKeys,
  opened,
  openSocket,
  type RawClient,
  sendHello,
  startTestRelay,
} from "./raw-client.ts";

let relay: RelayServer | undefined;
const clients: RawClient[] = [];

afterEach(async () => {
  relay = await endTestRelay(relay, clients);
});

const controlSecret = ed25519.utils.randomSecretKey();
const controlPublic = ed25519.getPublicKey(controlSecret);
const RELAY_ID = "relay-a";

function token(keys: NodeKeys, overrides: Partial<RelayTokenPayload> = {}, secret = controlSecret) {
  return signRelayToken(
    {
      v: 1,
      key: keyToBase64(keys.publicKey),
      relay: RELAY_ID,
      udp: ["10.0.0.1:51820"],
      exp: Math.floor(Date.now() / 1000) + 300,
      ...overrides,
    },
    secret,
  );
}

async function start(options: Partial<RelayOptions>) {
  ({ relay } = await startTestRelay({ relayId: RELAY_ID, ...options }));
  return relay;
}

/** A legitimate receiver, then a client whose hello must fail; it pipelines a SEND. */
async function expectRefused(
  receiverToken: (k: NodeKeys) => string,
  attacker: NodeKeys,
  hello: { token?: string; proof?: Uint8Array },
  reason: string,
) {
  const receiver = await nodeKeys();
  const rc = await connectAuthed(relay!.url, receiver, { token: receiverToken(receiver) });
  clients.push(rc);
  const bad = await connectRaw(relay!.url);
  clients.push(bad);
  await sendHello(bad, attacker, hello);
  bad.sendTo(receiver.publicKey, new Uint8Array([6, 6, 6]));
  expect(await bad.closed).toEqual({ code: 4401, reason });
  await rc.ping();
  expect(rc.frames.filter((f) => f.type === "recv")).toHaveLength(0);
  expect(relay!.clientCount).toBe(1);
}

describe("relay hello and auth", () => {
  it("closes with 4401 when no hello comes in time", async () => {
    await start({ helloTimeoutMs: 150 });
    const client = await connectRaw(relay!.url);
    clients.push(client);
    expect(await client.closed).toEqual({ code: 4401, reason: "hello timeout" });
    expect(await relay!.metrics.value("corridor_relay_hellos_total", { result: "timeout" })).toBe(
      1,
    );
  });

  it("closes with 4401 on a bad proof", async () => {
    await start({ auth: { mode: "open" } });
    const proof = new Uint8Array(32).fill(1);
    await expectRefused(() => "", await nodeKeys(), { proof }, "bad proof");
    expect(await relay!.metrics.value("corridor_relay_hellos_total", { result: "bad_proof" })).toBe(
      1,
    );
  });

  it("closes with 4401 on a proof for another challenge's key (someone else's key)", async () => {
    await start({ auth: { mode: "open" } });
    const victim = await nodeKeys();
    const me = await nodeKeys();
    // Claim the victim's public key while proving with our own private key.
    await expectRefused(
      () => "",
      { publicKey: victim.publicKey, privateKey: me.privateKey },
      {},
      "bad proof",
    );
  });

  describe("token mode", () => {
    const auth = { mode: "token", controlPublicKey: controlPublic } as const;

    it("accepts a valid token", async () => {
      await start({ auth });
      const k = await nodeKeys();
      clients.push(await connectAuthed(relay!.url, k, { token: token(k) }));
      expect(relay!.clientCount).toBe(1);
    });

    it("refuses a missing token", async () => {
      await start({ auth });
      await expectRefused(token, await nodeKeys(), { token: "" }, "token required");
    });

    it("refuses a bad signature", async () => {
      await start({ auth });
      const k = await nodeKeys();
      const forged = token(k, {}, ed25519.utils.randomSecretKey());
      await expectRefused(token, k, { token: forged }, "token signature invalid");
    });

    it("refuses a tampered payload", async () => {
      await start({ auth });
      const k = await nodeKeys();
      const [, sig] = token(k).split(".");
      const other = token(k, { udp: ["0.0.0.0/0:1-65535"] }).split(".")[0];
      await expectRefused(token, k, { token: `${other}.${sig}` }, "token signature invalid");
    });

    it("refuses an expired token", async () => {
      await start({ auth });
      const k = await nodeKeys();
      const old = token(k, { exp: Math.floor(Date.now() / 1000) - 1 });
      await expectRefused(token, k, { token: old }, "token expired");
    });

    it("refuses a token for another relay", async () => {
      await start({ auth });
      const k = await nodeKeys();
      await expectRefused(
        token,
        k,
        { token: token(k, { relay: "relay-b" }) },
        "token is for another relay",
      );
    });

    it("refuses a token for another key", async () => {
      await start({ auth });
      const k = await nodeKeys();
      const other = await nodeKeys();
      await expectRefused(token, k, { token: token(other) }, "token is for another key");
    });

    it("refuses garbage tokens", async () => {
      await start({ auth });
      const k = await nodeKeys();
      await expectRefused(token, k, { token: "not a token" }, "token is not payload.signature");
    });
  });

  it("keys mode refuses a key not in the allow-list", async () => {
    const allowed = await nodeKeys();
    await start({ auth: { mode: "keys", allowed: [allowed.publicKey] } });
    clients.push(await connectAuthed(relay!.url, allowed));
    const receiver = allowed;
    const bad = await connectRaw(relay!.url);
    clients.push(bad);
    await sendHello(bad, await nodeKeys());
    bad.sendTo(receiver.publicKey, new Uint8Array([1]));
    expect(await bad.closed).toEqual({ code: 4401, reason: "key not allowed" });
    expect(await relay!.metrics.value("corridor_relay_hellos_total", { result: "denied" })).toBe(1);
  });

  it("has no default auth mode", async () => {
    await expect(
      startTestRelay({ auth: undefined as unknown as RelayOptions["auth"] }),
    ).rejects.toThrow(/choose a mode/);
  });
});

describe("relay protocol errors and limits", () => {
  it("closes with 4400 on a non-hello first frame", async () => {
    await start({});
    const client = await connectRaw(relay!.url);
    clients.push(client);
    client.send(encodeKeyed(SEND, new Uint8Array(32), new Uint8Array(4)));
    expect((await client.closed).code).toBe(4400);
  });

  it("closes with 4400 on a text message, an invalid frame, or a server-only frame", async () => {
    await start({});
    const a = await connectAuthed(relay!.url, await nodeKeys());
    const b = await connectAuthed(relay!.url, await nodeKeys());
    const c = await connectAuthed(relay!.url, await nodeKeys());
    clients.push(a, b, c);
    a.send("hello");
    b.send(new Uint8Array([0x10, 1, 2])); // SEND shorter than its key
    c.send(encodeText(WELCOME, "{}"));
    expect((await a.closed).code).toBe(4400);
    expect((await b.closed).code).toBe(4400);
    expect((await c.closed).code).toBe(4400);
  });

  it("ignores unknown frame types", async () => {
    await start({});
    const a = await connectAuthed(relay!.url, await nodeKeys());
    clients.push(a);
    a.send(new Uint8Array([0x7f, 1, 2, 3]));
    await a.ping();
  });

  it("closes with 1009 on a frame over the limit", async () => {
    await start({});
    const k = await nodeKeys();
    const a = await connectAuthed(relay!.url, k);
    clients.push(a);
    const big = new Uint8Array(1 + 32 + 65536);
    big[0] = SEND;
    a.send(big);
    expect((await a.closed).code).toBe(1009);
  });

  it("rejects a foreign Origin with 403, accepts listed and absent ones", async () => {
    await start({ origins: ["https://corridor.example"] });
    await expect(connectRaw(relay!.url, { origin: "https://evil.example" })).rejects.toThrow(
      "HTTP 403",
    );
    clients.push(await connectRaw(relay!.url, { origin: "https://corridor.example" }));
    clients.push(await connectRaw(relay!.url));
    expect(
      await relay!.metrics.value("corridor_relay_upgrades_rejected_total", { reason: "origin" }),
    ).toBe(1);
  });

  it("requires the subprotocol and the /relay path", async () => {
    await start({});
    await expect(connectRaw(relay!.url, { protocol: "chat" })).rejects.toThrow("HTTP 400");
    await expect(connectRaw(relay!.url.replace("/relay", "/other"))).rejects.toThrow("HTTP 404");
    const ws = openSocket(relay!.url);
    await opened(ws);
    expect(ws.protocol).toBe("corridor-relay.v1");
    ws.terminate();
  });

  it("refuses connections over maxConnections with 503", async () => {
    await start({ maxConnections: 2 });
    clients.push(await connectRaw(relay!.url), await connectRaw(relay!.url));
    await expect(connectRaw(relay!.url)).rejects.toThrow("HTTP 503");
  });

  it("never forwards RECV frames sent by a client", async () => {
    await start({});
    const k = await nodeKeys();
    const a = await connectAuthed(relay!.url, k);
    clients.push(a);
    a.send(encodeKeyed(RECV, k.publicKey, new Uint8Array(1)));
    expect((await a.closed).code).toBe(4400);
  });
});
