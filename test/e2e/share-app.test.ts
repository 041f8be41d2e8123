// A shared web app opened through its link, in Debian's Chromium (issue 17): the mesh lab with
// the page at corridor.localhost (as `corridor serve` on loopback), a real agent web-01 whose
// mesh port forwards to a web app on this machine; the owner shares that one port through the
// API; a guest in another browser context opens the link, accepts, and the app opens in its own
// tab at its private URL (http://web-01--PORT.corridor.localhost:PORT/), carried by the guest's
// share node (no mesh of its own): the page, a fetch, a deep link. Another port of web-01,
// which the share does not offer, is dropped by web-01's filter; web-01 cannot connect to the
// guest's node (the guest's engine drops it); another host of the mesh is unknown to the guest.

import { createServer, type Server } from "node:http";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { corridor } from "../cli/agent-fake.ts";
import { launchChromium } from "../helpers/chromium.ts";
import { jsonString } from "../helpers/json.ts";
import { listenOnLoopback } from "../helpers/ports.ts";
import { describeWithPrereq } from "../helpers/prereq.ts";
import { type MeshLab, meshLabPrereq, startMeshLab } from "./mesh-lab.ts";
import { shoot } from "./private-urls-lab.ts";

/** A small web app: a page, a JSON answer, and its path echoed for deep links. */
function webApp(name: string): Server {
  return createServer((req, res) => {
    const path = req.url ?? "/";
    if (path.startsWith("/api")) {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ app: name, path, host: req.headers.host }));
      return;
    }
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(
      `<!doctype html><title>${name}</title><h1>${name}</h1><p id="path">${path.replace(/[<>&"]/g, "")}</p>`,
    );
  });
}

describeWithPrereq(meshLabPrereq(), "a shared web app through its link (issue 17)", () => {
  let lab: MeshLab;
  let browser: Browser;
  let context: BrowserContext;
  let shared: Server;
  let other: Server;
  let port = 0;
  let otherPort = 0;
  let link = "";

  beforeAll(async () => {
    shared = webApp("Shared dashboard");
    other = webApp("Not shared");
    port = await listenOnLoopback(shared);
    otherPort = await listenOnLoopback(other);
    lab = await startMeshLab({
      agents: [
        { name: "web-01", tags: ["tag:server"] },
        { name: "db-01", tags: ["tag:server"] },
      ],
      corridorLocalhost: true,
    });
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  }, 240_000);

  afterAll(async () => {
    await context?.close().catch(() => undefined);
    await browser?.close();
    await lab?.close();
    shared?.close();
    other?.close();
  }, 60_000);

  it("the owner's API share of one web port gets a link at corridor.localhost", async () => {
    const web01 = (await lab.nodes()).find((n) => n.name === "web-01")!;
    const reply = await lab.admin("/api/v1/shares", {
      method: "POST",
      body: { nodeId: web01.id, ports: [port], expiry: "10m", maxUses: 1, note: "the dashboard" },
    });
    expect(reply.status, JSON.stringify(reply.json)).toBe(201);
    link = jsonString(reply.json, "url");
    expect(new URL(link).origin).toBe(`http://corridor.localhost:${lab.serve.port}`);
  });

  it("a guest accepts and the app opens in its own tab at its private URL", async () => {
    const page = await context.newPage();
    await page.goto(link);
    await page.getByTestId("share-offer").waitFor({ timeout: 30_000 });
    expect(await page.getByTestId("share-ports").textContent()).toContain(`port ${port}`);
    const opened = context.waitForEvent("page", { timeout: 60_000 });
    await page.getByTestId("share-accept").click();
    await page.getByTestId("share-accepted").waitFor({ timeout: 60_000 });
    const appOrigin = `http://web-01--${port}.corridor.localhost:${lab.serve.port}`;
    expect(await page.getByTestId("share-open").getAttribute("title")).toBe(`${appOrigin}/`);
    await shoot(page, "share-accepted-app");

    const app: Page = await opened;
    await expect.poll(() => app.title(), { timeout: 90_000 }).toBe("Shared dashboard");
    expect(new URL(app.url()).origin).toBe(appOrigin);
    const api = await app.evaluate(async () => (await fetch("/api/status")).json());
    expect(api).toMatchObject({ app: "Shared dashboard", path: "/api/status" });
    // A deep link inside the share, in a new tab: carried the same way.
    const deep = await context.newPage();
    await deep.goto(`${appOrigin}/reports/2026?week=49`);
    await expect.poll(() => deep.title(), { timeout: 90_000 }).toBe("Shared dashboard");
    expect(await deep.locator("#path").textContent()).toBe("/reports/2026?week=49");
    await shoot(deep, "share-app-deep");
  }, 240_000);

  it("another port of web-01, not shared, is not reachable through the share", async () => {
    const page = await context.newPage();
    await page.goto(`http://web-01--${otherPort}.corridor.localhost:${lab.serve.port}/`);
    // The engine's dial through the share node: web-01's filter drops it (timeout or offline
    // page), never the other app's content.
    await expect
      .poll(
        async () =>
          (await page
            .locator("main")
            .textContent()
            .catch(() => "")) ?? "",
        {
          timeout: 200_000,
        },
      )
      .toMatch(/did not answer|does not answer|took too long|refused/);
    expect(await page.title()).not.toBe("Not shared");
    await shoot(page, "share-app-other-port");
  }, 240_000);

  it("quarantine from both ends: web-01 cannot connect to the guest; the guest's other host is unknown", async () => {
    const guest = (await lab.nodes()).find((n) => n.name.startsWith("share-"));
    expect(guest, "the guest's share node").toBeDefined();
    // From web-01's agent to the guest's node: the guest's own engine drops it (its filter is
    // empty), so the connection times out; a port merely closed would be refused at once.
    const back = await corridor([
      "nc",
      "-w",
      "4",
      "--socket",
      lab.agentSocket("web-01"),
      guest!.addresses[0]!,
      "22",
    ]);
    expect(back.code).not.toBe(0);
    expect(back.stderr.toString()).toMatch(/timed out|did not answer|no answer/i);

    const page = await context.newPage();
    await page.goto(`http://db-01--${port}.corridor.localhost:${lab.serve.port}/`);
    await expect
      .poll(
        async () =>
          (await page
            .locator("main")
            .textContent()
            .catch(() => "")) ?? "",
        {
          timeout: 90_000,
        },
      )
      .toMatch(/Corridor does not know a host of this name/);
    await shoot(page, "share-app-other-host");
  }, 180_000);
});
