// The app origin's bootstrap script (docs/private-urls.md, DESIGN §9.4), served at
// /__corridor/bootstrap.js on every `<label>.<apps domain>` origin. It says which private
// service this origin is for (decoded from the label in location.hostname, so the server
// injects nothing), checks that the browser offers service workers, and guards against reload
// loops. What it will do once the bridge exists: install the origin's service worker, link it
// to the engine through the Corridor-origin iframe, and reload so that the service worker
// carries the page. Until then it says plainly that the engine link is not available: it does
// not pretend to load the app.

import {
  decodeServiceLabel,
  type ServiceAddress,
  ServiceLabelError,
  serviceOrigin,
} from "../../worker/http/service-label.ts";

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
 * Reloads the tab unless the loop guard tripped or cannot count (for the service worker's
 * install, once the bridge exists); returns whether it reloads.
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

function problem(title: string, status: string, detail = ""): void {
  byId("title").textContent = title;
  const el = byId("status");
  el.textContent = status;
  el.classList.add("bad");
  byId("detail").textContent = detail;
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

  const loop = countLoad(storageOrUndefined(), Date.now());
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
  // The bridge to the engine (the service worker and the Corridor-origin iframe) is not built
  // yet: say so rather than pretend. Nothing was sent to the service.
  problem(
    `${service.host}:${service.port}`,
    "The engine link is not available yet: this Corridor cannot carry private URLs in the browser yet, so nothing was sent to the service.",
    `When it can, this page installs a service worker for this origin, links it to the Corridor page's engine and reloads; the app at ${origin} then runs in this tab.`,
  );
}

main();
