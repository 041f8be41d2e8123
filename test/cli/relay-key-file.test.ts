// The relay's key survives a restart: `corridor relay --key-file FILE` and `corridor serve
// --data DIR` (DIR/relay.key) run as the real commands, stopped and started again, keep their
// public key, so a client that pinned it (`#key=`) connects to the restarted relay; a relay
// with another key is refused by that client. The key file is made 0600 and holds the base64
// private key of the printed public key; the data folder is made 0700; a key file others can
// read draws the warning, a file holding no key stops the start.

import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { nodeX25519 } from "../../server/crypto/x25519-node.ts";
import { nodeRelayConnect } from "../../server/relay/ws-node.ts";
import { loadCryptoCore } from "../../worker/crypto/index.ts";
import { RelayBind } from "../../worker/relay/client.ts";
import { pinnedRelayUrl } from "../../worker/relay/relay-url.ts";
import { generatePrivateKey, keyFromBase64, keyToBase64 } from "../../worker/wireguard/keys.ts";

const bin = new URL("../../cli/corridor.mjs", import.meta.url).pathname;

let dir: string;
let web: string;
const children: ChildProcess[] = [];
const binds: RelayBind[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "corridor-relay-key-"));
  web = join(dir, "web");
  mkdirSync(web, { recursive: true });
  writeFileSync(join(web, "index.html"), "<!doctype html><title>t</title>\n");
});

afterEach(async () => {
  for (const bind of binds.splice(0)) await bind.close();
  for (const child of children.splice(0)) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    const exited = new Promise((resolve) => child.once("close", resolve));
    child.kill("SIGKILL");
    await exited;
  }
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A running command: what it printed, and its stop. */
interface Running {
  stdout: string;
  stderr: string;
  relayKey: string;
  relayUrl: string;
  pinnedUrl: string;
  stop(): Promise<number | null>;
}

/** Starts `corridor ARGS` and resolves once it printed its pinned relay URL. */
function start(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Running> {
  const child = spawn(process.execPath, [bin, ...args], { stdio: ["ignore", "pipe", "pipe"], env });
  children.push(child);
  let stdout = "";
  let stderr = "";
  const exited = new Promise<number | null>((resolve) => child.once("close", resolve));
  child.stderr.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  return new Promise((resolve, reject) => {
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
      const pinned = /^pinned relay URL: (ws:\/\/\S+#key=(\S+))$/m.exec(stdout);
      if (pinned === null) return;
      const url = pinned[1]!;
      resolve({
        stdout,
        stderr,
        relayKey: /relay key (\S+)/.exec(stdout)![1]!,
        relayUrl: url.slice(0, url.indexOf("#")),
        pinnedUrl: url,
        stop: () => {
          child.kill("SIGTERM");
          return exited;
        },
      });
    });
    void exited.then((code) => reject(new Error(`exited ${code}: ${stdout}${stderr}`)));
  });
}

/** A relay client of a fresh node, pinned by `url`'s `#key=`; resolves once welcomed. */
async function connectPinned(url: string): Promise<RelayBind> {
  const bind = new RelayBind({
    url,
    privateKey: generatePrivateKey(),
    core: await loadCryptoCore(),
    x25519: nodeX25519,
    connect: nodeRelayConnect(),
    backoffBaseMs: 20,
    backoffMaxMs: 100,
    onWarning: () => {},
  });
  binds.push(bind);
  await bind.open(() => {});
  return bind;
}

const mode = (path: string) => statSync(path).mode & 0o777;

async function publicOf(file: string): Promise<string> {
  return keyToBase64(await nodeX25519.publicKey(keyFromBase64(readFileSync(file, "utf8"))));
}

describe("corridor relay --key-file", () => {
  it("makes the key file 0600, keeps the key across a restart, and a pinned client connects", async () => {
    const keyFile = join(dir, "relay-a.key");
    const relayArgs = ["relay", "--open", "--listen", "127.0.0.1:0", "--key-file", keyFile];
    const first = await start(relayArgs);
    expect(mode(keyFile)).toBe(0o600);
    expect(await publicOf(keyFile)).toBe(first.relayKey);
    expect(first.pinnedUrl).toBe(pinnedRelayUrl(first.relayUrl, keyFromBase64(first.relayKey)));
    expect(first.stderr).toContain(`made a new relay key in ${keyFile}`);
    expect(await first.stop()).toBe(0);

    const second = await start(relayArgs);
    expect(second.relayKey).toBe(first.relayKey);
    expect(second.stderr).not.toContain("made a new relay key");
    expect(mode(keyFile)).toBe(0o600);
    // The pin written down before the restart, at wherever the relay listens now.
    const bind = await connectPinned(
      pinnedRelayUrl(second.relayUrl, keyFromBase64(first.relayKey)),
    );
    expect(bind.state).toBe("ready");
    expect(bind.presentedRelayKey).toBe(first.relayKey);
    expect(await second.stop()).toBe(0);
  });

  it("a relay with another key file is refused by the client that pinned the first", async () => {
    const first = await start([
      "relay",
      "--open",
      "--listen",
      "127.0.0.1:0",
      "--key-file",
      join(dir, "b1.key"),
    ]);
    const pin = keyFromBase64(first.relayKey);
    await first.stop();
    const other = await start([
      "relay",
      "--open",
      "--listen",
      "127.0.0.1:0",
      "--key-file",
      join(dir, "b2.key"),
    ]);
    expect(other.relayKey).not.toBe(first.relayKey);
    await expect(connectPinned(pinnedRelayUrl(other.relayUrl, pin))).rejects.toThrow(
      `presented key ${other.relayKey}, but ${first.relayKey} is pinned`,
    );
  });

  it("without --key-file the start line says the key is new at every start", async () => {
    const run = await start(["relay", "--open", "--listen", "127.0.0.1:0"]);
    expect(run.stdout).toContain(
      `relay key ${run.relayKey} (new at every start: --key-file keeps it)`,
    );
  });

  it("uses a key file others can read, with the warning; refuses a file holding no key", async () => {
    const keyFile = join(dir, "loose.key");
    const privateKey = generatePrivateKey();
    writeFileSync(keyFile, `${keyToBase64(privateKey)}\n`);
    chmodSync(keyFile, 0o644);
    const run = await start(["relay", "--open", "--listen", "127.0.0.1:0", "--key-file", keyFile]);
    expect(run.relayKey).toBe(keyToBase64(await nodeX25519.publicKey(privateKey)));
    expect(run.stderr).toContain("WARNING: UNPROTECTED PRIVATE KEY FILE!");
    expect(run.stderr).toContain(`Protect it with: chmod 600 '${keyFile}'`);

    const garbage = join(dir, "garbage.key");
    writeFileSync(garbage, "not a key\n", { mode: 0o600 });
    const bad = spawnSync(
      process.execPath,
      [bin, "relay", "--open", "--listen", "127.0.0.1:0", "--key-file", garbage],
      { encoding: "utf8", timeout: 30_000 },
    );
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain(
      `corridor relay: --key-file: ${garbage}: not a WireGuard key: 9 characters, expected 44`,
    );
    expect(readFileSync(garbage, "utf8")).toBe("not a key\n");
  });
});

describe("corridor serve --data", () => {
  it("makes DIR 0700 and DIR/relay.key 0600, keeps the key across a restart, a pinned client connects", async () => {
    const data = join(dir, "serve-data", "nested");
    const serveArgs = ["serve", "--port", "0", "--web", web, "--data", data];
    const first = await start(serveArgs);
    expect(mode(data)).toBe(0o700);
    expect(mode(join(data, "relay.key"))).toBe(0o600);
    expect(await publicOf(join(data, "relay.key"))).toBe(first.relayKey);
    expect(first.stdout).toContain(`relay key ${first.relayKey} (in ${join(data, "relay.key")})`);
    expect(first.stdout).toContain(`data in ${data} (database ${join(data, "control.db")})\n`);
    expect(await first.stop()).toBe(0);

    const second = await start(serveArgs);
    expect(second.relayKey).toBe(first.relayKey);
    const bind = await connectPinned(
      pinnedRelayUrl(second.relayUrl, keyFromBase64(first.relayKey)),
    );
    expect(bind.state).toBe("ready");
    expect(await second.stop()).toBe(0);
  });

  it("without --data uses $XDG_STATE_HOME/corridor, made 0700, and prints it", async () => {
    const state = join(dir, "xdg-state");
    const run = await start(["serve", "--port", "0", "--web", web], {
      ...process.env,
      XDG_STATE_HOME: state,
    });
    const data = join(state, "corridor");
    expect(run.stdout).toContain(`data in ${data} (database ${join(data, "control.db")})\n`);
    expect(mode(data)).toBe(0o700);
    expect(await publicOf(join(data, "relay.key"))).toBe(run.relayKey);
  });

  it("warns when the data folder lets others in", async () => {
    const data = join(dir, "open-data");
    mkdirSync(data);
    chmodSync(data, 0o755);
    const run = await start(["serve", "--port", "0", "--web", web, "--data", data]);
    expect(run.stderr).toContain(
      `corridor serve: WARNING: the data folder '${data}' has permissions 0755`,
    );
    expect(run.stderr).toContain(`chmod 700 '${data}'`);
  });
});
