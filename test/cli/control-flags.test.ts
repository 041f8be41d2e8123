// The pieces under `corridor serve`'s control server, in process: the relay's "union" auth (the
// embedded relay's chosen mode or the control server's tokens), the mount's 503 while the
// control server starts, and a seeded fuzz of the control flags' parsers and of `corridor
// admin`'s and `corridor control`'s command lines (only UsageError may come out).

import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { ed25519 } from "@noble/curves/ed25519.js";
import { describe, expect, it } from "vitest";
import { ADMIN_COMMAND } from "../../cli/admin.ts";
import { AdminClient, AdminError } from "../../cli/admin-client.ts";
import { type CommandSpec, parseCommandArgs, UsageError } from "../../cli/args.ts";
import { CONTROL_COMMAND, controlArgs } from "../../cli/control.ts";
import { oidcFlags, parsePublicUrl, relayUrlOf } from "../../cli/control-flags.ts";
import { ControlMount } from "../../server/control/http.ts";
import { RelayAuthorizer } from "../../server/relay/auth.ts";
import { signRelayToken } from "../../server/relay/token.ts";
import { listenOnLoopback } from "../helpers/ports.ts";
import { seededInts } from "../helpers/seeded.ts";

const NOW = 1_800_000_000_000;
const nodeKey = new Uint8Array(32).fill(7);
const otherKey = new Uint8Array(32).fill(8);
const secret = new Uint8Array(32).fill(3);
const controlPublicKey = ed25519.getPublicKey(secret);

function token(key: Uint8Array, udp: string[] = []): string {
  return signRelayToken(
    {
      v: 1,
      key: Buffer.from(key).toString("base64"),
      relay: "r1",
      udp,
      exp: NOW / 1000 + 600,
    },
    secret,
    { nowMs: NOW },
  );
}

describe("relay auth 'union' (the embedded relay beside a control server)", () => {
  it("an allow-list or a control token; the refusal names both reasons", () => {
    const auth = new RelayAuthorizer(
      {
        mode: "union",
        of: [
          { mode: "keys", allowed: [otherKey] },
          { mode: "token", controlPublicKey },
        ],
      },
      "r1",
    );
    expect(auth.check(otherKey, "", NOW)).toEqual({ ok: true, udp: [] });
    expect(auth.check(nodeKey, token(nodeKey, ["10.0.0.1:51820"]), NOW)).toEqual({
      ok: true,
      udp: ["10.0.0.1:51820"],
    });
    const refused = auth.check(nodeKey, token(otherKey), NOW);
    expect(refused.ok).toBe(false);
    expect(refused.ok ? "" : refused.reason).toMatch(/^key not allowed; .+/);
  });

  it("open stays open to every proven key, and a valid token still brings its UDP allowances", () => {
    const auth = new RelayAuthorizer(
      { mode: "union", of: [{ mode: "open" }, { mode: "token", controlPublicKey }] },
      "r1",
    );
    expect(auth.check(nodeKey, "", NOW)).toEqual({ ok: true, udp: [] });
    expect(auth.check(nodeKey, "garbage", NOW)).toEqual({ ok: true, udp: [] });
    expect(auth.check(nodeKey, token(nodeKey, ["192.0.2.1:51820"]), NOW)).toEqual({
      ok: true,
      udp: ["192.0.2.1:51820"],
    });
  });

  it("an empty union or a bad member is refused at startup", () => {
    expect(() => new RelayAuthorizer({ mode: "union", of: [] }, "r1")).toThrow(
      "relay auth: union mode needs at least one mode",
    );
    expect(
      () =>
        new RelayAuthorizer(
          { mode: "union", of: [{ mode: "token", controlPublicKey: new Uint8Array(32) }] },
          "r1",
        ),
    ).toThrow(/^relay auth: /);
  });
});

describe("ControlMount", () => {
  it("answers 503 on its paths until the control server is attached; leaves the rest alone", () => {
    const mount = new ControlMount();
    const written: { status: number; body: string }[] = [];
    const res = {
      writeHead(status: number) {
        written.push({ status, body: "" });
        return this;
      },
      end(body: string) {
        written[written.length - 1]!.body = body;
      },
    } as unknown as ServerResponse;
    const req = (url: string) => ({ url, headers: {} }) as IncomingMessage;
    expect(mount.request(req("/"), res)).toBe(false);
    expect(mount.request(req("/relay"), res)).toBe(false);
    expect(mount.request(req("/loginx"), res)).toBe(false);
    expect(written).toEqual([]);
    for (const path of ["/api/v1/whoami", "/login/owner", "/approve/abc?x=1"]) {
      expect(mount.request(req(path), res)).toBe(true);
    }
    expect(written.map((w) => w.status)).toEqual([503, 503, 503]);
    expect(JSON.parse(written[0]!.body)).toEqual({
      error: "starting",
      message: "the control server is starting",
    });
  });
});

describe("control flags", () => {
  it("public URLs, relay URLs and OIDC flags", () => {
    expect(parsePublicUrl("https://corridor.example.com")).toBe("https://corridor.example.com/");
    expect(relayUrlOf("https://corridor.example.com/")).toBe("wss://corridor.example.com/relay");
    expect(relayUrlOf("http://127.0.0.1:8080/")).toBe("ws://127.0.0.1:8080/relay");
    for (const bad of ["ftp://x/", "https://u:p@x/", "https://x/app", "https://x/#f", "nope"]) {
      expect(() => parsePublicUrl(bad), bad).toThrow(UsageError);
    }
    const none = {
      "public-url": undefined,
      "oidc-issuer": undefined,
      "oidc-client-id": undefined,
      "oidc-client-secret-file": undefined,
      "oidc-allowed-domains": undefined,
      "oidc-allowed-emails": undefined,
    };
    expect(oidcFlags(none)).toBeUndefined();
    expect(() => oidcFlags({ ...none, "oidc-allowed-domains": "example.com" })).toThrow(
      "OIDC sign-in needs --oidc-issuer URL, --oidc-client-id ID and --oidc-client-secret-file FILE together",
    );
    expect(
      oidcFlags({
        ...none,
        "oidc-issuer": "https://id.example.com",
        "oidc-client-id": "corridor",
        "oidc-client-secret-file": "/run/secret",
        "oidc-allowed-domains": " example.com, ,example.org",
      }),
    ).toEqual({
      issuer: "https://id.example.com",
      clientId: "corridor",
      clientSecretFile: "/run/secret",
      allowedDomains: ["example.com", "example.org"],
      allowedEmails: [],
    });
  });

  it("fuzz (seeded): hostile command lines and URLs end in a value or a UsageError", () => {
    const next = seededInts(0x13c0de);
    const pieces = [
      "--server",
      "--json",
      "--tag",
      "--expiry",
      "--data",
      "--database",
      "--relay-url",
      "--relay-key",
      "--relay-id",
      "--relay-stun",
      "none",
      "relay.example.com:3478",
      "[::1]:3478",
      "--public-url",
      "--oidc-issuer",
      "--listen",
      "-h",
      "--",
      "nodes",
      "rename",
      "authkey",
      "create",
      "policy",
      "set",
      "users",
      "=",
      "-",
      "x",
      "https://",
      "ws://a/relay",
      "\u0000",
      "é",
      "%00",
      "http://[::1]:0/",
      "0",
      "99999999",
    ];
    let tried = 0;
    for (let i = 0; i < 20_000; i++) {
      const argv = Array.from({ length: next(8) }, () => {
        const a = pieces[next(pieces.length)]!;
        return next(4) === 0 ? `${a}${pieces[next(pieces.length)]!}` : a;
      });
      try {
        parseCommandArgs(ADMIN_COMMAND as CommandSpec, argv);
      } catch (error) {
        expect(error).toBeInstanceOf(UsageError);
      }
      tried++;
      try {
        // Parsing, then the command's own checks (relays, keys, URLs, ports).
        const parsed = parseCommandArgs(CONTROL_COMMAND, argv);
        if (parsed !== "help") expect(controlArgs(parsed).relays.length).toBeGreaterThan(0);
      } catch (error) {
        expect(error).toBeInstanceOf(UsageError);
      }
      tried++;
      const url = argv.join("");
      try {
        const parsed = parsePublicUrl(url);
        expect(parsed).toMatch(/^https?:\/\/[^/?#]+\/$/);
      } catch (error) {
        expect(error).toBeInstanceOf(UsageError);
      }
      tried++;
    }
    console.log(`control flags fuzz: ${tried} inputs`);
    expect(tried).toBe(60_000);
  });
});

describe("corridor admin's client against a server that is not a control server", () => {
  it("refuses an answer declared too large without reading it, and a non-JSON answer", async () => {
    const server = createServer((req, res) => {
      if (req.url === "/api/v1/huge") {
        res.writeHead(200, { "content-length": String(1 << 27) });
        res.write("{");
        return; // never finishes: the client must not wait for the rest
      }
      res.writeHead(200, { "content-type": "text/html" });
      res.end("<!doctype html>");
    });
    const port = await listenOnLoopback(server);
    try {
      const client = new AdminClient(`http://127.0.0.1:${port}/`, "capi_x");
      await expect(client.call("GET", "/api/v1/huge")).rejects.toThrow(
        new AdminError(`http://127.0.0.1:${port} answered too much (134217728 bytes)`),
      );
      await expect(client.call("GET", "/api/v1/users")).rejects.toThrow(
        new AdminError(
          `http://127.0.0.1:${port} is not a Corridor control server (200, not JSON on /api/v1/users)`,
        ),
      );
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
