// The policy engine's entry points: text in, a CompiledPolicy (or positioned errors) out.
// parse (syntax) → schema (shape, strings) → program (references, user-independent) → bind
// (users) → tests. The API's "policy set" and "policy test" and the CLI call these.

import { BoundPolicy } from "./bind.ts";
import { runPolicyTests } from "./evaluate.ts";
import { parsePolicyText, sortErrors } from "./parse.ts";
import { buildProgram } from "./program.ts";
import { validatePolicy } from "./schema.ts";
import type { CompileResult, PolicyError, PolicyUser } from "./types.ts";

/**
 * Compiles a policy document for the current users. Never throws on any text: every problem is
 * a PolicyError with a 1-based line and column (syntax, shape, references, failing tests).
 */
export function compilePolicy(text: string, users: readonly PolicyUser[]): CompileResult {
  const parsed = parsePolicyText(text);
  if (!parsed.ok) return parsed;
  const valid = validatePolicy(parsed.parsed);
  if (!valid.ok) return valid;
  const built = buildProgram(valid.document, parsed.parsed);
  if (!built.ok) return { ok: false, errors: sortErrors(built.errors) };
  const policy = new BoundPolicy(built.program, users);
  const failures = runPolicyTests(built.program, policy, users, parsed.parsed);
  if (failures.length > 0) return { ok: false, errors: sortErrors(failures) };
  return { ok: true, policy };
}

/**
 * `policy test`: checks a candidate document without storing anything. The errors are exactly
 * those compilePolicy would give (empty when the document would be accepted).
 */
export function testPolicy(text: string, users: readonly PolicyUser[]): PolicyError[] {
  const result = compilePolicy(text, users);
  return result.ok ? [] : result.errors;
}

/** One error as a person reads it: "line 12, column 5: acls[2].dst[0]: unknown group ...". */
export function formatPolicyError(error: PolicyError): string {
  const where = `line ${error.line}, column ${error.column}`;
  return error.path === ""
    ? `${where}: ${error.message}`
    : `${where}: ${error.path}: ${error.message}`;
}
