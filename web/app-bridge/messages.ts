// The messages between an app origin's page and the Corridor-origin bridge iframe
// (docs/private-urls.md, "Bridge and bootstrap"). They travel as window messages: the bridge
// says it is ready to its parent, the page asks for a port (transferring one end of a fresh
// MessageChannel), and the bridge answers on the window with the request's id once the engine
// holds that end, or with the reason it refused. The request names no service: the bridge takes
// the service from the message's origin, which the browser sets and the page cannot forge.

/** The path of the bridge page on the Corridor origin (never served on an app origin). */
export const BRIDGE_PATH = "/__corridor/bridge";
/** The path, on an app origin, of the JSON naming the Corridor origin (BridgeConfig). */
export const CONFIG_PATH = "/__corridor/config.json";

/** What `/__corridor/config.json` answers on an app origin. */
export interface BridgeConfig {
  /** The Corridor page's origin, e.g. "http://corridor.localhost:8080". */
  corridorOrigin: string;
}

/** The bridge to its parent, once it listens. */
export interface BridgeReady {
  type: "corridor-bridge-ready";
}

/** The page to the bridge: bind the transferred port (event.ports[0]) to this origin's service. */
export interface BridgeRequest {
  type: "corridor-bridge-request";
  /** Chosen by the page; the answer carries it back. */
  id: number;
}

/** The bridge to the page: the engine holds the port of request `id` (or refused it). */
export type BridgeAnswer =
  | { type: "corridor-bridge-ready-port"; id: number }
  | { type: "corridor-bridge-error"; id: number; error: string };

/** Whether a message's data is a BridgeAnswer. */
export function isBridgeAnswer(data: unknown): data is BridgeAnswer {
  if (typeof data !== "object" || data === null) return false;
  const d = data as Record<string, unknown>;
  if (typeof d.id !== "number") return false;
  return (
    d.type === "corridor-bridge-ready-port" ||
    (d.type === "corridor-bridge-error" && typeof d.error === "string")
  );
}

/** Whether a message's data is a BridgeRequest. */
export function isBridgeRequest(data: unknown): data is BridgeRequest {
  if (typeof data !== "object" || data === null) return false;
  const d = data as Record<string, unknown>;
  return d.type === "corridor-bridge-request" && Number.isSafeInteger(d.id);
}
