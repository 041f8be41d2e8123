// The page's control API client against a fake fetch: conditional writes carry the caller's
// If-Match, a 412 comes back as version_conflict, and a CSRF token that went stale (a sign-out
// and sign-in in another tab) is fetched again and the call retried once, never twice.

import { afterEach, describe, expect, it, vi } from "vitest";
import { ControlApi, ControlApiError, CSRF_HEADER } from "../../web/control-api.ts";

interface Seen {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string | undefined;
}

/** A fake control server whose session holds `session.csrf`; whoami hands it out. */
function fakeServer(opts: {
  session: { csrf: string };
  put: (seen: Seen, valid: string) => { status: number; body: unknown };
}): Seen[] {
  const seen: Seen[] = [];
  vi.stubGlobal("fetch", async (url: string, init: RequestInit) => {
    const req: Seen = {
      method: init.method ?? "GET",
      path: url,
      headers: { ...(init.headers as Record<string, string>) },
      body: init.body as string | undefined,
    };
    seen.push(req);
    if (url === "/api/v1/whoami") {
      return Response.json({
        user: { id: 1, name: "a", email: "a@x", role: "owner" },
        via: "session",
        csrf: opts.session.csrf,
        expiresAt: null,
      });
    }
    const answer = opts.put(req, opts.session.csrf);
    return Response.json(answer.body, { status: answer.status });
  });
  return seen;
}

const csrfCheck = (seen: Seen, valid: string) =>
  seen.headers[CSRF_HEADER] === valid
    ? null
    : {
        status: 403,
        body: { error: "csrf_token_invalid", message: "the CSRF token is not valid" },
      };

afterEach(() => {
  vi.unstubAllGlobals();
});

describe("ControlApi.send", () => {
  it("sends the caller's If-Match and reports a 412 as version_conflict", async () => {
    const seen = fakeServer({
      session: { csrf: "t1" },
      put: (req, valid) =>
        csrfCheck(req, valid) ??
        (req.headers["If-Match"] === '"3"'
          ? { status: 200, body: { version: 4 } }
          : {
              status: 412,
              body: { error: "version_conflict", message: "the policy changed since you read it" },
            }),
    });
    const api = new ControlApi();
    const ok = await api.send<{ version: number }>(
      "PUT",
      "/api/v1/policy",
      { text: "x" },
      { headers: { "If-Match": '"3"' } },
    );
    expect(ok.version).toBe(4);
    const err = await api
      .send("PUT", "/api/v1/policy", { text: "x" }, { headers: { "If-Match": '"2"' } })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ControlApiError);
    expect((err as ControlApiError).status).toBe(412);
    expect((err as ControlApiError).code).toBe("version_conflict");
    // No GET of the policy before the PUT: one whoami, then the two writes.
    expect(seen.map((s) => `${s.method} ${s.path}`)).toEqual([
      "GET /api/v1/whoami",
      "PUT /api/v1/policy",
      "PUT /api/v1/policy",
    ]);
    // Extra headers never replace the CSRF header or the accept header.
    expect(seen[1]?.headers[CSRF_HEADER]).toBe("t1");
    expect(seen[1]?.headers.accept).toBe("application/json");
  });

  it("fetches a new CSRF token and retries once after csrf_token_invalid", async () => {
    const session = { csrf: "old" };
    const seen = fakeServer({
      session,
      put: (req, valid) => csrfCheck(req, valid) ?? { status: 200, body: { version: 9 } },
    });
    const api = new ControlApi();
    await api.whoami(); // the page loads with "old"
    // Another tab signs out and in: the server now holds "new", the page still "old".
    session.csrf = "new";
    const set = await api.send<{ version: number }>("PUT", "/api/v1/policy", { text: "x" });
    expect(set.version).toBe(9);
    expect(seen.map((s) => `${s.method} ${s.path} ${s.headers[CSRF_HEADER] ?? "-"}`)).toEqual([
      "GET /api/v1/whoami -",
      "PUT /api/v1/policy old",
      "GET /api/v1/whoami -",
      "PUT /api/v1/policy new",
    ]);
  });

  it("retries only once: a token refused twice is the server's answer", async () => {
    const seen = fakeServer({
      session: { csrf: "a" },
      put: () => ({ status: 403, body: { error: "csrf_token_invalid", message: "bad token" } }),
    });
    const err = await new ControlApi().send("POST", "/api/v1/keys", {}).catch((e: unknown) => e);
    expect((err as ControlApiError).code).toBe("csrf_token_invalid");
    expect(seen.filter((s) => s.method === "POST")).toHaveLength(2);
  });

  it("says the caller was signed out when whoami answers 401 on the retry", async () => {
    let calls = 0;
    vi.stubGlobal("fetch", async (url: string) => {
      calls++;
      if (url === "/api/v1/whoami") {
        return calls === 1
          ? Response.json({ user: {}, via: "session", csrf: "a", expiresAt: null })
          : Response.json({ error: "unauthorized", message: "sign in" }, { status: 401 });
      }
      return Response.json({ error: "csrf_token_invalid", message: "bad" }, { status: 403 });
    });
    const err = await new ControlApi().send("DELETE", "/api/v1/nodes/3").catch((e: unknown) => e);
    expect((err as ControlApiError).code).toBe("signed_out");
    expect((err as ControlApiError).message).toMatch(/signed out/);
  });

  it("does not retry other refusals", async () => {
    const seen = fakeServer({
      session: { csrf: "a" },
      put: () => ({ status: 403, body: { error: "forbidden", message: "admins only" } }),
    });
    const err = await new ControlApi()
      .send("PATCH", "/api/v1/nodes/3", {})
      .catch((e: unknown) => e);
    expect((err as ControlApiError).code).toBe("forbidden");
    expect(seen.filter((s) => s.method === "PATCH")).toHaveLength(1);
  });
});
