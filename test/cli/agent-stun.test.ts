// The STUN listener of the real binaries, answered for a client we did not write (coturn's
// turnutils_stunclient prints the reflexive address it learnt): `corridor relay --stun PORT`,
// and `corridor serve`, whose STUN listener is on by default on its listen port's number and
// named in the maps' RelayInfo.stun; `--stun 0` turns it off (no stun in the map).

import { execFile } from "node:child_process";
import { createSocket } from "node:dgram";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, expect, it } from "vitest";
import { nodeControlConnect } from "../../server/control/control-socket-node.ts";
import { ControlClient } from "../../worker/control/client.ts";
import { initCrypto } from "../../worker/crypto/index.ts";
import { nobleX25519 } from "../../worker/crypto/x25519.ts";
import { generatePrivateKey } from "../../worker/wireguard/keys.ts";
import { PortInUseError, withPortRetry } from "../helpers/ports.ts";
import { describeWithPrereq, onPath, prereq } from "../helpers/prereq.ts";
import { corridor, followOwnerLink, Server } from "./control-helpers.ts";

const run = promisify(execFile);
const coturn = prereq(onPath("turnutils_stunclient"));

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

/** turnutils_stunclient's answer from 127.0.0.1:PORT: the reflexive address it printed. */
async function stunClient(port: number): Promise<string> {
  const { stdout } = await run("turnutils_stunclient", ["-p", String(port), "127.0.0.1"], {
    timeout: 20_000,
  });
  const found = /UDP reflexive addr: (127\.0\.0\.1:\d+)/.exec(stdout);
  if (found === null)
    throw new Error(`turnutils_stunclient printed no reflexive address:\n${stdout}`);
  return found[1]!;
}

/** `corridor serve` on a free port with its own data folder; returns it and its base URL. */
/** A page folder and a data folder for `corridor serve` (removed after the test). */
function serveDirs(): { web: string; data: string } {
  const dir = mkdtempSync(join(tmpdir(), "corridor-agent-stun-"));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  const web = join(dir, "web");
  mkdirSync(web);
  writeFileSync(join(web, "index.html"), "<!doctype html><title>t</title>\n");
  return { web, data: join(dir, "data") };
}

async function serve(...extra: string[]): Promise<{ server: Server; base: string; data: string }> {
  const { web, data } = serveDirs();
  const server = new Server(["serve", "--port", "0", "--web", web, "--data", data, ...extra]);
  cleanup.push(() => server.stop());
  const base = (await server.waitFor(/Corridor is running at (http:\/\/127\.0\.0\.1:\d+\/)\n/))[1]!;
  // The owner signs in once (the printed link), so that `admin apikey create` has an owner.
  await followOwnerLink((await server.waitFor(/Sign in as owner: (\S+)\n/))[1]!);
  return { server, base, data };
}

/** The map of a node registered on `base` with an auth key made by `corridor admin`. */
async function mapFrom(base: string, data: string): Promise<ControlClient["map"]> {
  const apiKey = await corridor(["admin", "apikey", "create", "--data", data]);
  expect(apiKey.status, apiKey.stderr).toBe(0);
  const authKey = await corridor(["admin", "authkey", "create", "--server", base], {
    CORRIDOR_API_KEY: apiKey.stdout.trim(),
  });
  expect(authKey.status, authKey.stderr).toBe(0);
  const client = new ControlClient({
    url: `${base.replace(/^http/, "ws")}control`,
    privateKey: generatePrivateKey(),
    core: await initCrypto(),
    x25519: nobleX25519,
    connect: nodeControlConnect(),
    hostinfo: { hostname: "stun-test", os: "linux" },
    authKey: authKey.stdout.trim(),
    onMap: () => {},
  });
  cleanup.push(() => client.close());
  await client.start();
  return client.map;
}

describeWithPrereq(coturn, "STUN from the real binaries", () => {
  it("corridor relay --stun PORT answers a STUN client and says so at start", async () => {
    const { relay, port } = await withPortRetry(async (port) => {
      const relay = new Server([
        "relay",
        "--open",
        "--listen",
        "127.0.0.1:0",
        "--stun",
        String(port),
      ]);
      try {
        await relay.waitFor(/^pinned relay URL: /m);
      } catch (error) {
        if (/EADDRINUSE/.test(relay.stderr)) throw new PortInUseError(port, relay.stderr);
        throw error;
      }
      return { relay, port };
    });
    cleanup.push(() => relay.stop());
    expect(relay.stdout).toContain(`; STUN on udp 127.0.0.1:${port}; relay key `);
    expect(await stunClient(port)).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(await relay.stop()).toBe(0);
  }, 60_000);

  it("corridor relay has no STUN listener unless asked", async () => {
    const relay = new Server(["relay", "--open", "--listen", "127.0.0.1:0"]);
    cleanup.push(() => relay.stop());
    await relay.waitFor(/^pinned relay URL: /m);
    expect(relay.stdout).not.toContain("STUN");
  }, 60_000);

  it("corridor serve answers STUN on its listen port's number and names it in the maps", async () => {
    const { server, base, data } = await serve();
    const port = Number(new URL(base).port);
    expect(server.stdout).toContain(`STUN on udp 127.0.0.1:${port} (maps: 127.0.0.1:${port})\n`);
    expect(await stunClient(port)).toMatch(/^127\.0\.0\.1:\d+$/);
    const map = await mapFrom(base, data);
    expect(map.relays.map((r) => r.stun)).toEqual([`127.0.0.1:${port}`]);
  }, 120_000);

  it("corridor serve --stun 0 runs none, and the maps name none", async () => {
    const { server, base, data } = await serve("--stun", "0");
    expect(server.stdout).toContain("\nSTUN off\n");
    const map = await mapFrom(base, data);
    expect(map.relays).toHaveLength(1);
    expect(map.relays[0]!.stun).toBeUndefined();
  }, 120_000);

  it("serve runs without STUN when its default UDP port is taken, and stops on a taken --stun", async () => {
    // Something else holds UDP on the port number serve will listen on (TCP is free).
    const { holder, port } = await withPortRetry(async (candidate) => {
      const socket = createSocket("udp4");
      try {
        await new Promise<void>((resolve, reject) => {
          socket.once("error", reject);
          socket.bind(candidate, "127.0.0.1", () => resolve());
        });
      } catch (error) {
        socket.close();
        throw new PortInUseError(candidate, String(error));
      }
      return { holder: socket, port: candidate };
    });
    cleanup.push(() => new Promise<void>((resolve) => holder.close(() => resolve())));
    const { server } = await serve("--port", String(port));
    expect(server.stdout).toContain("\nSTUN off\n");
    expect(server.stderr).toContain(
      `corridor serve: STUN off: --stun: cannot listen on udp 127.0.0.1:${port}:`,
    );

    const { web, data } = serveDirs();
    const explicit = await corridor([
      ...["serve", "--port", "0", "--web", web, "--data", data, "--stun", String(port)],
    ]);
    expect(explicit.status).toBe(1);
    expect(explicit.stderr).toContain(`--stun: cannot listen on udp 127.0.0.1:${port}:`);
  }, 120_000);

  it("refuses a --stun that is no port, naming it", async () => {
    const bad = await corridor(["relay", "--open", "--stun", "70000"]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain(
      "--stun '70000': expected a port from 0 to 65535 (0 turns STUN off)",
    );
  }, 30_000);
});
