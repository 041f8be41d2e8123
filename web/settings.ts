// Terminal appearance, and the hosts the person allowed to write to the clipboard (OSC 52),
// kept in localStorage (nothing secret lives here) and applied to every open terminal and to
// the page's own colors.

export type ThemeName = "dark" | "light";

/** The terminal renderer: "auto" picks by what the browser's WebGL runs on (renderer-choice.ts). */
export type RendererSetting = "auto" | "webgl" | "dom";

/** A host the person allowed to set the clipboard from its terminal output (OSC 52). */
export interface ClipboardGrant {
  networkId: string;
  /** The network's name when the grant was given (shown in the settings). */
  networkName: string;
  host: string;
  port: number;
}

export interface Settings {
  fontSize: number;
  theme: ThemeName;
  renderer: RendererSetting;
  /** Off for every host until the person allows one (from the notice a write shows). */
  clipboardWriteHosts: ClipboardGrant[];
  /**
   * Direct paths to mesh hosts over WebRTC (docs/paths.md): on by default; off keeps every
   * packet on the relay, so no peer learns this browser's addresses.
   */
  directPaths: boolean;
}

const KEY = "corridor.settings";
const DEFAULTS: Settings = {
  fontSize: 14,
  theme: "dark",
  renderer: "auto",
  clipboardWriteHosts: [],
  directPaths: true,
};
export const FONT_SIZES = { min: 9, max: 28 };
/** Bounds on what is read back from storage (it is this page's, but may be edited by hand). */
const MAX_GRANTS = 200;
const MAX_GRANT_TEXT = 256;

type Listener = (settings: Settings) => void;

function load(): Settings {
  try {
    const raw = localStorage.getItem(KEY);
    if (!raw) return { ...DEFAULTS };
    const parsed = JSON.parse(raw) as Partial<Settings>;
    const fontSize = Number(parsed.fontSize);
    return {
      fontSize:
        Number.isFinite(fontSize) && fontSize >= FONT_SIZES.min && fontSize <= FONT_SIZES.max
          ? Math.round(fontSize)
          : DEFAULTS.fontSize,
      theme: parsed.theme === "light" ? "light" : "dark",
      renderer: parsed.renderer === "webgl" || parsed.renderer === "dom" ? parsed.renderer : "auto",
      clipboardWriteHosts: loadGrants(parsed.clipboardWriteHosts),
      directPaths: parsed.directPaths !== false,
    };
  } catch {
    return { ...DEFAULTS };
  }
}

function loadGrants(value: unknown): ClipboardGrant[] {
  if (!Array.isArray(value)) return [];
  const text = (v: unknown): v is string =>
    typeof v === "string" && v.length > 0 && v.length <= MAX_GRANT_TEXT;
  const grants: ClipboardGrant[] = [];
  for (const item of value.slice(0, MAX_GRANTS) as unknown[]) {
    if (typeof item !== "object" || item === null) continue;
    const { networkId, networkName, host, port } = item as Record<string, unknown>;
    if (!text(networkId) || !text(networkName) || !text(host)) continue;
    if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535) continue;
    grants.push({ networkId, networkName, host, port });
  }
  return grants;
}

let current = load();
const listeners = new Set<Listener>();

// Another tab changed the settings: take them, so this tab never writes its stale copy back
// (direct paths turned off in one tab must not come back on from another's next change).
if (typeof addEventListener === "function") {
  addEventListener("storage", (event: StorageEvent) => {
    if (event.key !== KEY) return;
    current = load();
    applyPageTheme();
    for (const listener of listeners) listener(current);
  });
}

export function getSettings(): Settings {
  return current;
}

export function updateSettings(change: Partial<Settings>): void {
  current = { ...current, ...change };
  try {
    localStorage.setItem(KEY, JSON.stringify(current));
  } catch {
    // Storage may be unavailable (private mode): the change still applies to this tab.
  }
  applyPageTheme();
  for (const listener of listeners) listener(current);
}

/** Calls `listener` on every change; returns the unsubscribe function. */
export function onSettings(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function applyPageTheme(): void {
  document.documentElement.dataset.theme = current.theme;
}

/** The host a grant is about: the same network, host and port. */
export interface ClipboardHost {
  networkId: string;
  host: string;
  port: number;
}

function sameHost(a: ClipboardHost, b: ClipboardHost): boolean {
  return a.networkId === b.networkId && a.host === b.host && a.port === b.port;
}

/** Whether the person allowed `target` to write to the clipboard. */
export function clipboardWriteAllowed(target: ClipboardHost): boolean {
  return current.clipboardWriteHosts.some((grant) => sameHost(grant, target));
}

/** Allows (or stops allowing) `grant`'s host to write to the clipboard; saved at once. */
export function setClipboardWrite(grant: ClipboardGrant, allowed: boolean): void {
  const others = current.clipboardWriteHosts.filter((g) => !sameHost(g, grant));
  updateSettings({
    clipboardWriteHosts: allowed ? [...others, { ...grant }].slice(-MAX_GRANTS) : others,
  });
}
