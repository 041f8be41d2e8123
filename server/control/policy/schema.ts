// The policy document's shape (valibot): sections, keys, and the strings inside parsed into
// selectors, destinations, ports and durations. Every issue becomes a PolicyError with the JSON
// path of the offending value ("acls[2].dst[0]") and its line and column in the text. What the
// shape cannot see (references to groups, tags and hosts; cycles) is checked in references.ts.

import * as v from "valibot";
import { type Prefix, parsePrefix } from "./address.ts";
import { errorAt, type ParsedPolicy, type PathStep, sortErrors } from "./parse.ts";
import {
  type Destination,
  GROUP_NAME,
  HOST_NAME,
  parseCheckPeriod,
  parseDestination,
  parseSelector,
  parseSshUser,
  type Selector,
  TAG_NAME,
} from "./selectors.ts";
import type { PolicyError } from "./types.ts";

type Refusal = (selector: Selector) => string | null;

// A string parsed by `parse` into a value, or an issue with the parser's sentence.
function parsedString<T>(parse: (text: string) => T | string) {
  return v.pipe(
    v.string("expected a string"),
    v.rawTransform<string, T>(({ dataset, addIssue, NEVER }) => {
      const out = parse(dataset.value);
      if (typeof out === "string") {
        addIssue({ message: out });
        return NEVER;
      }
      return out;
    }),
  );
}

function selector(refuse: Refusal) {
  return parsedString<Selector>((text) => {
    const parsed = parseSelector(text);
    if (typeof parsed === "string") return parsed;
    return refuse(parsed) ?? parsed;
  });
}

function destination(refuse: Refusal) {
  return parsedString<Destination>((text) => {
    const parsed = parseDestination(text);
    if (typeof parsed === "string") return parsed;
    return refuse(parsed.target) ?? parsed;
  });
}

const selfOnlyInDst: Refusal = (s) =>
  s.kind === "autogroup" && s.name === "self" ? "autogroup:self is only allowed in dst" : null;

const memberRefusal: Refusal = (s) =>
  s.kind === "user" || s.kind === "group"
    ? null
    : "a group lists emails and other groups (group:NAME) only";

const ownerRefusal: Refusal = (s) =>
  s.kind === "user" ||
  s.kind === "group" ||
  (s.kind === "autogroup" && (s.name === "admin" || s.name === "member"))
    ? null
    : "a tag owner is an email, group:NAME, autogroup:admin or autogroup:member";

const testSrcRefusal: Refusal = (s) =>
  s.kind === "user" || s.kind === "group" || s.kind === "tag"
    ? null
    : "a test's src is an email, group:NAME or tag:NAME";

const testDstRefusal: Refusal = (s) => {
  if (s.kind === "user" || s.kind === "tag" || s.kind === "host") return null;
  if (s.kind === "prefix") {
    const full = s.prefix.family === 4 ? 32 : 128;
    return s.prefix.bits === full ? null : "a test's destination is one address, not a range";
  }
  return "a test's destination is an email, tag:NAME, a hosts name or an IP address";
};

// A single port is what a test asks about ("tag:db:5432").
function testDestination() {
  return parsedString<Destination>((text) => {
    const parsed = parseDestination(text);
    if (typeof parsed === "string") return parsed;
    const refusal = testDstRefusal(parsed.target);
    if (refusal !== null) return refusal;
    const [only, ...more] = parsed.ports;
    if (only === undefined || more.length > 0 || only.first !== only.last) {
      return `a test names one port ("${text}" names ${more.length > 0 ? "several" : "a range"})`;
    }
    return parsed;
  });
}

// valibot's object schemas take arrays for objects: the document's objects must be objects.
function isObject(input: unknown): boolean {
  return typeof input === "object" && input !== null && !Array.isArray(input);
}

// An object with exactly these keys; messages name the section and the allowed keys.
function strict<E extends v.ObjectEntries>(entries: E, what: string) {
  const allowed = Object.keys(entries).join(", ");
  return v.pipe(
    v.custom<Record<string, unknown>>(isObject, `${what} must be an object`),
    v.strictObject(entries, (issue) => {
      if (issue.expected === "never") {
        return `unknown key ${issue.received} in ${what} (allowed: ${allowed})`;
      }
      return `${what} needs the key ${issue.expected}`;
    }),
  );
}

const RESERVED_KEYS = new Set(["__proto__", "prototype", "constructor"]);

// A map from names (checked by `keyPattern`) to values.
function record<V extends v.GenericSchema>(
  keyPattern: RegExp,
  keyMessage: string,
  value: V,
  what: string,
) {
  return v.pipe(
    v.custom<Record<string, unknown>>(isObject, `${what} must be an object`),
    // valibot's record skips these keys without a word: refuse them instead.
    v.rawCheck<Record<string, unknown>>(({ dataset, addIssue }) => {
      if (!dataset.typed) return;
      for (const key of Object.keys(dataset.value)) {
        if (!RESERVED_KEYS.has(key)) continue;
        const item = {
          type: "object",
          origin: "key",
          input: dataset.value,
          key,
          value: key,
        } as const;
        addIssue({ message: `${JSON.stringify(key)} is a reserved name`, path: [item] });
      }
    }),
    v.record(v.pipe(v.string(), v.regex(keyPattern, keyMessage)), value),
  );
}

function list<T extends v.GenericSchema>(item: T, what: string, min = 0) {
  return v.pipe(
    v.array(item, `${what} must be an array`),
    v.minLength(min, `${what} must list at least ${min === 1 ? "one entry" : `${min} entries`}`),
  );
}

const PROTOS = ["tcp", "udp", "icmp"] as const;
const proto = v.picklist(PROTOS, `proto must be "tcp", "udp" or "icmp" (omit it for all)`);

const aclRule = strict(
  {
    action: v.literal("accept", `action must be "accept" (everything not accepted is dropped)`),
    src: list(selector(selfOnlyInDst), "src", 1),
    dst: list(
      destination(() => null),
      "dst",
      1,
    ),
    proto: v.optional(proto),
  },
  "an acl rule",
);

const sshRule = strict(
  {
    action: v.picklist(["accept", "check"], `action must be "accept" or "check"`),
    src: list(selector(selfOnlyInDst), "src", 1),
    dst: list(
      selector(() => null),
      "dst",
      1,
    ),
    users: list(parsedString(parseSshUser), "users", 1),
    checkPeriod: v.optional(parsedString<number>(parseCheckPeriod)),
  },
  "an ssh rule",
);

const testCase = strict(
  {
    src: selector(testSrcRefusal),
    accept: v.optional(list(testDestination(), "accept")),
    deny: v.optional(list(testDestination(), "deny")),
    proto: v.optional(proto),
  },
  "a test",
);

/** The policy document's schema. */
export const PolicySchema = strict(
  {
    groups: v.optional(
      record(
        GROUP_NAME,
        `a group's name is group:NAME (letters, digits, "-", "_", ".")`,
        list(selector(memberRefusal), "a group"),
        "groups",
      ),
    ),
    hosts: v.optional(
      record(
        HOST_NAME,
        'a hosts name starts with a letter (letters, digits, "-", "_", ".")',
        parsedString<Prefix>(parsePrefix),
        "hosts",
      ),
    ),
    tagOwners: v.optional(
      record(
        TAG_NAME,
        `a tag is tag:NAME (letters, digits, "-", "_", ".")`,
        list(selector(ownerRefusal), "a tag's owners"),
        "tagOwners",
      ),
    ),
    acls: v.optional(list(aclRule, "acls")),
    ssh: v.optional(list(sshRule, "ssh")),
    tests: v.optional(list(testCase, "tests")),
  },
  "the policy",
);

/** The document after the schema: strings parsed into selectors and numbers. */
export type PolicyDocument = v.InferOutput<typeof PolicySchema>;

/** Checks a parsed document's shape; every error names its JSON path and position. */
export function validatePolicy(
  parsed: ParsedPolicy,
): { ok: true; document: PolicyDocument } | { ok: false; errors: PolicyError[] } {
  const result = v.safeParse(PolicySchema, parsed.value, { abortEarly: false });
  if (result.success) return { ok: true, document: result.output };
  const errors = result.issues.map((issue) => {
    const steps = issue.path ?? [];
    const path: PathStep[] = steps.map((step) =>
      typeof step.key === "number" ? step.key : String(step.key),
    );
    const atKey = steps.length > 0 && steps[steps.length - 1]!.origin === "key";
    return errorAt(parsed, path, issue.message, atKey);
  });
  return { ok: false, errors: sortErrors(errors) };
}
