// The credentials page (docs/private-urls.md, "Service worker and injected script"): browsers show
// no Basic-auth dialog for a service worker's response, so a navigation answered 401 with a Basic
// challenge gets this page instead. It shows the realm and the service, asks for a user name and
// password and hands them to the service worker ("corridor-credentials" with a reply port), which
// gives them to the engine (AppCredentials: sent on the service's later requests); then the page
// reloads. Cancel ("corridor-credentials-cancel") makes the worker pass the next 401 of this URL
// through, so the reload shows the server's own 401 page. The script is inline with a nonce the
// page's CSP names: nothing else may run.

import { escapeHtml, ownPageCsp, PAGE_STYLE, type ServiceName } from "./error-page.ts";
import { escapeAttribute } from "./html-inject.ts";

/** One challenge of a WWW-Authenticate field (RFC 7235 §2.1, RFC 9110 §11.6.1). */
export interface Challenge {
  /** The auth-scheme, lower-cased ("basic"). */
  scheme: string;
  /** The token68 form's value, when the challenge has one. */
  token68: string | null;
  /** The auth-params, names lower-cased, quoted-string values unescaped (first of a name wins). */
  params: Map<string, string>;
}

const TCHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*/;

/**
 * The challenges of a WWW-Authenticate field value: `1#( auth-scheme [ 1*SP ( token68 /
 * #auth-param ) ] )`, where auth-param is `token BWS "=" BWS ( token / quoted-string )`. Commas
 * separate both challenges and a challenge's params: a list element that starts with
 * `token BWS "="` is a param of the challenge before it, any other starts a challenge. Malformed
 * elements are skipped up to the next comma outside a quoted string.
 */
export function parseChallenges(field: string): Challenge[] {
  const out: Challenge[] = [];
  let current: Challenge | null = null;
  let i = 0;
  const skipSpace = () => {
    while (field[i] === " " || field[i] === "\t") i++;
  };
  const token = (): string => {
    const from = i;
    while (i < field.length && TCHAR.test(field[i] as string)) i++;
    return field.slice(from, i);
  };
  // After a malformed element: on to the comma ending it (quoted strings may hold commas).
  const skipElement = () => {
    while (i < field.length && field[i] !== ",") {
      if (field[i] === '"') quoted();
      else i++;
    }
  };
  const quoted = (): string => {
    let value = "";
    i++; // the opening quote
    while (i < field.length && field[i] !== '"') {
      if (field[i] === "\\" && i + 1 < field.length) i++;
      value += field[i];
      i++;
    }
    i++; // the closing quote (or the end)
    return value;
  };
  // An auth-param at `i` when one starts here: its name and value; else null (i unchanged).
  const param = (): [string, string] | null => {
    const from = i;
    const name = token();
    skipSpace();
    if (name === "" || field[i] !== "=") {
      i = from;
      return null;
    }
    i++;
    skipSpace();
    const value = field[i] === '"' ? quoted() : token();
    return [name.toLowerCase(), value];
  };
  const addParam = ([name, value]: [string, string]) => {
    if (current !== null && !current.params.has(name)) current.params.set(name, value);
  };
  while (i < field.length) {
    skipSpace();
    if (field[i] === ",") {
      i++;
      continue;
    }
    const found = param();
    if (found !== null) {
      addParam(found);
    } else {
      const scheme = token();
      if (scheme === "") {
        skipElement();
        continue;
      }
      current = { scheme: scheme.toLowerCase(), token68: null, params: new Map() };
      out.push(current);
      const spaced = field[i] === " " || field[i] === "\t";
      skipSpace();
      if (spaced && i < field.length && field[i] !== ",") {
        // token68 ("abc==") when it fills the element; else the first auth-param ("realm=x").
        const t68 = TOKEN68.exec(field.slice(i));
        const after = t68 === null ? "" : field.slice(i + t68[0].length).trimStart();
        if (t68 !== null && (after === "" || after.startsWith(","))) {
          current.token68 = t68[0];
          i += t68[0].length;
        } else {
          const first = param();
          if (first !== null) addParam(first);
        }
      }
    }
    skipSpace();
    if (i < field.length && field[i] !== ",") skipElement(); // junk after the element
  }
  return out;
}

/** The realm of the first Basic challenge in WWW-Authenticate field values, or null for none. */
export function basicChallenge(fields: readonly string[]): { realm: string } | null {
  for (const field of fields) {
    const basic = parseChallenges(field).find((c) => c.scheme === "basic");
    if (basic !== undefined) return { realm: basic.params.get("realm") ?? "" };
  }
  return null;
}

// The page's script, as plain JS (it runs in the page, not bundled): messages to the worker.
const SCRIPT = `
const form = document.getElementById("credentials");
const status = document.getElementById("status");
function ask(message) {
  return new Promise((resolve) => {
    const worker = navigator.serviceWorker && navigator.serviceWorker.controller;
    if (!worker) { resolve({ error: "This tab is not carried by Corridor's service worker any more: reload it." }); return; }
    const channel = new MessageChannel();
    const timer = setTimeout(() => resolve({ error: "Corridor's service worker did not answer: reload the tab." }), 20000);
    channel.port1.onmessage = (event) => { clearTimeout(timer); resolve(event.data || {}); };
    worker.postMessage(message, [channel.port2]);
  });
}
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  status.textContent = "Signing in…";
  status.className = "";
  const answer = await ask({ type: "corridor-credentials", username: form.username.value, password: form.password.value });
  if (answer.ok) { location.reload(); return; }
  status.textContent = answer.error || "The credentials were not taken.";
  status.className = "bad";
});
document.getElementById("cancel").addEventListener("click", async () => {
  await ask({ type: "corridor-credentials-cancel", url: location.href });
  location.reload();
});
`;

/** The credentials page for `realm` on `service`; `retried` says the last ones were refused. */
export function credentialsPage(
  realm: string,
  service: ServiceName | null,
  retried: boolean,
  nonce: string,
): Response {
  const where = service === null ? "this service" : `${service.host}:${service.port}`;
  const realmText = realm === "" ? "" : ` for “${escapeHtml(realm)}”`;
  const note = retried
    ? `<p class="bad" id="refused">The server did not accept that user name and password. Try again.</p>`
    : "";
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Sign in · ${escapeHtml(where)}</title><style>${PAGE_STYLE}</style></head>
<body><main>
<h1>Sign in to ${escapeHtml(where)}</h1>
<p>The service asks for a user name and password${realmText} (HTTP Basic authentication). Corridor keeps them in this browser's engine and sends them only to ${escapeHtml(where)}.</p>
${note}<form id="credentials" autocomplete="on">
<label>User name <input name="username" id="username" autocomplete="username" autofocus></label>
<label>Password <input name="password" id="password" type="password" autocomplete="current-password"></label>
<p><button type="submit" id="submit">Sign in</button> <button type="button" id="cancel">Cancel</button></p>
<p id="status" role="status"></p>
</form>
<p class="detail">Cancel shows the server's own answer (401 Unauthorized).</p>
</main><script nonce="${escapeAttribute(nonce)}">${SCRIPT}</script></body></html>`;
  return new Response(html, {
    status: 401,
    statusText: "Unauthorized",
    headers: {
      "Content-Type": "text/html; charset=utf-8",
      "Content-Security-Policy": ownPageCsp(nonce),
      "Cache-Control": "no-store",
      "X-Corridor-Page": "credentials",
    },
  });
}
