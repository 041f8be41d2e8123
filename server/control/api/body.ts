// Reading what a request carries, with bounds: JSON bodies (media type checked, size capped
// while reading, schema-validated with valibot so every error names its field), path ids and
// the If-Match header. Nothing here trusts the client's Content-Length alone.

import type { Context } from "hono";
import * as v from "valibot";
import type { ApiEnv } from "./deps.ts";
import { ApiError, type FieldIssue, invalidBody } from "./errors.ts";

/** Default body limit (16 KiB); the policy routes allow 1 MiB. */
export const BODY_LIMIT = 16 * 1024;
export const POLICY_BODY_LIMIT = 1024 * 1024;

/** Most issues reported for one body (a hostile body can have thousands). */
const MAX_ISSUES = 20;

/** valibot's issue path as "a.b[2]"; "body" for the body itself. */
export function issuePath(path: v.IssuePathItem[] | undefined): string {
  if (path === undefined || path.length === 0) return "body";
  let out = "";
  for (const item of path) {
    const key = item.key;
    if (typeof key === "number") out += `[${key}]`;
    else out += out === "" ? String(key) : `.${String(key)}`;
  }
  return out === "" ? "body" : out;
}

/** valibot's words for a missing or unknown key are about keys; say it about fields. */
function plainMessage(issue: v.BaseIssue<unknown>): string {
  if (issue.type === "strict_object" && issue.path !== undefined && issue.path.length > 0) {
    return issue.input === undefined ? "required field is missing" : "unknown field";
  }
  return issue.message;
}

/** Validates `value` against `schema`: the output, or invalid_body naming each field. */
export function validate<S extends v.GenericSchema>(schema: S, value: unknown): v.InferOutput<S> {
  const result = v.safeParse(schema, value);
  if (result.success) return result.output;
  const issues: FieldIssue[] = result.issues
    .slice(0, MAX_ISSUES)
    .map((issue) => ({ path: issuePath(issue.path), message: plainMessage(issue) }));
  throw invalidBody(issues);
}

async function readLimited(c: Context<ApiEnv>, limit: number): Promise<Uint8Array> {
  const tooLarge = new ApiError(413, "body_too_large", `the body exceeds ${limit} bytes`, {
    limit,
  });
  const declared = c.req.header("content-length");
  if (declared !== undefined && Number(declared) > limit) throw tooLarge;
  const stream = c.req.raw.body;
  if (stream === null) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      throw tooLarge;
    }
    chunks.push(value);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}

/** Reads, parses and validates a JSON body of at most `limit` bytes. */
export async function readBody<S extends v.GenericSchema>(
  c: Context<ApiEnv>,
  schema: S,
  limit = BODY_LIMIT,
): Promise<v.InferOutput<S>> {
  const type = c.req.header("content-type") ?? "";
  if (!/^application\/json\s*(;|$)/i.test(type)) {
    throw new ApiError(415, "unsupported_media_type", "send the body as application/json");
  }
  const bytes = await readLimited(c, limit);
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (e) {
    throw new ApiError(400, "invalid_json", `the body is not JSON: ${(e as Error).message}`);
  }
  // Every body is an object; valibot's strictObject would take an array for one (its indices
  // as unknown keys), so say plainly what is wrong.
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw invalidBody([{ path: "body", message: "expected a JSON object" }]);
  }
  return validate(schema, value);
}

/** A positive integer id from the path (`:id`), or invalid_path naming it. */
export function pathId(c: Context<ApiEnv>, name = "id"): number {
  const raw = c.req.param(name) ?? "";
  if (!/^[1-9][0-9]{0,14}$/.test(raw)) {
    throw new ApiError(400, "invalid_path", `${name} must be a positive integer`, {
      issues: [{ path: name, message: "expected a positive integer" }],
    });
  }
  return Number(raw);
}

/** The version in `If-Match` ("3" or "\"3\""), undefined when absent, invalid_header when bad. */
export function ifMatchVersion(c: Context<ApiEnv>): number | undefined {
  const raw = c.req.header("if-match");
  if (raw === undefined) return undefined;
  const m = /^\s*(?:W\/)?"?([0-9]{1,15})"?\s*$/.exec(raw);
  if (m === null) {
    throw new ApiError(400, "invalid_header", "If-Match must be the policy version", {
      issues: [{ path: "If-Match", message: "expected a version number" }],
    });
  }
  return Number(m[1]);
}
