// Sign-in with any standard OpenID Provider (openid-client): discovery, then the authorization
// code flow with PKCE (S256), state and nonce. The attempt's secrets stay on the server
// (login-state.ts); a short-lived HttpOnly cookie holding the state binds the callback to the
// browser that started it, so nobody can finish a sign-in in someone else's browser. Users are
// keyed by (issuer, subject): emails change and can be reused (Headscale 0.24's fix). The email
// counts only when the provider did not say it is unverified.

import { readFile } from "node:fs/promises";
import * as oidc from "openid-client";
import { LOGIN_ATTEMPT_TTL_MS, PendingLogins } from "./login-state.ts";

/** What `corridor serve --oidc-*` configures. */
export interface OidcOptions {
  /** Issuer URL (discovery at ISSUER/.well-known/openid-configuration). */
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Where the provider sends the browser back: BASE/login/oidc/callback. */
  redirectUri: string;
  /** Email domains admitted (lowercase, "example.com"); empty: no domain rule. */
  allowedDomains?: string[];
  /** Email addresses admitted; empty: no address rule. */
  allowedEmails?: string[];
  /** Accept an http:// issuer on loopback (tests, local development); never elsewhere. */
  allowHttpIssuer?: boolean;
}

/** What the `--oidc-*` flags give. */
export interface OidcFlags {
  issuer: string;
  clientId: string;
  /** File holding the client secret (kept out of argv and the environment). */
  clientSecretFile: string;
  allowedDomains?: string[];
  allowedEmails?: string[];
}

function isLoopbackHost(hostname: string): boolean {
  return hostname === "localhost" || hostname === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

/**
 * Sets up OIDC from `corridor serve`/`corridor control` flags: reads the secret file, points the
 * callback at BASE/login/oidc/callback and discovers the provider. An http:// issuer is
 * accepted on loopback only.
 */
export async function oidcFromFlags(flags: OidcFlags, baseUrl: string): Promise<OidcLogin> {
  const issuer = new URL(flags.issuer);
  return OidcLogin.discover({
    issuer: flags.issuer,
    clientId: flags.clientId,
    clientSecret: await readClientSecretFile(flags.clientSecretFile),
    redirectUri: new URL("/login/oidc/callback", baseUrl).href,
    allowedDomains: (flags.allowedDomains ?? []).map((d) => d.toLowerCase()),
    allowedEmails: flags.allowedEmails ?? [],
    allowHttpIssuer: issuer.protocol === "http:" && isLoopbackHost(issuer.hostname),
  });
}

/**
 * How far the provider's clock may be behind ours when a fresh sign-in's auth_time is checked
 * (auth_time has whole seconds; two machines' clocks differ by a little).
 */
export const AUTH_TIME_SKEW_MS = 5_000;

/** The person the provider vouched for. */
export interface OidcIdentity {
  issuer: string;
  subject: string;
  name: string;
  /** "" when the provider gave none or said it is unverified. */
  email: string;
}

/** Why a sign-in failed; `code` is stable, `message` is for a person. */
export class OidcError extends Error {
  readonly code:
    | "state_missing"
    | "state_unknown"
    | "state_mismatch"
    | "provider_error"
    | "not_fresh";
  constructor(code: OidcError["code"], message: string) {
    super(message);
    this.name = "OidcError";
    this.code = code;
  }
}

/** Reads a client secret file (one line; surrounding whitespace dropped). */
export async function readClientSecretFile(path: string): Promise<string> {
  const secret = (await readFile(path, "utf8")).trim();
  if (secret === "") throw new Error(`${path}: the OIDC client secret file is empty`);
  return secret;
}

/**
 * Why this identity may not sign in (a sentence), or null when it may. With neither list set
 * anyone the provider vouches for may; otherwise the verified email must match one of them.
 */
export function refusalReason(
  identity: OidcIdentity,
  allowedDomains: readonly string[],
  allowedEmails: readonly string[],
): string | null {
  if (allowedDomains.length === 0 && allowedEmails.length === 0) return null;
  const email = identity.email.toLowerCase();
  if (email === "") {
    return "Your identity provider gave no verified email address, and this server admits only listed addresses or domains.";
  }
  if (allowedEmails.some((e) => e.toLowerCase() === email)) return null;
  const domain = email.slice(email.lastIndexOf("@") + 1);
  if (allowedDomains.some((d) => d.toLowerCase() === domain)) return null;
  return `${identity.email} is not admitted here: this server admits only ${describeRule(allowedDomains, allowedEmails)}.`;
}

function describeRule(domains: readonly string[], emails: readonly string[]): string {
  const parts: string[] = [];
  if (domains.length > 0) parts.push(`addresses at ${domains.join(", ")}`);
  if (emails.length > 0) parts.push(`the addresses ${emails.join(", ")}`);
  return parts.join(" and ");
}

function claimString(value: unknown): string {
  return typeof value === "string" ? value.slice(0, 256) : "";
}

/** An OIDC relying party: starts sign-ins and finishes them on the callback. */
export class OidcLogin {
  readonly options: OidcOptions;
  readonly #config: oidc.Configuration;
  readonly #pending = new PendingLogins();

  private constructor(options: OidcOptions, config: oidc.Configuration) {
    this.options = options;
    this.#config = config;
  }

  /** Discovers the provider (fails when it cannot be reached or its metadata is wrong). */
  static async discover(options: OidcOptions): Promise<OidcLogin> {
    const issuer = new URL(options.issuer);
    if (
      issuer.protocol !== "https:" &&
      !(options.allowHttpIssuer === true && isLoopbackHost(issuer.hostname))
    ) {
      throw new Error(`OIDC issuer ${options.issuer} must be https:// (http:// only on loopback)`);
    }
    const execute = options.allowHttpIssuer === true ? [oidc.allowInsecureRequests] : [];
    const config = await oidc.discovery(
      new URL(options.issuer),
      options.clientId,
      { client_secret: options.clientSecret, redirect_uris: [options.redirectUri] },
      oidc.ClientSecretBasic(options.clientSecret),
      { execute, timeout: 10 },
    );
    return new OidcLogin(options, config);
  }

  /** The issuer as the provider's metadata names it (users are keyed by it). */
  get issuer(): string {
    return this.#config.serverMetadata().issuer;
  }

  /**
   * Starts a sign-in: the provider URL to send the browser to, and the state to bind it.
   * `fresh` asks the provider to authenticate the person again whatever session it holds
   * (prompt=login, max_age=0: GET /login/check, for SSH `check` rules); the callback then
   * refuses an ID token whose auth_time is older than this request.
   */
  async start(
    returnTo: string,
    now: number,
    options: { fresh?: boolean } = {},
  ): Promise<{ url: URL; state: string }> {
    const codeVerifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    this.#pending.put(state, {
      nonce,
      codeVerifier,
      returnTo,
      expiresAt: now + LOGIN_ATTEMPT_TTL_MS,
      // auth_time is the provider's wall clock: compared with ours, not with a test's clock.
      ...(options.fresh === true ? { freshSince: Date.now() } : {}),
    });
    const url = oidc.buildAuthorizationUrl(this.#config, {
      redirect_uri: this.options.redirectUri,
      scope: "openid email profile",
      response_type: "code",
      code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: "S256",
      state,
      nonce,
      ...(options.fresh === true ? { prompt: "login", max_age: "0" } : {}),
    });
    return { url, state };
  }

  /**
   * Finishes a sign-in from the callback's query string. `boundState` is the state from the
   * browser's cookie. The attempt is taken once: a replayed callback fails with state_unknown.
   */
  async finish(
    query: URLSearchParams,
    boundState: string | null,
    now: number,
  ): Promise<{ identity: OidcIdentity; returnTo: string; fresh: boolean }> {
    const state = query.get("state");
    if (state === null || state === "") {
      throw new OidcError("state_missing", "The sign-in response carries no state.");
    }
    const pending = this.#pending.take(state, now);
    if (pending === null) {
      throw new OidcError(
        "state_unknown",
        "This sign-in response is unknown, was used already, or has expired: start again.",
      );
    }
    if (boundState !== state) {
      throw new OidcError(
        "state_mismatch",
        "This sign-in was started in another browser: start again.",
      );
    }
    const callback = new URL(this.options.redirectUri);
    callback.search = query.toString();
    let claims: Record<string, unknown>;
    try {
      const tokens = await oidc.authorizationCodeGrant(this.#config, callback, {
        pkceCodeVerifier: pending.codeVerifier,
        expectedState: state,
        expectedNonce: pending.nonce,
        idTokenExpected: true,
      });
      const idClaims = tokens.claims();
      if (idClaims === undefined) throw new Error("no ID token");
      claims = { ...idClaims };
      // Providers may keep profile claims out of the ID token (oidc-provider does by default):
      // ask the userinfo endpoint, which must name the same subject.
      if ((claims.email === undefined || claims.name === undefined) && tokens.access_token) {
        const info = await oidc.fetchUserInfo(this.#config, tokens.access_token, idClaims.sub);
        claims = {
          ...info,
          ...claims,
          email: claims.email ?? info.email,
          name: claims.name ?? info.name,
        };
        if (claims.email_verified === undefined) claims.email_verified = info.email_verified;
      }
    } catch (e) {
      throw new OidcError(
        "provider_error",
        `The identity provider's answer was refused: ${(e as Error).message}`,
      );
    }
    if (pending.freshSince !== undefined) checkFresh(claims.auth_time, pending.freshSince);
    const subject = claimString(claims.sub);
    const email = claims.email_verified === false ? "" : claimString(claims.email);
    const name =
      claimString(claims.name) || claimString(claims.preferred_username) || email || subject;
    return {
      identity: { issuer: this.issuer, subject, name, email },
      returnTo: pending.returnTo,
      fresh: pending.freshSince !== undefined,
    };
  }
}

/**
 * Throws OidcError "not_fresh" unless `authTime` (the ID token's auth_time claim, unix seconds)
 * is no older than `freshSince` (unix ms, the request), give or take AUTH_TIME_SKEW_MS: a
 * provider that ignored prompt=login and answered from an old session must not count as a new
 * sign-in.
 */
export function checkFresh(authTime: unknown, freshSince: number): void {
  if (typeof authTime !== "number" || !Number.isFinite(authTime)) {
    throw new OidcError(
      "not_fresh",
      "The identity provider did not say when you signed in (no auth_time), so this cannot count as a fresh sign-in.",
    );
  }
  if (authTime * 1000 < freshSince - AUTH_TIME_SKEW_MS) {
    const when = new Date(authTime * 1000).toISOString();
    throw new OidcError(
      "not_fresh",
      `The identity provider reused a sign-in from ${when} instead of asking you again: start again, and sign out at the provider first if it keeps doing so.`,
    );
  }
}
