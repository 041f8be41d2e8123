// `corridor serve` with its control server, and `corridor admin` against it, all as the real
// binaries: the owner link printed at start signs the owner in (once); `admin apikey create
// --data DIR` bootstraps an API key; a policy with a failing test is refused with its line and
// column, a good one is set; an auth key made by `admin authkey create` registers a node
// through /control on the same port; the relay on that port welcomes the node with the token
// from its map; /metrics shows relay and control metrics; a restart keeps nodes and keys.

import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nodeControlConnect } from "../../server/control/control-socket-node.ts";
import { compilePolicy } from "../../server/control/policy/compile.ts";
import { nodeX25519 } from "../../server/crypto/x25519-node.ts";
import { ControlClient } from "../../worker/control/client.ts";
import { initCrypto } from "../../worker/crypto/index.ts";
import { nobleX25519 } from "../../worker/crypto/x25519.ts";
import { generatePrivateKey, keyToBase64 } from "../../worker/wireguard/keys.ts";
import { listenOnLoopback } from "../helpers/ports.ts";
import { connectAuthed, connectRaw, sendHello } from "../relay/raw-client.ts";
import { api, corridor, followOwnerLink, Server } from "./control-helpers.ts";

const GOOD_POLICY = `{
  // servers are the admins' to tag
  "tagOwners": { "tag:server": ["autogroup:admin"] },
  "acls": [
    { "action": "accept", "src": ["autogroup:admin"], "dst": ["*:*"] },
    { "action": "accept", "src": ["autogroup:member"], "dst": ["autogroup:self:*"] },
  ],
}
`;

// The test on line 8 fails: no rule lets tag:server reach anything.
const FAILING_POLICY = `{
  "tagOwners": { "tag:server": ["autogroup:admin"] },
  "acls": [
    { "action": "accept", "src": ["autogroup:admin"], "dst": ["*:*"] },
  ],
  "tests": [
    // servers must reach each other's ssh
    { "src": "tag:server", "accept": ["tag:server:22"] },
  ],
}
`;

let dir: string;
let web: string;
let data: string;
let server: Server;
let base: string;
let apiKey = "";
const clients: ControlClient[] = [];

/** A wg-quick style key the relay lets in by its allow-list, without a token. */
let allowListed: { privateKey: Uint8Array; publicKey: Uint8Array };

async function startServe(): Promise<Server> {
  // An allow-list instead of the loopback default "open": only listed keys and the control
  // server's tokens get in, so the token is what lets a mesh node in.
  const started = new Server([
    "serve",
    "--port",
    "0",
    "--web",
    web,
    "--data",
    data,
    "--allow-keys",
    join(dir, "allowed-keys"),
  ]);
  await started.waitFor(/\n {2}\(valid 15 minutes/);
  return started;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "corridor-control-serve-"));
  web = join(dir, "web");
  data = join(dir, "data");
  mkdirSync(web);
  writeFileSync(join(web, "index.html"), "<!doctype html><title>t</title>\n");
  const privateKey = generatePrivateKey();
  allowListed = { privateKey, publicKey: await nodeX25519.publicKey(privateKey) };
  writeFileSync(
    join(dir, "allowed-keys"),
    `# a wg-quick peer\n${keyToBase64(allowListed.publicKey)}\n`,
  );
  server = await startServe();
  base = (await server.waitFor(/Corridor is running at (http:\/\/127\.0\.0\.1:\d+\/)\n/))[1]!;
}, 120_000);

afterAll(async () => {
  for (const client of clients) client.close();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("corridor serve with the control server", () => {
  it("prints a single-use owner link that signs the owner in; the database is 0600", async () => {
    const [, link] = (await server.waitFor(/Sign in as owner: (\S+)\n/)) as unknown as string[];
    expect(link).toMatch(new RegExp(`^${base}login/owner#[A-Za-z0-9_-]{43}$`));
    expect(server.stdout).toMatch(/control server: map stream at ws:\/\/127\.0\.0\.1:\d+\/control/);
    const { cookie, user } = await followOwnerLink(link!);
    expect(user).toMatchObject({ name: "owner", role: "owner" });
    const whoami = await api(base, "GET", "/api/v1/whoami", { cookie });
    expect(whoami.status).toBe(200);
    expect(whoami.body).toMatchObject({ via: "session", user: { role: "owner" } });
    const again = await api(base, "POST", "/api/v1/login/link", {
      body: { token: new URL(link!).hash.slice(1) },
      origin: new URL(base).origin,
    });
    expect(again.status).toBe(403);
    expect(again.body.error).toBe("link_refused");
    expect(statSync(join(data, "control.db")).mode & 0o777).toBe(0o600);
    expect(statSync(data).mode & 0o777).toBe(0o700);
  }, 60_000);

  it("admin apikey create --data DIR prints a key alone; admin refuses bad or missing keys", async () => {
    const made = await corridor(["admin", "apikey", "create", "--data", data]);
    expect(made.status, made.stderr).toBe(0);
    expect(made.stdout).toMatch(/^capi_[A-Za-z0-9_-]+\n$/);
    apiKey = made.stdout.trim();
    const users = await corridor(["admin", "users", "--server", base], {
      CORRIDOR_API_KEY: apiKey,
    });
    expect(users.status, users.stderr).toBe(0);
    expect(users.stdout).toMatch(
      /^ID +NAME +EMAIL +ROLE +LAST SIGN-IN\n1 +owner +- +owner +\d{4}-/,
    );
    const none = await corridor(["admin", "users", "--server", base]);
    expect(none.status).toBe(2);
    expect(none.stderr).toMatch(/^corridor admin: set CORRIDOR_API_KEY to an API key/);
    const wrong = await corridor(["admin", "users", "--server", base], {
      CORRIDOR_API_KEY: `capi_${"x".repeat(43)}`,
    });
    expect(wrong.status).toBe(1);
    expect(wrong.stderr).toMatch(
      /^corridor admin: the server refused the API key \(invalid_api_key\): /,
    );
    // A port nothing listens on any more.
    const gone = createServer();
    const port = await listenOnLoopback(gone);
    await new Promise((resolve) => gone.close(resolve));
    const away = await corridor(["admin", "users", "--server", `http://127.0.0.1:${port}/`], {
      CORRIDOR_API_KEY: apiKey,
    });
    expect(away.status).toBe(1);
    expect(away.stderr).toBe(
      `corridor admin: cannot reach the control server at http://127.0.0.1:${port}: ECONNREFUSED\n`,
    );
  }, 120_000);

  it("policy set refuses a failing test with file, line and column; sets a good policy", async () => {
    const env = { CORRIDOR_API_KEY: apiKey };
    const bad = join(dir, "bad.jsonc");
    writeFileSync(bad, FAILING_POLICY);
    const expected = compilePolicy(FAILING_POLICY, [{ id: 1, email: "", role: "owner" }]);
    expect(expected.ok).toBe(false);
    const errors = expected.ok ? [] : expected.errors;
    expect(errors.map((e) => e.line)).toEqual([8]);
    const refused = await corridor(["admin", "policy", "set", bad, "--server", base], env);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toBe(
      `corridor admin: the server refused the policy in ${bad}; nothing changed:\n` +
        errors
          .map(
            (e) =>
              `${bad}:${e.line}:${e.column}: ${e.path === "" ? "" : `${e.path}: `}${e.message}\n`,
          )
          .join(""),
    );
    const tested = await corridor(["admin", "policy", "test", bad, "--server", base], env);
    expect(tested.status).toBe(1);
    expect(tested.stderr).toContain(`${bad}:8:`);

    const good = join(dir, "good.jsonc");
    writeFileSync(good, GOOD_POLICY);
    const set = await corridor(["admin", "policy", "set", good, "--server", base], env);
    expect(set.status, set.stderr).toBe(0);
    expect(set.stdout).toBe("policy set: version 1\n");
    const got = await corridor(["admin", "policy", "get", "--server", base], env);
    expect(got.stdout).toBe(GOOD_POLICY);
  }, 120_000);

  it("a node registers with an admin-made auth key over /control; the relay welcomes its token", async () => {
    const env = { CORRIDOR_API_KEY: apiKey };
    const made = await corridor(
      ["admin", "authkey", "create", "--reusable", "--tag", "tag:server", "--server", base],
      env,
    );
    expect(made.status, made.stderr).toBe(0);
    expect(made.stdout).toMatch(/^cak_[A-Za-z0-9_-]+\n$/);
    const core = await initCrypto();
    const privateKey = generatePrivateKey();
    const client = new ControlClient({
      url: `${base.replace(/^http/, "ws")}control`,
      privateKey: new Uint8Array(privateKey),
      core,
      x25519: nobleX25519,
      connect: nodeControlConnect(),
      hostinfo: { hostname: "web-01", os: "linux" },
      authKey: made.stdout.trim(),
      onMap: () => {},
    });
    clients.push(client);
    await client.start();
    const { map } = client;
    expect(map.self).toMatchObject({ name: "web-01", tags: ["tag:server"], user: null });
    const relayUrl = `${base.replace(/^http/, "ws")}relay`;
    expect(map.relays.map((r) => r.url)).toEqual([relayUrl]);
    expect(server.stdout).toContain(`relay key ${map.relays[0]!.key} `);
    const keys = { privateKey, publicKey: await nodeX25519.publicKey(privateKey) };
    // Without the token, the node's key is not on the allow-list: refused.
    const bare = await connectRaw(relayUrl);
    await sendHello(bare, keys);
    expect((await bare.closed).code).toBe(4401);
    // connectAuthed resolves on WELCOME only (it throws when the relay closes instead).
    const relay = await connectAuthed(relayUrl, keys, { token: map.token.token });
    relay.ws.close();
    // The allow-listed key still gets in without a token, as wg-quick networks in the page do.
    const peer = await connectAuthed(relayUrl, allowListed);
    peer.ws.close();
    expect(server.stdout).toMatch(/\(auth: 1 allowed keys; .*; and control tokens\)/);

    const listed = await corridor(["admin", "nodes", "--json", "--server", base], env);
    expect(listed.status, listed.stderr).toBe(0);
    const nodes = (JSON.parse(listed.stdout) as { nodes: { name: string; tags: string[] }[] })
      .nodes;
    expect(nodes.map((n) => [n.name, n.tags])).toEqual([["web-01", ["tag:server"]]]);
    const table = await corridor(["admin", "nodes", "--server", base], env);
    expect(table.stdout).toMatch(
      /\n1 +web-01 +100\.64\.0\.1,fd[0-9a-f:]+ +tag:server +linux +no +/,
    );
  }, 120_000);

  it("/metrics on the one port shows relay and control metric families", async () => {
    const text = await (await fetch(new URL("/metrics", base))).text();
    expect(text).toMatch(/^# TYPE corridor_relay_clients gauge$/m);
    expect(text).toMatch(/^# TYPE corridor_control_streams gauge$/m);
    expect(text).toMatch(/^corridor_control_streams 1$/m);
  });

  it("a restart keeps the node, the auth key and the API key (SQLite in DIR)", async () => {
    for (const client of clients.splice(0)) client.close();
    expect(await server.stop()).toBe(0);
    expect(server.stdout).toContain("corridor serve: shutting down");
    server = await startServe();
    base = (await server.waitFor(/Corridor is running at (http:\/\/127\.0\.0\.1:\d+\/)\n/))[1]!;
    const env = { CORRIDOR_API_KEY: apiKey };
    const nodes = await api(base, "GET", "/api/v1/nodes", { key: apiKey });
    expect(nodes.status).toBe(200);
    expect((nodes.body.nodes as { name: string }[]).map((n) => n.name)).toEqual(["web-01"]);
    const keys = await corridor(["admin", "authkey", "list", "--server", base], env);
    expect(keys.status, keys.stderr).toBe(0);
    expect(keys.stdout).toMatch(/\n1 +cak_\S+ +yes +no +tag:server +1 +\d{4}-\S+ \S+ +-\n$/);
  }, 120_000);
  it("admin renames, expires and removes the node, and revokes the auth key", async () => {
    const env = { CORRIDOR_API_KEY: apiKey };
    const run = (...args: string[]) => corridor([...args, "--server", base], env);
    const renamed = await run("admin", "nodes", "rename", "1", "web-02");
    expect([renamed.status, renamed.stdout]).toEqual([0, "node 1 is now web-02\n"]);
    const expired = await run("admin", "nodes", "expire", "1");
    expect([expired.status, expired.stdout]).toEqual([0, "node 1 (web-02): key expired\n"]);
    const badName = await run("admin", "nodes", "rename", "1", "not a label");
    expect(badName.status).toBe(1);
    expect(badName.stderr).toMatch(
      /^corridor admin: invalid body: name: .+ \(400 invalid_body\)\n$/,
    );
    const removed = await run("admin", "nodes", "remove", "1");
    expect([removed.status, removed.stdout]).toEqual([0, "node 1 removed\n"]);
    const again = await run("admin", "nodes", "remove", "1");
    expect([again.status, again.stderr]).toEqual([
      1,
      "corridor admin: no node with id 1 (404 not_found)\n",
    ]);
    const revoked = await run("admin", "authkey", "revoke", "1");
    expect([revoked.status, revoked.stdout]).toEqual([0, "auth key 1 revoked\n"]);
    const nodes = await api(base, "GET", "/api/v1/nodes", { key: apiKey });
    expect(nodes.body.nodes).toEqual([]);
  }, 120_000);
});
