// Who may use the relay, after the client proved it holds its node key. Closed by default:
// the operator picks one mode. "token": a token signed by the control server (token.ts);
// "keys": an allow-list of node keys; "open": anyone who proves a key; "union": any of several
// modes (`corridor serve` with its control server: the control server's tokens, and besides
// them the mode chosen for the relay, so wg-quick networks keep working).

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
    }
  | {
      /** Accepted when any of `of` accepts, with the UDP allowances of all that do. */
      mode: "union";
      of: readonly RelayAuth[];
    };

/** The outcome of authorization; `udp` holds the token's UDP allowances (else empty). */
export type AuthResult = { ok: true; udp: string[] } | { ok: false; reason: string };

function keyId(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString("latin1");
}

/** Checks proven node keys (and their tokens) against the configured mode. */
export class RelayAuthorizer {
  private readonly allowed: Set<string> | undefined;
  /** The members of a "union". */
  private readonly members: RelayAuthorizer[] = [];

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
    } else if (mode === "union") {
      const of = (auth as { of?: unknown }).of;
      if (!Array.isArray(of) || of.length === 0)
        throw new TypeError("relay auth: union mode needs at least one mode");
      this.members = of.map((member: RelayAuth) => new RelayAuthorizer(member, relayId));
    } else if (mode !== "open") {
      throw new TypeError('relay auth: choose a mode ("token", "keys", "open" or "union")');
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
      case "union": {
        // Every member is asked, so a valid token's UDP allowances count even where "open"
        // would let the key in without them.
        const reasons: string[] = [];
        let udp: string[] | undefined;
        for (const member of this.members) {
          const result = member.check(nodeKey, token, nowMs);
          if (result.ok) udp = [...(udp ?? []), ...result.udp];
          else reasons.push(result.reason);
        }
        return udp !== undefined ? { ok: true, udp } : { ok: false, reason: reasons.join("; ") };
      }
    }
  }
}
