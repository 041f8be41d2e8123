// Samples the JS heap of every browser target a transfer's bytes cross: the page, the engine's
// SharedWorker (or its per-tab Worker) and the download service worker. A page-level CDP session
// sees only the page's heap, so a leak in a worker would pass unnoticed; this attaches to each
// target of the origin from a browser-level session (new targets, e.g. a service worker that
// starts with the download, are picked up on the next tick) and keeps each one's peak.

import type { Browser, CDPSession } from "playwright-core";

/** The target types whose heaps a transfer's bytes may cross. */
const SAMPLED_TYPES = new Set(["shared_worker", "service_worker", "worker"]);

/** One sampled target's peak: its CDP type, its script or page URL and the largest used heap. */
export interface TargetHeapPeak {
  type: string;
  url: string;
  peak: number;
}

/** A running sampler; `stop` ends it and resolves with every sampled target's peak. */
export interface HeapSampler {
  stop(): Promise<TargetHeapPeak[]>;
}

interface Attached {
  sessionId: string;
  peak: TargetHeapPeak;
}

/**
 * Starts sampling `Runtime.getHeapUsage` every `intervalMs` on the page (through `pageCdp`, its
 * own page-level session) and on each worker target whose URL starts with `origin`. Workers are
 * attached non-flat (Target.sendMessageToTarget) because Playwright's CDPSession cannot address
 * a child session id. The page is read through its page-level session instead: with a non-flat
 * session attached to the page as well, the next test's setInputFiles of a 48 MiB buffer timed
 * out in 2 runs of 2 (with the page's own session it passed).
 */
export async function sampleTargetHeaps(
  browser: Browser,
  pageCdp: CDPSession,
  origin: string,
  intervalMs = 200,
): Promise<HeapSampler> {
  const cdp: CDPSession = await browser.newBrowserCDPSession();
  const attached = new Map<string, Attached>();
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  cdp.on("Target.receivedMessageFromTarget", ({ message }) => {
    const reply = JSON.parse(message) as {
      id?: number;
      result?: unknown;
      error?: { message: string };
    };
    const waiter = reply.id === undefined ? undefined : pending.get(reply.id);
    if (!waiter || reply.id === undefined) return;
    pending.delete(reply.id);
    if (reply.error) waiter.reject(new Error(reply.error.message));
    else waiter.resolve(reply.result);
  });
  const call = (sessionId: string, method: string): Promise<unknown> => {
    const id = nextId++;
    const answer = new Promise<unknown>((resolve, reject) => pending.set(id, { resolve, reject }));
    void cdp
      .send("Target.sendMessageToTarget", { sessionId, message: JSON.stringify({ id, method }) })
      .catch((error: Error) => {
        pending.get(id)?.reject(error);
        pending.delete(id);
      });
    return answer;
  };

  const pagePeak: TargetHeapPeak = { type: "page", url: origin, peak: 0 };
  const tick = async () => {
    const { usedSize } = await pageCdp.send("Runtime.getHeapUsage");
    pagePeak.peak = Math.max(pagePeak.peak, usedSize);
    const { targetInfos } = await cdp.send("Target.getTargets");
    for (const t of targetInfos) {
      if (!SAMPLED_TYPES.has(t.type) || !t.url.startsWith(origin) || attached.has(t.targetId)) {
        continue;
      }
      const { sessionId } = await cdp.send("Target.attachToTarget", {
        targetId: t.targetId,
        flatten: false,
      });
      attached.set(t.targetId, { sessionId, peak: { type: t.type, url: t.url, peak: 0 } });
    }
    const alive = new Set(targetInfos.map((t) => t.targetId));
    await Promise.all(
      [...attached].map(async ([targetId, a]) => {
        if (!alive.has(targetId)) return;
        // A target that ends between getTargets and the reply answers nothing: bound the wait.
        const usage = (await Promise.race([
          call(a.sessionId, "Runtime.getHeapUsage").catch(() => undefined),
          new Promise((r) => setTimeout(r, 2_000)),
        ])) as { usedSize?: number } | undefined;
        if (typeof usage?.usedSize === "number")
          a.peak.peak = Math.max(a.peak.peak, usage.usedSize);
      }),
    );
  };

  let running = true;
  await tick();
  const loop = (async () => {
    while (running) {
      await new Promise((r) => setTimeout(r, intervalMs));
      await tick();
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      await tick();
      for (const a of attached.values()) {
        await cdp
          .send("Target.detachFromTarget", { sessionId: a.sessionId })
          .catch(() => undefined);
      }
      await cdp.detach().catch(() => undefined);
      return [pagePeak, ...[...attached.values()].map((a) => a.peak)];
    },
  };
}
