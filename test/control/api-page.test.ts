// The sign-in pages in a real browser (Debian's Chromium): the owner link's page posts the
// fragment under the strict CSP, shows who signed in, leaves no token in the address bar, and a
// second visit of the same link says it is used. The approval page approves a waiting agent.

import type { Browser as Chromium } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createOwnerLink } from "../../server/control/auth/links.ts";
import { chromiumPrereq, launchChromium } from "../helpers/chromium.ts";
import { describeWithPrereq } from "../helpers/prereq.ts";
import { type Harness, startHarness } from "./api-harness.ts";

const need = chromiumPrereq();

describeWithPrereq(need, "sign-in pages in Chromium", () => {
  let h: Harness;
  let chromium: Chromium;
  beforeAll(async () => {
    h = await startHarness();
    chromium = await launchChromium();
  });
  afterAll(async () => {
    await chromium?.close();
    await h?.close();
  });

  it("the owner link signs in once and the token leaves the address bar", async () => {
    const url = await createOwnerLink(h.store, h.baseUrl, h.clock.now);
    const context = await chromium.newContext();
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("console", (m) => {
      // Failed loads are checked by URL below (the browser asks for /favicon.ico by itself).
      if (m.type() === "error" && !m.text().startsWith("Failed to load resource"))
        errors.push(m.text());
    });
    page.on("response", (r) => {
      if (r.status() >= 400 && new URL(r.url()).pathname !== "/favicon.ico") {
        errors.push(`${r.status()} ${r.url()}`);
      }
    });
    await page.goto(url);
    await page.waitForFunction(() =>
      document.getElementById("message")?.textContent?.startsWith("Signed in"),
    );
    expect(await page.textContent("#message")).toBe("Signed in as owner.");
    expect(page.url()).toBe(`${h.origin}/login/owner`);
    expect(await page.getAttribute("main a", "href")).toBe("/");
    const cookies = await context.cookies();
    expect(cookies.map((c) => [c.name, c.httpOnly, c.sameSite])).toEqual([
      ["corridor_session", true, "Lax"],
    ]);
    expect(errors).toEqual([]);

    // The same link again, in another browser: refused, with the reason.
    const other = await chromium.newContext();
    const again = await other.newPage();
    await again.goto(url);
    await again.waitForFunction(
      () => document.getElementById("message")?.textContent !== "Signing in…",
    );
    expect(await again.textContent("#message")).toBe(
      "this sign-in link is unknown, was used already, or has expired",
    );
    expect(again.url()).toBe(`${h.origin}/login/owner`);
    await other.close();

    // Signed in, the approval page approves a waiting agent as the owner's.
    h.approvals.pending.set("agent1", {
      id: "agent1",
      nodeKey: Buffer.alloc(32, 3).toString("base64"),
      hostname: "build-07",
      os: "linux",
      requestedTags: [],
      createdAt: h.clock.now,
      expiresAt: h.clock.now + 600_000,
    });
    await page.goto(`${h.origin}/approve/agent1`);
    await page.waitForSelector("button");
    expect(await page.textContent("#message")).toContain(
      "build-07 (linux) asks to join as yours, owner.",
    );
    await page.getByRole("button", { name: "Approve", exact: true }).click();
    await page.waitForFunction(() =>
      document.getElementById("message")?.textContent?.startsWith("Approved"),
    );
    const ownerId = (await h.store.userByIdentity("corridor:local", "owner"))!.id;
    expect(h.approvals.decided).toEqual([{ id: "agent1", approved: true, userId: ownerId }]);
    expect(errors).toEqual([]);
    await context.close();
  });
});
