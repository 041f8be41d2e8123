// Getting an app port (docs/private-urls.md, "Bridge and bootstrap"; DESIGN §9.4). Runs on an
// app origin (`<label>.<apps domain>`): in the bootstrap page and in the script injected into
// the app's pages, never in the service worker (a worker cannot hold an iframe). It reads the
// Corridor origin from the same-origin /__corridor/config.json (the server knows its public
// URL and port; the app origin's own page cannot be trusted to say), frames
// `<Corridor origin>/__corridor/bridge` once, hidden, and asks it for a port: a MessagePort
// whose other end the engine holds, bound to the service this origin names. The page never
// names the service; the bridge takes it from the message's origin.

import {
  BRIDGE_PATH,
  type BridgeConfig,
  type BridgeRequest,
  CONFIG_PATH,
  isBridgeAnswer,
} from "./messages.ts";

/** How long the bridge iframe may take to load and say it is ready. */
export const BRIDGE_READY_TIMEOUT_MS = 15_000;
/** How long the engine may take to take a port (it may have to start first). */
export const BRIDGE_PORT_TIMEOUT_MS = 30_000;

/** A failure to get an app port; `message` says what happened and what to do. */
export class AppPortError extends Error {
  override name = "AppPortError";
}

/** The bridge iframe, once ready, and the origin it must answer from. */
interface Bridge {
  frame: HTMLIFrameElement;
  origin: string;
}

let bridge: Promise<Bridge> | undefined;
let nextId = 1;
let knownOrigin: string | undefined;

/** The Corridor origin once config.json named it (for a link to the page in error messages). */
export function knownCorridorOrigin(): string | undefined {
  return knownOrigin;
}

/** The Corridor origin, from the app origin's /__corridor/config.json. */
async function corridorOrigin(): Promise<string> {
  let response: Response;
  try {
    response = await fetch(CONFIG_PATH, { cache: "no-store", credentials: "omit" });
  } catch (error) {
    throw new AppPortError(
      `Corridor's server did not answer ${CONFIG_PATH} (${String(error)}): is corridor serve running?`,
    );
  }
  if (!response.ok) {
    throw new AppPortError(
      `Corridor's server answered ${CONFIG_PATH} with ${response.status}: is this a Corridor private URL?`,
    );
  }
  const config = (await response.json().catch(() => undefined)) as
    | Partial<BridgeConfig>
    | undefined;
  const origin = config?.corridorOrigin;
  let parsed: URL;
  try {
    parsed = new URL(String(origin));
  } catch {
    throw new AppPortError(`${CONFIG_PATH} names no Corridor origin`);
  }
  if (parsed.origin !== origin || (parsed.protocol !== "http:" && parsed.protocol !== "https:")) {
    throw new AppPortError(`${CONFIG_PATH} names no Corridor origin: ${String(origin)}`);
  }
  knownOrigin = parsed.origin;
  return parsed.origin;
}

/** Frames the bridge and waits for its "ready". */
async function openBridge(): Promise<Bridge> {
  const origin = await corridorOrigin();
  const frame = document.createElement("iframe");
  frame.src = `${origin}${BRIDGE_PATH}`;
  frame.title = "Corridor bridge";
  frame.setAttribute("aria-hidden", "true");
  frame.tabIndex = -1;
  // CSSOM, not a style attribute: an app's CSP may forbid inline styles but never this.
  frame.style.display = "none";
  const ready = new Promise<Bridge>((resolve, reject) => {
    const timer = setTimeout(() => {
      removeEventListener("message", onMessage);
      frame.remove();
      reject(
        new AppPortError(
          `The Corridor page at ${origin} did not answer within ${BRIDGE_READY_TIMEOUT_MS / 1000} s: check that corridor serve is running and open ${origin}/ in this browser.`,
        ),
      );
    }, BRIDGE_READY_TIMEOUT_MS);
    const onMessage = (event: MessageEvent) => {
      if (event.source !== frame.contentWindow || event.origin !== origin) return;
      const data = event.data as { type?: unknown } | null;
      if (data?.type !== "corridor-bridge-ready") return;
      clearTimeout(timer);
      removeEventListener("message", onMessage);
      resolve({ frame, origin });
    };
    addEventListener("message", onMessage);
  });
  (document.body ?? document.documentElement).append(frame);
  return ready;
}

/** The ready bridge, framed on first use and reused; framed again if it was removed. */
function currentBridge(): Promise<Bridge> {
  const pending = bridge;
  if (pending !== undefined) {
    return pending.then((b) => {
      if (b.frame.isConnected && b.frame.contentWindow !== null) return b;
      bridge = undefined;
      return currentBridge();
    });
  }
  const opening = openBridge();
  bridge = opening;
  opening.catch(() => {
    if (bridge === opening) bridge = undefined; // the next request tries again
  });
  return opening;
}

/**
 * A MessagePort to the engine, bound to the service this app origin names: the other end of a
 * fresh MessageChannel, handed to the engine by the Corridor-origin bridge. Rejects with an
 * AppPortError saying what went wrong (no Corridor page answering, the bridge refusing this
 * origin, the engine unable to reach the service's network) and what to do.
 */
export async function requestAppPort(): Promise<MessagePort> {
  const { frame, origin } = await currentBridge();
  const target = frame.contentWindow;
  if (target === null) throw new AppPortError("the Corridor bridge iframe is gone");
  const id = nextId++;
  const channel = new MessageChannel();
  return new Promise<MessagePort>((resolve, reject) => {
    const timer = setTimeout(() => {
      done();
      channel.port1.close();
      reject(
        new AppPortError(
          `Corridor's engine did not take this tab's port within ${BRIDGE_PORT_TIMEOUT_MS / 1000} s: open ${origin}/ in this browser and check that the network reaching this host is started.`,
        ),
      );
    }, BRIDGE_PORT_TIMEOUT_MS);
    const onMessage = (event: MessageEvent) => {
      if (event.source !== target || event.origin !== origin) return;
      if (!isBridgeAnswer(event.data) || event.data.id !== id) return;
      done();
      if (event.data.type === "corridor-bridge-ready-port") resolve(channel.port1);
      else {
        channel.port1.close();
        reject(new AppPortError(event.data.error));
      }
    };
    const done = () => {
      clearTimeout(timer);
      removeEventListener("message", onMessage);
    };
    addEventListener("message", onMessage);
    const request: BridgeRequest = { type: "corridor-bridge-request", id };
    target.postMessage(request, origin, [channel.port2]);
  });
}
