// The page at http://corridor.localhost:PORT (DESIGN §9.4, issue 16): `corridor serve` on
// loopback hands the control server that origin besides the listen address's. The API's Origin
// check and /control accept it; app origins (`<label>.corridor.localhost`) are never the page:
// refused as an Origin, and their Host never reaches the API. The session cookie is `__Host-`
// with Secure there (an app origin could plant a plain-named one for Domain=corridor.localhost),
// and stays plain at 127.0.0.1.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openControlStore, relayUrlOf } from "../../cli/control-flags.ts";
import { createOwnerLink } from "../../server/control/auth/links.ts";
import {
  ControlMount,
  type ControlService,
  startControlService,
} from "../../server/control/http.ts";
import type { Store } from "../../server/control/store/types.ts";
import { createLogger } from "../../server/log.ts";
import { type ServeHandle, startServe } from "../../server/web/serve.ts";
import { keyToBase64 } from "../../worker/wireguard/keys.ts";

let tmp: string;
let store: Store;
let serve: ServeHandle;
let control: ControlService;
let page: string; // http://corridor.localhost:PORT
let listen: string; // http://127.0.0.1:PORT

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A request to the server on 127.0.0.1 with any Host (Node cannot resolve *.localhost). */
function call(
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port: serve.port, method, path, headers }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => {
        text += d;
      });
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }),
      );
    });
    req.on("upgrade", (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: "" });
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** Signs in with a fresh owner link from `origin`, sent to `host` (default: the origin's). */
async function signIn(origin: string, host = new URL(origin).host): Promise<Answer> {
  const token = new URL(await createOwnerLink(store, listen)).hash.slice(1);
  return call(
    "POST",
    "/api/v1/login/link",
    { host, origin, "content-type": "application/json" },
    JSON.stringify({ token }),
  );
}

function setCookie(answer: Answer): string {
  const value = answer.headers["set-cookie"];
  return (Array.isArray(value) ? value[0] : value) ?? "";
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "corridor-loopback-page-"));
  const web = join(tmp, "web");
  mkdirSync(web);
  writeFileSync(join(web, "index.html"), "<!doctype html><title>page</title>\n");
  const opened = await openControlStore(join(tmp, "control.db"));
  store = opened.store;
  const mount = new ControlMount();
  serve = await startServe({
    port: 0,
    webRoot: web,
    mount,
    relay: { auth: { mode: "open" }, relayId: "loop", log: () => {} },
  });
  listen = serve.url.slice(0, -1);
  page = `http://corridor.localhost:${serve.port}`;
  control = await startControlService(mount, {
    store,
    relays: [
      {
        id: "loop",
        region: "local",
        url: relayUrlOf(serve.url),
        key: keyToBase64(serve.relay.relayPublicKey),
      },
    ],
    baseUrl: serve.url,
    browserOrigins: [page],
    log: createLogger({ level: "error", sink: () => {} }),
  });
}, 60_000);

afterAll(async () => {
  await control?.close();
  await serve?.close();
  await store?.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe("the page at corridor.localhost", () => {
  it("signs in there with a __Host- Secure cookie that works there and only there", async () => {
    const answer = await signIn(page);
    expect(answer.status, answer.body).toBe(200);
    const cookie = setCookie(answer);
    expect(cookie).toMatch(/^__Host-corridor_session=[A-Za-z0-9_-]{43}; Path=\/; /);
    expect(cookie).toContain("; Secure");
    expect(cookie).not.toMatch(/Domain=/i);
    const pair = cookie.split(";")[0]!;
    const host = new URL(page).host;
    const whoami = await call("GET", "/api/v1/whoami", { host, cookie: pair });
    expect(whoami.status, whoami.body).toBe(200);
    const csrf = (JSON.parse(whoami.body) as { csrf: string }).csrf;
    // Any case of the name, as browsers may send it.
    const upper = await call("GET", "/api/v1/whoami", {
      host: host.toUpperCase(),
      cookie: pair,
    });
    expect(upper.status).toBe(200);
    // The same value under the plain name (what an app origin could plant) is no session.
    const planted = pair.replace(/^__Host-/, "");
    const fixated = await call("GET", "/api/v1/whoami", { host, cookie: planted });
    expect(fixated.status).toBe(401);
    // A state-changing call from the page's origin passes the Origin check.
    const out = await call("POST", "/api/v1/logout", {
      host,
      origin: page,
      cookie: pair,
      "x-corridor-csrf": csrf,
    });
    expect(out.status, out.body).toBe(200);
    expect(setCookie(out)).toMatch(/^__Host-corridor_session=; Path=\/; Max-Age=0; .*Secure/);
  });

  it("keeps 127.0.0.1 working with the plain cookie", async () => {
    const answer = await signIn(listen);
    expect(answer.status, answer.body).toBe(200);
    const cookie = setCookie(answer);
    expect(cookie).toMatch(/^corridor_session=/);
    expect(cookie).not.toContain("Secure");
    const pair = cookie.split(";")[0]!;
    const whoami = await call("GET", "/api/v1/whoami", {
      host: new URL(listen).host,
      cookie: pair,
    });
    expect(whoami.status).toBe(200);
  });

  it("refuses app origins and other sites as Origin, on the API and /control", async () => {
    const port = serve.port;
    for (const origin of [
      `http://web-01--3000.corridor.localhost:${port}`,
      `http://corridor.localhost:${port + 1}`,
      "http://corridor.localhost",
      `https://corridor.localhost:${port}`,
      `http://localhost:${port}`,
      `http://evil.example:${port}`,
    ]) {
      const answer = await signIn(origin, new URL(page).host);
      expect(answer.status, origin).toBe(403);
      expect(answer.body).toContain("origin_refused");
      const upgrade = await call("GET", "/control", {
        host: `127.0.0.1:${port}`,
        origin,
        connection: "Upgrade",
        upgrade: "websocket",
        "sec-websocket-version": "13",
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
      });
      expect(upgrade.status, origin).toBe(403);
    }
    // The page's origin gets past the Origin check (then wants the subprotocol).
    for (const origin of [page, listen]) {
      const upgrade = await call("GET", "/control", {
        host: `127.0.0.1:${port}`,
        origin,
        connection: "Upgrade",
        upgrade: "websocket",
        "sec-websocket-version": "13",
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
      });
      expect(upgrade.status, origin).toBe(400);
    }
  });

  it("never lets an app origin's Host reach the API", async () => {
    const host = `web-01--3000.corridor.localhost:${serve.port}`;
    const methods = await call("GET", "/api/v1/login/methods", { host });
    expect(methods.headers["content-type"]).not.toContain("json");
    const token = new URL(await createOwnerLink(store, listen)).hash.slice(1);
    const post = await call(
      "POST",
      "/api/v1/login/link",
      { host, origin: `http://${host}`, "content-type": "application/json" },
      JSON.stringify({ token }),
    );
    expect(post.headers["set-cookie"]).toBeUndefined();
    expect(post.body).not.toContain("corridor_session");
  });

  it("says no apps domain to the page unless one was given", async () => {
    const methods = await call("GET", "/api/v1/login/methods", { host: new URL(page).host });
    expect(JSON.parse(methods.body)).toEqual({ link: true, oidc: null, signedIn: false });
  });
});
