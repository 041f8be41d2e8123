// The mesh lab itself (test/e2e/mesh-lab.ts), in Debian's Chromium: the agents joined with their
// tags; a sign-in through the real OpenID Provider, started at /login/oidc as the page's SSO
// button does, lands back on the page with a session cookie (HttpOnly: the page cannot read it)
// and whoami answers for the person; the user is keyed by the provider's (issuer, subject).
// What the page does with the session is mesh-page.test.ts's.

import type { Browser } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { launchChromium } from "../helpers/chromium.ts";
import { jsonList } from "../helpers/json.ts";
import { describeWithPrereq } from "../helpers/prereq.ts";
import { type MeshLab, meshLabPrereq, startMeshLab } from "./mesh-lab.ts";

describeWithPrereq(meshLabPrereq(), "the mesh lab: OIDC sign-in in Chromium, agents", () => {
  let lab: MeshLab;
  let browser: Browser;

  beforeAll(async () => {
    lab = await startMeshLab();
    browser = await launchChromium();
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await lab?.close();
  }, 60_000);

  it("the agents joined with their tags, as tagged nodes of nobody", async () => {
    expect(lab.agentNames).toEqual(["web-01", "db-01"]);
    const nodes = await lab.nodes();
    const byName = new Map(nodes.map((n) => [n.name, n]));
    expect(byName.get("web-01")).toMatchObject({ tags: ["tag:server"], ephemeral: false });
    expect(byName.get("db-01")).toMatchObject({ tags: ["tag:db"], ephemeral: false });
  });

  it("a sign-in through the provider lands on the page with a session: whoami names alice", async () => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await lab.signIn(page, "alice", { direct: "/" });
      expect(new URL(page.url()).origin).toBe(lab.origin);
      expect(new URL(page.url()).pathname).toBe("/");
      const cookies = await context.cookies(lab.url);
      const session = cookies.find((c) => c.name === "corridor_session");
      expect(session).toMatchObject({ httpOnly: true, sameSite: "Lax" });
      const who = await page.evaluate(async () => {
        const res = await fetch("/api/v1/whoami");
        return { status: res.status, body: await res.json() };
      });
      expect(who.status).toBe(200);
      expect(who.body).toMatchObject({
        via: "session",
        user: { email: "alice@example.com", name: "Alice Liddell", role: "member" },
      });
      expect(who.body.csrf).toMatch(/^\S{20,}$/);
      const users = await lab.admin("/api/v1/users");
      expect(jsonList(users.json, "users")).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ email: "alice@example.com", issuer: lab.issuer }),
        ]),
      );
    } finally {
      await context.close();
    }
  }, 60_000);
});
