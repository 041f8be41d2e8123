import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { connect } from "node:net";
import { afterEach, expect, it } from "vitest";
import { UdpBind } from "../../server/udp-bind.ts";
import { describeWithPrereq } from "../helpers/prereq.ts";
import { waitUntil } from "../helpers/wait.ts";
import {
  createWgHost,
  removeStaleHosts,
  run,
  WG_TOOLS,
  type WgHost,
  wgGenKey,
  wgHostPrereq,
} from "./wg-host.ts";

const need = wgHostPrereq();
const PING = ["/usr/bin/ping", "/bin/ping"].find((p) => existsSync(p));

const hosts: WgHost[] = [];
afterEach(async () => {
  await Promise.all(hosts.splice(0).map((h) => h.close()));
});

async function timedHost(peerPublicKey: string) {
  const started = performance.now();
  const host = await createWgHost({ peer: { publicKey: peerPublicKey } });
  hosts.push(host);
  return { host, buildMs: performance.now() - started };
}

function namespaces(): string[] {
  return execFileSync(WG_TOOLS.ip, ["netns", "list"])
    .toString()
    .split("\n")
    .map((line) => line.split(" ")[0] ?? "")
    .filter(Boolean);
}

function linkExists(name: string): boolean {
  return execFileSync(WG_TOOLS.ip, ["-o", "link", "show"]).toString().includes(` ${name}`);
}

/**
 * Our root namespace reaches `address`: ping when iputils-ping is installed, else a TCP
 * connect to a closed port, which only the host's kernel answers (RST: ECONNREFUSED).
 */
async function reachable(address: string): Promise<string> {
  if (PING !== undefined) {
    const result = await run([PING, "-c1", "-W2", address]);
    return result.code === 0 ? "ping" : `ping failed: ${result.stdout}${result.stderr}`;
  }
  return new Promise<string>((resolve) => {
    const socket = connect({ host: address, port: 9, timeout: 2000 });
    const done = (how: string) => {
      socket.destroy();
      resolve(how);
    };
    socket.on("connect", () => done("tcp connect"));
    socket.on("timeout", () => done("timed out"));
    socket.on("error", (e: NodeJS.ErrnoException) =>
      done(e.code === "ECONNREFUSED" ? "tcp refused" : String(e.code)),
    );
  });
}

/** Whether the UDP socket bound to `port` has nothing waiting to be read (/proc/net/udp). */
function receiveQueueEmpty(procNetUdp: string, port: number): boolean {
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  const line = procNetUdp
    .split("\n")
    .find((l) => l.trim().split(/\s+/)[1]?.endsWith(`:${hexPort}`));
  // Columns: sl local_address rem_address st tx_queue:rx_queue ...
  return line !== undefined && line.trim().split(/\s+/)[4]?.split(":")[1] === "00000000";
}

/** The Udp: counters of /proc/net/snmp (per network namespace). */
function udpCounters(snmp: string): Record<string, number> {
  const [names, values] = snmp.split("\n").filter((line) => line.startsWith("Udp: "));
  const keys = names?.split(" ").slice(1) ?? [];
  const numbers = values?.split(" ").slice(1).map(Number) ?? [];
  return Object.fromEntries(keys.map((key, i) => [key, numbers[i] ?? Number.NaN]));
}

describeWithPrereq(need, "stock WireGuard test host (wireguard-go in a network namespace)", () => {
  it("builds a host with our peer, is reachable, and close() removes everything", async () => {
    const ours = await wgGenKey();
    const { host, buildMs } = await timedHost(ours.publicKey);

    expect(host.hostAddress).toMatch(/^10\.201\.\d+\.\d+$/);
    expect(host.iface.length).toBeLessThanOrEqual(15);
    expect(host.vethRoot.length).toBeLessThanOrEqual(15);
    expect(host.publicKey).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    expect(namespaces()).toContain(host.namespace);

    const peers = await host.wgShow();
    expect(peers).toEqual([
      {
        publicKey: ours.publicKey,
        hasPresharedKey: false,
        endpoint: null,
        allowedIps: ["100.64.0.1/32"],
        latestHandshake: 0,
        rxBytes: 0,
        txBytes: 0,
        persistentKeepalive: null,
      },
    ]);
    const shown = await host.exec([WG_TOOLS.wg, "show", host.iface, "listen-port"]);
    expect(shown.stdout.trim()).toBe(String(host.listenPort));
    const addr = await host.exec([WG_TOOLS.ip, "-o", "-4", "addr", "show", "dev", host.iface]);
    expect(addr.stdout).toContain(`${host.tunnelAddress}/24`);

    // setPeer / removePeer: a second peer with a preshared key and an endpoint.
    const other = await wgGenKey();
    const psk = (await run([WG_TOOLS.wg, "genpsk"])).stdout.trim();
    await host.setPeer({
      publicKey: other.publicKey,
      presharedKey: psk,
      allowedIps: ["100.64.0.3/32"],
      endpoint: `${host.ourAddress}:40000`,
      persistentKeepalive: 25,
    });
    const both = await host.wgShow();
    expect(both.find((p) => p.publicKey === other.publicKey)).toMatchObject({
      hasPresharedKey: true,
      endpoint: `${host.ourAddress}:40000`,
      allowedIps: ["100.64.0.3/32"],
      persistentKeepalive: 25,
    });
    await host.removePeer(other.publicKey);
    expect((await host.wgShow()).map((p) => p.publicKey)).toEqual([ours.publicKey]);

    expect(await reachable(host.hostAddress)).toMatch(/^(ping|tcp refused)$/);

    const closing = performance.now();
    await host.close();
    const closeMs = performance.now() - closing;
    await host.close(); // idempotent
    console.log(
      `wg host: built in ${buildMs.toFixed(0)} ms, closed in ${closeMs.toFixed(0)} ms` +
        ` (reachability by ${PING ? "ping" : "TCP RST probe: no ping installed"})`,
    );
    expect(namespaces()).not.toContain(host.namespace);
    expect(linkExists(host.vethRoot)).toBe(false);
    expect(existsSync(`/var/run/wireguard/${host.iface}.sock`)).toBe(false);
  });

  it("survives garbage datagrams from the root namespace (wireguard-go drops them)", async () => {
    const ours = await wgGenKey();
    const { host } = await timedHost(ours.publicKey);
    const bind = new UdpBind();
    await bind.open(() => {});
    try {
      const to = bind.parseEndpoint(`${host.hostAddress}:${host.listenPort}`);
      const random = crypto.getRandomValues(new Uint8Array(148));
      const fakeInitiation = crypto.getRandomValues(new Uint8Array(148));
      fakeInitiation.set([1, 0, 0, 0]); // type 1 (initiation), reserved zero: fails mac1
      expect(bind.send(random, to)).toBe(true);
      expect(bind.send(fakeInitiation, to)).toBe(true);
      // Both reach wireguard-go's socket in the namespace (and none hits a closed port), and
      // wireguard-go reads them (its socket's receive queue is empty again).
      let snmp = "";
      await waitUntil(() => udpCounters(snmp).InDatagrams === 2, "2 datagrams in the host", {
        poll: async () => {
          snmp = (await host.exec(["cat", "/proc/net/snmp"])).stdout;
        },
      });
      expect(udpCounters(snmp)).toMatchObject({ InDatagrams: 2, NoPorts: 0 });
      let sockets = "";
      await waitUntil(() => receiveQueueEmpty(sockets, host.listenPort), "wireguard-go reading", {
        poll: async () => {
          sockets = (await host.exec(["cat", "/proc/net/udp"])).stdout;
        },
      });
      expect(bind.stats).toMatchObject({ sent: 2, sendErrors: 0, received: 0 });
      const peers = await host.wgShow();
      expect(peers).toHaveLength(1);
      expect(peers[0]).toMatchObject({ publicKey: ours.publicKey, latestHandshake: 0, rxBytes: 0 });
      expect(host.logs()).not.toMatch(/panic/i);
    } finally {
      await bind.close();
    }
  });

  it("removes a half-built host when setup fails", async () => {
    // This process's "cwf" names only: a concurrent run of this file makes its own.
    const mine = `cwf${process.pid.toString(36).padStart(5, "0")}`;
    const setup = createWgHost({ prefix: "cwf", peer: { publicKey: "not a key" } });
    await expect(setup).rejects.toThrow(/wg set .* failed/);
    expect(namespaces().filter((n) => n.startsWith(mine))).toEqual([]);
    const links = execFileSync(WG_TOOLS.ip, ["-o", "link", "show"]).toString();
    expect(links).not.toContain(` ${mine}`);
  });

  it("removes hosts left behind by a process that is gone", async () => {
    const dead = execFileSync(process.execPath, [
      "-e",
      "process.stdout.write(String(process.pid))",
    ]);
    const stem = `cws${Number(dead.toString()).toString(36).padStart(5, "0")}beef`;
    execFileSync(WG_TOOLS.ip, ["netns", "add", stem]);
    execFileSync(WG_TOOLS.ip, [
      "link",
      "add",
      `${stem}r`,
      "type",
      "veth",
      "peer",
      "name",
      `${stem}n`,
    ]);
    // (A concurrent run of this file may remove it first; either way it must be gone.)
    await removeStaleHosts("cws");
    expect(namespaces()).not.toContain(stem);
    expect(linkExists(`${stem}r`)).toBe(false);
  });
});
