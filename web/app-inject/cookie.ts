// document.cookie on an app origin (docs/private-urls.md, "Service worker and injected script"):
// a service worker's responses cannot set the browser's cookies, so the engine keeps the app's
// cookie jar and the injected script shows the page a cached copy of its document.cookie string.
// The cache starts from the service worker (the script tag's data-cookie), a write updates it at
// once (as the browser would, roughly) and goes to the engine (AppCookieSet through the worker),
// and the worker's "corridor-cookies" messages replace it with the engine's view (after every
// response that changed it, and after each write, so a write the jar refused is undone).

/** The longest document.cookie assignment the engine takes (APP_PORT_LIMITS.cookie). */
export const MAX_ASSIGNMENT = 8 * 1024;

/** The name of a cookie pair ("" for a nameless one) and the pair as document.cookie shows it. */
function pairOf(text: string): { name: string; pair: string } {
  const trimmed = text.trim();
  const eq = trimmed.indexOf("=");
  if (eq < 0) return { name: "", pair: trimmed };
  const name = trimmed.slice(0, eq).trim();
  const value = trimmed.slice(eq + 1).trim();
  return { name, pair: name === "" ? value : `${name}=${value}` };
}

/** True when a cookie with this Path is visible at `pathname` (RFC 6265 §5.1.4). */
function pathMatches(cookiePath: string, pathname: string): boolean {
  if (!cookiePath.startsWith("/")) return true; // an invalid Path means the default: shown
  if (cookiePath === pathname) return true;
  if (!pathname.startsWith(cookiePath)) return false;
  return cookiePath.endsWith("/") || pathname[cookiePath.length] === "/";
}

/**
 * The document.cookie string after `assignment` (`name=value; attributes`) on a page at
 * `pathname`, at time `now`: the browser's behaviour closely enough for the moment until the
 * engine's own answer arrives (HttpOnly ignored, expired or Max-Age<=0 removes, Path outside
 * this page hides it).
 */
export function applyAssignment(
  current: string,
  assignment: string,
  pathname: string,
  now: number,
): string {
  const [first = "", ...attributes] = assignment.split(";");
  const { name, pair } = pairOf(first);
  let remove = false;
  for (const attribute of attributes) {
    const eq = attribute.indexOf("=");
    const key = (eq < 0 ? attribute : attribute.slice(0, eq)).trim().toLowerCase();
    const value = eq < 0 ? "" : attribute.slice(eq + 1).trim();
    if (key === "httponly") return current; // the browser ignores it from script
    if (key === "max-age" && /^-?\d+$/.test(value) && Number(value) <= 0) remove = true;
    if (key === "expires") {
      const when = Date.parse(value);
      if (!Number.isNaN(when) && when <= now) remove = true;
    }
    if (key === "path" && !pathMatches(value, pathname)) return current;
  }
  const pairs = current === "" ? [] : current.split("; ");
  const kept = pairs.filter((p) => pairOf(p).name !== name);
  if (!remove && (name !== "" || pair !== "")) kept.push(pair);
  return kept.join("; ");
}

/** The cached document.cookie of a page. */
export interface CookieCache {
  /** The engine's view arrived: `fromWrite` when it answers a write of this page. */
  refresh(value: string, fromWrite: boolean): void;
}

/**
 * Defines document.cookie on `doc` over a cache starting at `initial`; `write` hands an
 * assignment to the engine (returns false when it could not be sent).
 */
export function installDocumentCookie(
  doc: Document,
  initial: string,
  write: (assignment: string) => boolean,
): CookieCache {
  let cache = initial;
  // Writes whose answer has not come: an update computed before them must not undo them.
  let unanswered = 0;
  let unansweredTimer: ReturnType<typeof setTimeout> | undefined;
  Object.defineProperty(doc, "cookie", {
    configurable: true,
    enumerable: true,
    get: () => cache,
    set: (value: unknown) => {
      const assignment = String(value);
      if (assignment.length > MAX_ASSIGNMENT) return; // browsers drop cookies over 4 KiB
      cache = applyAssignment(cache, assignment, location.pathname, Date.now());
      if (write(assignment)) {
        unanswered++;
        clearTimeout(unansweredTimer);
        unansweredTimer = setTimeout(() => {
          unanswered = 0;
        }, 5_000);
      }
    },
  });
  return {
    refresh(value, fromWrite) {
      if (fromWrite) unanswered = Math.max(0, unanswered - 1);
      else if (unanswered > 0) return;
      cache = value;
    },
  };
}
