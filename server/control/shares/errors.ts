// Why the share service refuses, as stable codes the API turns into its JSON errors (and the
// recipient's page into sentences). An unknown share id and a wrong secret are one code with
// one sentence: the caller must not learn which ids exist.

/** Every refusal of the share service, with its HTTP status. */
export const SHARE_ERRORS = {
  /** Unknown id or wrong secret (indistinguishable on purpose). */
  share_not_found: 404,
  share_expired: 403,
  share_revoked: 403,
  share_used_up: 403,
  /** The share has its most open acceptances (SHARE_OPEN_MAX), whatever its use limit. */
  share_busy: 409,
  /** The audience is "signed-in" or "emails" and nobody is signed in. */
  share_sign_in_required: 401,
  /** The audience is "emails" and the signed-in user's email is not listed. */
  share_email_not_allowed: 403,
  /** The caller may not share this node, or see / revoke this share. */
  share_forbidden: 403,
  /** What was asked for cannot be shared (fields named in `issues`). */
  share_invalid: 400,
  /** SSH asked for on a node without the agent's SSH server. */
  share_ssh_unavailable: 409,
  /** The node key sent with an accept is a node already. */
  share_node_key_taken: 409,
  /** No acceptance with that id in that share. */
  share_acceptance_not_found: 404,
} as const;

/** A share service refusal code. */
export type ShareErrorCode = keyof typeof SHARE_ERRORS;

/** One problem with one field of a share ("expiry", "sshUsers[1]"). */
export interface ShareIssue {
  path: string;
  message: string;
}

/** A refusal: a code, a sentence, and for share_invalid the fields concerned. */
export class ShareError extends Error {
  readonly code: ShareErrorCode;
  readonly issues: ShareIssue[];
  constructor(code: ShareErrorCode, message: string, issues: ShareIssue[] = []) {
    super(message);
    this.name = "ShareError";
    this.code = code;
    this.issues = issues;
  }

  /** The HTTP status the API answers it with. */
  get status(): (typeof SHARE_ERRORS)[ShareErrorCode] {
    return SHARE_ERRORS[this.code];
  }
}

/** The one answer for an unknown id and a wrong secret. */
export function shareNotFound(): ShareError {
  return new ShareError(
    "share_not_found",
    "this share link is not known here: check that it was copied whole",
  );
}
