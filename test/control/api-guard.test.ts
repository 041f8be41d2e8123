// Cross-site refusals (Origin and CSRF token on cookie sessions), roles, body limits, media
// types, and the per-address rate limit of the sign-in routes.

import { afterEach, describe, expect, it } from "vitest";
import { createOwnerLink } from "../../server/control/auth/links.ts";
import { RateLimiter } from "../../server/control/auth/rate-limit.ts";
import { type Harness, startHarness } from "./api-harness.ts";

let h: Harness | null = null;
afterEach(async () => {
  await h?.close();
  h = null;
});

describe("cookie sessions on state-changing calls", () => {
  it("need the server's own Origin and the session's CSRF token; GET needs neither", async () => {
    h = await startHarness();
    const owner = await h.signInOwner();
    const body = { expiry: "1d" };
    const evil = await h.call("POST", "/api/v1/apikeys", {
      cookie: owner.cookie,
      csrf: owner.csrf,
      origin: "http://127.0.0.1.evil.example",
      body,
    });
    expect(evil.status).toBe(403);
    expect(evil.json).toEqual({
      error: "origin_refused",
      message: `cross-site request refused: Origin http://127.0.0.1.evil.example is not ${h.origin}`,
    });
    const noOrigin = await h.call("POST", "/api/v1/apikeys", {
      cookie: owner.cookie,
      csrf: owner.csrf,
      origin: null,
      body,
    });
    expect(noOrigin.json).toEqual({
      error: "origin_refused",
      message: `cross-site request refused: no Origin header (expected ${h.origin})`,
    });
    const noToken = await h.call("POST", "/api/v1/apikeys", { cookie: owner.cookie, body });
    expect(noToken.status).toBe(403);
    expect(noToken.json).toEqual({
      error: "csrf_token_invalid",
      message: "missing or wrong X-Corridor-CSRF header (GET /api/v1/whoami gives it)",
    });
    const other = await h.signInOwner();
    const wrongToken = await h.call("DELETE", "/api/v1/nodes/1", {
      cookie: owner.cookie,
      csrf: other.csrf,
    });
    expect(wrongToken.json.error).toBe("csrf_token_invalid");
    // Nothing was made by the refused calls.
    expect(await h.store.listApiKeys()).toEqual([]);
    const ok = await h.call("POST", "/api/v1/apikeys", {
      cookie: owner.cookie,
      csrf: owner.csrf,
      body,
    });
    expect(ok.status).toBe(201);
    const get = await h.call("GET", "/api/v1/apikeys", { cookie: owner.cookie, origin: null });
    expect(get.status).toBe(200);
  });

  it("logout is state-changing too", async () => {
    h = await startHarness();
    const owner = await h.signInOwner();
    const forged = await h.call("POST", "/api/v1/logout", {
      cookie: owner.cookie,
      origin: "https://evil.example",
    });
    expect(forged.json.error).toBe("origin_refused");
    expect((await h.call("GET", "/api/v1/whoami", { cookie: owner.cookie })).status).toBe(200);
    expect(h.calls.filter(([m]) => m === "userSignedOut")).toEqual([]);
  });
});

describe("bodies", () => {
  it("refuses a wrong media type, bad JSON, and a body over the limit", async () => {
    h = await startHarness();
    const owner = await h.signInOwner();
    const auth = { cookie: owner.cookie, csrf: owner.csrf };
    const form = await h.call("POST", "/api/v1/apikeys", {
      ...auth,
      raw: "expiry=1d",
      contentType: "application/x-www-form-urlencoded",
    });
    expect(form.status).toBe(415);
    expect(form.json).toEqual({
      error: "unsupported_media_type",
      message: "send the body as application/json",
    });
    const broken = await h.call("POST", "/api/v1/apikeys", { ...auth, raw: "{" });
    expect(broken.status).toBe(400);
    expect(broken.json.error).toBe("invalid_json");
    const notObject = await h.call("POST", "/api/v1/apikeys", { ...auth, body: [1] });
    expect(notObject.json).toEqual({
      error: "invalid_body",
      message: "invalid body: body: expected a JSON object",
      issues: [{ path: "body", message: "expected a JSON object" }],
    });
    const big = await h.call("POST", "/api/v1/apikeys", {
      ...auth,
      body: { expiry: "1".repeat(20_000) },
    });
    expect(big.status).toBe(413);
    expect(big.json).toEqual({
      error: "body_too_large",
      message: "the body exceeds 16384 bytes",
      limit: 16384,
    });
    // The policy routes take up to 1 MiB.
    const policy = `// ${"x".repeat(100_000)}\n{}`;
    const test = await h.call("POST", "/api/v1/policy/test", { ...auth, body: { text: policy } });
    expect(test.status).toBe(200);
    const huge = await h.call("POST", "/api/v1/policy/test", {
      ...auth,
      body: { text: "x".repeat(1_100_000) },
    });
    expect(huge.status).toBe(413);
  });

  it("refuses a malformed path id, naming it", async () => {
    h = await startHarness();
    const owner = await h.signInOwner();
    const bad = await h.call("PATCH", "/api/v1/nodes/abc", {
      cookie: owner.cookie,
      csrf: owner.csrf,
      body: { name: "x" },
    });
    expect(bad.status).toBe(400);
    expect(bad.json).toEqual({
      error: "invalid_path",
      message: "id must be a positive integer",
      issues: [{ path: "id", message: "expected a positive integer" }],
    });
  });

  it("unknown routes answer JSON 404; no API answer may be cached or sniffed", async () => {
    h = await startHarness();
    const owner = await h.signInOwner();
    const none = await h.call("GET", "/api/v1/nothing", { cookie: owner.cookie });
    expect(none.status).toBe(404);
    expect(none.json).toEqual({ error: "not_found", message: "no route GET /api/v1/nothing" });
    for (const reply of [none, await h.call("GET", "/api/v1/whoami", { cookie: owner.cookie })]) {
      expect(reply.headers.get("cache-control")).toBe("no-store");
      expect(reply.headers.get("x-content-type-options")).toBe("nosniff");
    }
    expect((await h.call("GET", "/api/v1/whoami")).headers.get("cache-control")).toBe("no-store");
  });
});

describe("rate limit", () => {
  it("answers 429 with Retry-After once an address used its burst, and refills with time", async () => {
    h = await startHarness({ loginRateLimit: { burst: 3, perSecond: 0.1 } });
    const token = "A".repeat(43);
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) {
      statuses.push(
        (await h.call("POST", "/api/v1/login/link", { body: { token }, origin: h.origin })).status,
      );
    }
    expect(statuses).toEqual([403, 403, 403]);
    const limited = await h.call("POST", "/api/v1/login/link", {
      body: { token },
      origin: h.origin,
    });
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toBe("10");
    expect(limited.json).toEqual({
      error: "rate_limited",
      message: "too many sign-in attempts from this address: retry in 10 s",
      retryAfter: 10,
    });
    // Even a valid link waits: the limit comes before the link is looked at (and it is not used).
    const url = await createOwnerLink(h.store, h.baseUrl, h.clock.now);
    const valid = { body: { token: new URL(url).hash.slice(1) }, origin: h.origin };
    expect((await h.call("POST", "/api/v1/login/link", valid)).status).toBe(429);
    h.clock.now += 10_000;
    expect((await h.call("POST", "/api/v1/login/link", valid)).status).toBe(200);
    // The OIDC routes share the limit.
    expect((await h.call("GET", "/login/oidc")).status).toBe(429);
  });
});

describe("rate limiter table", () => {
  it("stays bounded under a flood of addresses", () => {
    const limiter = new RateLimiter({ burst: 2, perSecond: 1, maxAddresses: 100 });
    const t = 1_000_000;
    expect(limiter.take("victim", t)).toEqual({ ok: true });
    expect(limiter.take("victim", t)).toEqual({ ok: true });
    expect(limiter.take("victim", t)).toEqual({ ok: false, retryAfterSeconds: 1 });
    for (let i = 0; i < 10_000; i++) limiter.take(`10.0.${i >> 8}.${i & 255}`, t);
    expect(limiter.size).toBeLessThanOrEqual(100);
    // Idle (refilled) buckets go first, then the oldest: an attacker who owns more addresses
    // than the table holds can reset a bucket, but already has that many buckets to spend.
    expect(limiter.take("late", t + 2000)).toEqual({ ok: true });
    expect(() => new RateLimiter({ burst: 0, perSecond: 1 })).toThrow(
      "rate limit: burst must be >= 1 and perSecond > 0",
    );
  });
});

describe("pages", () => {
  it("serve the link page under a strict CSP with a same-origin script and no inline code", async () => {
    h = await startHarness();
    for (const path of ["/login/owner", "/login/invite", "/approve/abc_DEF-1", "/login"]) {
      const page = await h.call("GET", path);
      expect(page.status).toBe(200);
      expect(page.headers.get("content-security-policy")).toBe(
        "default-src 'none'; script-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
      );
      expect(page.text).not.toMatch(/<script>|<script [^>]*>[^<]|\son[a-z]+=/);
    }
    const owner = await h.call("GET", "/login/owner");
    expect(owner.text).toContain('<script type="module" src="/login/assets/link.js"></script>');
    expect(owner.text).toContain('data-mode="owner"');
    const script = await h.call("GET", "/login/assets/link.js");
    expect(script.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(script.text).toContain('history.replaceState(null, "", location.pathname)');
    expect(script.text).toContain('"/api/v1/login/link"');
    const noOidc = await h.call("GET", "/login/oidc");
    expect(noOidc.status).toBe(404);
    expect(noOidc.text).toContain("This server has no identity provider configured.");
  });
});
