// The engine as the page holds it: the comlink remote of worker/api.ts, in the browser's
// SharedWorker (one engine for every tab, sessions that outlive a reload) where there is one,
// else in this page's own Worker (docs/page.md, "One engine per browser").

import { type Remote, wrap } from "comlink";
import { type EngineApi, PAGE_LOCK_PREFIX } from "../worker/api.ts";

export type Engine = Remote<EngineApi>;

/** How this page's engine lives. */
export interface EngineLifetime {
  /** "shared": the browser's SharedWorker; "worker": this page's own Worker. */
  kind: "shared" | "worker";
  /**
   * The engine (and its sessions) outlives this page's reload: a SharedWorker with an extended
   * lifetime. Otherwise a reload may end the sessions, and the page asks first.
   */
  survivesReload: boolean;
}

let lifetime: EngineLifetime = { kind: "worker", survivesReload: false };

/** How the engine connectEngine started lives (a per-page Worker until it ran). */
export function engineLifetime(): EngineLifetime {
  return lifetime;
}

/**
 * Starts (or joins) the engine. `?engine=worker` in the page's URL forces this page's own
 * Worker (to check the fallback); browsers without SharedWorker get it anyway.
 */
export function connectEngine(search: string): Engine {
  const forced = new URLSearchParams(search).get("engine") === "worker";
  if (!forced && typeof SharedWorker === "function") {
    // A browser that knows `extendedLifetime` reads it while converting the options: that is
    // how the page learns the engine will outlive a reload of the browser's last tab.
    let extended = false;
    const worker = new SharedWorker(new URL("../worker/index.ts", import.meta.url), {
      type: "module",
      name: "corridor-engine",
      get extendedLifetime() {
        extended = true;
        return true;
      },
    } as WorkerOptions);
    lifetime = { kind: "shared", survivesReload: extended };
    return wrap<EngineApi>(worker.port);
  }
  const worker = new Worker(new URL("../worker/index.ts", import.meta.url), { type: "module" });
  lifetime = { kind: "worker", survivesReload: false };
  return wrap<EngineApi>(worker);
}

let page: string | undefined;

/**
 * This page's id for its sessions ("hello" on their ports). The page holds the Web Lock named
 * after it while it lives; the browser releases it when the page is gone, even by a crash, and
 * the engine then lets the next page take the page's sessions.
 */
export function pageId(): string {
  if (page === undefined) {
    page = crypto.randomUUID();
    if ("locks" in navigator) {
      void navigator.locks
        .request(`${PAGE_LOCK_PREFIX}${page}`, () => new Promise<never>(() => undefined))
        .catch(() => undefined);
    }
  }
  return page;
}

/** sessionStorage key: the engine a page left, and how many live sessions it had. */
const LEFT_KEY = "corridor.engine-left";

/** Notes, as the page goes away, which engine held how many of its live sessions. */
export function rememberEngineLeft(instanceId: string, liveSessions: number): void {
  try {
    sessionStorage.setItem(LEFT_KEY, JSON.stringify({ instanceId, liveSessions }));
  } catch {
    // Storage refused (a private window's quota): the next page just cannot tell.
  }
}

/**
 * How many live sessions the previous page of this tab had in an engine that is gone now
 * (the engine restarted: those sessions ended); 0 when none or unknown. Read once.
 */
export function sessionsLostSince(instanceId: string): number {
  let text: string | null = null;
  try {
    text = sessionStorage.getItem(LEFT_KEY);
    sessionStorage.removeItem(LEFT_KEY);
  } catch {
    return 0;
  }
  if (text === null) return 0;
  try {
    const left = JSON.parse(text) as { instanceId?: unknown; liveSessions?: unknown };
    const count = typeof left.liveSessions === "number" ? left.liveSessions : 0;
    return left.instanceId !== instanceId && Number.isSafeInteger(count) && count > 0 ? count : 0;
  } catch {
    return 0;
  }
}
