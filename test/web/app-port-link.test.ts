// The app origin service worker's engine link (web/app-sw/port-link.ts) on stand-in ports: what
// is sent again when a port is lost (safe methods only, with an AppAbort on the old port), and
// that a reply nobody waits for has its body cancelled (it holds an engine exchange and a pooled
// connection otherwise).

import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { type LinkRequest, LOST_GRACE_MS, PortLink } from "../../web/app-sw/port-link.ts";
import type { AppResponse } from "../../worker/http/app-port.ts";

/** A MessagePort stand-in: records what is posted, replies on demand, closes on demand. */
class FakePort {
  readonly sent: { type?: string; id?: number; method?: string }[] = [];
  onmessage: ((event: { data: unknown }) => void) | null = null;
  private readonly closers: Array<() => void> = [];
  closed = false;
  postMessage(message: { type?: string; id?: number }): void {
    if (this.closed) throw new Error("closed");
    this.sent.push(message);
  }
  addEventListener(type: string, listener: () => void): void {
    if (type === "close") this.closers.push(listener);
  }
  start(): void {}
  close(): void {
    this.closed = true;
    for (const listener of this.closers) listener();
  }
  reply(data: unknown): void {
    this.onmessage?.({ data });
  }
}

const asPort = (port: FakePort) => port as unknown as MessagePort;

function fetchOf(method: string): LinkRequest {
  return {
    type: "fetch",
    method,
    url: "http://web-01--3000.corridor.localhost/x",
    headers: [],
    body: null,
    navigate: false,
    referrer: "",
  };
}

/** A response whose body stream says when it was cancelled. */
function responseFor(id: number): { reply: AppResponse; cancelled: () => boolean } {
  let cancelled = false;
  const body = new ReadableStream<Uint8Array>({
    cancel() {
      cancelled = true;
    },
  });
  const reply: AppResponse = {
    type: "response",
    id,
    status: 200,
    statusText: "OK",
    headers: [],
    body,
    documentCookie: "",
  };
  return { reply, cancelled: () => cancelled };
}

const tick = () => new Promise<void>((resolve) => queueMicrotask(resolve));
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await tick();
}

describe("PortLink", () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval"] });
    vi.stubGlobal("self", { location: { href: "http://web-01--3000.corridor.localhost/" } });
  });
  afterEach(() => {
    vi.useRealTimers();
    vi.unstubAllGlobals();
  });

  it("sends a lost GET again on the next port; a late reply on the closed one is cancelled", async () => {
    const link = new PortLink(() => undefined);
    const a = new FakePort();
    link.givePort(asPort(a));
    const result = link.request(fetchOf("GET"), { waitMs: 1000 });
    await settle();
    const id = a.sent[0]?.id;
    expect(a.sent[0]?.type).toBe("fetch");
    a.close();
    expect(a.sent.filter((m) => m.type === "abort")).toEqual([]); // closed: posting throws, caught
    const b = new FakePort();
    link.givePort(asPort(b));
    await settle();
    expect(b.sent).toMatchObject([{ type: "fetch", id, method: "GET" }]);
    // A late reply on the old port is nobody's: its body is cancelled, the request waits on.
    const late = responseFor(id as number);
    a.reply(late.reply);
    expect(late.cancelled()).toBe(true);
    const good = responseFor(id as number);
    b.reply(good.reply);
    expect(await result).toBe(good.reply);
    expect(good.cancelled()).toBe(false);
  });

  it("posts an AppAbort on a port that stopped answering before sending the GET again", async () => {
    const link = new PortLink(() => undefined);
    const a = new FakePort();
    link.givePort(asPort(a));
    void link.request(fetchOf("get"), { waitMs: 1000 });
    await settle();
    const id = a.sent[0]?.id;
    await vi.advanceTimersByTimeAsync(20_000); // probe, then no answer to it
    expect(a.sent.map((m) => m.type)).toEqual(["fetch", "cookie-get", "abort"]);
    expect(a.sent[2]?.id).toBe(id);
  });

  it("never sends a DELETE or a body-less POST twice", async () => {
    for (const method of ["DELETE", "POST", "PUT", "PATCH"]) {
      const link = new PortLink(() => undefined);
      const a = new FakePort();
      link.givePort(asPort(a));
      const result = link.request(fetchOf(method), { waitMs: 1000 });
      await settle();
      await vi.advanceTimersByTimeAsync(20_000); // the port stops answering
      const b = new FakePort();
      link.givePort(asPort(b));
      await settle();
      expect(b.sent, method).toEqual([]);
      await vi.advanceTimersByTimeAsync(LOST_GRACE_MS);
      expect(await result).toMatchObject({ type: "error", code: "failed" });
      expect(a.sent.at(-1), method).toMatchObject({ type: "abort", id: a.sent[0]?.id });
    }
  });

  it("cancels the body of a reply that comes after the request was aborted", async () => {
    const link = new PortLink(() => undefined);
    const a = new FakePort();
    link.givePort(asPort(a));
    const abort = new AbortController();
    const result = link.request(fetchOf("GET"), { waitMs: 1000, signal: abort.signal });
    await settle();
    const id = a.sent[0]?.id as number;
    abort.abort();
    expect(await result).toMatchObject({ type: "error", code: "aborted" });
    expect(a.sent.at(-1)).toEqual({ type: "abort", id });
    const late = responseFor(id);
    a.reply(late.reply);
    expect(late.cancelled()).toBe(true);
    // An unknown id too.
    const stray = responseFor(999);
    a.reply(stray.reply);
    expect(stray.cancelled()).toBe(true);
  });
});
