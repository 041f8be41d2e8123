// Shared fixtures of the policy tests: a handful of users with every role, principal
// shorthands, and compile-or-fail.

import { compilePolicy } from "../../server/control/policy/compile.ts";
import type {
  CompiledPolicy,
  PolicyError,
  PolicyNode,
  PolicyUser,
  Principal,
} from "../../server/control/policy/types.ts";

/** owner 1, admin 2, members alice 3, bob 4, carol 5. */
export const USERS: readonly PolicyUser[] = [
  { id: 1, email: "owner@example.com", role: "owner" },
  { id: 2, email: "ada@example.com", role: "admin" },
  { id: 3, email: "alice@example.com", role: "member" },
  { id: 4, email: "Bob@Example.com", role: "member" },
  { id: 5, email: "carol@example.com", role: "member" },
];

export const OWNER = user(1);
export const ADA = user(2);
export const ALICE = user(3);
export const BOB = user(4);
export const CAROL = user(5);

/** The principal of user `id`'s nodes. */
export function user(userId: number): Principal {
  return { kind: "user", userId };
}

/** The principal of nodes tagged with `tags`. */
export function tags(...names: string[]): Principal {
  return { kind: "tags", tags: names };
}

/** One node of `principal` with these addresses. */
export function node(principal: Principal, ...addresses: string[]): PolicyNode {
  return { id: 99, principal, addresses };
}

/** Compiles `text`, failing the test with the errors when it does not compile. */
export function compiled(text: string, users: readonly PolicyUser[] = USERS): CompiledPolicy {
  const result = compilePolicy(text, users);
  if (!result.ok)
    throw new Error(`expected the policy to compile: ${JSON.stringify(result.errors)}`);
  return result.policy;
}

/** Compiles `text`, failing the test when it compiles; returns the errors. */
export function refused(text: string, users: readonly PolicyUser[] = USERS): PolicyError[] {
  const result = compilePolicy(text, users);
  if (result.ok) throw new Error("expected the policy to be refused");
  return result.errors;
}
