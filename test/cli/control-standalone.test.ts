// `corridor control`, the control server alone, as the real binary: it prints its token key;
// a relay started apart with that key (`--control-key`, here in the test process) welcomes a
// node registered through this control server's /control with the token from its map, and
// refuses the bare key; /healthz and /metrics answer, other paths 404; the command line is
// checked (exit 2); SIGTERM ends it with 0.

import { mkdtempSync, rmSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nodeControlConnect } from "../../server/control/control-socket-node.ts";
import { nodeX25519 } from "../../server/crypto/x25519-node.ts";
import { type RelayServer, startRelay } from "../../server/relay/index.ts";
import { parseControlKey } from "../../server/relay/token.ts";
import { ControlClient } from "../../worker/control/client.ts";
import { initCrypto } from "../../worker/crypto/index.ts";
import { nobleX25519 } from "../../worker/crypto/x25519.ts";
import { generatePrivateKey, keyToBase64 } from "../../worker/wireguard/keys.ts";
import { reservedPort } from "../helpers/ports.ts";
import { connectAuthed, connectRaw, sendHello } from "../relay/raw-client.ts";
import { api, corridor, followOwnerLink, Server } from "./control-helpers.ts";

let dir: string;
let database: string;
let control: Server;
let base: string;
let relay: RelayServer;
let relayUrl: string;
const relayPrivate = generatePrivateKey();
let client: ControlClient | undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "corridor-control-alone-"));
  database = join(dir, "control.db");
  // The relay's port and key go into the control server's relay map before the relay runs
  // (it needs the control server's token key first).
  const port = await reservedPort();
  relayUrl = `ws://127.0.0.1:${port}/relay`;
  const relayKey = keyToBase64(await nodeX25519.publicKey(relayPrivate));
  control = new Server([
    "control",
    "--database",
    database,
    "--listen",
    "127.0.0.1:0",
    "--relay-url",
    relayUrl,
    "--relay-key",
    relayKey,
  ]);
  const [, url, tokenKey] = (await control.waitFor(
    /corridor control at (http:\/\/127\.0\.0\.1:\d+\/) .*\ntoken key (\S+)\n/,
  )) as unknown as string[];
  base = url!;
  await control.waitFor(/\n {2}\(valid 15 minutes/);
  relay = await startRelay({
    host: "127.0.0.1",
    port,
    privateKey: relayPrivate,
    auth: { mode: "token", controlPublicKey: parseControlKey(tokenKey!, "token key") },
    relayId: "default",
    log: () => {},
  });
}, 120_000);

afterAll(async () => {
  client?.close();
  await relay?.close();
  await control?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("corridor control", () => {
  it("prints its token key and the relay command line; a separate relay welcomes its nodes", async () => {
    expect(control.stdout).toContain(`relay default at ${relayUrl}: corridor relay --control-key `);
    const [, link] = (await control.waitFor(/Sign in as owner: (\S+)\n/)) as unknown as string[];
    await followOwnerLink(link!);
    const made = await corridor(["admin", "apikey", "create", "--database", database]);
    expect(made.status, made.stderr).toBe(0);
    const key = made.stdout.trim();
    const authKey = await api(base, "POST", "/api/v1/authkeys", { key, body: {} });
    expect(authKey.status).toBe(201);

    const privateKey = generatePrivateKey();
    client = new ControlClient({
      url: `${base.replace(/^http/, "ws")}control`,
      privateKey: new Uint8Array(privateKey),
      core: await initCrypto(),
      x25519: nobleX25519,
      connect: nodeControlConnect(),
      hostinfo: { hostname: "laptop", os: "linux" },
      authKey: String(authKey.body.key),
      onMap: () => {},
    });
    await client.start();
    expect(client.map.relays).toEqual([
      {
        id: "default",
        region: "",
        url: relayUrl,
        key: keyToBase64(relay.relayPublicKey),
      },
    ]);
    const keys = { privateKey, publicKey: await nodeX25519.publicKey(privateKey) };
    const bare = await connectRaw(relayUrl);
    await sendHello(bare, keys);
    expect((await bare.closed).code).toBe(4401);
    // Resolves on WELCOME only.
    const welcomed = await connectAuthed(relayUrl, keys, { token: client.map.token.token });
    welcomed.ws.close();
  }, 120_000);

  it("answers /healthz and /metrics, 404 elsewhere; no page, no relay", async () => {
    const health = await fetch(new URL("/healthz", base));
    expect([health.status, await health.text()]).toEqual([200, "ok\n"]);
    const metrics = await (await fetch(new URL("/metrics", base))).text();
    expect(metrics).toMatch(/^# TYPE corridor_control_streams gauge$/m);
    expect(metrics).not.toContain("corridor_relay_");
    for (const path of ["/", "/relay", "/index.html"]) {
      expect((await fetch(new URL(path, base))).status, path).toBe(404);
    }
    // fetch cannot set Host: a raw request, as a DNS-rebinding page's would arrive.
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        new URL("/metrics", base),
        { headers: { host: "evil.example" } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on("error", reject);
      req.end();
    });
    expect(status).toBe(421);
  });

  it("refuses a bad command line with exit 2 naming the problem", async () => {
    const cases: [string[], string][] = [
      [["control"], "corridor control: --database URL is required"],
      [
        ["control", "--database", database],
        "corridor control: nodes need a relay: give --relay-url URL --relay-key KEY",
      ],
      [
        ["control", "--database", database, "--relay-url", relayUrl],
        "corridor control: 1 --relay-url but 0 --relay-key: one each",
      ],
      [
        ["control", "--database", database, "--relay-url", "http://x/relay", "--relay-key", "k"],
        "corridor control: --relay-url 'http://x/relay': expected ws(s)://HOST[:PORT]/relay",
      ],
      [
        ["control", "--database", database, "--public-url", "https://x.example/app?a=1"],
        "corridor control: --public-url 'https://x.example/app?a=1': expected http(s)://HOST[:PORT]/",
      ],
      [
        [
          "control",
          "--database",
          database,
          "--oidc-issuer",
          "https://id.example",
          "--relay-url",
          relayUrl,
          "--relay-key",
          keyToBase64(new Uint8Array(32).fill(9)),
        ],
        "corridor control: OIDC sign-in needs --oidc-issuer URL, --oidc-client-id ID and",
      ],
      [["admin", "nodes", "rename", "x", "web"], "corridor admin: 'x' is not an id"],
      [["admin", "frobnicate"], "corridor admin: unknown command frobnicate"],
      [
        ["admin", "apikey", "create"],
        "corridor admin: this command opens the database: give --data DIR",
      ],
    ];
    const runs = await Promise.all(cases.map(([args]) => corridor(args)));
    for (const [i, run] of runs.entries()) {
      const [args, first] = cases[i]!;
      expect(run.status, args.join(" ")).toBe(2);
      expect(run.stderr.slice(0, first.length), args.join(" ")).toBe(first);
      expect(run.stderr).toContain(`usage: corridor ${args[0]} `);
    }
  }, 120_000);

  it("exits 0 on SIGTERM", async () => {
    client?.close();
    client = undefined;
    expect(await control.stop()).toBe(0);
    expect(control.stdout).toContain("corridor control: shutting down");
  }, 60_000);
});
