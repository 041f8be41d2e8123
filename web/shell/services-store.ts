// The web services a person added to a host (issue 16 item 5): ports, kept by the page in its
// own localStorage (nothing secret: a host name and port numbers), per origin like everything a
// page stores. The engine's records would be the other place, but its API is the engine's own
// (worker/api.ts) and the map carries no services yet: when it does, these become additions to
// what the map announces. Read back with bounds, since storage may be edited by hand.

/** A web service of a host: a TCP port speaking HTTP, with an optional name ("Jupyter"). */
export interface WebService {
  port: number;
  /** What the person called it ("" when unnamed). */
  name: string;
}

/** The storage key: `{ "<network id>": { "<host>": WebService[] } }`. */
export const SERVICES_KEY = "corridor.services";

/** Bounds on what is kept and read back. */
export const MAX_SERVICES_PER_HOST = 32;
const MAX_HOSTS = 500;
export const MAX_SERVICE_NAME = 40;
const MAX_HOST_TEXT = 255;

type Stored = Record<string, Record<string, WebService[]>>;

function isPort(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= 1 && value <= 65535;
}

function readServices(value: unknown): WebService[] {
  if (!Array.isArray(value)) return [];
  const out: WebService[] = [];
  for (const item of value.slice(0, MAX_SERVICES_PER_HOST) as unknown[]) {
    if (typeof item !== "object" || item === null) continue;
    const { port, name } = item as Record<string, unknown>;
    if (!isPort(port) || out.some((s) => s.port === port)) continue;
    out.push({ port, name: typeof name === "string" ? name.slice(0, MAX_SERVICE_NAME) : "" });
  }
  return out.sort((a, b) => a.port - b.port);
}

function load(): Stored {
  const out: Stored = {};
  try {
    const parsed = JSON.parse(localStorage.getItem(SERVICES_KEY) ?? "{}") as unknown;
    if (typeof parsed !== "object" || parsed === null) return out;
    for (const [network, hosts] of Object.entries(parsed).slice(0, MAX_HOSTS)) {
      if (typeof hosts !== "object" || hosts === null) continue;
      const kept: Record<string, WebService[]> = {};
      for (const [host, list] of Object.entries(hosts as object).slice(0, MAX_HOSTS)) {
        if (host.length === 0 || host.length > MAX_HOST_TEXT) continue;
        const services = readServices(list);
        if (services.length > 0) kept[host] = services;
      }
      out[network] = kept;
    }
  } catch {
    // unreadable storage (blocked, or not JSON): no services
  }
  return out;
}

function save(stored: Stored): void {
  try {
    localStorage.setItem(SERVICES_KEY, JSON.stringify(stored));
  } catch {
    // storage full or blocked: the list lives on in this page only
  }
}

/** The services of `host` on `networkId` ("mesh" for the mesh), sorted by port. */
export function hostServices(networkId: string, host: string): WebService[] {
  return load()[networkId]?.[host.toLowerCase()] ?? [];
}

/**
 * Adds (or renames) the service on `port`. Throws an Error saying why for a bad port or a full
 * list; returns the host's services after the change.
 */
export function addHostService(networkId: string, host: string, service: WebService): WebService[] {
  if (!isPort(service.port)) throw new Error("a port is a whole number from 1 to 65535");
  const stored = load();
  const hosts = stored[networkId] ?? {};
  const key = host.toLowerCase();
  const list = (hosts[key] ?? []).filter((s) => s.port !== service.port);
  if (list.length >= MAX_SERVICES_PER_HOST) {
    throw new Error(`a host keeps at most ${MAX_SERVICES_PER_HOST} web services`);
  }
  list.push({ port: service.port, name: service.name.trim().slice(0, MAX_SERVICE_NAME) });
  hosts[key] = list.sort((a, b) => a.port - b.port);
  stored[networkId] = hosts;
  save(stored);
  return hosts[key];
}

/** Removes the service on `port`; returns the host's services after the change. */
export function removeHostService(networkId: string, host: string, port: number): WebService[] {
  const stored = load();
  const hosts = stored[networkId] ?? {};
  const key = host.toLowerCase();
  const list = (hosts[key] ?? []).filter((s) => s.port !== port);
  if (list.length === 0) delete hosts[key];
  else hosts[key] = list;
  stored[networkId] = hosts;
  save(stored);
  return list;
}
