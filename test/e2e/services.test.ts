// A host's web services in the page (issue 16 items 1 and 5), in Chromium against `corridor
// serve` as cli/serve.ts wires it on loopback: the page at http://corridor.localhost:PORT (the
// control server accepts that origin besides 127.0.0.1's), a mesh host (an agent in this
// process, owned by the owner). The owner link opened at corridor.localhost signs in there (a
// `__Host-` cookie); the host's page takes a web service port, its Open action's link is the
// service's app origin and opens a tab there; at 127.0.0.1 Open explains why private URLs need
// the page at corridor.localhost and links there. Screenshots at 1280x800 and 390x844 go to
// build/e2e-artifacts/services-*.png.

import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, BrowserContext, Locator, Page } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { openControlStore, relayUrlOf } from "../../cli/control-flags.ts";
import { Agent } from "../../server/agent/agent.ts";
import { createApiKeyLocal } from "../../server/control/auth/apikeys.ts";
import { createOwnerLink, LOCAL_ISSUER, OWNER_SUBJECT } from "../../server/control/auth/links.ts";
import {
  ControlMount,
  type ControlService,
  startControlService,
} from "../../server/control/http.ts";
import type { Store } from "../../server/control/store/types.ts";
import { createLogger } from "../../server/log.ts";
import { type ServeHandle, startServe } from "../../server/web/serve.ts";
import { CONTROL_PATH } from "../../worker/control/messages.ts";
import { keyToBase64 } from "../../worker/wireguard/keys.ts";
import { chromiumPrereq, launchChromium } from "../helpers/chromium.ts";
import { jsonString } from "../helpers/json.ts";
import { describeWithPrereq } from "../helpers/prereq.ts";
import { openAndTokens } from "./owner-serve.ts";
import { buildPage } from "./wg-lab.ts";

const ARTIFACTS = join(process.cwd(), "build", "e2e-artifacts");
const WIDE = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const HOST = "web-01";

describeWithPrereq(chromiumPrereq(), "a host's web services and Open", () => {
  let tmp: string;
  let store: Store;
  let serve: ServeHandle;
  let control: ControlService;
  let agent: Agent | undefined;
  let browser: Browser;
  let page: string; // http://corridor.localhost:PORT/
  const problems: string[] = [];

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    tmp = mkdtempSync(join(tmpdir(), "corridor-services-"));
    const webRoot = await buildPage(tmp);
    const opened = await openControlStore(join(tmp, "control.db"));
    store = opened.store;
    const mount = new ControlMount();
    serve = await startServe({
      port: 0,
      webRoot,
      mount,
      relay: { auth: openAndTokens(opened.tokenPublicKey), relayId: "svc", log: () => {} },
    });
    page = `http://corridor.localhost:${serve.port}/`;
    control = await startControlService(mount, {
      store,
      relays: [
        {
          id: "svc",
          region: "local",
          url: relayUrlOf(serve.url),
          key: keyToBase64(serve.relay.relayPublicKey),
        },
      ],
      baseUrl: serve.url,
      browserOrigins: [new URL(page).origin],
      log: createLogger({ level: "error", sink: () => {} }),
    });
    browser = await launchChromium();
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await agent?.stop();
    await control?.close();
    await serve?.close();
    await store?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }, 60_000);

  async function newContext(): Promise<BrowserContext> {
    const context = await browser.newContext({ viewport: WIDE });
    context.on("page", (p) => {
      p.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
    });
    return context;
  }

  /** Screenshots at both sizes, `show` scrolled into view when given (the main area scrolls). */
  async function bothSizes(p: Page, name: string, show?: Locator): Promise<void> {
    for (const size of [WIDE, PHONE]) {
      await p.setViewportSize(size);
      await show?.scrollIntoViewIfNeeded();
      await p.screenshot({
        path: join(ARTIFACTS, `services-${name}-${size.width}.png`),
        fullPage: true,
      });
    }
    await p.setViewportSize(WIDE);
  }

  /** An agent named HOST owned by the owner (who signed in already), joined to the mesh. */
  async function startAgent(): Promise<void> {
    const owner = await store.userByIdentity(LOCAL_ISSUER, OWNER_SUBJECT);
    if (owner === null) throw new Error("the owner has not signed in");
    const apiKey = (await createApiKeyLocal(store, owner.id)).key;
    const reply = await fetch(new URL("/api/v1/authkeys", serve.url), {
      method: "POST",
      headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
      body: JSON.stringify({ ephemeral: true }),
    });
    expect(reply.status).toBe(201);
    const stateDir = join(tmp, `agent-${HOST}`);
    mkdirSync(stateDir);
    agent = await Agent.start({
      serverUrl: serve.url,
      controlUrl: `ws://127.0.0.1:${serve.port}${CONTROL_PATH}`,
      authKey: jsonString(await reply.json(), "key"),
      hostname: HOST,
      ephemeral: true,
      stateDir,
      sshPort: 22,
      expose: null,
      direct: { disabled: true },
      log: createLogger({ level: "silent" }),
    });
    await agent.joined;
  }

  it("signs in at corridor.localhost, adds a web service, and Open goes to its app origin", async () => {
    const context = await newContext();
    const tab = await context.newPage();
    await tab.goto(`${page}#/mesh/host/${HOST}`);
    await tab.getByTestId("sign-in-view").waitFor();
    // The owner link as `corridor serve` prints it for the browser: at corridor.localhost.
    const link = new URL(await createOwnerLink(store, serve.url));
    await tab.goto(new URL(`${link.pathname}${link.hash}`, page).href);
    await tab.waitForURL((u) => u.host === new URL(page).host && u.hash === `#/mesh/host/${HOST}`);
    await tab.getByTestId("mesh-host-page").waitFor();
    expect(await tab.getByTestId("account-user").textContent()).toBe("owner");
    const cookies = await context.cookies(page);
    expect(cookies.map((c) => c.name)).toEqual(["__Host-corridor_session"]);
    expect(cookies[0]).toMatchObject({
      secure: true,
      httpOnly: true,
      domain: "corridor.localhost",
    });

    await startAgent();
    await tab.getByTestId("mesh-host-status").filter({ hasText: "online" }).waitFor();
    const services = tab.getByTestId("host-services");
    await services.getByTestId("services-empty").waitFor();
    await bothSizes(tab, "empty");

    // A bad port is refused with the reason; a good one is listed with its app origin.
    await services.getByTestId("service-port").fill("70000");
    await services.getByTestId("service-add").click();
    expect(await services.getByTestId("service-error").textContent()).toContain("1 to 65535");
    await services.getByTestId("service-port").fill("3000");
    await services.getByTestId("service-name").fill("Grafana");
    await services.getByTestId("service-add").click();
    await services.getByTestId("service-port").fill("8888");
    await services.getByTestId("service-add").click();
    expect(await services.getByTestId("service-error").isVisible()).toBe(false);
    const rows = services.getByTestId("service");
    expect(await rows.count()).toBe(2);
    const appUrl = `http://${HOST}--3000.corridor.localhost:${serve.port}/`;
    const first = rows.filter({ hasText: "Grafana" });
    expect(await first.getByTestId("service-link").getAttribute("href")).toBe(appUrl);
    expect(await first.getByTestId("service-link").getAttribute("rel")).toBe("noopener noreferrer");
    await bothSizes(tab, "listed", services.getByTestId("service-form"));

    // Open: a new tab at the app origin (what it shows there is the bootstrap's and engine's).
    const opened = context.waitForEvent("page");
    await first.getByTestId("service-open").click();
    const app = await opened;
    await app.waitForLoadState("domcontentloaded");
    expect(app.url()).toBe(appUrl);
    // The app origin never gets the page's session cookie.
    expect(await context.cookies(appUrl)).toEqual([]);
    await app.close();

    // Kept across a reload (this origin's storage); Remove takes one away.
    await tab.reload();
    await tab.getByTestId("host-services").getByTestId("service").nth(1).waitFor();
    await tab
      .getByTestId("service")
      .filter({ hasText: "port 8888" })
      .getByTestId("service-remove")
      .click();
    expect(await tab.getByTestId("service").count()).toBe(1);
    expect(problems).toEqual([]);
    await context.close();
  }, 180_000);

  it("at 127.0.0.1, Open explains that private URLs need corridor.localhost and links there", async () => {
    const context = await newContext();
    const tab = await context.newPage();
    await tab.goto(`${serve.url}#/mesh/host/${HOST}`);
    await tab.getByTestId("sign-in-view").waitFor();
    await tab.goto(await createOwnerLink(store, serve.url));
    await tab.waitForURL((u) => u.hash === `#/mesh/host/${HOST}` && u.hostname === "127.0.0.1");
    // The mesh is up (the page is drawn again once it is): then the form stays.
    await tab.getByTestId("mesh-host-status").filter({ hasText: "online" }).waitFor();
    const services = tab.getByTestId("host-services");
    // Services are kept per origin: none here yet.
    await services.getByTestId("services-empty").waitFor();
    await services.getByTestId("service-port").fill("3000");
    await services.getByTestId("service-add").click();
    expect(await services.getByTestId("service-link").count()).toBe(0);
    await services.getByTestId("service-open").click();
    const move = services.getByTestId("services-move");
    await move.waitFor();
    const text = (await move.textContent()) ?? "";
    expect(text).toContain("corridor.localhost");
    expect(text).toContain("import your WireGuard networks there too");
    expect(await move.getByTestId("services-move-link").getAttribute("href")).toBe(
      `${page}#/mesh/host/${HOST}`,
    );
    expect(context.pages()).toHaveLength(1);
    await bothSizes(tab, "move", move);
    expect(problems).toEqual([]);
    await context.close();
  }, 120_000);
});
