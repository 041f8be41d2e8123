// Streams one remote file to disk without holding it in memory. Where the browser has the File
// System Access API (showSaveFilePicker: Chromium), the person picks the file and the bytes are
// piped into it; elsewhere the download service worker (web/download-sw.ts, registered here on
// the first download) serves them as an attachment to the browser's download manager. Either
// way the engine's bytes are acknowledged only as they are written, so at most the transfer
// window (4 MiB) is in memory, and a download that fails or is cancelled is never complete.

import { proxy, transfer } from "comlink";
import type { FileEntry } from "../../worker/api.ts";
import type { Engine } from "../engine.ts";
import { downloadStream } from "./port-stream.ts";
import type { RunningTransfer, TransferOutcome } from "./uploads.ts";

const SW_URL = "/download-sw.js";
const SW_SCOPE = "/__corridor/download/";

interface SavePicker {
  showSaveFilePicker(options: { suggestedName: string }): Promise<{
    createWritable(): Promise<WritableStream<Uint8Array>>;
  }>;
}

let worker: Promise<ServiceWorker> | undefined;

/** The active download service worker, registered on first use. */
function downloadWorker(): Promise<ServiceWorker> {
  worker ??= (async () => {
    if (!("serviceWorker" in navigator)) {
      throw new Error("this browser has neither showSaveFilePicker nor service workers");
    }
    const registration = await navigator.serviceWorker.register(SW_URL, { scope: SW_SCOPE });
    const sw = registration.active ?? registration.waiting ?? registration.installing;
    if (sw === null) throw new Error("the download service worker did not install");
    if (sw.state !== "activated") {
      await new Promise<void>((resolve, reject) => {
        const check = () => {
          if (sw.state === "activated") resolve();
          else if (sw.state === "redundant")
            reject(new Error("the download service worker failed"));
        };
        sw.addEventListener("statechange", check);
        check();
      });
    }
    return sw;
  })().catch((error: unknown) => {
    worker = undefined;
    throw error;
  });
  return worker;
}

/** Whether downloads go through showSaveFilePicker (which needs the click's user activation). */
export function usesSavePicker(): boolean {
  return typeof (window as unknown as Partial<SavePicker>).showSaveFilePicker === "function";
}

/**
 * Downloads `entry` of the session. Call it straight from the click: the save picker needs the
 * person's gesture. `onBytes` hears the bytes read so far (the engine's progress).
 */
export function downloadFile(
  engine: Engine,
  sessionId: string,
  entry: FileEntry,
  onBytes: (bytes: number) => void,
): RunningTransfer {
  let settle!: (outcome: TransferOutcome) => void;
  const done = new Promise<TransferOutcome>((resolve) => (settle = resolve));
  let cancelled = false;
  let stop: () => void = () => undefined;
  const running: RunningTransfer = {
    id: undefined,
    done,
    cancel() {
      cancelled = true;
      stop();
      if (running.id !== undefined) void engine.cancelTransfer(running.id).catch(() => undefined);
    },
  };
  const progress = proxy({ onProgress: (bytes: number) => onBytes(bytes) });
  const fail = (error: unknown) =>
    settle({
      ok: false,
      cancelled,
      message: cancelled ? "cancelled" : error instanceof Error ? error.message : String(error),
    });
  const start = async (port: MessagePort) => {
    const started = await engine.download(sessionId, entry.path, transfer(port, [port]), progress);
    running.id = started.id;
    if (cancelled) void engine.cancelTransfer(started.id).catch(() => undefined);
  };
  if (usesSavePicker()) {
    const picker = (window as unknown as SavePicker).showSaveFilePicker({
      suggestedName: entry.name,
    });
    void (async () => {
      const handle = await picker;
      const channel = new MessageChannel();
      let outcome: TransferOutcome | undefined;
      const body = downloadStream(channel.port1, {
        onEnd: (end) => {
          outcome = end.ok ? end : { ok: false, cancelled, message: end.message };
        },
      });
      await start(channel.port2);
      const writable = await handle.createWritable();
      const abort = new AbortController();
      stop = () => abort.abort(new Error("cancelled"));
      // pipeTo aborts the writable on failure: the picked file keeps its old content.
      await body.pipeTo(writable, { signal: abort.signal });
      settle(outcome ?? { ok: false, cancelled, message: "the download ended early" });
    })().catch(fail);
    return running;
  }
  void (async () => {
    const sw = await downloadWorker();
    const data = new MessageChannel();
    const reply = new MessageChannel();
    let frame: HTMLIFrameElement | undefined;
    await start(data.port2);
    const ready = new Promise<void>((resolve, reject) => {
      reply.port1.onmessage = (
        event: MessageEvent<{ type: string; ok?: boolean; message?: string; bytes?: number }>,
      ) => {
        const m = event.data;
        if (m.type === "ready") resolve();
        else if (m.type === "end") {
          frame?.remove();
          reply.port1.close();
          if (m.ok) settle({ ok: true, bytes: m.bytes ?? 0 });
          else
            settle({
              ok: false,
              cancelled,
              message: cancelled ? "cancelled" : (m.message ?? "failed"),
            });
          reject(new Error(m.message ?? "failed"));
        }
      };
    });
    sw.postMessage(
      { type: "corridor-download", id: running.id, name: entry.name, size: entry.size },
      [data.port1, reply.port2],
    );
    await ready;
    // The worker would be stopped while idle even with the response streaming: ping it.
    const keepalive = setInterval(() => sw.postMessage({ type: "corridor-keepalive" }), 10_000);
    void done.finally(() => clearInterval(keepalive));
    // The browser fetches the attachment through the worker; the frame never shows anything.
    frame = document.createElement("iframe");
    frame.hidden = true;
    frame.src = `${SW_SCOPE}${running.id}`;
    document.body.appendChild(frame);
  })().catch(fail);
  return running;
}
