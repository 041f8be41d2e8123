// Seeded fuzz of the share routes' bodies (create, offer, accept, and path ids) and of the share
// link parser. The routes: never a 5xx; every refusal is JSON with a stable code; an
// invalid_body or share_invalid names fields (for a mutation: the field that was broken). The
// parser: never throws; whatever it accepts is built back to the same link; every mutation of a
// valid link is either the same link (white space around it) or a refusal with a code. Prints
// the counts.

import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadOrInitSettings } from "../../server/control/store/settings.ts";
import { buildShareLink, parseShareLink } from "../../worker/control/share-link.ts";
import { seededInts } from "../helpers/seeded.ts";
import { type Browser, type Harness, startHarness } from "./api-harness.ts";

interface Target {
  method: string;
  path: () => string;
  valid: () => Record<string, unknown>;
  /** Public routes are called with the server's Origin and no session. */
  open: boolean;
}

const FIELD_NAMES = [
  "nodeId",
  "sshUsers",
  "ports",
  "audience",
  "emails",
  "expiry",
  "maxUses",
  "note",
  "secret",
  "nodeKey",
  "hostname",
  "__proto__",
  "",
];

let h: Harness;
let owner: Browser;
let nodeId: number;
let shareId: string;
let secret: string;

beforeAll(async () => {
  h = await startHarness({ inMemory: true, loginRateLimit: { burst: 1e9, perSecond: 1e9 } });
  await loadOrInitSettings(h.store);
  owner = await h.signInOwner();
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
      sshHostKeys: ["ssh-ed25519 AAAA"],
      sshUsers: null,
      lastSeen: null,
      authKeyId: null,
    })
  ).id;
  const made = await h.call("POST", "/api/v1/shares", {
    body: { nodeId, ports: [80], maxUses: null, expiry: "30d" },
    cookie: owner.cookie,
    csrf: owner.csrf,
  });
  const link = parseShareLink(made.json.url);
  if (!link.ok) throw new Error(link.message);
  ({ id: shareId, secret } = link.link);
});

afterAll(async () => {
  await h.close();
});

describe("share API body fuzz", () => {
  it("answers every random or mutated body with a 4xx naming the field, or a success; never a 5xx", async () => {
    const int = seededInts(0x5ba2e);
    const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
    const randomString = (): string => {
      const chars = [...'abcXYZ019-_:.@/+= \u00e9\u{1F600}"\\\n\u0000'];
      let s = "";
      for (let i = pick([0, 1, 3, 8, 22, 43, 44, 300]); i > 0; i--) s += pick(chars);
      return s;
    };
    const randomValue = (depth: number): unknown => {
      switch (int(depth > 2 ? 7 : 9)) {
        case 0:
          return null;
        case 1:
          return int(2) === 0;
        case 2:
          return pick([0, -1, 1.5, 1e308, -0, 2 ** 53, 22, 65536, 80]);
        case 3:
          return randomString();
        case 4:
          return pick([
            "1m",
            "30s",
            "31d",
            "anyone",
            "emails",
            "signed-in",
            "x@y.z",
            "ada",
            "root",
          ]);
        case 5:
          return pick(["A".repeat(43), "A".repeat(22), `${"A".repeat(43)}=`]);
        case 6:
          return pick(["", "{}", "[]", "../", "%00"]);
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
        path: () => "/api/v1/shares",
        open: false,
        valid: () => ({
          nodeId,
          sshUsers: ["ada"],
          ports: [80, 443],
          audience: "emails",
          emails: ["a@example.com"],
          expiry: "1h",
          maxUses: 2,
          note: "fuzz",
        }),
      },
      {
        method: "POST",
        path: () => `/api/v1/shares/${shareId}/offer`,
        open: true,
        valid: () => ({ secret }),
      },
      {
        method: "POST",
        path: () => `/api/v1/shares/${shareId}/accept`,
        open: true,
        valid: () => ({
          secret,
          nodeKey: randomBytes(32).toString("base64"),
          hostname: "fuzz",
        }),
      },
    ];

    const counts = new Map<string, number>();
    let inputs = 0;
    let namedBroken = 0;
    const send = async (target: Target, path: string, raw: string) => {
      const headers: Record<string, string> = {
        "content-type": "application/json",
        origin: h.origin,
      };
      if (!target.open) {
        headers.cookie = owner.cookie;
        headers["x-corridor-csrf"] = owner.csrf;
      }
      const res = await h.app.fetch(
        new Request(new URL(path, h.baseUrl), { method: target.method, headers, body: raw }),
      );
      inputs++;
      return { status: res.status, text: await res.text() };
    };
    const check = (
      what: string,
      reply: { status: number; text: string },
      broken: string | null,
    ) => {
      const where = `${what} → ${reply.status} ${reply.text.slice(0, 300)}`;
      expect(reply.status, where).toBeLessThan(500);
      // biome-ignore lint/suspicious/noExplicitAny: a JSON answer of any shape
      const json: any = JSON.parse(reply.text);
      const key = `${reply.status} ${json.error ?? "ok"}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
      if (reply.status < 300) return;
      expect(typeof json.error, where).toBe("string");
      expect(typeof json.message, where).toBe("string");
      if (json.error === "invalid_body" || json.error === "share_invalid") {
        expect(json.issues.length, where).toBeGreaterThan(0);
        if (broken !== null) {
          namedBroken++;
          const paths: string[] = json.issues.map((i: { path: string }) => i.path);
          // audience and emails are checked together: breaking one may name the other.
          const named = ["audience", "emails"].includes(broken) ? ["audience", "emails"] : [broken];
          expect(
            paths.some((p) => p === "body" || named.some((n) => p === n || p.startsWith(`${n}[`))),
            where,
          ).toBe(true);
        }
      }
    };

    const ROUNDS = 1_500;
    for (let round = 0; round < ROUNDS; round++) {
      for (const target of targets) {
        const kind = int(11);
        let body: string;
        let broken: string | null = null;
        if (kind === 10) {
          // A valid body as is: the fuzz must reach past validation too.
          body = JSON.stringify(target.valid());
        } else if (kind < 4) {
          const valid = target.valid();
          const field = pick(Object.keys(valid));
          const how = int(3);
          let extra = "";
          if (how === 0) {
            valid[field] = randomValue(1);
            broken = field;
          } else if (how === 1) {
            delete valid[field];
          } else {
            broken = pick(["zzz", "Secret", "__proto__", "constructor"]);
            extra = `${JSON.stringify(broken)}:${JSON.stringify(randomValue(2))}`;
          }
          const json = JSON.stringify(valid);
          body = extra === "" ? json : `{${extra}${json === "{}" ? "" : ","}${json.slice(1)}`;
        } else if (kind < 8) {
          body = JSON.stringify(randomValue(0)) ?? "null";
        } else if (kind === 8) {
          const valid = JSON.stringify(target.valid());
          const at = int(valid.length);
          body =
            int(2) === 0
              ? valid.slice(0, at)
              : `${valid.slice(0, at)}${pick(["\u0000", "}", '"', "\\"])}${valid.slice(at + 1)}`;
        } else {
          // kind 9: a random share id in the path.
          body = JSON.stringify(target.valid());
          const path = target.open
            ? target.path().replace(shareId, encodeURIComponent(randomString()))
            : target.path();
          check(`${target.method} ${path} ${body}`, await send(target, path, body), null);
          continue;
        }
        const reply = await send(target, target.path(), body);
        check(
          `${target.method} ${target.path()} ${body}`,
          reply,
          reply.status === 400 ? broken : null,
        );
      }
    }
    console.log(
      `share API fuzz: ${inputs} inputs over ${targets.length} routes (${namedBroken} refusals checked to name the broken field); answers: ${[
        ...counts,
      ]
        .sort((a, b) => b[1] - a[1])
        .map(([k, n]) => `${k} ×${n}`)
        .join(", ")}`,
    );
    expect(inputs).toBe(ROUNDS * targets.length);
    expect(namedBroken).toBeGreaterThan(500);
    expect(counts.get("201 ok") ?? 0).toBeGreaterThan(100);
    expect(counts.get("200 ok") ?? 0).toBeGreaterThan(100);
  }, 120_000);
});

describe("share link parser fuzz", () => {
  it("never throws; accepts only what it builds back; mutations are the same link or a coded refusal", () => {
    const int = seededInts(0x11a4);
    const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
    const b64u = [..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"];
    const token = (n: number) => Array.from({ length: n }, () => pick(b64u)).join("");
    const noise = [..."/#?:@%. \t\n+=&é🦊\\\u0000sS"];
    let inputs = 0;
    let accepted = 0;
    const codes = new Map<string, number>();
    for (let i = 0; i < 20_000; i++) {
      const id = token(22);
      const secret = token(43);
      const base = pick(["https://corridor.example.com", "http://127.0.0.1:8080", "https://h/"]);
      const valid = buildShareLink(base, id, secret);
      let text = valid;
      const mutations = int(4);
      for (let m = 0; m < mutations; m++) {
        const at = int(text.length + 1);
        switch (int(4)) {
          case 0:
            text = text.slice(0, at) + pick(noise) + text.slice(at);
            break;
          case 1:
            text = text.slice(0, at) + text.slice(at + 1);
            break;
          case 2:
            text = text.slice(0, at);
            break;
          default:
            text = pick([" ", "\n", ""]) + text + pick([" ", "\t", ""]);
        }
      }
      inputs++;
      const result = parseShareLink(text);
      if (result.ok) {
        accepted++;
        const { origin, id: gotId, secret: gotSecret } = result.link;
        expect(buildShareLink(origin, gotId, gotSecret), text).toBe(
          `${origin}/s/${gotId}#${gotSecret}`,
        );
        if (mutations === 0)
          expect(result.link).toEqual({ origin: new URL(base).origin, id, secret });
      } else {
        expect(result.code, text).toMatch(/^[a-z_]+$/);
        expect(result.message.length, text).toBeGreaterThan(10);
        codes.set(result.code, (codes.get(result.code) ?? 0) + 1);
      }
    }
    // Random text too, not only mutations of links.
    for (let i = 0; i < 5_000; i++) {
      const text = Array.from({ length: int(80) }, () => pick([...noise, ...b64u])).join("");
      inputs++;
      const result = parseShareLink(text);
      if (!result.ok) codes.set(result.code, (codes.get(result.code) ?? 0) + 1);
    }
    console.log(
      `share link fuzz: ${inputs} inputs, ${accepted} accepted; refusals: ${[...codes]
        .map(([k, n]) => `${k} ×${n}`)
        .join(", ")}`,
    );
    expect(inputs).toBe(25_000);
    expect(accepted).toBeGreaterThan(3_000);
    expect(codes.size).toBeGreaterThanOrEqual(6);
  });
});
