// Who may use the relay, after the client proved it holds its node key. Closed by default:
// the operator picks one mode. "token": a token signed by the control server (token.ts);
// "keys": an allow-list of node keys; "open": anyone who proves a key.

import { checkControlKey, DEFAULT_MAX_TOKEN_LIFETIME_S, verifyRelayToken } from "./token.ts";

/** How the relay authorizes proven node keys. */
export type RelayAuth =
  | { mode: "open" }
  | { mode: "keys"; allowed: Uint8Array[] }
  | {
      mode: "token";
      /** The control server's Ed25519 public key; a small-order one is refused at startup. */
      controlPublicKey: Uint8Array;
      /** The longest a presented token may still live, seconds. Default 24 h. */
      maxTokenLifetimeSeconds?: number;
    };

/** The outcome of authorization; `udp` holds the token's UDP allowances (else empty). */
export type AuthResult = { ok: true; udp: string[] } | { ok: false; reason: string };

function keyId(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString("latin1");
}

/** Checks proven node keys (and their tokens) against the configured mode. */
export class RelayAuthorizer {
  private readonly allowed: Set<string> | undefined;

  /** Throws when `auth` is missing or malformed: there is no default mode. */
  constructor(
    private readonly auth: RelayAuth,
    private readonly relayId: string,
  ) {
    const mode = (auth as { mode?: unknown } | undefined)?.mode;
    if (mode === "keys") {
      const keys = (auth as { allowed: Uint8Array[] }).allowed;
      if (!Array.isArray(keys) || keys.some((k) => !(k instanceof Uint8Array) || k.length !== 32))
        throw new TypeError("relay auth: keys mode needs a list of 32-byte keys");
      this.allowed = new Set(keys.map(keyId));
    } else if (mode === "token") {
      const { controlPublicKey, maxTokenLifetimeSeconds } = auth as Extract<
        RelayAuth,
        { mode: "token" }
      >;
      try {
        checkControlKey(controlPublicKey);
      } catch (error) {
        throw new TypeError(`relay auth: ${(error as Error).message}`);
      }
      const cap = maxTokenLifetimeSeconds ?? DEFAULT_MAX_TOKEN_LIFETIME_S;
      if (!(cap > 0) || !Number.isFinite(cap))
        throw new RangeError(
          `relay auth: maxTokenLifetimeSeconds must be a positive number of seconds, got ${cap}`,
        );
    } else if (mode !== "open") {
      throw new TypeError('relay auth: choose a mode ("token", "keys" or "open")');
    }
  }

  /** Authorizes a proven `nodeKey` presenting `token` at `nowMs`. */
  check(nodeKey: Uint8Array, token: string, nowMs: number): AuthResult {
    switch (this.auth.mode) {
      case "open":
        return { ok: true, udp: [] };
      case "keys":
        return this.allowed?.has(keyId(nodeKey))
          ? { ok: true, udp: [] }
          : { ok: false, reason: "key not allowed" };
      case "token": {
        const result = verifyRelayToken(token, {
          controlPublicKey: this.auth.controlPublicKey,
          relayId: this.relayId,
          nodeKey,
          nowMs,
          maxLifetimeSeconds: this.auth.maxTokenLifetimeSeconds,
        });
        return result.ok ? { ok: true, udp: result.payload.udp } : result;
      }
    }
  }
}
