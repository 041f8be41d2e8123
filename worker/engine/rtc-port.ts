// WebRTC for the engine, borrowed from its pages (docs/paths.md, "Direct paths from the
// browser"): a Worker has no RTCPeerConnection in Chromium, so each page that can offers to host
// connections (web/direct/rtc-host.ts) with a MessagePort, and this RtcFactory runs every
// connection in one of them. One MessagePort per connection carries its control messages (plain
// objects) and its datagrams (bare ArrayBuffers, transferred, each a batch: rtc-batch.ts, as a
// postMessage costs far more than a copy). A page hosts at most MAX_CHANNELS_PER_PAGE connections;
// when it goes away (its pagehide message, or its page lock gone) its connections close and
// their peers fall back to the relay at once.

import type {
  DatagramChannel,
  RtcCandidate,
  RtcConnection,
  RtcConnectionOptions,
  RtcEvents,
  RtcFactory,
} from "../path/rtc-types.ts";
import { BatchWriter, readBatch } from "./rtc-batch.ts";

/** Connections one page hosts at most (the rest of the peers stay on the relay). */
export const MAX_CHANNELS_PER_PAGE = 8;

/** Host port, engine → page: run a new connection on `port`. */
export interface HostOpenMessage {
  t: "open";
  iceServers: string[];
  port: MessagePort;
}

/** Host port, page → engine: the page is going away (pagehide). */
export interface HostGoneMessage {
  t: "gone";
}

/** Connection port, engine → page. */
export type ToPageMessage =
  | { t: "offer"; req: number }
  | { t: "answer"; req: number; sdp: string }
  | { t: "candidate"; candidate: RtcCandidate }
  | { t: "close" };

/** Connection port, page → engine ("data": the channel's data port, once it exists). */
export type FromPageMessage =
  | { t: "done"; req: number; sdp?: string; error?: string }
  | { t: "candidate"; candidate: RtcCandidate }
  | { t: "data"; port: MessagePort }
  | { t: "closed"; reason: string };

/**
 * Data port, channel → engine, beside the batches of datagrams (bare ArrayBuffers, both ways;
 * rtc-batch.ts). The channel runs in the page's channel worker (web/direct/channel-worker.ts)
 * or on the page.
 */
export type FromChannelMessage = { t: "open" } | { t: "closed"; reason: string };

interface Host {
  port: MessagePort;
  pageId: string;
  connections: Set<PortConnection>;
}

/** A connection run by a page, seen from the engine. */
class PortConnection implements RtcConnection, DatagramChannel {
  private nextReq = 1;
  private readonly waiting = new Map<
    number,
    { ok: (sdp: string) => void; no: (e: Error) => void }
  >();
  private ended = false;
  opened = false;
  /** The channel's data port (datagrams, open, closed), once the page sent it. */
  private data: MessagePort | undefined;
  /** Datagrams of one turn of the engine go to the channel as one message. */
  private readonly batches = new BatchWriter(
    (batch) => {
      try {
        this.data?.postMessage(batch, [batch]);
      } catch {
        // A closed port: the page's end (or pagehide) reports it.
      }
    },
    (flush) => queueMicrotask(flush),
  );

  constructor(
    private readonly port: MessagePort,
    private readonly events: RtcEvents,
    private readonly onEnd: (c: PortConnection) => void,
  ) {
    port.onmessage = (event: MessageEvent) => this.receive(event.data);
    port.start();
  }

  offer(): Promise<string> {
    return this.request((req) => ({ t: "offer", req }));
  }

  async acceptAnswer(sdp: string): Promise<void> {
    await this.request((req) => ({ t: "answer", req, sdp }));
  }

  answer(): Promise<string> {
    return Promise.reject(new Error("a page only offers: agents answer"));
  }

  async addCandidate(candidate: RtcCandidate): Promise<void> {
    this.post({ t: "candidate", candidate });
  }

  send(packet: Uint8Array): boolean {
    if (this.ended || !this.opened) return false;
    // Copied into the turn's batch: the caller may reuse its bytes at once.
    return this.batches.add(packet);
  }

  close(): void {
    if (this.ended) return;
    this.post({ t: "close" });
    this.finish();
  }

  /**
   * The page went away or the channel failed: the connection ends, reported once. The page is
   * told to close its side too (its RTCPeerConnection and slot), in case it still has one.
   */
  lost(reason: string): void {
    if (this.ended) return;
    this.post({ t: "close" });
    this.finish();
    this.events.onClose(reason);
  }

  private finish(): void {
    this.ended = true;
    for (const { no } of this.waiting.values()) no(new Error("the connection closed"));
    this.waiting.clear();
    this.port.onmessage = null;
    this.port.close();
    if (this.data !== undefined) {
      this.data.onmessage = null;
      this.data.close();
    }
    this.onEnd(this);
  }

  private request(make: (req: number) => ToPageMessage): Promise<string> {
    if (this.ended) return Promise.reject(new Error("the connection closed"));
    const req = this.nextReq++;
    return new Promise<string>((ok, no) => {
      this.waiting.set(req, { ok, no });
      this.post(make(req));
    });
  }

  private post(message: ToPageMessage): void {
    try {
      this.port.postMessage(message);
    } catch {
      // A closed port: the page's end (or pagehide) reports it.
    }
  }

  /** What the channel sent on its data port: batches, "open", "closed". */
  private receiveData(data: unknown): void {
    if (this.ended) return;
    if (data instanceof ArrayBuffer) {
      if (!this.opened) return;
      for (const datagram of readBatch(data).datagrams) {
        if (this.ended) return;
        this.events.onDatagram(datagram);
      }
      return;
    }
    const message = (typeof data === "object" ? data : null) as Partial<FromChannelMessage> | null;
    if (message?.t === "open" && !this.opened) {
      this.opened = true;
      this.events.onOpen(this);
    } else if (message?.t === "closed") {
      this.lost(typeof message.reason === "string" ? message.reason.slice(0, 64) : "closed");
    }
  }

  /** What the page sent: checked, since a page is another realm (and may be any version). */
  private receive(data: unknown): void {
    if (this.ended) return;
    if (typeof data !== "object" || data === null) return;
    const message = data as Partial<FromPageMessage> & Record<string, unknown>;
    switch (message.t) {
      case "done": {
        const entry = this.waiting.get(Number(message.req));
        if (entry === undefined) return;
        this.waiting.delete(Number(message.req));
        if (typeof message.error === "string") entry.no(new Error(message.error));
        else entry.ok(typeof message.sdp === "string" ? message.sdp : "");
        return;
      }
      case "candidate": {
        const c = message.candidate as Partial<RtcCandidate> | undefined;
        if (typeof c?.candidate !== "string" || c.candidate === "") return;
        this.events.onCandidate({
          candidate: c.candidate,
          mid: typeof c.mid === "string" ? c.mid : undefined,
          mline: typeof c.mline === "number" ? c.mline : undefined,
        });
        return;
      }
      case "data": {
        const port = message.port;
        if (this.data !== undefined || !(port instanceof MessagePort)) return;
        this.data = port;
        port.onmessage = (event: MessageEvent) => this.receiveData(event.data);
        port.start();
        return;
      }
      case "closed":
        this.lost(typeof message.reason === "string" ? message.reason.slice(0, 64) : "closed");
        return;
    }
  }
}

/** How often hosts are checked against the pages alive (a crashed page sends no "gone"). */
const SWEEP_MS = 5000;

/** The engine's RtcFactory over its pages' hosts, and the person's direct-paths setting. */
export class PageRtcFactory implements RtcFactory {
  private readonly hosts: Host[] = [];
  /** Off until a page says the person's setting (fail closed: no offer before it is known). */
  private enabledNow = false;
  private readonly toggles = new Set<(enabled: boolean) => void>();
  private sweep: ReturnType<typeof setInterval> | undefined;

  constructor(
    /** The ids of the pages alive now (their page locks); absent: pages say "gone" themselves. */
    private readonly livePages?: () => Promise<ReadonlySet<string>>,
  ) {}

  /** The setting: direct paths on or off (off until a page tells it; on by default there). */
  get enabled(): boolean {
    return this.enabledNow;
  }

  /** Changes the setting; every node following it is told. */
  setEnabled(enabled: boolean): void {
    if (enabled === this.enabledNow) return;
    this.enabledNow = enabled;
    for (const toggle of [...this.toggles]) toggle(enabled);
  }

  /** Calls `toggle` at each change of the setting; returns the call that stops it. */
  onToggle(toggle: (enabled: boolean) => void): () => void {
    this.toggles.add(toggle);
    return () => this.toggles.delete(toggle);
  }

  /** Connections the hosts can take now (sum of their free slots). */
  get capacity(): number {
    let free = 0;
    for (const host of this.hosts) free += MAX_CHANNELS_PER_PAGE - host.connections.size;
    return free;
  }

  /** Pages hosting now. */
  get pages(): number {
    return this.hosts.length;
  }

  /** A page offers to host connections on `port` (a page that offers again replaces itself). */
  addHost(pageId: string, port: MessagePort): void {
    this.removeHost(pageId, "page_reloaded");
    const host: Host = { port, pageId, connections: new Set() };
    port.onmessage = (event: MessageEvent) => {
      if ((event.data as Partial<HostGoneMessage> | null)?.t === "gone") {
        this.removeHost(pageId, "page_gone");
      }
    };
    port.start();
    this.hosts.push(host);
    const live = this.livePages;
    if (live !== undefined && this.sweep === undefined) {
      this.sweep = setInterval(() => {
        live().then(
          (pages) => this.retainHosts(pages),
          () => {},
        );
      }, SWEEP_MS);
    }
  }

  /** The page `pageId` is gone: its connections end (their peers go back to the relay). */
  removeHost(pageId: string, reason: string): void {
    const index = this.hosts.findIndex((h) => h.pageId === pageId);
    if (index < 0) return;
    const [host] = this.hosts.splice(index, 1);
    if (host === undefined) return;
    host.port.onmessage = null;
    host.port.close();
    for (const connection of [...host.connections]) connection.lost(reason);
    if (this.hosts.length === 0 && this.sweep !== undefined) {
      clearInterval(this.sweep);
      this.sweep = undefined;
    }
  }

  /** Keeps only the hosts whose pages are alive (`live`: the ids holding their page lock). */
  retainHosts(live: ReadonlySet<string>): void {
    for (const host of [...this.hosts]) {
      if (!live.has(host.pageId)) this.removeHost(host.pageId, "page_gone");
    }
  }

  /**
   * Runs a connection in the page with the most free slots. Without one it is a connection that
   * fails at once (RtcSessions backs off; capacity tells it not to try).
   */
  create(options: RtcConnectionOptions, events: RtcEvents): RtcConnection {
    let best: Host | undefined;
    for (const host of this.hosts) {
      if (host.connections.size >= MAX_CHANNELS_PER_PAGE) continue;
      if (best === undefined || host.connections.size < best.connections.size) best = host;
    }
    const channel = new MessageChannel();
    const connection = new PortConnection(channel.port1, events, (c) =>
      best?.connections.delete(c),
    );
    if (best === undefined) {
      queueMicrotask(() => connection.lost("no_page"));
      return connection;
    }
    best.connections.add(connection);
    const open: HostOpenMessage = {
      t: "open",
      iceServers: options.iceServers,
      port: channel.port2,
    };
    try {
      best.port.postMessage(open, [channel.port2]);
    } catch {
      queueMicrotask(() => connection.lost("page_gone"));
    }
    return connection;
  }
}
