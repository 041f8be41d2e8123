// The app origin's service worker (docs/private-urls.md, "Service worker and injected script";
// DESIGN §9.4), served at /__corridor/sw.js with scope / on every `<label>.<apps domain>` origin.
// It carries every request of its own origin (except /__corridor/*, which the Corridor server
// answers) to the engine over the port a page gave it (AppFetch; the body as a transferred
// stream; the request's abort as AppAbort) and turns the engine's AppResponse into the Response
// the page sees. HTML navigations get the page script (web/app-inject/inject.ts) with the CSP
// adapted to let exactly it run; failed navigations get a page that says what happened; a Basic
// challenge gets the credentials page. It forwards the page script's messages (WebSockets,
// document.cookie writes) to the engine and tells its pages when document.cookie changed.
// Built by vite.config.ts as one self-contained script.

import type { AppWebSocket } from "../../worker/http/app-port.ts";
import { coalescingStream } from "../../worker/http/coalesce.ts";
import { decodeServiceLabel } from "../../worker/http/service-label.ts";
import { BRIDGE_PATH, CONFIG_PATH } from "../app-bridge/messages.ts";
import { basicChallenge, credentialsPage } from "./credentials-page.ts";
import { type AlsoAllow, randomNonce } from "./csp.ts";
import { codingExplanation, errorPage, type ServiceName } from "./error-page.ts";
import { keepaliveClients, onKeepalive, tracked } from "./keepalive.ts";
import { type LinkResult, PortLink } from "./port-link.ts";
import { INJECT_PATH, toResponse, undecodedCoding, usableStatus } from "./response.ts";
import type { SwClient, SwFetchEvent, SwMessageEvent, SwScope } from "./scope.ts";

const scope = self as unknown as SwScope;

/** A navigation waits this long for a page to give a port, then gets the bootstrap page. */
const NAVIGATION_PORT_WAIT_MS = 3_000;
/** Other requests wait this long for a port, then fail. */
const REQUEST_PORT_WAIT_MS = 15_000;
/** A fetch event keeps the worker alive at most this long for its body (Chromium stops a worker
 * whose event runs past 5 minutes); the page script's keep-alive pings cover longer streams. */
const FETCH_HOLD_MS = 4 * 60_000;
/** Statuses whose responses have no body to decode. */
const NO_BODY = new Set([204, 205, 304]);
/** Paths the Corridor server answers itself (bootstrap, this worker, the page script). */
const OWN_PREFIX = "/__corridor/";

const service: ServiceName | null = (() => {
  try {
    const decoded = decodeServiceLabel(location.hostname.split(".")[0] ?? "");
    return { host: decoded.host, port: decoded.port };
  } catch {
    return null;
  }
})();

async function windowClients(): Promise<readonly SwClient[]> {
  return scope.clients.matchAll({ type: "window", includeUncontrolled: true });
}

const link = new PortLink(() => {
  void windowClients().then((all) => {
    for (const client of all) client.postMessage({ type: "corridor-need-port" });
  });
});

keepaliveClients(windowClients);

scope.addEventListener("install", (event) => event.waitUntil(scope.skipWaiting()));
scope.addEventListener("activate", (event) => event.waitUntil(scope.clients.claim()));

// --- document.cookie for the pages. ---

/** The last documentCookie seen per path, so unchanged ones are not sent again. */
const lastCookies = new Map<string, string>();

/** Tells the window clients their document.cookie after a response for `url` gave `value`. */
async function shareCookies(url: string, value: string): Promise<void> {
  const path = new URL(url).pathname;
  if (lastCookies.get(path) === value) return;
  lastCookies.delete(path);
  lastCookies.set(path, value);
  if (lastCookies.size > 256) lastCookies.delete(lastCookies.keys().next().value as string);
  for (const client of await windowClients()) await tellCookies(client, path, value);
}

/**
 * Sends `client` its document.cookie: `value` when it is at `path`, else asks the engine;
 * `afterWrite` marks the answer to the client's own document.cookie write.
 */
async function tellCookies(
  client: SwClient,
  path: string | null,
  value: string,
  afterWrite = false,
): Promise<void> {
  let clientUrl: URL;
  try {
    clientUrl = new URL(client.url);
  } catch {
    return;
  }
  if (clientUrl.origin !== location.origin) return;
  if (clientUrl.pathname !== path) {
    if (!link.linked) return;
    const reply = await link.request({ type: "cookie-get", url: client.url }, { waitMs: 0 });
    if (reply.type !== "cookies") return;
    value = reply.value;
  }
  client.postMessage({ type: "corridor-cookies", value, set: afterWrite });
}

// --- Messages from this origin's pages (the bootstrap, the page script, our own pages). ---

/** URLs whose next 401 passes through (the credentials page's Cancel), with when it was asked. */
const passUnauthorized = new Map<string, number>();
/** Set when credentials were given: the next credentials page says they were refused. */
let credentialsGiven = false;

type PageMessage = { type?: unknown; [key: string]: unknown } | null;

scope.addEventListener("message", (event: SwMessageEvent) => {
  const data = event.data as PageMessage;
  const reply = event.ports[0];
  switch (data?.type) {
    case "corridor-port": {
      const port = data.port instanceof MessagePort ? data.port : event.ports[0];
      if (port !== undefined) link.givePort(port);
      return;
    }
    case "corridor-keepalive": {
      const hold = onKeepalive();
      if (hold !== null) event.waitUntil(hold);
      else event.source?.postMessage({ type: "corridor-hold", on: false });
      return;
    }
    case "corridor-websocket":
      event.waitUntil(forwardWebSocket(data, event.ports));
      return;
    case "corridor-cookie-set":
      event.waitUntil(setCookie(data, event.source));
      return;
    case "corridor-credentials":
      event.waitUntil(giveCredentials(data, reply));
      return;
    case "corridor-credentials-cancel":
      if (typeof data.url === "string") passUnauthorized.set(stripHash(data.url), Date.now());
      reply?.postMessage({ ok: true });
      return;
  }
});

async function forwardWebSocket(data: NonNullable<PageMessage>, ports: readonly MessagePort[]) {
  const port = data.port instanceof MessagePort ? data.port : ports[0];
  if (port === undefined) return;
  const protocols = Array.isArray(data.protocols) ? data.protocols.map(String) : [];
  const message: AppWebSocket = { type: "websocket", url: String(data.url), protocols, port };
  const sent = await link.post(message, [port], REQUEST_PORT_WAIT_MS);
  if (!sent) {
    port.postMessage({
      type: "closed",
      code: 1006,
      reason: "",
      wasClean: false,
      message: "no link to Corridor's engine: reload the tab",
    });
    port.close();
  }
}

async function setCookie(data: NonNullable<PageMessage>, source: SwClient | null): Promise<void> {
  if (typeof data.url !== "string" || typeof data.value !== "string") return;
  const sent = await link.post(
    { type: "cookie-set", url: data.url, value: data.value },
    [],
    REQUEST_PORT_WAIT_MS,
  );
  // The engine's view after the write (it may have refused it): the page's cache is corrected.
  if (sent && source !== null) await tellCookies(source, null, "", true);
}

async function giveCredentials(data: NonNullable<PageMessage>, reply: MessagePort | undefined) {
  const username = typeof data.username === "string" ? data.username : "";
  const password = typeof data.password === "string" ? data.password : "";
  const result = await link.request(
    { type: "credentials", username, password },
    { waitMs: REQUEST_PORT_WAIT_MS },
  );
  if (result.type === "ok") credentialsGiven = username !== "";
  const answer =
    result.type === "ok"
      ? { ok: true }
      : { error: result.type === "error" ? result.message : "no link to Corridor's engine" };
  reply?.postMessage(answer);
}

function stripHash(url: string): string {
  const at = url.indexOf("#");
  return at < 0 ? url : url.slice(0, at);
}

// --- Requests. ---

scope.addEventListener("fetch", (event: SwFetchEvent) => {
  const url = new URL(event.request.url);
  if (url.origin !== location.origin) return;
  if (url.pathname === INJECT_PATH && event.request.method === "GET") {
    event.respondWith(injectScript());
    return;
  }
  if (url.pathname.startsWith(OWN_PREFIX)) return;
  event.respondWith(
    carry(event).catch((error: unknown) => {
      // A bug here must not become the browser's bare network error page.
      const message = `the service worker failed: ${String(error)}`;
      if (event.request.mode !== "navigate") return Response.error();
      return errorPage("failed", message, service, event.request.url);
    }),
  );
});

/** The Corridor origin from config.json, fetched once per worker life (null if it failed). */
let corridorOrigin: Promise<string | null> | undefined;

/**
 * What the page script needs through the app's CSP besides itself: requestAppPort fetches
 * config.json and frames the Corridor bridge (when the worker restarted and asks for a port).
 * Waits at most 2 s for config.json: a page is not held up for it.
 */
async function bridgeAllowances(): Promise<AlsoAllow[]> {
  corridorOrigin ??= fetch(CONFIG_PATH, { cache: "no-store", credentials: "omit" })
    .then((response) => (response.ok ? response.json() : null))
    .then((config: { corridorOrigin?: unknown } | null) => {
      const origin = config?.corridorOrigin;
      return typeof origin === "string" && new URL(origin).origin === origin ? origin : null;
    })
    .catch(() => null);
  const timeout = new Promise<null>((resolve) => setTimeout(() => resolve(null), 2_000));
  const origin = await Promise.race([corridorOrigin, timeout]);
  if (origin === null) {
    // Failed (not merely slow): asked again for the next page.
    const asked = corridorOrigin;
    void asked.then((value) => {
      if (value === null && corridorOrigin === asked) corridorOrigin = undefined;
    });
    return [];
  }
  return [
    { chain: ["frame-src", "child-src", "default-src"], url: `${origin}${BRIDGE_PATH}` },
    { chain: ["connect-src", "default-src"], url: `${location.origin}${CONFIG_PATH}` },
  ];
}

/** The page script, fetched once per worker life (every HTML page loads it first). */
let injectBytes: Promise<{ body: ArrayBuffer; type: string }> | undefined;

/** The page script from memory, else from the Corridor server. */
async function injectScript(): Promise<Response> {
  injectBytes ??= fetch(INJECT_PATH, { cache: "no-store", credentials: "omit" }).then(
    async (response) => {
      if (!response.ok) throw new Error(`status ${response.status}`);
      const type = response.headers.get("content-type") ?? "text/javascript";
      return { body: await response.arrayBuffer(), type };
    },
  );
  try {
    const { body, type } = await injectBytes;
    return new Response(body.slice(0), {
      headers: { "Content-Type": type, "Cache-Control": "no-store" },
    });
  } catch {
    injectBytes = undefined;
    return fetch(INJECT_PATH, { cache: "no-store", credentials: "omit" });
  }
}

/** The request's body as a stream, or null when it has none. */
async function requestBody(request: Request): Promise<ReadableStream<Uint8Array> | null> {
  const method = request.method.toUpperCase();
  if (method === "GET" || method === "HEAD") return null;
  // Coalesced (up to 512 KiB a chunk): the engine pulls a transferred stream one chunk per
  // round trip, and Chromium hands a request's body over in chunks of 64 KiB or less.
  if (request.body !== null) return coalescingStream(request.body);
  // Some browsers give no stream for a body they hold whole: read it (it is small then).
  const bytes = new Uint8Array(await request.arrayBuffer());
  if (bytes.length === 0) return null;
  return new ReadableStream({
    start(controller) {
      controller.enqueue(bytes);
      controller.close();
    },
  });
}

/** The page that links a tab to the engine, from the Corridor server (bypassing this worker). */
async function bootstrapPage(): Promise<Response> {
  try {
    return await fetch(`${OWN_PREFIX}bootstrap`, { cache: "no-store", credentials: "omit" });
  } catch (error) {
    return errorPage("failed", `the bootstrap page did not load (${String(error)})`, service, "");
  }
}

async function carry(event: SwFetchEvent): Promise<Response> {
  const request = event.request;
  const navigate = request.mode === "navigate";
  // Started now, needed when the response head is back (config.json, once per worker life).
  const allowances = navigate ? bridgeAllowances() : Promise.resolve([]);
  const body = await requestBody(request);
  // As the browser gives it: the engine maps one on this origin to the service's, drops any
  // other, and takes a foreign one as the mark of a cross-site request (SameSite cookies).
  // (Cut to its origin when longer than the engine takes.)
  const referrer =
    request.referrer.length <= 16 * 1024
      ? request.referrer
      : `${new URL(request.referrer).origin}/`;
  const result: LinkResult = await link.request(
    {
      type: "fetch",
      method: request.method,
      url: request.url,
      headers: [...request.headers],
      body,
      navigate,
      referrer,
    },
    {
      transfer: body === null ? [] : [body],
      signal: request.signal,
      waitMs: navigate ? NAVIGATION_PORT_WAIT_MS : REQUEST_PORT_WAIT_MS,
    },
  );
  if (result.type === "no-port") return navigate ? bootstrapPage() : Response.error();
  if (result.type === "error") {
    if (!navigate || result.code === "aborted") return Response.error();
    return errorPage(result.code, result.message, service, request.url);
  }
  if (result.type !== "response") return Response.error();
  void shareCookies(request.url, result.documentCookie).catch(() => undefined);
  if (!usableStatus(result.status)) {
    void result.body?.cancel().catch(() => undefined);
    const message = `the server answered with status ${result.status}, which a browser page cannot show`;
    return navigate ? errorPage("protocol", message, service, request.url) : Response.error();
  }
  if (navigate && result.status === 401) {
    const key = stripHash(request.url);
    const passAt = passUnauthorized.get(key);
    passUnauthorized.delete(key);
    const challenge = basicChallenge(
      result.headers.filter(([n]) => n.toLowerCase() === "www-authenticate").map(([, v]) => v),
    );
    if (challenge !== null && (passAt === undefined || Date.now() - passAt > 60_000)) {
      void result.body?.cancel().catch(() => undefined);
      const retried = credentialsGiven;
      credentialsGiven = false;
      return credentialsPage(challenge.realm, service, retried, randomNonce());
    }
  } else if (navigate && result.status < 400) {
    credentialsGiven = false;
  }
  const coding = undecodedCoding(result.headers);
  const hasBody = result.body !== null || result.bytes !== undefined;
  if (navigate && coding !== null && hasBody && !NO_BODY.has(result.status)) {
    // The browser would show the encoded bytes: say why instead (subresources pass as they are).
    void result.body?.cancel().catch(() => undefined);
    const message = `the response's Content-Encoding is "${coding}", which the engine does not decode`;
    const words = codingExplanation(coding, service);
    return errorPage("protocol", message, service, request.url, words);
  }
  const response = toResponse(result, {
    method: request.method,
    inject: navigate,
    origin: location.origin,
    also: await allowances,
  });
  // A body that came whole (AppResponse.bytes) is in memory: nothing to keep the worker alive for.
  if (response.body === null || result.body === null) return response;
  const { body: streamed, done } = tracked(response.body);
  const cap = new Promise<void>((resolve) => setTimeout(resolve, FETCH_HOLD_MS));
  event.waitUntil(Promise.race([done, cap]));
  return new Response(streamed, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
}
