// The bodies of the share routes (api/shares.ts), as valibot schemas: strict objects, bounded
// strings and arrays. What depends on the shared node (its SSH server, its local users) and the
// ranges with a sentence of their own (expiry, note) are checked by the share service
// (shares/validate.ts); the shape is checked here. The fuzz (test/control/shares-fuzz.test.ts)
// throws random and mutated bodies at every route that reads one of these.

import * as v from "valibot";
import { durationSchema } from "./schemas.ts";

/** A share's secret: 32 random bytes, base64url (the link's fragment). */
export const shareSecretSchema = v.pipe(
  v.string(),
  v.regex(/^[A-Za-z0-9_-]{43}$/, "expected the secret from the share link's fragment (after #)"),
);

/** A WireGuard public key: base64 of 32 bytes. */
export const nodeKeySchema = v.pipe(
  v.string(),
  v.regex(
    /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/,
    "expected a WireGuard public key (base64, 44 characters)",
  ),
);

/** POST /api/v1/shares */
export const shareCreateBody = v.strictObject({
  nodeId: v.pipe(
    v.number(),
    v.safeInteger("expected a node id"),
    v.minValue(1, "expected a node id"),
  ),
  sshUsers: v.optional(
    v.pipe(v.array(v.pipe(v.string(), v.maxLength(64))), v.maxLength(32, "at most 32 users")),
  ),
  ports: v.optional(
    v.pipe(
      v.array(
        v.pipe(
          v.number(),
          v.integer("expected a TCP port"),
          v.minValue(1, "expected a TCP port from 1 to 65535"),
          v.maxValue(65535, "expected a TCP port from 1 to 65535"),
        ),
      ),
      v.maxLength(32, "at most 32 ports"),
    ),
  ),
  audience: v.optional(
    v.picklist(["anyone", "signed-in", "emails"], 'expected "anyone", "signed-in" or "emails"'),
  ),
  emails: v.optional(
    v.pipe(
      v.array(v.pipe(v.string(), v.maxLength(254), v.email("expected an email address"))),
      v.maxLength(32, "at most 32 emails"),
    ),
  ),
  /** Lifetime, "1m" to "30d" (default 24 hours). */
  expiry: v.optional(durationSchema),
  /** Acceptances allowed (default 1); null: any number until expiry. */
  maxUses: v.optional(
    v.nullable(
      v.pipe(v.number(), v.safeInteger("expected a whole number"), v.minValue(1, "at least 1")),
    ),
  ),
  note: v.optional(v.pipe(v.string(), v.maxLength(280, "at most 280 characters"))),
});

/** POST /api/v1/shares/:id/offer */
export const shareOfferBody = v.strictObject({ secret: shareSecretSchema });

/** POST /api/v1/shares/:id/accept */
export const shareAcceptBody = v.strictObject({
  secret: shareSecretSchema,
  nodeKey: nodeKeySchema,
  /** The recipient's host name (its share node is named after it). */
  hostname: v.optional(v.pipe(v.string(), v.maxLength(253, "at most 253 characters"))),
});
