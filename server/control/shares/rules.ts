// When a share can be accepted, and by whom: its state at a time (revoked, expired, used up),
// a removed device, the audience (anyone, signed-in users, listed emails), each refusal with
// the code and sentence the recipient's page shows; and a share described for the audit log.

import type { ShareRecord, UserRecord } from "../store/types.ts";
import { ShareError } from "./errors.ts";

/** The refusal for a share that can no longer be accepted at `now`, or null. */
export function stateError(share: ShareRecord, now: number): ShareError | null {
  if (share.revokedAt !== null) {
    return new ShareError("share_revoked", "this share was revoked by the person who shared it");
  }
  if (share.expiresAt <= now) {
    return new ShareError(
      "share_expired",
      `this share expired at ${new Date(share.expiresAt).toISOString()}`,
    );
  }
  if (share.maxUses !== null && share.uses >= share.maxUses) {
    return new ShareError(
      "share_used_up",
      share.maxUses === 1
        ? "this share link was for one person and has been used"
        : `this share link has been used its ${share.maxUses} times`,
    );
  }
  return null;
}

/** A share whose device was removed offers nothing: it reads as revoked. */
export function gone(share: ShareRecord): ShareError {
  return new ShareError(
    "share_revoked",
    `the shared device is no longer in the mesh (share ${share.id})`,
  );
}

/** Refuses a recipient the share's audience does not include. */
export function checkAudience(share: ShareRecord, user: UserRecord | null): void {
  if (share.audience === "anyone") return;
  if (user === null) {
    throw new ShareError(
      "share_sign_in_required",
      share.audience === "emails"
        ? "this share is for particular people: sign in first"
        : "this share is for users of this Corridor: sign in first",
    );
  }
  if (share.audience === "emails" && !share.emails.includes(user.email.toLowerCase())) {
    throw new ShareError(
      "share_email_not_allowed",
      `this share is not for ${user.email || "your account"}: it lists other emails`,
    );
  }
}

/** A share's offer in a few words, for the audit log (never the secret). */
export function describe(share: ShareRecord): string {
  const parts = [];
  if (share.sshUsers.length > 0) parts.push(`ssh as ${share.sshUsers.join(", ")}`);
  if (share.ports.length > 0) parts.push(`ports ${share.ports.join(", ")}`);
  parts.push(
    share.audience === "emails" ? `for ${share.emails.join(", ")}` : `for ${share.audience}`,
  );
  parts.push(share.maxUses === null ? "any number of uses" : `${share.maxUses} use(s)`);
  parts.push(`expires ${new Date(share.expiresAt).toISOString()}`);
  return parts.join(", ");
}
