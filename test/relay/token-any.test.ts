// Tokens for several relays (issue 18): a token whose `relay` is "*" (ANY_RELAY) is good on
// every relay that verifies with the control key, one naming an id only on that relay; the
// control server signs "*" when its map lists several relays and the id with one. Real relays
// on loopback: both WELCOME a "*" token, and WELCOME reports the relay's region when it has one.

import { ed25519 } from "@noble/curves/ed25519.js";
import { afterEach, describe, expect, it } from "vitest";
import { RelayTokens, tokenRelayOf } from "../../server/control/tokens.ts";
import { RelayAuthorizer } from "../../server/relay/auth.ts";
import type { RelayServer } from "../../server/relay/relay-server.ts";
import {
  ANY_RELAY,
  type RelayTokenPayload,
  signRelayToken,
  verifyRelayToken,
} from "../../server/relay/token.ts";
import { keyToBase64 } from "../../worker/wireguard/keys.ts";
import {
  connectRaw,
  type NodeKeys,
  nodeKeys,
  type RawClient,
  sendHello,
  startTestRelay,
} from "./raw-client.ts";

const NOW = 1_800_000_000_000;
const secret = ed25519.utils.randomSecretKey();
const controlPublicKey = ed25519.getPublicKey(secret);

function payload(key: Uint8Array, relay: string, nowMs = NOW): RelayTokenPayload {
  return { v: 1, key: keyToBase64(key), relay, udp: [], exp: Math.floor(nowMs / 1000) + 300 };
}

function check(token: string, relayId: string, nodeKey: Uint8Array) {
  return verifyRelayToken(token, { controlPublicKey, relayId, nodeKey, nowMs: NOW });
}

describe("verifyRelayToken and ANY_RELAY", () => {
  it('takes "*" on any relay id, an id on that relay only', async () => {
    const { publicKey } = await nodeKeys();
    const any = signRelayToken(payload(publicKey, ANY_RELAY), secret, { nowMs: NOW });
    for (const id of ["relay-a", "relay-b", "eu-west.1", "*"]) {
      expect(check(any, id, publicKey)).toEqual({ ok: true, payload: payload(publicKey, "*") });
    }
    const forA = signRelayToken(payload(publicKey, "relay-a"), secret, { nowMs: NOW });
    expect(check(forA, "relay-a", publicKey).ok).toBe(true);
    expect(check(forA, "relay-b", publicKey)).toEqual({
      ok: false,
      reason: "token is for another relay",
    });
  });

  it('"*" changes nothing else: another key, another signer, expiry still refuse', async () => {
    const { publicKey } = await nodeKeys();
    const other = await nodeKeys();
    const any = signRelayToken(payload(publicKey, "*"), secret, { nowMs: NOW });
    expect(check(any, "relay-a", other.publicKey)).toEqual({
      ok: false,
      reason: "token is for another key",
    });
    const forged = signRelayToken(payload(publicKey, "*"), ed25519.utils.randomSecretKey(), {
      nowMs: NOW,
    });
    expect(check(forged, "relay-a", publicKey)).toEqual({
      ok: false,
      reason: "token signature invalid",
    });
    const late = verifyRelayToken(any, {
      controlPublicKey,
      relayId: "relay-a",
      nodeKey: publicKey,
      nowMs: NOW + 301_000,
    });
    expect(late).toEqual({ ok: false, reason: "token expired" });
    // Relay ids that only look like a wildcard are ids: they match themselves alone.
    const star = signRelayToken(payload(publicKey, "**"), secret, { nowMs: NOW });
    expect(check(star, "relay-a", publicKey).ok).toBe(false);
  });

  it("the relay's authorizer takes a '*' token with its UDP allowances", async () => {
    const { publicKey } = await nodeKeys();
    const token = signRelayToken({ ...payload(publicKey, "*"), udp: ["192.0.2.1:51820"] }, secret, {
      nowMs: NOW,
    });
    const authorizer = new RelayAuthorizer({ mode: "token", controlPublicKey }, "relay-b");
    expect(authorizer.check(publicKey, token, NOW)).toEqual({ ok: true, udp: ["192.0.2.1:51820"] });
  });
});

describe("the control server's tokens", () => {
  it('name the one relay, or "*" when the map lists several', () => {
    expect(tokenRelayOf([{ id: "default" }])).toBe("default");
    expect(tokenRelayOf([{ id: "eu" }, { id: "us" }])).toBe(ANY_RELAY);
    expect(tokenRelayOf([])).toBeUndefined();
  });

  it("a grant for several relays is good on each of them", async () => {
    const tokens = new RelayTokens(Buffer.from(secret).toString("base64"), ANY_RELAY);
    const { publicKey } = await nodeKeys();
    const grant = tokens.grant(keyToBase64(publicKey), NOW);
    for (const id of ["eu", "us", "ap"]) expect(check(grant.token, id, publicKey).ok).toBe(true);
    const one = new RelayTokens(Buffer.from(secret).toString("base64"), "eu");
    const single = one.grant(keyToBase64(publicKey), NOW).token;
    expect(check(single, "eu", publicKey).ok).toBe(true);
    expect(check(single, "us", publicKey).ok).toBe(false);
  });
});

describe("real relays", () => {
  const relays: RelayServer[] = [];
  const clients: RawClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.ws.terminate();
    for (const r of relays.splice(0)) await r.close();
  });

  async function relay(relayId: string, region?: string): Promise<RelayServer> {
    const { relay } = await startTestRelay({
      relayId,
      ...(region === undefined ? {} : { region }),
      auth: { mode: "token", controlPublicKey },
    });
    relays.push(relay);
    return relay;
  }

  function tokenFor(keys: NodeKeys, relayId: string): string {
    return signRelayToken(payload(keys.publicKey, relayId, Date.now()), secret);
  }

  it('both WELCOME the holder of a "*" token; an id token only on its relay', async () => {
    const a = await relay("relay-a", "eu-west");
    const b = await relay("relay-b");
    const keys = await nodeKeys();
    const any = tokenFor(keys, "*");
    const welcomes: Record<string, unknown>[] = [];
    for (const r of [a, b]) {
      const client = await connectRaw(r.url);
      clients.push(client);
      await sendHello(client, keys, { token: any });
      welcomes.push(JSON.parse((await client.next("welcome")).json) as Record<string, unknown>);
    }
    // The region is a new, optional field: there when the relay has one, absent otherwise.
    expect(welcomes[0]).toMatchObject({ relay: "relay-a", region: "eu-west" });
    expect(welcomes[1]?.relay).toBe("relay-b");
    expect(welcomes[1]).not.toHaveProperty("region");

    const other = await nodeKeys();
    const refused = await connectRaw(b.url);
    clients.push(refused);
    await sendHello(refused, other, { token: tokenFor(other, "relay-a") });
    expect(await refused.closed).toEqual({ code: 4401, reason: "token is for another relay" });
  });

  it("refuses a region that is not 0-64 of A-Z a-z 0-9 _ . -", async () => {
    await expect(relay("r", "eu west")).rejects.toThrow(/region/);
    await expect(relay("r", "x".repeat(65))).rejects.toThrow(/region/);
  });
});
