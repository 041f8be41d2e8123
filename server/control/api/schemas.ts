// Every request body the API accepts, as valibot schemas: strict objects (an unknown field is an
// error naming it), bounded strings and arrays. The fuzz test (test/control/api-fuzz.test.ts)
// throws random and mutated bodies at every route that reads one of these.

import * as v from "valibot";

const DURATION_UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** A duration such as "90d", "12h", "30m", "3600s", as milliseconds. */
export const durationSchema = v.pipe(
  v.string(),
  v.regex(/^[1-9][0-9]{0,5}[smhd]$/, 'expected a duration such as "90d", "12h", "30m" or "600s"'),
  v.transform((text) => {
    const unit = text.slice(-1) as keyof typeof DURATION_UNIT_MS;
    return Number(text.slice(0, -1)) * DURATION_UNIT_MS[unit];
  }),
);

/** A policy tag ("tag:server"). */
export const tagSchema = v.pipe(
  v.string(),
  v.regex(/^tag:[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/, 'expected a tag such as "tag:server"'),
);

/** A node's mesh name: one DNS label, lowercase. */
export const nodeNameSchema = v.pipe(
  v.string(),
  v.regex(
    /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/,
    "expected a lowercase DNS label (a-z, 0-9, inner dashes, at most 63 characters)",
  ),
);

/** A sign-in link's secret: 32 random bytes, base64url. */
export const linkTokenSchema = v.pipe(
  v.string(),
  v.regex(/^[A-Za-z0-9_-]{43}$/, "expected the token from the link's fragment (after #)"),
);

/** POST /api/v1/login/link */
export const loginLinkBody = v.strictObject({
  token: linkTokenSchema,
  /** An invited person's display name (ignored for the owner link). */
  name: v.optional(v.pipe(v.string(), v.trim(), v.maxLength(64, "at most 64 characters"))),
});

/** PATCH /api/v1/users/:id */
export const userPatchBody = v.strictObject({
  role: v.picklist(["admin", "member"], 'expected "admin" or "member"'),
});

/** PATCH /api/v1/nodes/:id */
export const nodePatchBody = v.strictObject({ name: nodeNameSchema });

/** POST /api/v1/authkeys */
export const authKeyCreateBody = v.strictObject({
  reusable: v.optional(v.boolean()),
  ephemeral: v.optional(v.boolean()),
  tags: v.optional(v.pipe(v.array(tagSchema), v.maxLength(16, "at most 16 tags"))),
  expiry: v.optional(durationSchema),
});

/** POST /api/v1/apikeys */
export const apiKeyCreateBody = v.strictObject({
  expiry: v.optional(durationSchema),
});

/** POST /api/v1/invites */
export const inviteCreateBody = v.strictObject({
  role: v.optional(v.picklist(["admin", "member"], 'expected "admin" or "member"')),
  email: v.optional(v.pipe(v.string(), v.maxLength(254), v.email("expected an email address"))),
  expiry: v.optional(durationSchema),
});

/** PUT /api/v1/policy and POST /api/v1/policy/test */
export const policyBody = v.strictObject({
  text: v.pipe(v.string(), v.maxLength(1_000_000, "at most 1,000,000 characters")),
});

/** POST /api/v1/approvals/:id */
export const approvalBody = v.strictObject({
  approve: v.boolean(),
  tags: v.optional(v.pipe(v.array(tagSchema), v.maxLength(16, "at most 16 tags"))),
});
