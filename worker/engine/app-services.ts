// What every app port of one engine shares (docs/private-urls.md, "The engine side"): the
// keep-alive pool (at most 6 connections per service, keyed host:port, so one HttpPool serves
// every service with the limit counted per service), the cookie jars (one per service, kept in
// the engine's store), and the Basic credentials given on the credentials page (engine memory
// only: a new engine asks again).

import type { Dial } from "../http/connection.ts";
import { CookieJars } from "../http/cookies.ts";
import { HttpPool } from "../http/pool.ts";
import type { ServiceAddress } from "../http/service-label.ts";
import { serviceName } from "./app-errors.ts";
import type { EngineStore } from "./store.ts";

/**
 * The id of the cookie record in the store's "mesh" kind (which holds per-browser records of
 * the mesh; MeshRecords reads only its own id). Cookies of every service, mesh or wg-quick,
 * are kept in this one record: a JSON string in CookieJars.serialize's form.
 */
export const APP_COOKIES_RECORD = "app-cookies";

/** Longest wait for a response head, and between response body bytes (ms). */
export const APP_RESPONSE_TIMEOUT_MS = 300_000;

/** Cookies are written at most this often (ms) after a change. */
export const COOKIE_SAVE_DELAY_MS = 1000;

interface CookieRecord {
  id: typeof APP_COOKIES_RECORD;
  json: string;
}

/** What the services need. */
export interface AppServicesDeps {
  /** Opens a TCP stream to host:port (AppDialer.dial in the engine, loopback in tests). */
  dial: Dial;
  /** Whether a Location to `host` may be rewritten to that host's app origin (default: no). */
  knows?: (host: string) => Promise<boolean>;
  /** Where cookies are kept (absent: memory only). */
  store?: EngineStore;
  /** The pool's connect timeout (default 10 s). */
  connectTimeoutMs?: number;
  /** Told when the stored cookies could not be read (the store is discarded). */
  onCookieError?: (message: string) => void;
}

/**
 * Carried WebSockets one app origin may hold at once, across all its ports and tabs (Chromium
 * allows 255 per profile and 30 per host).
 */
export const MAX_SOCKETS_PER_ORIGIN = 128;

/** The shared state of the engine's app ports. */
export class AppServices {
  /** The keep-alive pool: <= 6 connections per service. */
  readonly pool: HttpPool;
  readonly dial: Dial;
  private jars: CookieJars | undefined;
  private loading: Promise<CookieJars> | undefined;
  private saveTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly credentials = new Map<string, string>();
  /** Open carried WebSockets per app origin (they outlive the port that opened them). */
  private readonly sockets = new Map<string, number>();

  constructor(private readonly deps: AppServicesDeps) {
    this.dial = deps.dial;
    this.pool = new HttpPool({
      dial: deps.dial,
      maxPerService: 6,
      connectTimeoutMs: deps.connectTimeoutMs ?? 10_000,
      // A browser waits long for an app's answer (long polls, quiet event streams): Firefox's
      // network.http.response.timeout, 300 s, for the head and between body bytes.
      headTimeoutMs: APP_RESPONSE_TIMEOUT_MS,
      bodyIdleTimeoutMs: APP_RESPONSE_TIMEOUT_MS,
    });
  }

  /**
   * Counts a carried WebSocket of `origin` in; false (nothing counted) when the origin already
   * holds MAX_SOCKETS_PER_ORIGIN. Each counted socket must be counted out with socketEnded.
   */
  socketOpened(origin: string): boolean {
    const open = this.sockets.get(origin) ?? 0;
    if (open >= MAX_SOCKETS_PER_ORIGIN) return false;
    this.sockets.set(origin, open + 1);
    return true;
  }

  /** Counts a carried WebSocket of `origin` out. */
  socketEnded(origin: string): void {
    const open = (this.sockets.get(origin) ?? 0) - 1;
    if (open > 0) this.sockets.set(origin, open);
    else this.sockets.delete(origin);
  }

  /** See AppServicesDeps.knows. */
  knows(host: string): Promise<boolean> {
    return this.deps.knows?.(host) ?? Promise.resolve(false);
  }

  /** The cookie jars, read from the store the first time. */
  cookies(): Promise<CookieJars> {
    if (this.jars !== undefined) return Promise.resolve(this.jars);
    this.loading ??= (async () => {
      let jars = new CookieJars();
      const store = this.deps.store;
      if (store !== undefined) {
        const records = await store.list<CookieRecord>("mesh").catch(() => []);
        const found = records.find((r) => r.id === APP_COOKIES_RECORD);
        if (found !== undefined) {
          const loaded = CookieJars.deserialize(found.json);
          if (loaded.error !== undefined) this.deps.onCookieError?.(loaded.error);
          jars = loaded.jars;
        }
      }
      this.jars = jars;
      return jars;
    })();
    return this.loading;
  }

  /** The jars changed: written to the store within COOKIE_SAVE_DELAY_MS. */
  cookiesChanged(): void {
    const store = this.deps.store;
    if (store === undefined || this.saveTimer !== undefined) return;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = undefined;
      const jars = this.jars;
      if (jars === undefined) return;
      const record: CookieRecord = { id: APP_COOKIES_RECORD, json: jars.serialize() };
      void store.put("mesh", record).catch(() => undefined);
    }, COOKIE_SAVE_DELAY_MS);
    (this.saveTimer as { unref?: () => void }).unref?.();
  }

  /**
   * Stores Basic credentials for a service (an empty user name forgets them). They are sent
   * on the service's later requests that carry no Authorization of their own.
   */
  setCredentials(service: ServiceAddress, username: string, password: string): void {
    const key = serviceName(service);
    if (username === "") {
      this.credentials.delete(key);
      return;
    }
    const bytes = new TextEncoder().encode(`${username}:${password}`);
    let binary = "";
    for (const b of bytes) binary += String.fromCharCode(b);
    this.credentials.set(key, `Basic ${btoa(binary)}`);
  }

  /** The Authorization value for a service, when credentials were given. */
  authorization(service: ServiceAddress): string | undefined {
    return this.credentials.get(serviceName(service));
  }

  /** Closes idle connections and writes the cookies now (an engine going away, tests). */
  close(): void {
    this.pool.closeIdle();
    if (this.saveTimer !== undefined) {
      clearTimeout(this.saveTimer);
      this.saveTimer = undefined;
      const jars = this.jars;
      if (jars !== undefined && this.deps.store !== undefined) {
        void this.deps.store
          .put("mesh", { id: APP_COOKIES_RECORD, json: jars.serialize() })
          .catch(() => undefined);
      }
    }
  }
}
