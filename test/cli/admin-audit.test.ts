// `corridor admin audit` (the real binary) against an API on loopback: the log as a table,
// newest first, a page at a time with the hint to the next; --json is the API's answer; bad
// --limit / --before are usage errors (exit 2); a member's key is refused (exit 1).

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Browser, type Harness, startHarness } from "../control/api-harness.ts";
import { corridor } from "./control-helpers.ts";

let h: Harness;
let owner: Browser;
let key = "";

beforeAll(async () => {
  h = await startHarness({ inMemory: true });
  owner = await h.signInOwner();
  const made = await h.call("POST", "/api/v1/apikeys", {
    cookie: owner.cookie,
    csrf: owner.csrf,
    body: {},
  });
  key = made.json.key;
  for (let i = 0; i < 3; i++) {
    await h.call("POST", "/api/v1/authkeys", { bearer: key, body: {} });
  }
});
afterAll(async () => {
  await h.close();
});

const run = (...args: string[]) =>
  corridor(["admin", "audit", "--server", h.baseUrl, ...args], { CORRIDOR_API_KEY: key });

describe("corridor admin audit", () => {
  it("prints the newest entries as a table, and where the next page starts", async () => {
    const all = await h.store.listAudit(100);
    expect(all.map((e) => e.action)).toEqual([
      "authkey.create",
      "authkey.create",
      "authkey.create",
      "apikey.create",
      "login",
    ]);
    const page = await run("--limit", "2");
    expect(page.status).toBe(0);
    const lines = page.stdout.split("\n");
    expect(lines[0]).toMatch(/^ID +TIME +ACTOR +VIA +SOURCE +ACTION +TARGET +DETAIL$/);
    expect(lines[1]).toMatch(
      new RegExp(
        `^${all[0]!.id} +2026-01-01 00:00:00Z +owner +apikey +127\\.0\\.0\\.1 +authkey\\.create +auth key `,
      ),
    );
    expect(lines[3]).toBe(`older entries: corridor admin audit --before ${all[1]!.id}`);
    const rest = await run("--before", String(all[1]!.id));
    expect(rest.stdout).toMatch(/ login +- +owner link\n$/);
    expect(rest.stdout).not.toMatch(/older entries/);
    const json = await run("--json", "--limit", "1");
    expect(JSON.parse(json.stdout)).toEqual({ entries: [all[0]], next: all[0]!.id });
  });

  it("refuses a bad --limit or --before with the usage exit, a member with exit 1", async () => {
    const bad = await run("--limit", "501");
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--limit '501': expected a number from 1 to 500/);
    const before = await run("--before", "x");
    expect(before.status).toBe(2);
    expect(before.stderr).toMatch(/'x' is not an id/);
    const url = (
      await h.call("POST", "/api/v1/invites", {
        cookie: owner.cookie,
        csrf: owner.csrf,
        body: { role: "member" },
      })
    ).json.url;
    const member = await h.acceptInvite(url, "Mia");
    const memberKey = (
      await h.call("POST", "/api/v1/apikeys", {
        cookie: member.cookie,
        csrf: member.csrf,
        body: {},
      })
    ).json.key;
    const refused = await corridor(["admin", "audit", "--server", h.baseUrl], {
      CORRIDOR_API_KEY: memberKey,
    });
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/forbidden.*admin role|admin role/);
  });
});
