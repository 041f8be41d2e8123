// `corridor serve --oidc-issuer ... --oidc-client-id ... --oidc-client-secret-file ...` as the
// real binary against a real OpenID Provider (oidc-provider, on loopback in this test): the
// start lines name the provider and hold no owner link; the API offers OIDC sign-in, and
// /login/oidc sends the browser to the provider's authorization endpoint with our client id,
// PKCE (S256), state and nonce. (test/control/oidc.test.ts follows the whole sign-in.) A
// provider that cannot be reached stops the start with exit 1 and the reason.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server as HttpServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Provider from "oidc-provider";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listenOnLoopback, reservedPort } from "../helpers/ports.ts";
import { corridor, Server } from "./control-helpers.ts";

const CLIENT_ID = "corridor-cli-test";
const CLIENT_SECRET = "a-client-secret-for-this-test-only";

let dir: string;
let web: string;
let idp: HttpServer;
let issuer: string;
let secretFile: string;
let serve: Server | undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "corridor-control-oidc-"));
  web = join(dir, "web");
  mkdirSync(web);
  writeFileSync(join(web, "index.html"), "<!doctype html><title>t</title>\n");
  secretFile = join(dir, "client-secret");
  writeFileSync(secretFile, `${CLIENT_SECRET}\n`, { mode: 0o600 });
  idp = createServer();
  issuer = `http://127.0.0.1:${await listenOnLoopback(idp)}`;
});

afterAll(async () => {
  await serve?.stop();
  await new Promise<void>((resolve) => {
    idp.close(() => resolve());
    idp.closeAllConnections();
  });
  rmSync(dir, { recursive: true, force: true });
});

describe("corridor serve with an OpenID Provider", () => {
  it("names the provider instead of printing an owner link; /login/oidc goes to it with PKCE", async () => {
    // The provider must know the callback before serve starts: serve gets a port chosen now.
    const port = await reservedPort();
    const base = `http://127.0.0.1:${port}/`;
    const provider = new Provider(issuer, {
      clients: [
        {
          client_id: CLIENT_ID,
          client_secret: CLIENT_SECRET,
          redirect_uris: [`${base}login/oidc/callback`],
          grant_types: ["authorization_code"],
          response_types: ["code"],
        },
      ],
      // Nobody signs in here: the test stops at the authorization request.
      findAccount: () => undefined,
      cookies: { keys: ["oidc-cli-test-cookie-key"] },
      pkce: { required: () => true },
    });
    idp.on("request", provider.callback());
    serve = new Server([
      "serve",
      "--port",
      String(port),
      "--web",
      web,
      "--data",
      join(dir, "data"),
      "--oidc-issuer",
      issuer,
      "--oidc-client-id",
      CLIENT_ID,
      "--oidc-client-secret-file",
      secretFile,
      "--oidc-allowed-domains",
      "example.com",
    ]);
    await serve.waitFor(/\ndata in .*\n/);
    expect(serve.stdout).toContain(`sign-in: OIDC at ${issuer};`);
    expect(serve.stdout).not.toContain("Sign in as owner");
    const methods = await (await fetch(new URL("/api/v1/login/methods", base))).json();
    expect(methods).toEqual({ link: true, oidc: { issuer }, signedIn: false });
    const start = await fetch(new URL("/login/oidc", base), { redirect: "manual" });
    expect(start.status).toBe(302);
    const authorize = new URL(start.headers.get("location") ?? "");
    expect(authorize.origin).toBe(issuer);
    expect(authorize.searchParams.get("client_id")).toBe(CLIENT_ID);
    expect(authorize.searchParams.get("redirect_uri")).toBe(`${base}login/oidc/callback`);
    expect(authorize.searchParams.get("code_challenge_method")).toBe("S256");
    for (const param of ["state", "nonce", "code_challenge"]) {
      expect(authorize.searchParams.get(param), param).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    }
    expect(await serve.stop()).toBe(0);
    serve = undefined;
  }, 120_000);

  it("a provider that cannot be reached stops the start: exit 1 with the reason", async () => {
    const gone = createServer();
    const port = await listenOnLoopback(gone);
    await new Promise((resolve) => gone.close(resolve));
    const run = await corridor([
      "serve",
      "--port",
      "0",
      "--web",
      web,
      "--data",
      join(dir, "data2"),
      "--oidc-issuer",
      `http://127.0.0.1:${port}`,
      "--oidc-client-id",
      CLIENT_ID,
      "--oidc-client-secret-file",
      secretFile,
    ]);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/corridor serve: control server: .+/);
    expect(run.stdout).toBe("");
  }, 120_000);
});
