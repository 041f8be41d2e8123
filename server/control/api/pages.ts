// The few HTML pages a person needs before the real page (web/, issue 15) has sign-in views:
// /login (SSO button), /login/owner and /login/invite (post the link's fragment and show who is
// signed in), /approve/ID (approve or deny a waiting agent), and sentences for refused sign-ins.
// Static HTML under a strict CSP: no inline script, no style, one same-origin script file.
// The only dynamic text (a refusal's sentence) is HTML-escaped.

import { readFileSync } from "node:fs";
import type { Context, Hono } from "hono";
import type { ApiContext, ApiEnv } from "./deps.ts";

/** The CSP of every page here. */
export const PAGE_CSP =
  "default-src 'none'; script-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/** Path of the pages' script. */
export const PAGE_SCRIPT_PATH = "/login/assets/link.js";

const pageScript = readFileSync(new URL("./assets/link.js", import.meta.url), "utf8");

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

function html(title: string, body: string, mode = ""): string {
  const script = mode === "" ? "" : `\n<script type="module" src="${PAGE_SCRIPT_PATH}"></script>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(title)} · Corridor</title>${script}
</head>
<body data-mode="${mode}">
<main>
<h1>${escapeHtml(title)}</h1>
${body}
</main>
</body>
</html>
`;
}

function send(c: Context<ApiEnv>, status: 200 | 400 | 403 | 404, page: string): Response {
  c.header("Content-Security-Policy", PAGE_CSP);
  c.header("X-Content-Type-Options", "nosniff");
  c.header("Referrer-Policy", "no-referrer");
  c.header("Cache-Control", "no-store");
  return c.html(page, status);
}

/** A page with one sentence (refused or failed sign-ins); `code` is shown for support. */
export function messagePage(
  c: Context<ApiEnv>,
  status: 200 | 400 | 403 | 404,
  title: string,
  message: string,
  code = "",
): Response {
  const detail = code === "" ? "" : `\n<p><small>(${escapeHtml(code)})</small></p>`;
  return send(
    c,
    status,
    html(title, `<p id="message">${escapeHtml(message)}</p>${detail}\n<p><a href="/">Back</a></p>`),
  );
}

/** Registers the pages and their script. */
export function pageRoutes(app: Hono<ApiEnv>, ctx: ApiContext): void {
  app.get(PAGE_SCRIPT_PATH, (c) => {
    c.header("Content-Type", "text/javascript; charset=utf-8");
    c.header("X-Content-Type-Options", "nosniff");
    c.header("Cache-Control", "no-cache");
    return c.body(pageScript);
  });

  app.get("/login", (c) => {
    const sso =
      ctx.oidc === null
        ? "<p>No identity provider is configured: sign in with the owner link printed at start, or an invitation.</p>"
        : `<p><a href="/login/oidc">Sign in with ${escapeHtml(new URL(ctx.oidc.issuer).host)}</a></p>`;
    return send(c, 200, html("Sign in", sso));
  });

  const linkPage = (title: string, mode: string) => (c: Context<ApiEnv>) =>
    send(c, 200, html(title, '<p id="message">Signing in…</p>', mode));
  app.get("/login/owner", linkPage("Sign in as owner", "owner"));
  app.get("/login/invite", linkPage("Accept invitation", "invite"));
  app.get("/approve/:id{[A-Za-z0-9_-]{1,64}}", (c) =>
    send(c, 200, html("Approve a device", '<p id="message">Loading…</p>', "approve")),
  );
}
