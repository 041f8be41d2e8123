// Seeded fuzz of every API body schema: random JSON, mutations of valid bodies (a field given a
// wrong value, dropped, or an unknown one added), broken JSON and random path ids, sent to every
// route that reads a body. Never a 5xx; every refusal is JSON with a stable code, and an
// invalid_body names the field (for a mutation: the field that was broken). Prints the count.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seededInts } from "../helpers/seeded.ts";
import { type Browser, type Harness, startHarness } from "./api-harness.ts";

/** A route that reads a body, with one valid body to mutate. */
interface Target {
  method: string;
  path: () => string;
  valid: () => Record<string, unknown>;
}

const FIELD_NAMES = [
  "token",
  "name",
  "role",
  "reusable",
  "ephemeral",
  "tags",
  "expiry",
  "email",
  "text",
  "approve",
  "__proto__",
  "constructor",
  "",
  "a.b",
];

let h: Harness;
let owner: Browser;
let apiKey: string;
let memberId: number;
let nodeId: number;

beforeAll(async () => {
  h = await startHarness({ inMemory: true, loginRateLimit: { burst: 1e9, perSecond: 1e9 } });
  owner = await h.signInOwner();
  const made = await h.call("POST", "/api/v1/apikeys", {
    cookie: owner.cookie,
    csrf: owner.csrf,
    body: { expiry: "1d" },
  });
  apiKey = made.json.key;
  const url = (
    await h.call("POST", "/api/v1/invites", { bearer: apiKey, body: { role: "member" } })
  ).json.url;
  memberId = (await h.acceptInvite(url)).userId;
  nodeId = (
    await h.store.createNode({
      nodeKey: Buffer.alloc(32, 7).toString("base64"),
      userId: owner.userId,
      tags: [],
      name: "fuzz-node",
      hostname: "fuzz-node",
      os: "linux",
      ipv4: "100.64.0.9",
      ipv6: "fd00:9::9",
      ephemeral: false,
      keyExpiry: null,
      sshHostKeys: [],
      lastSeen: null,
      authKeyId: null,
    })
  ).id;
});

afterAll(async () => {
  await h.close();
});

describe("API body fuzz", () => {
  it("answers every random or mutated body with a 4xx naming the field, or a success; never a 5xx", async () => {
    const int = seededInts(0x13c0ffee);
    const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
    const randomString = (): string => {
      const alphabet = 'abcXYZ019-_:.@/ \u00e9\u{1F600}"\\\n\u0000';
      const chars = [...alphabet];
      const n = pick([0, 1, 3, 8, 43, 70, 300]);
      let s = "";
      for (let i = 0; i < n; i++) s += pick(chars);
      return s;
    };
    const randomValue = (depth: number): unknown => {
      switch (int(depth > 2 ? 7 : 9)) {
        case 0:
          return null;
        case 1:
          return int(2) === 0;
        case 2:
          return pick([0, -1, 1.5, 1e308, -0, 2 ** 53, 42]);
        case 3:
          return randomString();
        case 4:
          return pick([
            "90d",
            "1h",
            "0d",
            "366d",
            "admin",
            "member",
            "owner",
            "tag:server",
            "tag:",
            "x@y.z",
          ]);
        case 5:
          return "A".repeat(43);
        case 6:
          return pick(["", "tag:ci", "{}", "[]"]);
        case 7:
          return Array.from({ length: int(4) }, () => randomValue(depth + 1));
        default: {
          const out: Record<string, unknown> = {};
          for (let i = int(4); i > 0; i--) out[pick(FIELD_NAMES)] = randomValue(depth + 1);
          return out;
        }
      }
    };

    const targets: Target[] = [
      {
        method: "POST",
        path: () => "/api/v1/login/link",
        valid: () => ({ token: "B".repeat(43), name: "x" }),
      },
      {
        method: "PATCH",
        path: () => `/api/v1/users/${memberId}`,
        valid: () => ({ role: "member" }),
      },
      {
        method: "PATCH",
        path: () => `/api/v1/nodes/${nodeId}`,
        valid: () => ({ name: "fuzz-node" }),
      },
      {
        method: "POST",
        path: () => "/api/v1/authkeys",
        valid: () => ({ reusable: true, ephemeral: false, tags: ["tag:server"], expiry: "1h" }),
      },
      { method: "POST", path: () => "/api/v1/apikeys", valid: () => ({ expiry: "1h" }) },
      {
        method: "POST",
        path: () => "/api/v1/invites",
        valid: () => ({ role: "member", email: "a@example.com", expiry: "1h" }),
      },
      { method: "PUT", path: () => "/api/v1/policy", valid: () => ({ text: "{}" }) },
      { method: "POST", path: () => "/api/v1/policy/test", valid: () => ({ text: "{}" }) },
      {
        method: "POST",
        path: () => "/api/v1/approvals/none",
        valid: () => ({ approve: true, tags: ["tag:ci"] }),
      },
    ];

    const counts = new Map<string, number>();
    const tally = (key: string) => counts.set(key, (counts.get(key) ?? 0) + 1);
    let inputs = 0;
    /** Refusals of a mutated body checked to name the very field that was broken. */
    let namedBroken = 0;
    const ROUNDS = 4_500;

    const send = async (method: string, path: string, raw: string, viaCookie: boolean) => {
      const headers: Record<string, string> = { "content-type": "application/json" };
      if (path === "/api/v1/login/link" || viaCookie) {
        headers.origin = h.origin;
        if (viaCookie) {
          headers.cookie = owner.cookie;
          headers["x-corridor-csrf"] = owner.csrf;
        }
      } else {
        headers.authorization = `Bearer ${apiKey}`;
      }
      const res = await h.app.fetch(
        new Request(new URL(path, h.baseUrl), { method, headers, body: raw }),
      );
      const text = await res.text();
      inputs++;
      return { status: res.status, text };
    };

    const check = (
      what: string,
      reply: { status: number; text: string },
      brokenField: string | null,
    ): void => {
      const where = `${what} → ${reply.status} ${reply.text.slice(0, 300)}`;
      expect(reply.status, where).toBeLessThan(500);
      // biome-ignore lint/suspicious/noExplicitAny: a JSON answer of any shape
      const json: any = JSON.parse(reply.text);
      tally(`${reply.status} ${json.error ?? "ok"}`);
      if (reply.status < 300) return;
      expect(typeof json.error, where).toBe("string");
      expect(typeof json.message, where).toBe("string");
      if (json.error === "invalid_body" || json.error === "invalid_path") {
        expect(json.issues.length, where).toBeGreaterThan(0);
        for (const issue of json.issues) {
          expect(issue.path, where).toMatch(/\S/);
          expect(issue.message, where).toMatch(/\S/);
        }
        if (brokenField !== null && json.error === "invalid_body") {
          namedBroken++;
          const paths: string[] = json.issues.map((i: { path: string }) => i.path);
          expect(
            paths.some(
              (p) =>
                p === brokenField ||
                p.startsWith(`${brokenField}[`) ||
                p.startsWith(`${brokenField}.`),
            ),
            where,
          ).toBe(true);
        }
      }
    };

    for (let round = 0; round < ROUNDS; round++) {
      for (const target of targets) {
        const viaCookie = int(4) === 0;
        const kind = int(10);
        let body: string;
        let broken: string | null = null;
        if (kind < 4) {
          // A valid body with one field broken, dropped, or an unknown field added.
          const valid = target.valid();
          const fields = Object.keys(valid);
          const field = pick(fields);
          const how = int(3);
          let extraText = "";
          if (how === 0) {
            valid[field] = randomValue(1);
            broken = field;
          } else if (how === 1) {
            // A dropped field is an error only where it is required: the status alone is checked.
            delete valid[field];
          } else {
            // Written into the JSON text, so that "__proto__" arrives as an own key.
            broken = pick(["zzz", "Role", "token2", "__proto__", "constructor"]);
            extraText = `${JSON.stringify(broken)}:${JSON.stringify(randomValue(2))}`;
          }
          const json = JSON.stringify(valid);
          body =
            extraText === "" ? json : `{${extraText}${json === "{}" ? "" : ","}${json.slice(1)}`;
        } else if (kind < 8) {
          body = JSON.stringify(randomValue(0)) ?? "null";
        } else if (kind === 8) {
          // Broken JSON: a valid body cut short or with a byte flipped.
          const valid = JSON.stringify(target.valid());
          const at = int(valid.length);
          body =
            int(2) === 0
              ? valid.slice(0, at)
              : `${valid.slice(0, at)}${pick(["\u0000", "}", '"', "\\", "\u00ff"])}${valid.slice(at + 1)}`;
        } else {
          body = JSON.stringify(target.valid());
          const path = target.path().replace(/\/[^/]+$/, `/${encodeURIComponent(randomString())}`);
          check(
            `${target.method} ${path} ${body}`,
            await send(target.method, path, body, viaCookie),
            null,
          );
          continue;
        }
        const reply = await send(target.method, target.path(), body, viaCookie);
        // A mutation that happened to be valid (a boolean for a boolean) may succeed.
        check(
          `${target.method} ${target.path()} ${body}`,
          reply,
          reply.status === 400 ? broken : null,
        );
      }
    }
    console.log(
      `api fuzz: ${inputs} inputs over ${targets.length} routes (${namedBroken} refusals checked to name the broken field); answers: ${[
        ...counts,
      ]
        .sort((a, b) => b[1] - a[1])
        .map(([k, n]) => `${k} ×${n}`)
        .join(", ")}`,
    );
    expect(inputs).toBeGreaterThanOrEqual(40_000);
    expect(namedBroken).toBeGreaterThan(5_000);
    // The fuzz reached past validation too (it is not only refusing at the door).
    expect([...counts.keys()].some((k) => k.startsWith("20"))).toBe(true);
    expect(counts.get("400 invalid_body") ?? 0).toBeGreaterThan(10_000);
    // A guard against hangs on a loaded machine (40,500 requests), not a speed requirement.
  }, 240_000);
});
