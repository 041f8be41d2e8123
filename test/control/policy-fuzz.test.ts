// Seeded fuzz of the policy engine: random mutations of valid documents, random documents built
// from the policy's own vocabulary, and addresses against Node's own parser. compilePolicy never
// throws; every error is placed inside the text; a compiled policy's map visibility agrees with
// its filters. Counts are printed; the seeds make any failure reproducible.

import { isIP } from "node:net";
import { describe, expect, it } from "vitest";
import { formatAddress, parseAddress } from "../../server/control/policy/address.ts";
import { compilePolicy } from "../../server/control/policy/compile.ts";
import { DEFAULT_POLICY } from "../../server/control/policy/default.ts";
import { MAX_POLICY_ERRORS } from "../../server/control/policy/parse.ts";
import type { CompileResult, Principal } from "../../server/control/policy/types.ts";
import type { SourceSelector } from "../../worker/control/types.ts";
import { seededInts } from "../helpers/seeded.ts";
import { USERS } from "./policy-helpers.ts";

const FULL = `// A full document: every section.
{
  "groups": {
    "group:eng": ["alice@example.com", "bob@example.com", "group:sre"],
    "group:sre": ["carol@example.com"],
  },
  "hosts": { "office": "10.1.0.0/16", "gw": "100.64.0.1", "v6": "fd7a::/64" },
  "tagOwners": { "tag:server": ["group:eng"], "tag:db": ["autogroup:admin"], "tag:ci": [] },
  "acls": [
    { "action": "accept", "src": ["group:eng", "office"], "dst": ["tag:server:22,80,443"] },
    { "action": "accept", "src": ["tag:server"], "dst": ["tag:db:5432", "gw:53"], "proto": "tcp" },
    { "action": "accept", "src": ["autogroup:member"], "dst": ["autogroup:self:*"] },
    { "action": "accept", "src": ["*"], "dst": ["[fd7a::1]:8000-8100"], "proto": "udp" },
    { "action": "accept", "src": ["autogroup:admin"], "dst": ["*:*"] },
  ],
  "ssh": [
    { "action": "check", "src": ["group:sre"], "dst": ["tag:server"], "users": ["root"], "checkPeriod": "1h" },
    { "action": "accept", "src": ["autogroup:member"], "dst": ["autogroup:self"], "users": ["autogroup:nonroot"] },
  ],
  "tests": [
    { "src": "alice@example.com", "accept": ["tag:server:22"], "deny": ["tag:db:5432"] },
    { "src": "tag:server", "accept": ["tag:db:5432"] },
  ],
}`;

const TOKENS = [
  '"',
  ",",
  "{",
  "}",
  "[",
  "]",
  ":",
  "/*",
  "*/",
  "//",
  "\n",
  "\r",
  " ",
  "\\",
  "\u0000",
  "é",
  "😀",
  '"group:eng"',
  '"group:nope"',
  '"*"',
  '"*:*"',
  '"tag:server:22"',
  '"tag:x:99999"',
  '"autogroup:self"',
  '"autogroup:self:22"',
  '"alice@example.com"',
  '"10.0.0.0/8"',
  '"10.0.0.1/8:22"',
  '"fd7a::1"',
  '"__proto__"',
  '"acls"',
  '"groups"',
  '"src"',
  '"dst"',
  '"proto"',
  '"icmp"',
  '"check"',
  '"12h"',
  "22",
  "-1",
  "1e999",
  "null",
  "true",
  "[]",
  "{}",
];

const PRINCIPALS: Principal[] = [
  { kind: "user", userId: 1 },
  { kind: "user", userId: 2 },
  { kind: "user", userId: 3 },
  { kind: "user", userId: 4 },
  { kind: "user", userId: 5 },
  { kind: "user", userId: 42 },
  { kind: "tags", tags: ["tag:server"] },
  { kind: "tags", tags: ["tag:db", "tag:ci"] },
  { kind: "tags", tags: [] },
];

// An independent reading of a filter rule's source (not the engine's own code).
function lets(src: SourceSelector, p: Principal): boolean {
  if (src.any) return true;
  if (p.kind === "user") return src.users?.includes(p.userId) ?? false;
  if (p.kind === "share") return false;
  return p.tags.some((t) => src.tags?.includes(t));
}

/**
 * Checks what every result must satisfy, adding what is wrong to `problems` (plain checks: an
 * expect() per query would cost more than the compiler); returns whether it compiled.
 */
function checkResult(text: string, result: CompileResult, problems: string[]): boolean {
  const problem = (what: string) => {
    if (problems.length < 5) problems.push(`${what} in ${JSON.stringify(text)}`);
  };
  if (!result.ok) {
    const lines = text.split(/\r\n|\r|\n/);
    if (result.errors.length === 0 || result.errors.length > MAX_POLICY_ERRORS) {
      problem(`${result.errors.length} errors`);
    }
    for (const e of result.errors) {
      const line = lines[e.line - 1];
      if (line === undefined || e.column < 1 || e.column > line.length + 1) {
        problem(`error outside the text: ${JSON.stringify(e)}`);
      }
      if (e.message === "" || typeof e.path !== "string") problem(`bad error ${JSON.stringify(e)}`);
    }
    return false;
  }
  const policy = result.policy;
  for (const d of PRINCIPALS) {
    const filter = policy.filterFor(d);
    policy.sshFor(d);
    for (const s of PRINCIPALS) {
      // Map visibility and the filter must agree: a peer is listed exactly when some rule of
      // the destination's filter lets it in.
      const reach = policy.canReach(s, d);
      if (reach !== filter.some((rule) => lets(rule.src, s))) {
        problem(
          `canReach(${JSON.stringify(s)}, ${JSON.stringify(d)}) = ${reach}, filter ${JSON.stringify(filter)}`,
        );
      }
    }
  }
  return true;
}

function mutate(text: string, rand: (n: number) => number): string {
  let out = text;
  const edits = 1 + rand(4);
  for (let e = 0; e < edits; e++) {
    const at = rand(out.length + 1);
    switch (rand(5)) {
      case 0:
        out = out.slice(0, at) + out.slice(at + 1 + rand(6));
        break;
      case 1:
        out = out.slice(0, at) + TOKENS[rand(TOKENS.length)]! + out.slice(at);
        break;
      case 2: {
        const from = rand(out.length + 1);
        out = out.slice(0, at) + out.slice(from, from + rand(40)) + out.slice(at);
        break;
      }
      case 3: {
        // Replace one string literal with a token (keeps the syntax, changes the meaning).
        const quote = out.indexOf('"', at);
        const end = quote < 0 ? -1 : out.indexOf('"', quote + 1);
        if (end > 0) {
          out = out.slice(0, quote) + TOKENS[17 + rand(TOKENS.length - 17)]! + out.slice(end + 1);
        }
        break;
      }
      default:
        out = out.slice(0, at) + String.fromCharCode(rand(0x3000)) + out.slice(at);
    }
  }
  return out;
}

const pick = <T>(rand: (n: number) => number, list: readonly T[]): T => list[rand(list.length)]!;
const some = <T>(rand: (n: number) => number, list: readonly T[], max: number): T[] =>
  Array.from({ length: rand(max + 1) }, () => pick(rand, list));

const GROUP_NAMES = ["group:a", "group:b", "group:c", "group:eng"];
const EMAILS = ["alice@example.com", "BOB@example.com", "carol@example.com", "zed@example.com"];
const TAG_NAMES = ["tag:server", "tag:db", "tag:ci"];
const SRC_OK = [
  ...GROUP_NAMES,
  ...EMAILS,
  ...TAG_NAMES,
  "*",
  "autogroup:member",
  "autogroup:admin",
  "10.0.0.0/8",
  "fd7a::/64",
];
// References that may not resolve (no hosts section, no such group): picked now and then.
const SRC_RISKY = ["office", "nohost", "group:undefined", "tag:undefined", "autogroup:self"];
const DST_OK = [...SRC_OK, "autogroup:self"];
const src = (rand: (n: number) => number) => pick(rand, rand(15) === 0 ? SRC_RISKY : SRC_OK);
const dst = (rand: (n: number) => number) => pick(rand, rand(15) === 0 ? SRC_RISKY : DST_OK);
const many = (
  rand: (n: number) => number,
  one: (r: (n: number) => number) => string,
  max: number,
) => Array.from({ length: 1 + rand(max) }, () => one(rand));
const PORTS = ["*", "22", "80,443", "8000-8100", "0", "65535"];

// A random document from the policy's own vocabulary: mostly well-formed, often wrong in meaning.
function randomDocument(rand: (n: number) => number): string {
  const doc: Record<string, unknown> = {};
  if (rand(8) > 0) {
    // Every group defined, members mostly emails; nested groups sometimes (cycles now and then).
    doc.groups = Object.fromEntries(
      GROUP_NAMES.map((g) => [g, some(rand, rand(4) === 0 ? GROUP_NAMES : EMAILS, 3)]),
    );
  }
  if (rand(2) > 0) doc.hosts = { office: pick(rand, ["10.1.0.0/16", "100.64.0.1", "fd7a::/64"]) };
  if (rand(8) > 0) {
    doc.tagOwners = Object.fromEntries(
      TAG_NAMES.map((t) => [t, some(rand, [...EMAILS, "autogroup:admin", "group:a"], 2)]),
    );
  }
  doc.acls = Array.from({ length: rand(5) }, () => ({
    action: "accept",
    src: many(rand, src, 3),
    dst: many(rand, dst, 3).map((d) => `${d}:${pick(rand, PORTS)}`),
    ...(rand(4) === 0 ? { proto: pick(rand, ["tcp", "udp"]) } : {}),
  }));
  if (rand(2) > 0) {
    doc.ssh = Array.from({ length: rand(3) }, () => ({
      action: pick(rand, ["accept", "check"]),
      src: many(rand, src, 2),
      dst: many(rand, dst, 2),
      users: many(rand, (r) => pick(r, ["root", "autogroup:nonroot", "deploy"]), 2),
    }));
  }
  if (rand(4) === 0) {
    doc.tests = [
      {
        src: pick(rand, [...EMAILS, ...TAG_NAMES]),
        [pick(rand, ["accept", "deny"])]: [`${pick(rand, [...EMAILS, ...TAG_NAMES])}:22`],
      },
    ];
  }
  const json = JSON.stringify(doc, null, rand(2) * 2);
  // Comments and trailing commas, as people write them.
  return rand(2) === 0 ? json : `// policy\n${json.replace(/\]/g, ",]")}`;
}

describe("policy fuzz", () => {
  it("mutated valid documents: never a throw, every error inside the text", () => {
    const rand = seededInts(0x9011c7);
    const seeds = [DEFAULT_POLICY, FULL];
    const problems: string[] = [];
    for (const seed of seeds) checkResult(seed, compilePolicy(seed, USERS), problems);
    expect(compilePolicy(FULL, USERS).ok).toBe(true);
    let compiledCount = 0;
    const n = 20_000;
    for (let i = 0; i < n; i++) {
      const text = mutate(seeds[i % seeds.length]!, rand);
      if (checkResult(text, compilePolicy(text, USERS), problems)) compiledCount++;
    }
    expect(problems).toEqual([]);
    console.log(
      `policy fuzz: ${n} mutated documents, ${compiledCount} compiled, ${n - compiledCount} refused`,
    );
    // Both outcomes must occur, or the fuzz is not exercising the compiler.
    expect(compiledCount).toBeGreaterThan(n / 20);
    expect(compiledCount).toBeLessThan(n);
  });

  it("random documents from the policy's vocabulary: filters and visibility agree", () => {
    const rand = seededInts(0x9011c8);
    let compiledCount = 0;
    const problems: string[] = [];
    const n = 10_000;
    for (let i = 0; i < n; i++) {
      const text = randomDocument(rand);
      if (checkResult(text, compilePolicy(text, USERS), problems)) compiledCount++;
    }
    expect(problems).toEqual([]);
    console.log(
      `policy fuzz: ${n} random documents, ${compiledCount} compiled, ${n - compiledCount} refused`,
    );
    expect(compiledCount).toBeGreaterThan(n / 20);
    expect(compiledCount).toBeLessThan(n);
  });

  it("addresses: parsed exactly when Node parses them, and printed back to the same address", () => {
    const rand = seededInts(0xadd7);
    const hex = () => rand(0x10000).toString(16);
    const candidates = (): string => {
      switch (rand(3)) {
        case 0:
          return Array.from({ length: 1 + rand(12) }, () =>
            pick(rand, [..."0123456789abcdefABCDEF:.x"]),
          ).join("");
        case 1:
          return Array.from({ length: 1 + rand(4) }, () => String(rand(300))).join(".");
        default: {
          const groups = Array.from({ length: rand(9) }, hex);
          if (rand(2) === 0) groups.splice(rand(groups.length + 1), 0, "");
          if (rand(4) === 0) groups.push(`${rand(256)}.${rand(256)}.${rand(256)}.${rand(256)}`);
          return groups.join(":");
        }
      }
    };
    let valid = 0;
    const problems: string[] = [];
    const n = 40_000;
    for (let i = 0; i < n; i++) {
      const text = candidates();
      const parsed = parseAddress(text);
      if ((parsed !== null) !== (isIP(text) !== 0)) problems.push(`${text}: ${parsed !== null}`);
      if (parsed === null) continue;
      valid++;
      const printed = formatAddress(parsed.family, parsed.value);
      const again = parseAddress(printed);
      if (isIP(printed) !== parsed.family || again?.value !== parsed.value) {
        problems.push(`${text} printed as ${printed}`);
      }
    }
    expect(problems.slice(0, 5)).toEqual([]);
    console.log(`policy fuzz: ${n} address strings, ${valid} valid`);
    expect(valid).toBeGreaterThan(n / 10);
  });
});
