// The pages the app origin's service worker shows on a navigation the engine could not carry
// (docs/private-urls.md, "Service worker and injected script"): what happened, in words for
// people, and what to do, with a Retry link. Static HTML with a strict CSP and no script, so an
// app's own code never runs beside it. Subresource failures get Response.error() instead (the
// app's code sees a failed fetch, as with any network error).

import type { AppErrorCode } from "../../worker/http/app-port.ts";
import { escapeAttribute } from "./html-inject.ts";

/** A private service as a page names it ("web-01:3000"). */
export interface ServiceName {
  host: string;
  port: number;
}

/** The CSP of the service worker's own pages: no script unless a nonce says so. */
export function ownPageCsp(nonce: string | null): string {
  const script = nonce === null ? "'none'" : `'nonce-${nonce}'`;
  return `default-src 'none'; script-src ${script}; style-src 'unsafe-inline'; img-src data:; form-action 'none'; base-uri 'none'; frame-ancestors 'self'`;
}

/** Escapes text for HTML element content. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The style the service worker's own pages share. */
export const PAGE_STYLE = `body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#1c1c1c;background:#fafafa}
h1{font-size:1.4rem}code{background:#eee;padding:0 .25rem;border-radius:3px}
.detail{color:#555;font-size:.9rem}a.button,button{display:inline-block;font:inherit;padding:.4rem 1rem;border:1px solid #888;border-radius:4px;background:#fff;color:inherit;text-decoration:none;cursor:pointer}
label{display:block;margin:.5rem 0}input{font:inherit;padding:.3rem;width:100%;box-sizing:border-box}
.bad{color:#a00}@media (prefers-color-scheme:dark){body{background:#1c1c1c;color:#eee}code{background:#333}.detail{color:#aaa}a.button,button,input{background:#2a2a2a;color:#eee}}`;

/** What each error code means for a person, and what to do about it. */
function explain(code: AppErrorCode, where: string): { title: string; what: string; todo: string } {
  switch (code) {
    case "unknown-host":
      return {
        title: "Host not found",
        what: `Corridor does not know a host of this name: ${where} is not in your mesh's map, and no WireGuard network of yours routes its address.`,
        todo: "Check the host's name in the Corridor page (hosts are listed there), or join the network it belongs to, then retry.",
      };
    case "offline":
      return {
        title: "Host offline",
        what: `The host of ${where} is known but not reachable now: it is offline, or its agent is not running.`,
        todo: "Start the host (or its Corridor agent) and retry. The Corridor page shows when the host comes online.",
      };
    case "refused":
      return {
        title: "Connection refused",
        what: `The host answered, but nothing listens on port ${where.split(":").pop() ?? ""}: the connection was refused.`,
        todo: "Start the service on that host, or check the port number in the address, then retry.",
      };
    case "timeout":
      return {
        title: "No answer in time",
        what: `The service at ${where} did not answer in time: the host may be overloaded or the network slow.`,
        todo: "Wait a moment and retry. If it keeps happening, check the service on its host.",
      };
    case "tls-required":
      return {
        title: "The service needs HTTPS",
        what: `The service at ${where} speaks TLS (HTTPS), which Corridor cannot carry to private hosts yet.`,
        todo: "Serve the app over plain HTTP on the private network (the mesh already encrypts it end to end), or reach it with corridor's SSH port forwarding.",
      };
    case "protocol":
      return {
        title: "Not an HTTP answer",
        what: `The service at ${where} answered with something that is not HTTP/1.1 as Corridor reads it.`,
        todo: "Check that the port belongs to a web server (not SSH or a database), then retry.",
      };
    default:
      return {
        title: "The request failed",
        what: `Corridor could not carry this request to ${where}.`,
        todo: "Retry. If it keeps failing, reopen the service from the Corridor page.",
      };
  }
}

/** Words for a page that say more than its code does (they replace the code's). */
export interface Explanation {
  title: string;
  what: string;
  todo: string;
}

/** The page's words for a response whose body is in a content coding the engine cannot decode. */
export function codingExplanation(coding: string, service: ServiceName | null): Explanation {
  const where = service === null ? "this service" : `${service.host}:${service.port}`;
  return {
    title: "Compressed in a way Corridor cannot read",
    what: `The service at ${where} sent this page compressed with “${coding}” (Content-Encoding). Corridor's engine decodes only gzip and deflate, and the browser does not decode pages Corridor carries, so it cannot be shown.`,
    todo: `Configure the server (or its reverse proxy) to send gzip or uncompressed responses: turn off ${coding === "br" ? "Brotli" : `“${coding}”`} compression for this site, then retry.`,
  };
}

/** An HTML Response explaining why a navigation to `url` failed (`words` replace the code's). */
export function errorPage(
  code: AppErrorCode,
  message: string,
  service: ServiceName | null,
  url: string,
  words?: Explanation,
): Response {
  const where = service === null ? "this service" : `${service.host}:${service.port}`;
  const { title, what, todo } = words ?? explain(code, where);
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(title)} · ${escapeHtml(where)}</title><style>${PAGE_STYLE}</style></head>
<body><main>
<h1>${escapeHtml(title)}</h1>
<p>${escapeHtml(what)}</p>
<p>${escapeHtml(todo)}</p>
<p><a class="button" id="retry" href="${escapeAttribute(url)}">Retry</a></p>
<p class="detail">Details: <code>${escapeHtml(code)}</code> ${escapeHtml(message)}</p>
</main></body></html>`;
  const status = code === "timeout" ? 504 : 502;
  return new Response(html, {
    status,
    headers: {
      "Content-Type": "text/html; charset=utf-8",
      "Content-Security-Policy": ownPageCsp(null),
      "Cache-Control": "no-store",
      "X-Corridor-Error": code,
    },
  });
}
