// Relay tokens for map streams (DESIGN §4, §9.1): Ed25519-signed with the mesh's token signing
// key (MeshSettings.tokenSigningKey) in the relay's own format (server/relay/token.ts), naming
// the node's proven key, so a token holder cannot pose as another node on the relay. Tokens
// live an hour (the relay caps them at 24 h) and each stream gets a fresh one at 3/4 of the
// current one's life, as NetBird does: a leaked token is worth little for long. With several
// relays the token names ANY_RELAY ("*"): a node presents the one token of its map to its home
// relay and to its peers' (the mesh's relays all verify with this key); with one relay it
// names that relay's id, as it always did.

import type { KeyObject } from "node:crypto";
import { ed25519 } from "@noble/curves/ed25519.js";
import type { RelayInfo, RelayTokenGrant } from "../../worker/control/types.ts";
import { ANY_RELAY, signRelayToken, tokenSigningKey } from "../relay/token.ts";

/** Default token lifetime: one hour. */
export const DEFAULT_TOKEN_LIFETIME_MS = 60 * 60 * 1000;

/**
 * The `relay` the tokens of a map listing `relays` name: the one relay's id, or ANY_RELAY when
 * there are several (undefined when there is none).
 */
export function tokenRelayOf(relays: readonly Pick<RelayInfo, "id">[]): string | undefined {
  if (relays.length > 1) return ANY_RELAY;
  return relays[0]?.id;
}

/** Signs relay tokens for one relay id, or for every relay of the mesh (ANY_RELAY). */
export class RelayTokens {
  private readonly secret: Uint8Array;
  /** The same key for node:crypto: one signature per map stream and refresh adds up. */
  private readonly signer: KeyObject;
  /** The Ed25519 public key relays verify with (`--control-key`, or the embedded relay's). */
  readonly publicKey: Uint8Array;

  /**
   * `signingKey` is the base64 Ed25519 secret key of MeshSettings; `relayId` what the tokens'
   * `relay` names (tokenRelayOf). Throws a RangeError for a key that is not 32 bytes or a
   * lifetime outside (1 s, 24 h].
   */
  constructor(
    signingKey: string,
    private readonly relayId: string,
    private readonly lifetimeMs = DEFAULT_TOKEN_LIFETIME_MS,
  ) {
    this.secret = new Uint8Array(Buffer.from(signingKey, "base64"));
    if (this.secret.length !== 32) {
      throw new RangeError("token signing key: an Ed25519 secret key is 32 bytes (base64)");
    }
    if (!(lifetimeMs >= 1000 && lifetimeMs <= 24 * 60 * 60 * 1000)) {
      throw new RangeError(`relay token lifetime must be 1 s to 24 h, got ${lifetimeMs} ms`);
    }
    this.publicKey = ed25519.getPublicKey(this.secret);
    this.signer = tokenSigningKey(this.secret);
  }

  /** A token for `nodeKey` (base64), valid from `now` for the lifetime (whole seconds). */
  grant(nodeKey: string, now: number): RelayTokenGrant {
    const exp = Math.floor((now + this.lifetimeMs) / 1000);
    const token = signRelayToken(
      { v: 1, key: nodeKey, relay: this.relayId, udp: [], exp },
      this.signer,
      { nowMs: now },
    );
    return { token, expiresAt: exp * 1000 };
  }

  /** Milliseconds from `now` until `grant` is due for refresh (3/4 of its life). */
  refreshIn(grant: RelayTokenGrant, issuedAt: number): number {
    return Math.max(0, Math.floor(((grant.expiresAt - issuedAt) * 3) / 4));
  }
}
