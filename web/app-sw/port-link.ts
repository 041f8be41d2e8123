// The app origin service worker's link to the engine (docs/private-urls.md, "Service worker and
// injected script"): one MessagePort to the engine, given by a page of this origin (the
// bootstrap, or the injected script when the worker asks with "corridor-need-port"). The browser
// stops an idle service worker and the port dies with it; a new worker has none and asks its
// window clients. A port can also die under a live worker (the tab whose bridge iframe held the
// engine closed): a request that hears nothing for PROBE_AFTER_MS makes the link probe the port
// with a cookie-get, and a port that does not answer that within PROBE_TIMEOUT_MS is no longer
// used; its safe requests (GET, HEAD, OPTIONS, and the link's own messages) are sent once more
// on the next port, with an AppAbort on the old one so the engine ends them there; the others
// (a DELETE or a POST may not run twice) fail unless answered within LOST_GRACE_MS. A reply
// nobody waits for any more (a late one on the old port, or one after an abort) has its body
// cancelled: it holds an engine exchange and one of the service's pooled connections.

import type {
  AppAbort,
  AppCookieGet,
  AppCookieSet,
  AppCredentials,
  AppError,
  AppFetch,
  AppPortReply,
  AppWebSocket,
} from "../../worker/http/app-port.ts";

/** A request that has heard nothing this long makes the link check that its port is alive. */
export const PROBE_AFTER_MS = 5_000;
/** A port that does not answer a probe within this is taken as dead. */
export const PROBE_TIMEOUT_MS = 5_000;
/** A request with a body on a port that stopped answering fails after this much more. */
export const LOST_GRACE_MS = 30_000;
/** How often the link asks the window clients again while it waits for a port. */
export const ASK_AGAIN_MS = 2_000;

/** A message with an id, as the link sends it (the link gives the id). */
export type LinkRequest =
  | Omit<AppFetch, "id">
  | Omit<AppCookieGet, "id">
  | Omit<AppCredentials, "id">;

/** A message without a reply. */
export type LinkPost = AppCookieSet | AppWebSocket;

/** What a request came to: the engine's reply, or no port within the time allowed. */
export type LinkResult = AppPortReply | { type: "no-port" };

interface Pending {
  id: number;
  port: MessagePort;
  /** How long the request may wait for a port (again when it fails over). */
  waitMs: number;
  message: LinkRequest;
  /** A safe request without a transferred body: it may be sent again on another port. */
  retryable: boolean;
  resolve: (reply: LinkResult) => void;
  probeTimer: ReturnType<typeof setTimeout> | undefined;
}

interface PortState {
  /** Pending probes' resolvers (any reply on the port proves it alive). */
  alive: Array<() => void>;
  dead: boolean;
}

/** The engine link of one service worker instance. */
export class PortLink {
  private port: MessagePort | null = null;
  private readonly states = new WeakMap<MessagePort, PortState>();
  private readonly pending = new Map<number, Pending>();
  private waiters: Array<(port: MessagePort) => void> = [];
  private nextId = 1;
  private lastAsk = 0;

  /** `askClients` posts "corridor-need-port" to the window clients (called while waiting). */
  constructor(private readonly askClients: () => void) {}

  /** True when the link holds a port it has not found dead. */
  get linked(): boolean {
    return this.port !== null;
  }

  /**
   * Takes a port from a page: it replaces the current one for new messages. The old one is not
   * closed: response bodies that came by it may still be streaming, and the engine ends a
   * port's exchanges when the port closes (a few idle ports per worker life are cheap).
   */
  givePort(port: MessagePort): void {
    if (port === this.port) return;
    this.states.set(port, { alive: [], dead: false });
    port.onmessage = (event: MessageEvent) => this.onReply(port, event.data);
    // Where the browser tells (recent Chromium): the engine closed it (it keeps a bounded
    // number of ports per origin, the oldest closed) or the engine went away.
    port.addEventListener("close", () => this.lost(port, true));
    port.start();
    this.port = port;
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake(port);
  }

  /** The port, waiting up to `ms` for a page to give one (asking the clients meanwhile). */
  portWithin(ms: number): Promise<MessagePort | null> {
    if (this.port !== null) return Promise.resolve(this.port);
    return new Promise((resolve) => {
      let done = false;
      let asker: ReturnType<typeof setInterval> | undefined;
      const finish = (port: MessagePort | null) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        clearInterval(asker);
        resolve(port);
      };
      const timer = setTimeout(() => finish(null), ms);
      this.waiters.push(finish);
      this.ask();
      asker = setInterval(() => this.ask(), ASK_AGAIN_MS);
    });
  }

  private ask(): void {
    const now = Date.now();
    if (now - this.lastAsk < ASK_AGAIN_MS / 2) return;
    this.lastAsk = now;
    this.askClients();
  }

  /**
   * Sends a request (waiting up to `waitMs` for a port) and resolves with its reply; never
   * rejects. `transfer` moves a body stream; `signal` aborts (the engine hears an AppAbort).
   */
  async request(
    message: LinkRequest,
    options: { transfer?: Transferable[]; signal?: AbortSignal; waitMs: number },
  ): Promise<LinkResult> {
    const port = await this.portWithin(options.waitMs);
    if (port === null) return { type: "no-port" };
    const id = this.nextId++;
    const transfer = options.transfer ?? [];
    return new Promise<LinkResult>((resolve) => {
      const entry: Pending = {
        id,
        port,
        message,
        waitMs: options.waitMs,
        retryable: transfer.length === 0 && safeToRepeat(message),
        resolve,
        probeTimer: undefined,
      };
      this.pending.set(id, entry);
      const signal = options.signal;
      if (signal !== undefined) {
        const onAbort = () => {
          const current = this.pending.get(id);
          if (current === undefined) return;
          this.settle(current, failure(id, "aborted", "the request was aborted"));
          postAbort(current.port, id);
        };
        if (signal.aborted) {
          onAbort();
          return;
        }
        signal.addEventListener("abort", onAbort, { once: true });
      }
      this.send(entry, transfer);
    });
  }

  /** Sends a message that has no reply, waiting up to `waitMs` for a port; false without one. */
  async post(message: LinkPost, transfer: Transferable[], waitMs: number): Promise<boolean> {
    const port = await this.portWithin(waitMs);
    if (port === null) return false;
    port.postMessage(message, transfer);
    return true;
  }

  private send(entry: Pending, transfer: Transferable[]): void {
    entry.port.postMessage({ ...entry.message, id: entry.id }, transfer);
    clearTimeout(entry.probeTimer);
    entry.probeTimer = setTimeout(() => this.probe(entry.port), PROBE_AFTER_MS);
  }

  private settle(entry: Pending, reply: LinkResult): void {
    clearTimeout(entry.probeTimer);
    this.pending.delete(entry.id);
    entry.resolve(reply);
  }

  private onReply(port: MessagePort, data: unknown): void {
    const state = this.states.get(port);
    if (state !== undefined) {
      const alive = state.alive;
      state.alive = [];
      for (const wake of alive) wake();
    }
    const reply = data as AppPortReply | null;
    if (typeof reply?.id !== "number") return;
    const entry = this.pending.get(reply.id);
    // Only the port the request is on now may answer it (a request sent again is on another).
    if (entry !== undefined && entry.port === port) {
      this.settle(entry, reply);
      return;
    }
    // Nobody waits for it (aborted, failed over, or settled): its body would hold the engine's
    // exchange and a pooled connection until the engine's body timeout.
    if (reply.type === "response") void reply.body?.cancel().catch(() => undefined);
  }

  /** Checks that `port` answers; drops it and fails over its requests when it does not. */
  private probe(port: MessagePort): void {
    const state = this.states.get(port);
    if (state === undefined || state.dead || state.alive.length > 0) return;
    const id = this.nextId++;
    const timer = setTimeout(() => this.lost(port), PROBE_TIMEOUT_MS);
    state.alive.push(() => clearTimeout(timer));
    const probe: AppCookieGet = { type: "cookie-get", id, url: self.location.href };
    port.postMessage(probe);
  }

  /**
   * The port did not answer a probe (or `closed`: it closed): new messages wait for another
   * port. It is not closed here (a busy engine may only be slow, and closing would end the
   * bodies streaming by it): requests without a body go once more by the next port, the others
   * get LOST_GRACE_MS more to be answered on this one (none when it closed).
   */
  private lost(port: MessagePort, closed = false): void {
    const state = this.states.get(port);
    if (state === undefined || state.dead) return;
    state.dead = true;
    if (this.port === port) this.port = null;
    for (const entry of [...this.pending.values()]) {
      if (entry.port !== port) continue;
      clearTimeout(entry.probeTimer);
      if (!entry.retryable && closed) {
        this.settle(entry, failure(entry.id, "failed", "the link to Corridor's engine was closed"));
        postAbort(port, entry.id);
        continue;
      }
      if (!entry.retryable) {
        entry.probeTimer = setTimeout(() => {
          if (this.pending.get(entry.id) !== entry) return;
          this.settle(entry, failure(entry.id, "failed", "the link to Corridor's engine was lost"));
          postAbort(port, entry.id);
        }, LOST_GRACE_MS);
        continue;
      }
      // The engine may be only slow: it must not go on with the request there as well.
      postAbort(port, entry.id);
      entry.retryable = false; // once
      void this.portWithin(entry.waitMs).then((next) => {
        if (this.pending.get(entry.id) !== entry) return; // aborted meanwhile
        if (next === null) {
          this.settle(entry, { type: "no-port" });
          return;
        }
        entry.port = next;
        this.send(entry, []);
      });
    }
  }
}

/** Methods a request may be sent again with (RFC 9110 §9.2.1 safe methods). */
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** True when sending `message` twice does no harm (the link's own messages are idempotent). */
function safeToRepeat(message: LinkRequest): boolean {
  return message.type !== "fetch" || SAFE_METHODS.has(message.method.toUpperCase());
}

/** Tells the engine on `port` to drop request `id` (the port may be closed: then nothing). */
function postAbort(port: MessagePort, id: number): void {
  const abort: AppAbort = { type: "abort", id };
  try {
    port.postMessage(abort);
  } catch {
    // A closed or detached port: the engine ended its exchanges with it.
  }
}

function failure(id: number, code: AppError["code"], message: string): AppError {
  return { type: "error", id, code, message };
}
