// The app origin's bootstrap script (docs/private-urls.md, "Bridge and bootstrap"; DESIGN §9.4),
// served at /__corridor/bootstrap.js on every `<label>.<apps domain>` origin. The server answers
// an app origin's path with the bootstrap whenever the origin's service worker is not in charge
// (first visit, Shift+Reload). It says which private service this origin is for (decoded from
// the label in location.hostname, so the server injects nothing), registers the service worker
// /__corridor/sw.js for the whole origin, waits until it is active, gets an app port from the
// engine through the Corridor-origin bridge (web/app-bridge/client.ts), gives the port to the
// worker and reloads, so the worker carries the page the user asked for. A loop guard stops it
// reloading forever; every failure is shown with what to do.

import {
  decodeServiceLabel,
  type ServiceAddress,
  ServiceLabelError,
  serviceOrigin,
} from "../../worker/http/service-label.ts";
import { AppPortError, knownCorridorOrigin, requestAppPort } from "../app-bridge/client.ts";

/** The app origin's service worker, and its scope (the whole origin). */
export const SW_URL = "/__corridor/sw.js";
/** How long the service worker may take to become active. */
export const SW_ACTIVE_TIMEOUT_MS = 20_000;

/** Loads of this tab within LOOP_WINDOW_MS after which the bootstrap stops reloading. */
export const LOOP_LIMIT = 3;
/** The window of the loop guard, in milliseconds. */
export const LOOP_WINDOW_MS = 10_000;
/** The sessionStorage key of the loop guard: this tab's recent load times (JSON, ms). */
export const LOOP_KEY = "corridor-bootstrap-loads";

/** What the loop guard says about this load. */
export interface LoopState {
  /** Loads within the window, this one included. */
  loads: number;
  /** True when this tab reloaded more than LOOP_LIMIT times within the window: stop. */
  tripped: boolean;
  /** False when sessionStorage is unavailable: then never reload automatically. */
  guarded: boolean;
}

/**
 * Counts this load in the tab's sessionStorage and says whether the tab is in a reload loop
 * (more than LOOP_LIMIT reloads within LOOP_WINDOW_MS). sessionStorage is per tab, so another
 * tab of the same service does not count.
 */
export function countLoad(storage: Storage | undefined, now: number): LoopState {
  if (storage === undefined) return { loads: 1, tripped: false, guarded: false };
  try {
    let times: number[] = [];
    const saved: unknown = JSON.parse(storage.getItem(LOOP_KEY) ?? "[]");
    if (Array.isArray(saved)) {
      times = saved.filter((t): t is number => typeof t === "number" && now - t < LOOP_WINDOW_MS);
    }
    times.push(now);
    storage.setItem(LOOP_KEY, JSON.stringify(times.slice(-10)));
    return { loads: times.length, tripped: times.length > LOOP_LIMIT, guarded: true };
  } catch {
    return { loads: 1, tripped: false, guarded: false };
  }
}

/**
 * Reloads the tab unless the loop guard tripped or cannot count (once the service worker holds
 * a port, so that it carries the reload); returns whether it reloads.
 */
export function reloadGuarded(state: LoopState): boolean {
  if (state.tripped || !state.guarded) return false;
  location.reload();
  return true;
}

function byId(id: string): HTMLElement {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`bootstrap: #${id} missing`);
  return el;
}

/** Replaces an element's content by text and <code> runs: [text, code, text, ...]. */
function setRich(el: HTMLElement, parts: readonly string[]): void {
  el.replaceChildren(
    ...parts.map((part, i) => {
      if (i % 2 === 0) return document.createTextNode(part);
      const code = document.createElement("code");
      code.textContent = part;
      return code;
    }),
  );
}

/** Shows a step in progress. */
function step(text: string): void {
  const el = byId("status");
  el.textContent = text;
  el.className = "status busy";
}

/** Shows a failure: what happened, then what to do, with a link to the Corridor page if known. */
function problem(title: string, status: string, detail = "", corridor?: string): void {
  byId("title").textContent = title;
  const el = byId("status");
  el.textContent = status;
  el.className = "status bad";
  const more = byId("detail");
  more.textContent = detail;
  if (corridor !== undefined) {
    const link = document.createElement("a");
    link.href = `${corridor}/`;
    link.textContent = "Open the Corridor page";
    link.target = "_blank";
    link.rel = "noopener";
    const again = document.createElement("button");
    again.type = "button";
    again.textContent = "Try again";
    again.addEventListener("click", () => location.reload());
    byId("actions").replaceChildren(link, again);
  }
}

function storageOrUndefined(): Storage | undefined {
  try {
    return window.sessionStorage;
  } catch {
    return undefined; // storage blocked (a sandboxed frame, a browser setting)
  }
}

function describe(service: ServiceAddress): string {
  return `${service.host}, port ${service.port}, ${service.scheme}`;
}

/** Resolves with the active worker of `registration`, or rejects after SW_ACTIVE_TIMEOUT_MS. */
async function activeWorker(registration: ServiceWorkerRegistration): Promise<ServiceWorker> {
  const timeout = new Promise<never>((_, reject) =>
    setTimeout(
      () =>
        reject(
          new Error(
            `the service worker did not become active within ${SW_ACTIVE_TIMEOUT_MS / 1000} s`,
          ),
        ),
      SW_ACTIVE_TIMEOUT_MS,
    ),
  );
  const ready = navigator.serviceWorker.ready.then((r) => {
    const active = r.active ?? registration.active;
    if (active === null) throw new Error("the service worker has no active version");
    return active;
  });
  return Promise.race([ready, timeout]);
}

/**
 * Answers a service worker that asks this page for a port ("corridor-need-port": it was started
 * again, or it got the reload's request before the port): a fresh one from the bridge.
 */
function answerPortRequests(): void {
  navigator.serviceWorker.addEventListener("message", (event: MessageEvent) => {
    const data = event.data as { type?: unknown } | null;
    const worker = event.source;
    if (data?.type !== "corridor-need-port" || !(worker instanceof ServiceWorker)) return;
    requestAppPort().then(
      (port) => worker.postMessage({ type: "corridor-port", port }, [port]),
      () => undefined, // the page shows the first failure; a worker asks again later
    );
  });
}

/** What the user should do about a failed link, by what the bridge or engine said. */
function advice(message: string, service: ServiceAddress): string {
  if (/^Corridor refused/.test(message)) {
    return "This page is not one Corridor serves private URLs for. Open the service from the Corridor page to get its address.";
  }
  if (/did not answer|corridor serve|is this a Corridor/.test(message)) {
    return "Check that corridor serve is running, then open the Corridor page in this browser and try again.";
  }
  return `Open the Corridor page in this browser and start a network that reaches ${service.host} (sign in to the mesh, or import its WireGuard configuration), then try again.`;
}

async function link(service: ServiceAddress): Promise<void> {
  const title = `${service.host}:${service.port}`;
  let worker: ServiceWorker;
  try {
    step("Installing this origin's service worker…");
    const registration = await navigator.serviceWorker.register(SW_URL, {
      scope: "/",
      updateViaCache: "none",
    });
    worker = await activeWorker(registration);
  } catch (error) {
    problem(
      title,
      `The service worker that carries this tab could not be installed: ${error instanceof Error ? error.message : String(error)}.`,
      "Reload to try again. If this keeps happening, clear this site's data (the site icon in the address bar) and open the service again from the Corridor page.",
    );
    return;
  }
  answerPortRequests();
  step("Linking to Corridor's engine…");
  let port: MessagePort;
  try {
    port = await requestAppPort();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const corridor = knownCorridorOrigin();
    problem(
      title,
      message,
      advice(error instanceof AppPortError ? message : "", service),
      corridor,
    );
    return;
  }
  worker.postMessage({ type: "corridor-port", port }, [port]);
  step(`Opening ${location.pathname}${location.search}…`);
  if (!reloadGuarded(loop)) {
    problem(
      title,
      "Linked, but this page cannot reload itself safely (session storage is blocked, so the loop guard cannot count).",
      "Reload this tab yourself: the service worker now carries it.",
    );
  }
}

let loop: LoopState = { loads: 1, tripped: false, guarded: false };

function main(): void {
  const label = location.hostname.split(".")[0] ?? "";
  let service: ServiceAddress;
  try {
    service = decodeServiceLabel(label);
  } catch (error) {
    const why = error instanceof ServiceLabelError ? error.message : String(error);
    problem("Not a private URL", `This origin names no private service: ${why}`);
    return;
  }
  const origin = serviceOrigin(service);
  document.title = `${service.host}:${service.port} · Corridor`;
  byId("title").textContent = `${service.host}:${service.port}`;
  const asked = `${location.pathname}${location.search}`;
  setRich(byId("service"), [
    "This tab is for the private service ",
    origin,
    ` (${describe(service)}). You asked for `,
    asked,
    ".",
  ]);

  loop = countLoad(storageOrUndefined(), Date.now());
  if (loop.tripped) {
    problem(
      `${service.host}:${service.port}`,
      `Stopped: this tab loaded this page ${loop.loads} times within ${LOOP_WINDOW_MS / 1000} seconds, so the service worker is not taking over and reloading again would only loop.`,
      "Close this tab and open the service again from the Corridor page. If it keeps happening, clear this site's data (the padlock or site icon in the address bar) and try again.",
    );
    return;
  }
  if (!("serviceWorker" in navigator)) {
    problem(
      `${service.host}:${service.port}`,
      "This browser offers no service workers on this page, and a private URL needs one to carry the tab's requests.",
      "Service workers are missing in private or guest windows of some browsers and on insecure origins: open the service in a normal window, at its http://…localhost or https:// address.",
    );
    return;
  }
  void link(service);
}

main();
