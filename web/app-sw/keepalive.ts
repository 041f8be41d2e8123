// Keeping the app origin's service worker alive while response bodies stream
// (docs/private-urls.md, "Service worker and injected script"). Chromium stops an idle worker
// after about 30 s even while a body it made is being read, which would cut a long download or
// an event stream. Every body the worker hands over is wrapped (tracked); while any is being
// read, the pages are told "corridor-hold" and ping "corridor-keepalive" every 10 s, and each
// ping extends the worker's life until the bodies end (25 s at most per ping). A body nobody
// reads (a response the app ignored) stops counting after a minute.

import type { SwClient } from "./scope.ts";

let windowClients: () => Promise<readonly SwClient[]> = async () => [];

/** Tells the module how to reach the pages. */
export function keepaliveClients(list: () => Promise<readonly SwClient[]>): void {
  windowClients = list;
}

/** A body being handed to a page: whether it is still read. */
interface Tracker {
  done: Promise<void>;
  /** A read from the engine's stream is under way (an event stream waiting for data). */
  pulling: boolean;
  /** When the page last asked for more. */
  lastPull: number;
}

/** A body nobody asked more of for this long no longer keeps the worker alive (never read). */
const ABANDONED_MS = 60_000;

/** Bodies not yet ended. */
const streaming = new Set<Tracker>();
/** Whether the pages were told to ping. */
let holding = false;

/** The bodies being read now (an unread one must not keep the worker alive for ever). */
export function activeBodies(): Tracker[] {
  const now = Date.now();
  return [...streaming].filter((t) => t.pulling || now - t.lastPull < ABANDONED_MS);
}

/** Waits for the bodies being read, at most `ms`. */
export function holdFor(ms: number): Promise<unknown> {
  const timer = new Promise<void>((resolve) => setTimeout(resolve, ms));
  return Promise.race([Promise.all(activeBodies().map((t) => t.done)), timer]);
}

/** Tells the pages to ping this worker (or to stop) while bodies stream. */
async function tellHold(on: boolean): Promise<void> {
  if (holding === on) return;
  holding = on;
  for (const client of await windowClients()) client.postMessage({ type: "corridor-hold", on });
}

/** A page pinged ("corridor-keepalive"): what extends the worker's life, or null to stop it. */
export function onKeepalive(): Promise<unknown> | null {
  if (activeBodies().length > 0) return holdFor(25_000);
  holding = false;
  return null;
}

/** Wraps a body so that the worker knows when it ends (read to the end, failed or cancelled). */
export function tracked(body: ReadableStream<Uint8Array>): {
  body: ReadableStream<Uint8Array>;
  done: Promise<void>;
} {
  let end!: () => void;
  const done = new Promise<void>((resolve) => {
    end = resolve;
  });
  const tracker: Tracker = { done, pulling: false, lastPull: Date.now() };
  streaming.add(tracker);
  void tellHold(true);
  void done.then(() => {
    streaming.delete(tracker);
    if (activeBodies().length === 0) void tellHold(false);
  });
  const reader = body.getReader();
  const out = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        tracker.pulling = true;
        tracker.lastPull = Date.now();
        try {
          const { done: finished, value } = await reader.read();
          if (finished) {
            controller.close();
            end();
          } else {
            controller.enqueue(value);
          }
        } catch (error) {
          controller.error(error);
          end();
        } finally {
          tracker.pulling = false;
          tracker.lastPull = Date.now();
        }
      },
      cancel(reason) {
        end();
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
  return { body: out, done };
}
