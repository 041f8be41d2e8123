// What the full-chain private-URL tests share (test/e2e/private-urls*.test.ts): the page built
// into a temp dir, a wireguard-go host in a namespace running an aiohttp app (python3-aiohttp,
// a server we did not write) on its tunnel address, `corridor serve` whose UDP bridge reaches
// only that host, Chromium with the Corridor page open at http://corridor.localhost:PORT/ and
// the host's wg-quick config imported there as a person would. App tabs open at
// http://<label>.corridor.localhost:PORT/ and go through the whole chain: bootstrap, bridge,
// engine (which starts the network on demand), service worker, injected script.

import type { ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { openControlStore, relayUrlOf } from "../../cli/control-flags.ts";
import {
  ControlMount,
  type ControlService,
  startControlService,
} from "../../server/control/http.ts";
import type { Store } from "../../server/control/store/types.ts";
import { createLogger } from "../../server/log.ts";
import { type ServeHandle, startServe } from "../../server/web/serve.ts";
import { encodeServiceLabel } from "../../worker/http/service-label.ts";
import { generatePrivateKey, keyToBase64 } from "../../worker/wireguard/keys.ts";
import { edgeAppPrereq } from "../helpers/apps.ts";
import { launchChromium } from "../helpers/chromium.ts";
import { check, type Prereq, prereq } from "../helpers/prereq.ts";
import type { WgHost } from "../interop/wg-host.ts";
import { openAndTokens } from "./owner-serve.ts";
import { ARTIFACTS } from "./serve-pages.ts";
import {
  buildPage,
  closeSshdLab,
  createLabHost,
  importLabNetwork,
  isControlProbe,
  labPrereq,
  labRelay,
} from "./wg-lab.ts";

/** The app's port on the host's tunnel address; APP_PORT + 1 runs a second copy (another service). */
export const APP_PORT = 8080;
/** A port nothing listens on, for the refused error page. */
export const REFUSED_PORT = 8099;
/** The Basic credentials the app's /basic path wants. */
export const BASIC = { user: "ada", password: "lovelace", realm: "lab realm" };

const PYTHON = "/usr/bin/python3";
const hasAiohttp = edgeAppPrereq().ok;

/** Chromium, a wireguard-go host and python3-aiohttp. */
export function privateUrlsPrereq(): Prereq {
  return labPrereq(prereq(check("python3 with aiohttp (python3-aiohttp)", hasAiohttp)));
}

// The app: each path is one thing a browser does through the chain. Absolute URLs it makes use
// its own origin (the tunnel address and port), as apps behind a fixed base URL do.
const APP = String.raw`
import asyncio, base64, json, sys
from aiohttp import web, WSMsgType

HOST, PORT, NAME = sys.argv[1], int(sys.argv[2]), sys.argv[3]
USER, PASSWORD, REALM = "${BASIC.user}", "${BASIC.password}", "${BASIC.realm}"
NONCE = "labnonce123"

def page(title, body, headers=None):
    html = "<!doctype html><html><head><meta charset=utf-8><title>" + title + "</title></head><body>" + body + "</body></html>"
    return web.Response(text=html, content_type="text/html", headers=headers or {})

async def index(request):
    return page(NAME, "<h1>" + NAME + " on " + HOST + ":" + str(PORT) + "</h1><p id=path>" + request.path_qs + "</p><a href=/login>login</a>")

async def favicon(request):
    return web.Response(status=204)

async def deep(request):
    return page("deep " + NAME, "<p id=path>" + request.path_qs + "</p>")

async def login_form(request):
    return page("login", '<form method=post action=/login><input name=user><input name=password type=password><button id=signin>Sign in</button></form>')

async def login(request):
    form = await request.post()
    if form.get("user") != USER:
        return web.Response(status=403, text="wrong user")
    r = web.HTTPSeeOther("/welcome")
    r.set_cookie("session", "s-" + USER, httponly=True, path="/")
    r.set_cookie("theme", "dark", path="/")
    raise r

async def welcome(request):
    return page("welcome", "<p id=who>" + request.cookies.get("session", "nobody") + "</p>")

async def echo(request):
    body = await request.read()
    return web.json_response({"method": request.method, "path": request.path_qs, "host": request.headers.get("Host", ""),
        "origin": request.headers.get("Origin", ""), "cookie": request.headers.get("Cookie", ""), "body": body.decode("utf-8", "replace")})

async def redirect_relative(request):
    raise web.HTTPFound("/echo?from=relative")

async def redirect_absolute(request):
    raise web.HTTPFound("http://" + HOST + ":" + str(PORT) + "/echo?from=absolute")

async def csp(request):
    body = ("<p id=out>scripts did not run</p>"
        "<script nonce=" + NONCE + ">document.getElementById('out').textContent = 'nonce script ran';"
        "window.nativeWebSocket = /\\[native code\\]/.test(Function.prototype.toString.call(WebSocket));</script>"
        "<script>window.unnoncedRan = true;</script>")
    return page("csp", body, {"Content-Security-Policy": "default-src 'self'; script-src 'nonce-" + NONCE + "'; frame-src *; connect-src *"})

async def ws(request):
    sock = web.WebSocketResponse()
    await sock.prepare(request)
    await sock.send_str("hello from " + NAME + " origin=" + request.headers.get("Origin", ""))
    async for msg in sock:
        if msg.type == WSMsgType.TEXT:
            await sock.send_str("echo:" + msg.data)
        elif msg.type == WSMsgType.BINARY:
            await sock.send_bytes(msg.data[::-1])
    return sock

async def sse(request):
    count = int(request.query.get("n", "5"))
    every = float(request.query.get("every", "0.2"))
    r = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await r.prepare(request)
    for i in range(count):
        await r.write(("id: " + str(i) + "\ndata: event " + str(i) + "\n\n").encode())
        await asyncio.sleep(every)
    await r.write(b"event: done\ndata: end\n\n")
    return r

async def slow(request):
    await asyncio.sleep(0.5)
    return web.json_response({"i": request.query.get("i")})

async def basic(request):
    want = "Basic " + base64.b64encode((USER + ":" + PASSWORD).encode()).decode()
    if request.headers.get("Authorization") != want:
        return web.Response(status=401, text="who are you", headers={"WWW-Authenticate": 'Basic realm="' + REALM + '"'})
    return page("basic ok", "<p id=user>" + USER + "</p>")

app = web.Application()
app.add_routes([web.get("/", index), web.get("/deep/{tail:.*}", deep), web.get("/login", login_form),
    web.post("/login", login), web.get("/welcome", welcome), web.route("*", "/echo", echo),
    web.get("/redirect/relative", redirect_relative), web.get("/redirect/absolute", redirect_absolute),
    web.get("/csp", csp), web.get("/ws", ws), web.get("/sse", sse), web.get("/slow", slow),
    web.get("/basic", basic), web.get("/favicon.ico", favicon)])
web.run_app(app, host=HOST, port=PORT, print=lambda *a: print("ready", flush=True))
`;

/** The lab of one test file. */
export interface PrivateUrlsLab {
  host: WgHost;
  serve: ServeHandle;
  browser: Browser;
  context: BrowserContext;
  /** The Corridor page (kept open: its engine is the one the bridge joins). */
  corridor: Page;
  /** http://corridor.localhost:PORT */
  corridorOrigin: string;
  /** The app origin of `port` on the host's tunnel address (APP_PORT unless given). */
  appOrigin(port?: number): string;
  /** Uncaught errors and console errors (with the URL they name) of every page of the context. */
  problems: string[];
  close(): Promise<void>;
}

function startApp(host: WgHost, dir: string, port: number, name: string): Promise<ChildProcess> {
  const child = host.spawn([PYTHON, join(dir, "app.py"), host.tunnelAddress, String(port), name]);
  let log = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`aiohttp did not start: ${log}`)), 20_000);
    child.stdout?.on("data", (chunk: Buffer) => {
      log += chunk.toString();
      if (log.includes("ready")) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.stderr?.on("data", (chunk: Buffer) => (log += chunk.toString()));
    child.once("exit", (code) => reject(new Error(`aiohttp exited ${code}: ${log}`)));
  });
}

/**
 * Builds the page, starts the host (namespaces named with `prefix`, so test files running at
 * once do not remove each other's), the app on APP_PORT ("Lab app") and APP_PORT + 1 ("Other
 * app"), serve and Chromium, and imports the network in the Corridor page. With `control`,
 * serve runs the control server as `corridor serve` does (nobody signs in: the mesh is refused
 * at once); without it there is no control server to reach (the page's relay-only setup).
 */
export async function startPrivateUrlsLab(
  prefix: string,
  options: { control?: boolean } = {},
): Promise<PrivateUrlsLab> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const dir = mkdtempSync(join(tmpdir(), `corridor-${prefix}-`));
  const webRoot = await buildPage(dir);
  writeFileSync(join(dir, "app.py"), APP);
  const privateKey = generatePrivateKey();
  const parts: {
    host?: WgHost;
    serve?: ServeHandle;
    browser?: Browser;
    store?: Store;
    control?: ControlService;
  } = {};
  const closeParts = async () => {
    await parts.browser?.close();
    await parts.control?.close();
    await closeSshdLab({ serve: parts.serve, host: parts.host }, dir);
    await parts.store?.close();
  };
  try {
    parts.host = await createLabHost(privateKey, prefix);
    const host = parts.host;
    await startApp(host, dir, APP_PORT, "Lab app");
    await startApp(host, dir, APP_PORT + 1, "Other app");
    const relay = labRelay(host, prefix);
    if (options.control) {
      const opened = await openControlStore(join(dir, "control.db"));
      parts.store = opened.store;
      const mount = new ControlMount();
      parts.serve = await startServe({
        port: 0,
        webRoot,
        mount,
        relay: relay && { ...relay, auth: openAndTokens(opened.tokenPublicKey) },
      });
      parts.control = await startControlService(mount, {
        store: opened.store,
        relays: [
          {
            id: prefix,
            region: "local",
            url: relayUrlOf(parts.serve.url),
            key: keyToBase64(parts.serve.relay.relayPublicKey),
          },
        ],
        baseUrl: parts.serve.url,
        browserOrigins: [`http://corridor.localhost:${parts.serve.port}`],
        log: createLogger({ level: "error", sink: () => {} }),
      });
    } else {
      parts.serve = await startServe({ port: 0, webRoot, relay });
    }
    const serve = parts.serve;
    parts.browser = await launchChromium(180_000);
    const context = await parts.browser.newContext({ viewport: { width: 1280, height: 800 } });
    const problems: string[] = [];
    context.on("page", (p) => {
      p.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
      p.on("console", (message) => {
        const where = message.location().url;
        if (message.type() === "error" && !isControlProbe(message)) {
          problems.push(`console: ${message.text()}${where === "" ? "" : ` (${where})`}`);
        }
      });
    });
    const corridor = await context.newPage();
    const corridorOrigin = `http://corridor.localhost:${serve.port}`;
    await importLabNetwork(corridor, `${corridorOrigin}/`, "lab", privateKey, host);
    await corridor
      .getByTestId("network-item")
      .filter({ hasText: "lab" })
      .first()
      .waitFor({ timeout: 30_000 });
    const browser = parts.browser;
    return {
      host,
      serve,
      browser,
      context,
      corridor,
      corridorOrigin,
      problems,
      appOrigin: (port = APP_PORT) =>
        `http://${encodeServiceLabel({ host: host.tunnelAddress, port, scheme: "http" })}.corridor.localhost:${serve.port}`,
      close: closeParts,
    };
  } catch (error) {
    await closeParts();
    throw error;
  }
}

/** Screenshots of `page` at 1280x800 and 390x844: build/e2e-artifacts/private-urls-NAME-W.png. */
export async function shoot(page: Page, name: string): Promise<void> {
  for (const size of [
    { width: 1280, height: 800 },
    { width: 390, height: 844 },
  ]) {
    await page.setViewportSize(size);
    await page.screenshot({
      path: join(ARTIFACTS, `private-urls-${name}-${size.width}.png`),
      fullPage: true,
    });
  }
  await page.setViewportSize({ width: 1280, height: 800 });
}

/** Main-frame documents of `page` on `origin`: whether the service worker gave each. */
export function recordDocuments(page: Page, origin: string): { url: string; fromSw: boolean }[] {
  const documents: { url: string; fromSw: boolean }[] = [];
  page.on("response", (response) => {
    if (response.request().isNavigationRequest() && response.url().startsWith(origin)) {
      documents.push({ url: response.url(), fromSw: response.fromServiceWorker() });
    }
  });
  return documents;
}

/**
 * Opens `url` in a new page of the lab's context and waits until the service worker controls
 * it and the document came from it (the bootstrap linked and reloaded); returns the page and
 * its documents.
 */
export async function openApp(
  lab: PrivateUrlsLab,
  url: string,
): Promise<{ page: Page; documents: { url: string; fromSw: boolean }[] }> {
  const page = await lab.context.newPage();
  const documents = recordDocuments(page, new URL(url).origin);
  await page.goto(url);
  await page.waitForFunction(() => navigator.serviceWorker?.controller != null, undefined, {
    timeout: 90_000,
  });
  await waitFor(() => documents.some((d) => d.fromSw), `${url} from the service worker`, 90_000);
  await waitForWorkerDocument(page);
  return { page, documents };
}

/**
 * Waits until the page's current document came through the service worker and has loaded (its
 * navigation timing's workerStart is set). The response event alone fires before the new
 * document replaces the bootstrap, so waiting for "load" right after it can see the old one.
 */
export async function waitForWorkerDocument(page: Page): Promise<void> {
  await page.waitForFunction(
    () => {
      const entry = performance.getEntriesByType("navigation")[0] as
        | PerformanceNavigationTiming
        | undefined;
      return document.readyState === "complete" && (entry?.workerStart ?? 0) > 0;
    },
    undefined,
    { timeout: 90_000 },
  );
}

/** Polls `ok` every 100 ms until it holds; throws naming `what` after `ms`. */
export async function waitFor(ok: () => boolean, what: string, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
