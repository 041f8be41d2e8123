// The engine's private-URL parts without a server: app origins (which service a port serves,
// how its URLs and headers map), Location rewriting, the dial's failures as AppErrorCode with
// fake networks and a fake mesh, an https label, and openAppPort refusing a bad origin.

import { describe, expect, it } from "vitest";
import type { MeshStatus } from "../../worker/api.ts";
import type { PeerView } from "../../worker/control/types.ts";
import { AppDialer, type DialMesh } from "../../worker/engine/app-dial.ts";
import { appErrorOf } from "../../worker/engine/app-errors.ts";
import {
  parseAppOrigin,
  privateUrlOf,
  rewriteLocation,
  rewriteRequestHeaders,
} from "../../worker/engine/app-origin.ts";
import { createApps, MAX_PORTS_PER_ORIGIN } from "../../worker/engine/app-parts.ts";
import { AppPortServer, sameSiteContextOf } from "../../worker/engine/app-port-server.ts";
import { AppServices, MAX_SOCKETS_PER_ORIGIN } from "../../worker/engine/app-services.ts";
import { MemoryStore } from "../../worker/engine/store.ts";
import { type AppPortReply, parseAppPortMessage } from "../../worker/http/app-port.ts";
import { httpRequest } from "../../worker/http/client.ts";
import { HttpPool } from "../../worker/http/pool.ts";
import type { NetInterface } from "../../worker/net/interface.ts";

const ORIGIN = "http://web-01--3000.corridor.localhost:8080";

describe("app origins", () => {
  it("parses the service from the first label and keeps the apps domain and port", () => {
    const app = parseAppOrigin(ORIGIN);
    expect(app).toMatchObject({
      origin: ORIGIN,
      appsDomain: "corridor.localhost",
      port: "8080",
      service: { host: "web-01", port: 3000, scheme: "http" },
      serviceOrigin: "http://web-01:3000",
      hostHeader: "web-01:3000",
    });
    expect(parseAppOrigin("https://ip6--fd7a-115c-x-1--80.apps.example.com")).toMatchObject({
      hostHeader: "[fd7a:115c::1]",
      serviceOrigin: "http://[fd7a:115c::1]:80",
      port: "",
    });
  });

  it("refuses what names no service, saying why", () => {
    const bad: [string, RegExp][] = [
      ["ftp://web-01--3000.corridor.localhost", /http: or https:/],
      [`${ORIGIN}/path`, /not an origin/],
      ["http://user@web-01--3000.corridor.localhost", /not an origin/],
      ["http://web-01--3000", /<service label>\.<apps domain>/],
      ["http://web--01--3000.corridor.localhost", /too many "--" fields/],
      ["http://web-01.corridor.localhost", /names no port/],
      ["not a url", /not a URL/],
    ];
    for (const [origin, why] of bad) expect(() => parseAppOrigin(origin)).toThrow(why);
  });

  it("maps only its own origin's URLs; ws: stays ws:", () => {
    const app = parseAppOrigin(ORIGIN);
    expect(privateUrlOf(app, `${ORIGIN}/a/b?c=d#frag`)).toBe("http://web-01:3000/a/b?c=d");
    expect(privateUrlOf(app, "ws://web-01--3000.corridor.localhost:8080/ws")).toBe(
      "ws://web-01:3000/ws",
    );
    expect(privateUrlOf(app, "http://web-01--3001.corridor.localhost:8080/")).toBeUndefined();
    expect(privateUrlOf(app, "https://web-01--3000.corridor.localhost:8080/")).toBeUndefined();
    expect(privateUrlOf(app, "http://corridor.localhost:8080/")).toBeUndefined();
    expect(privateUrlOf(app, "junk")).toBeUndefined();
  });

  it("rewrites Location: own service, a service it names, https as an https label; others kept", () => {
    const app = parseAppOrigin(ORIGIN);
    const names = (host: string) => host === "db-02" || host === "10.8.0.1";
    expect(rewriteLocation(app, "http://web-01:3000/x?y#z", names)).toBe(`${ORIGIN}/x?y#z`);
    expect(rewriteLocation(app, "HTTP://WEB-01:3000/x", names)).toBe(`${ORIGIN}/x`);
    expect(rewriteLocation(app, "http://web-01:4000/", () => false)).toBe(
      "http://web-01--4000.corridor.localhost:8080/",
    );
    expect(rewriteLocation(app, "http://db-02/", names)).toBe(
      "http://db-02--80.corridor.localhost:8080/",
    );
    expect(rewriteLocation(app, "https://10.8.0.1/login", names)).toBe(
      "http://10-8-0-1--443--https.corridor.localhost:8080/login",
    );
    expect(rewriteLocation(app, "http://other-host:3000/", names)).toBe("http://other-host:3000/");
    expect(rewriteLocation(app, "https://example.com/", names)).toBe("https://example.com/");
    expect(rewriteLocation(app, "/relative", names)).toBe("/relative");
    expect(rewriteLocation(app, "//web-01:3000/p", names)).toBe(`${ORIGIN}/p`);
  });

  it("request headers: Host set, app Cookie dropped, Authorization only when absent", () => {
    const app = parseAppOrigin(ORIGIN);
    const { headers, crossSite } = rewriteRequestHeaders(
      app,
      [
        ["Host", "evil"],
        ["Cookie", "x=1"],
        ["Authorization", "Bearer t"],
      ],
      "",
      { authorization: "Basic abc" },
    );
    expect(headers).toEqual([
      ["Host", "web-01:3000"],
      ["Authorization", "Bearer t"],
    ]);
    expect(crossSite).toBe(false);
    expect(rewriteRequestHeaders(app, [], "http://elsewhere/").crossSite).toBe(true);
  });

  it("SameSite: a navigation is same-site only from this origin's own page; TRACE is refused", () => {
    const app = parseAppOrigin(ORIGIN);
    const own = rewriteRequestHeaders(app, [], `${ORIGIN}/list`);
    const none = rewriteRequestHeaders(app, [], "");
    const foreign = rewriteRequestHeaders(app, [["Origin", "http://evil.example"]], "");
    // Any site can navigate here with its referrer withheld: that is a cross-site navigation.
    expect(sameSiteContextOf(true, own)).toBe("strict");
    expect(sameSiteContextOf(true, none)).toBe("lax");
    expect(sameSiteContextOf(true, foreign)).toBe("lax");
    // A subresource comes only from this origin's pages (the service worker sees no other).
    expect(sameSiteContextOf(false, none)).toBe("strict");
    expect(sameSiteContextOf(false, foreign)).toBe("none");
    for (const method of ["TRACE", "trace", "TRACK", "CONNECT"]) {
      expect(() =>
        parseAppPortMessage({
          type: "fetch",
          id: 1,
          method,
          url: `${ORIGIN}/`,
          headers: [],
          body: null,
          navigate: false,
          referrer: "",
        }),
      ).toThrow(/method: CONNECT, TRACE and TRACK are not allowed/);
    }
  });
});

/** A mesh whose peers are given; connect() as `connect` says. */
function fakeMesh(
  peers: Partial<PeerView>[],
  connect: () => Promise<never>,
  state: MeshStatus["state"] = "ready",
): DialMesh & { starts: number } {
  const net = {
    sourceFor: () => new Uint8Array(4),
    tcp: { connect },
  } as unknown as NetInterface;
  return {
    starts: 0,
    status: () => ({ state }),
    async start() {
      this.starts++;
      state = "ready"; // as the real mesh once it joined
      return { state };
    },
    peer(host: string) {
      const found = peers.find((p) => p.name === host || p.addresses?.includes(host));
      if (found === undefined)
        throw new Error(`no mesh host "${host}": it is not in this browser's map`);
      return found as PeerView;
    },
    net: () => net,
  };
}

async function failure(dialer: AppDialer, host: string, port: number, timeoutMs = 200) {
  const pool = new HttpPool({ dial: dialer.dial, connectTimeoutMs: timeoutMs });
  try {
    await httpRequest(pool, { method: "GET", host, port, target: "/" });
  } catch (error) {
    return appErrorOf(error, { host, port, scheme: "http" });
  }
  throw new Error("expected a failure");
}

describe("the engine's dial: failures as AppErrorCode", () => {
  const never = () => new Promise<never>(() => undefined);
  const refused = () => Promise.reject(new Error("connection refused"));
  const noNetworks = async () => [];
  const noRuntime = () => Promise.reject(new Error("no runtime"));

  it("unknown-host: a name not in the map, an address no network routes", async () => {
    const mesh = fakeMesh([], never);
    const dialer = new AppDialer({
      networks: noNetworks,
      runtime: noRuntime,
      mesh: async () => mesh,
    });
    expect(await failure(dialer, "web-01", 3000)).toMatchObject({ code: "unknown-host" });
    const ip = await failure(dialer, "10.9.9.9", 80);
    expect(ip.code).toBe("unknown-host");
    expect(ip.message).toContain("No wg-quick network of this browser routes 10.9.9.9");
  });

  it("unknown-host within the join wait when the mesh cannot join (no control server)", async () => {
    const mesh: DialMesh = {
      status: () => ({ state: "starting", detail: "connecting to the control server" }),
      start: () => new Promise<never>(() => undefined), // the control server never answers
      peer: () => {
        throw new Error("not joined");
      },
      net: () => {
        throw new Error("not joined");
      },
    };
    const dialer = new AppDialer({
      networks: noNetworks,
      runtime: noRuntime,
      mesh: async () => mesh,
      meshJoinWaitMs: 50,
    });
    const named = await failure(dialer, "web-01", 3000, 5000);
    expect(named).toMatchObject({ code: "unknown-host" });
    expect(named.message).toContain(
      "web-01 is not a known host: this browser is not on the mesh (starting: connecting to the control server). Sign in on the Corridor page",
    );
  });

  it("offline when the peer is offline and the connect times out; timeout when it is online", async () => {
    const off = fakeMesh([{ name: "web-01", addresses: ["100.64.0.5"], online: false }], never);
    const dialer = new AppDialer({
      networks: noNetworks,
      runtime: noRuntime,
      mesh: async () => off,
    });
    const offline = await failure(dialer, "web-01", 3000);
    expect(offline.code).toBe("offline");
    expect(offline.message).toContain("web-01 (100.64.0.5) does not answer through WireGuard");
    const on = fakeMesh([{ name: "web-01", addresses: ["100.64.0.5"], online: true }], never);
    const onDialer = new AppDialer({
      networks: noNetworks,
      runtime: noRuntime,
      mesh: async () => on,
    });
    expect(await failure(onDialer, "web-01", 3000)).toMatchObject({ code: "timeout" });
  });

  it("refused from the stack; a stopped mesh is started first", async () => {
    const mesh = fakeMesh(
      [{ name: "web-01", addresses: ["100.64.0.5"], online: true }],
      refused,
      "stopped",
    );
    const dialer = new AppDialer({
      networks: noNetworks,
      runtime: noRuntime,
      mesh: async () => mesh,
    });
    const got = await failure(dialer, "web-01", 3000);
    expect(got.code).toBe("refused");
    expect(got.message).toContain("nothing listens on port 3000 of web-01");
    expect(mesh.starts).toBe(1);
  });

  it("an address a wg-quick network routes goes there (its peer without a handshake: offline)", async () => {
    const mesh = fakeMesh([], never);
    const started: string[] = [];
    const dialer = new AppDialer({
      networks: async () => [
        {
          id: "n1",
          name: "office",
          peers: [{ publicKey: `${"A".repeat(43)}=`, allowedIps: ["10.8.0.0/24"] }],
        },
      ],
      runtime: async (id) => {
        started.push(id);
        return {
          net: {
            sourceFor: () => new Uint8Array(4),
            tcp: { connect: never },
          } as unknown as NetInterface,
          device: { peerStats: () => [] },
        };
      },
      mesh: async () => mesh,
    });
    const got = await failure(dialer, "10.8.0.1", 8080);
    expect(got.code).toBe("offline");
    expect(got.message).toContain("10.8.0.1 on network office");
    expect(started).toEqual(["n1"]);
    expect(await dialer.knows("10.8.0.7")).toBe(true);
    expect(await dialer.knows("10.8.1.7")).toBe(false);
  });
});

describe("app services", () => {
  it("keep cookies in the store: a new engine reads them back", async () => {
    const store = new MemoryStore();
    const dial = () => Promise.reject(new Error("no"));
    const first = new AppServices({ dial, store });
    const jars = await first.cookies();
    jars.setFromResponse("http://web-01:3000/", ["sid=abc; HttpOnly", "theme=dark"]);
    first.cookiesChanged();
    first.close();
    await new Promise((resolve) => setTimeout(resolve, 10));
    const second = new AppServices({ dial, store });
    const again = await second.cookies();
    expect(again.cookieHeader("http://web-01:3000/x")).toBe("sid=abc; theme=dark");
    expect(again.documentCookie("http://web-01:3000/x")).toBe("theme=dark");
    await store.put("mesh", { id: "app-cookies", json: "{broken" });
    const errors: string[] = [];
    const third = new AppServices({ dial, store, onCookieError: (m) => errors.push(m) });
    expect((await third.cookies()).services()).toEqual([]);
    expect(errors[0]).toContain("cookie store discarded");
  });

  it("Basic credentials per service, UTF-8, forgotten with an empty user name", () => {
    const services = new AppServices({ dial: () => Promise.reject(new Error("no")) });
    const web = { host: "web-01", port: 3000, scheme: "http" as const };
    services.setCredentials(web, "ann", "s3cret é");
    expect(services.authorization(web)).toBe(
      `Basic ${Buffer.from("ann:s3cret é").toString("base64")}`,
    );
    expect(services.authorization({ ...web, port: 3001 })).toBeUndefined();
    services.setCredentials(web, "", "");
    expect(services.authorization(web)).toBeUndefined();
  });
});

describe("app ports", () => {
  it("an https label is answered tls-required without dialing", async () => {
    let dialed = 0;
    const services = new AppServices({
      dial: async () => {
        dialed++;
        throw new Error("no");
      },
    });
    const origin = "http://web-01--8443--https.corridor.localhost:8080";
    const channel = new MessageChannel();
    const server = new AppPortServer(channel.port2, parseAppOrigin(origin), services);
    const reply = await new Promise<AppPortReply>((resolve) => {
      channel.port1.addEventListener("message", (e: MessageEvent) =>
        resolve(e.data as AppPortReply),
      );
      channel.port1.start();
      channel.port1.postMessage({
        type: "fetch",
        id: 1,
        method: "GET",
        url: `${origin}/`,
        headers: [],
        body: null,
        navigate: true,
        referrer: "",
      });
    });
    expect(reply).toMatchObject({ type: "error", id: 1, code: "tls-required" });
    expect(dialed).toBe(0);
    channel.port1.close();
    await server.ended;
  });

  it("openAppPort refuses a bad origin with the reason and closes the port", async () => {
    const apps = createApps({
      store: new MemoryStore(),
      networks: { list: async () => [] },
      runtime: () => Promise.reject(new Error("none")),
      mesh: () => Promise.reject(new Error("none")),
    });
    const channel = new MessageChannel();
    const closed = new Promise<void>((resolve) =>
      channel.port1.addEventListener("close", () => resolve()),
    );
    channel.port1.start();
    await expect(apps.openAppPort("http://corridor.localhost:8080", channel.port2)).rejects.toThrow(
      /label "corridor" names no port/,
    );
    await closed;
    await apps.openAppPort(ORIGIN, new MessageChannel().port2);
    expect(apps.servers.size).toBe(1);
    for (const server of apps.servers) server.close();
  });

  it("bounds what one app origin holds in the shared engine: ports, and WebSockets across them", async () => {
    const apps = createApps({
      store: new MemoryStore(),
      networks: { list: async () => [] },
      runtime: () => Promise.reject(new Error("none")),
      mesh: () => Promise.reject(new Error("none")),
    });
    const first = new MessageChannel();
    await apps.openAppPort(ORIGIN, first.port2);
    const [oldest] = apps.servers;
    for (let i = 1; i < MAX_PORTS_PER_ORIGIN; i++) {
      await apps.openAppPort(ORIGIN, new MessageChannel().port2);
    }
    expect(apps.servers.size).toBe(MAX_PORTS_PER_ORIGIN);
    // Another origin's ports do not count against this one.
    await apps.openAppPort("http://web-02--80.corridor.localhost:8080", new MessageChannel().port2);
    // One more of the same origin: its oldest port is closed.
    await apps.openAppPort(ORIGIN, new MessageChannel().port2);
    await oldest!.ended;
    expect(apps.servers.size).toBe(MAX_PORTS_PER_ORIGIN + 1);
    for (const server of apps.servers) server.close();

    const services = apps.services;
    for (let i = 0; i < MAX_SOCKETS_PER_ORIGIN; i++) {
      expect(services.socketOpened(ORIGIN)).toBe(true);
    }
    expect(services.socketOpened(ORIGIN)).toBe(false);
    expect(services.socketOpened("http://web-02--80.corridor.localhost:8080")).toBe(true);
    services.socketEnded(ORIGIN);
    expect(services.socketOpened(ORIGIN)).toBe(true);
  });
});
