// The mesh as the page sees it: one engine.watchMesh subscription (the engine pushes every
// change from the map: nothing here polls), fanned out to the views that show it. The engine
// drops a listener that leaves MAX_UNANSWERED pushes unanswered (a frozen background tab looks
// like a closed one), so whenever the page comes back (visibilitychange, pageshow, focus) it
// asks whether its watch still stands (meshWatching) and watches again if not: the new watch
// is told the current state at once.

import { proxy } from "comlink";
import type { MeshHost, MeshListener, MeshStatus } from "../../worker/api.ts";
import { errorText } from "../dom.ts";
import type { Engine } from "../engine.ts";

export type MeshSubscriber = (status: MeshStatus, hosts: MeshHost[]) => void;

/** Follows the engine's mesh state; views subscribe() and get the current state at once. */
export class MeshWatch {
  status: MeshStatus = { state: "stopped" };
  hosts: MeshHost[] = [];
  private readonly subscribers = new Set<MeshSubscriber>();
  private watchId: Promise<string | null> | null = null;
  private refreshing: Promise<void> | null = null;

  constructor(private readonly engine: Engine) {
    if (typeof document === "undefined") return;
    const back = () => {
      if (document.visibilityState === "visible") void this.refresh();
    };
    document.addEventListener("visibilitychange", back);
    window.addEventListener("pageshow", back);
    window.addEventListener("focus", back);
  }

  /**
   * Watches again when the engine dropped this page's watch (or it never got an id); does
   * nothing before start() or after stop(). Concurrent calls share one check.
   */
  refresh(): Promise<void> {
    this.refreshing ??= this.recheck().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  private async recheck(): Promise<void> {
    const pending = this.watchId;
    if (pending === null) return;
    const id = await pending;
    const still = id !== null && (await this.engine.meshWatching(id).catch(() => false));
    // stop() or another re-watch may have run meanwhile: only the watch asked about is replaced.
    if (still || this.watchId !== pending) return;
    this.watchId = null;
    this.watch();
    await this.watchId;
  }

  /** Calls `fn` now and at every change until the returned function is called. */
  subscribe(fn: MeshSubscriber): () => void {
    this.subscribers.add(fn);
    fn(this.status, this.hosts);
    return () => this.subscribers.delete(fn);
  }

  /** Joins the mesh (watching first, so every step is pushed); resolves with the first status. */
  async start(): Promise<MeshStatus> {
    this.watch();
    this.set({ state: "starting", detail: "Joining the mesh…" }, this.hosts);
    try {
      const status = await this.engine.meshStart();
      // The watch normally pushed this already; if not, show the result and its hosts.
      if (this.status.state === "starting" || this.status.state === "stopped") {
        const hosts = status.state === "ready" ? await this.engine.meshHosts() : this.hosts;
        this.set(status, hosts);
      }
      return status;
    } catch (error) {
      const status: MeshStatus = {
        state: "error",
        detail: `The mesh did not start: ${errorText(error)}`,
      };
      this.set(status, []);
      return status;
    }
  }

  /** Leaves the mesh (the server removes this browser's node at once). */
  async stop(): Promise<void> {
    try {
      await this.engine.meshStop();
    } finally {
      const id = await this.watchId;
      this.watchId = null;
      if (id !== null) await this.engine.unwatchMesh(id).catch(() => undefined);
      this.set({ state: "stopped" }, []);
    }
  }

  /** The host named `name` ("web-01", "web-01.<domain>") or with that address. */
  find(name: string): MeshHost | undefined {
    const wanted = name.toLowerCase();
    const domain = this.status.domain?.toLowerCase();
    return this.hosts.find(
      (h) =>
        h.name.toLowerCase() === wanted ||
        (domain !== undefined && `${h.name.toLowerCase()}.${domain}` === wanted) ||
        h.addresses.some((a) => a.toLowerCase() === wanted),
    );
  }

  private watch(): void {
    if (this.watchId !== null) return;
    const listener: MeshListener = {
      onMesh: (status, hosts) => this.set(status, hosts),
    };
    this.watchId = this.engine.watchMesh(proxy(listener)).catch(() => null);
  }

  private set(status: MeshStatus, hosts: MeshHost[]): void {
    this.status = status;
    this.hosts = hosts;
    for (const fn of this.subscribers) fn(status, hosts);
  }
}
