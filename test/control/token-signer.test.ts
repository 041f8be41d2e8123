// The control server signs relay tokens through node:crypto (tokenSigningKey: ~0.05 ms a
// token instead of @noble's ~0.9 ms, measured by the control benchmark's profile, where noble's
// signing was a tenth of the server's time per join). Ed25519 is deterministic, so the tokens
// must be byte for byte those of the @noble path, and the relay must accept them.

import { ed25519 } from "@noble/curves/ed25519.js";
import { describe, expect, it } from "vitest";
import { RelayTokens } from "../../server/control/tokens.ts";
import { signRelayToken, tokenSigningKey, verifyRelayToken } from "../../server/relay/token.ts";
import { keyFromBase64, keyToBase64 } from "../../worker/wireguard/keys.ts";
import { seededBytes } from "../helpers/seeded.ts";

const NOW = 1_800_000_000_000;

describe("relay token signing through node:crypto", () => {
  it("gives the same bytes as @noble for 200 seeded keys and payloads, and the relay accepts them", () => {
    const bytes = seededBytes(1301);
    for (let i = 0; i < 200; i++) {
      const secret = bytes(32);
      const nodeKey = keyToBase64(bytes(32));
      const payload = {
        v: 1 as const,
        key: nodeKey,
        relay: `r-${i}`,
        udp: [],
        exp: NOW / 1000 + 60 + i,
      };
      const viaNode = signRelayToken(payload, tokenSigningKey(secret), { nowMs: NOW });
      expect(viaNode).toBe(signRelayToken(payload, secret, { nowMs: NOW }));
      const check = verifyRelayToken(viaNode, {
        controlPublicKey: ed25519.getPublicKey(secret),
        relayId: `r-${i}`,
        nodeKey: keyFromBase64(nodeKey),
        nowMs: NOW,
      });
      expect(check).toEqual({ ok: true, payload });
    }
    console.log("token signer: 200 seeded keys, node:crypto == @noble");
  });

  it("RelayTokens grants tokens its public key verifies", () => {
    const secret = seededBytes(7)(32);
    const tokens = new RelayTokens(Buffer.from(secret).toString("base64"), "default");
    const nodeKey = keyToBase64(seededBytes(8)(32));
    const grant = tokens.grant(nodeKey, NOW);
    expect(grant.expiresAt).toBe(NOW + 3600_000);
    const check = verifyRelayToken(grant.token, {
      controlPublicKey: tokens.publicKey,
      relayId: "default",
      nodeKey: keyFromBase64(nodeKey),
      nowMs: NOW,
    });
    expect(check.ok).toBe(true);
  });

  it("refuses a secret key that is not 32 bytes", () => {
    expect(() => tokenSigningKey(new Uint8Array(31))).toThrow(
      new RangeError("an Ed25519 secret key is 32 bytes"),
    );
  });
});
