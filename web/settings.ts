// Terminal appearance, kept in localStorage (nothing secret lives here) and applied to every
// open terminal and to the page's own colors.

export type ThemeName = "dark" | "light";

export interface Settings {
  fontSize: number;
  theme: ThemeName;
}

const KEY = "corridor.settings";
const DEFAULTS: Settings = { fontSize: 14, theme: "dark" };
export const FONT_SIZES = { min: 9, max: 28 };

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
    };
  } catch {
    return { ...DEFAULTS };
  }
}

let current = load();
const listeners = new Set<Listener>();

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
