// A real OpenID Provider (oidc-provider on loopback) in front of our API, and a browser that
// follows a sign-in like a person: cookies per host, redirects by hand, the provider's login and
// consent forms filled in. Shared by oidc.test.ts and agent-login-check.test.ts.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Provider from "oidc-provider";
import { expect } from "vitest";
import { type OidcOptions, oidcFromFlags } from "../../server/control/auth/oidc.ts";
import { listenOnLoopback } from "../helpers/ports.ts";
import { type Harness, startHarness } from "./api-harness.ts";

export const CLIENT_ID = "corridor-test";
const CLIENT_SECRET = "a-client-secret-for-this-test-only";

/** The people the provider knows, by account id. */
export const ACCOUNTS: Record<string, Record<string, unknown>> = {
  alice: { email: "alice@example.com", email_verified: true, name: "Alice Liddell" },
  eve: { email: "eve@evil.example", email_verified: true, name: "Eve" },
  mallory: { email: "mallory@example.com", email_verified: false, name: "Mallory" },
};

/** A cookie jar per host (paths ignored: the provider's path-scoped cookies do not collide). */
export class Browser {
  readonly jar = new Map<string, Map<string, string>>();

  cookieHeader(url: URL): string {
    return [...(this.jar.get(url.host) ?? new Map<string, string>())]
      .map(([k, v]) => `${k}=${v}`)
      .join("; ");
  }

  keep(url: URL, res: Response): void {
    const jar = this.jar.get(url.host) ?? new Map<string, string>();
    this.jar.set(url.host, jar);
    for (const line of res.headers.getSetCookie()) {
      const [pair = ""] = line.split(";");
      const eq = pair.indexOf("=");
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if (value === "" || /max-age=0\b/i.test(line) || /expires=Thu, 01 Jan 1970/i.test(line))
        jar.delete(name);
      else jar.set(name, value);
    }
  }

  async request(url: URL, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    const cookie = this.cookieHeader(url);
    if (cookie !== "") headers.set("cookie", cookie);
    const res = await fetch(url, { ...init, headers, redirect: "manual" });
    this.keep(url, res);
    return res;
  }
}

/** The outcome of following a sign-in to its end. */
export interface Journey {
  /** The first response from our server after the provider sent the browser back. */
  final: Response;
  finalText: string;
  /** The callback URL the provider redirected to (code, state, iss). */
  callback: URL;
  /** The provider URL our /login/oidc redirected to. */
  authorize: URL;
  /** The provider's pages on the way, in order ("login", "consent"). */
  prompts: string[];
}

/** A provider and our API with OIDC pointed at it; close() stops both. */
export interface OidcLab {
  harness: Harness;
  close(): Promise<void>;
}

/** Starts a provider and our API with OIDC pointed at it. */
export async function startOidcLab(
  rules: Pick<OidcOptions, "allowedDomains" | "allowedEmails"> = {},
): Promise<OidcLab> {
  const server = createServer();
  let h: Harness | null = null;
  let secretDir: string | null = null;
  const close = async () => {
    if (secretDir !== null) rmSync(secretDir, { recursive: true, force: true });
    await h?.close();
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  };
  const port = await listenOnLoopback(server);
  const issuer = `http://127.0.0.1:${port}`;
  h = await startHarness({
    loginRateLimit: { burst: 1000, perSecond: 1000 },
    oidc: async (baseUrl) => {
      const redirectUri = new URL("/login/oidc/callback", baseUrl).href;
      const provider = new Provider(issuer, {
        clients: [
          {
            client_id: CLIENT_ID,
            client_secret: CLIENT_SECRET,
            redirect_uris: [redirectUri],
            grant_types: ["authorization_code"],
            response_types: ["code"],
            token_endpoint_auth_method: "client_secret_basic",
          },
        ],
        findAccount: (_ctx, id) =>
          ACCOUNTS[id] === undefined
            ? undefined
            : { accountId: id, claims: () => ({ sub: id, ...ACCOUNTS[id] }) },
        claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"] },
        cookies: { keys: ["oidc-test-cookie-key"] },
        features: { devInteractions: { enabled: true } },
        pkce: { required: () => true },
        ttl: { Interaction: 600, Session: 3600, Grant: 3600, AccessToken: 600, IdToken: 600 },
      });
      server.on("request", provider.callback());
      // As `corridor serve --oidc-issuer --oidc-client-id --oidc-client-secret-file` sets it up.
      secretDir = mkdtempSync(join(tmpdir(), "corridor-oidc-test-"));
      const secretFile = join(secretDir, "client-secret");
      writeFileSync(secretFile, `${CLIENT_SECRET}\n`, { mode: 0o600 });
      return oidcFromFlags(
        { issuer, clientId: CLIENT_ID, clientSecretFile: secretFile, ...rules },
        baseUrl,
      );
    },
  }).catch(async (error: unknown) => {
    await close();
    throw error;
  });
  return { harness: h, close };
}

/** Signs in as `account` from `browser`, like a person: start, log in, consent, come back. */
export async function signIn(
  harness: Harness,
  browser: Browser,
  account: string,
  returnTo = "/",
  /** Where the browser starts (default /login/oidc?return=RETURNTO). */
  start = `/login/oidc?return=${encodeURIComponent(returnTo)}`,
): Promise<Journey> {
  const prompts: string[] = [];
  let url = new URL(start, harness.baseUrl);
  let res = await browser.request(url);
  expect(res.status).toBe(302);
  const authorize = new URL(res.headers.get("location")!);
  url = authorize;
  for (let step = 0; step < 20; step++) {
    res = await browser.request(url);
    const location = res.headers.get("location");
    if (location !== null) {
      const next = new URL(location, url);
      if (next.origin === harness.origin) {
        // Back at our server: the provider's answer to our callback.
        const final = await browser.request(next);
        return { final, finalText: await final.text(), callback: next, authorize, prompts };
      }
      url = next;
      continue;
    }
    const html = await res.text();
    expect(res.status, html).toBe(200);
    const prompt = /name="prompt" value="(login|consent)"/.exec(html)?.[1];
    if (prompt === undefined) throw new Error(`unexpected provider page: ${html.slice(0, 300)}`);
    prompts.push(prompt);
    const form: Record<string, string> =
      prompt === "login" ? { prompt, login: account, password: "any" } : { prompt };
    res = await browser.request(url, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(form).toString(),
    });
    expect([302, 303]).toContain(res.status);
    url = new URL(res.headers.get("location")!, url);
  }
  throw new Error("the sign-in did not come back after 20 steps");
}
