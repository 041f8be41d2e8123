// The STUN client over the WireGuard socket (server/agent/stun-client.ts) and the endpoint
// reporter (server/agent/endpoints.ts): against coturn's turnserver as a plain STUN server (a
// server we did not write) and against ours, with the answer taken out of the socket's stream
// before the receive function sees it; retransmission, error answers, silence; which interface
// addresses become endpoints.

import { type ChildProcess, spawn } from "node:child_process";
import { createSocket, type Socket } from "node:dgram";
import { mkdtempSync, rmSync } from "node:fs";
import type { NetworkInterfaceInfo } from "node:os";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { EndpointReporter, localEndpoints } from "../../server/agent/endpoints.ts";
import { stunBinding } from "../../server/agent/stun-client.ts";
import { startStunServer } from "../../server/relay/stun-server.ts";
import { parseUdpEndpoint, UdpBind } from "../../server/udp-bind.ts";
import { encodeBindingError, encodeBindingSuccess, parseStun } from "../../worker/path/stun.ts";
import { PortInUseError, withPortRetry } from "../helpers/ports.ts";
import { onPath, prereq } from "../helpers/prereq.ts";
import { waitUntil } from "../helpers/wait.ts";

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

/** A UdpBind on loopback counting what reaches its receive function. */
async function wgSocket(): Promise<{ udp: UdpBind; delivered: () => number }> {
  const udp = new UdpBind({ host: "127.0.0.1" });
  let delivered = 0;
  await udp.open(() => {
    delivered++;
  });
  cleanup.push(() => udp.close());
  return { udp, delivered: () => delivered };
}

/** A raw UDP socket on loopback answering requests with `answer` (undefined: stay silent). */
async function fakeServer(
  answer: (request: Uint8Array, n: number) => Uint8Array | undefined,
): Promise<{ port: number; requests: () => number }> {
  const socket: Socket = createSocket("udp4");
  let n = 0;
  socket.on("message", (m, from) => {
    n++;
    const reply = answer(new Uint8Array(m), n);
    if (reply !== undefined) socket.send(reply, from.port, from.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", () => resolve()));
  cleanup.push(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  return { port: socket.address().port, requests: () => n };
}

function idOf(request: Uint8Array): Uint8Array {
  const parsed = parseStun(request);
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.message.transactionId.slice();
}

/** coturn's turnserver as a plain STUN server on loopback. */
async function turnserver(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "corridor-turn-"));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  return withPortRetry(async (port) => {
    const args = ["-n", "--stun-only", "-p", String(port), "-L", "127.0.0.1", "--no-cli"];
    args.push("--no-tls", "--no-dtls", "-l", "stdout", "--simple-log");
    args.push("--pidfile", join(dir, "pid"), "--db", join(dir, "turndb"));
    const child: ChildProcess = spawn("turnserver", args, { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout?.on("data", (d) => {
      output += d;
    });
    child.stderr?.on("data", (d) => {
      output += d;
    });
    let exited = false;
    child.on("exit", () => {
      exited = true;
    });
    cleanup.push(() => {
      if (!exited) child.kill("SIGTERM");
    });
    await waitUntil(
      () => exited || /Total General servers|Cannot bind|Address already in use/.test(output),
      "turnserver to start",
    );
    if (/Cannot bind|Address already in use/.test(output)) {
      child.kill("SIGTERM");
      throw new PortInUseError(port, "turnserver could not bind");
    }
    if (exited) throw new Error(`turnserver exited:\n${output.slice(-2000)}`);
    return port;
  });
}

const coturn = prereq(onPath("turnserver"));

describe("STUN client", () => {
  it.skipIf(coturn.skip)("learns the socket's address from coturn's turnserver", async () => {
    coturn.assert();
    const port = await turnserver();
    const { udp, delivered } = await wgSocket();
    const server = parseUdpEndpoint(`127.0.0.1:${port}`);
    // Retransmission also covers the moment between turnserver's start line and its UDP socket.
    const mapped = await stunBinding({ transport: udp, server, rtoMs: 100, timeoutMs: 20_000 });
    expect(mapped).toEqual({ family: 4, address: "127.0.0.1", port: udp.localPort });
    expect(delivered()).toBe(0);
  });

  it("learns it from our STUN server, the answer kept from the device", async () => {
    const s = await startStunServer({ host: "127.0.0.1", port: 0 });
    cleanup.push(() => s.close());
    const { udp, delivered } = await wgSocket();
    const server = parseUdpEndpoint(`127.0.0.1:${s.port}`);
    const mapped = await stunBinding({ transport: udp, server });
    expect(mapped).toEqual({ family: 4, address: "127.0.0.1", port: udp.localPort });
    expect(delivered()).toBe(0);
  });

  it("gets IPv4 and IPv6 answers from a dual-stack server", async () => {
    const s = await startStunServer({ host: "::", port: 0 });
    cleanup.push(() => s.close());
    const { udp } = await wgSocket();
    const v4 = await stunBinding({
      transport: udp,
      server: parseUdpEndpoint(`127.0.0.1:${s.port}`),
    });
    // The server's socket names the source ::ffff:127.0.0.1; the answer says IPv4.
    expect(v4).toEqual({ family: 4, address: "127.0.0.1", port: udp.localPort });
    const udp6 = new UdpBind({ host: "::1" });
    await udp6.open(() => {});
    cleanup.push(() => udp6.close());
    const v6 = await stunBinding({ transport: udp6, server: parseUdpEndpoint(`[::1]:${s.port}`) });
    expect(v6).toEqual({ family: 6, address: "::1", port: udp6.localPort });
  });

  it("retransmits until answered", async () => {
    const server = await fakeServer((request, n) =>
      n < 3
        ? undefined
        : encodeBindingSuccess(idOf(request), { family: 4, address: "198.51.100.1", port: 4242 }),
    );
    const { udp } = await wgSocket();
    const mapped = await stunBinding({
      transport: udp,
      server: parseUdpEndpoint(`127.0.0.1:${server.port}`),
      rtoMs: 10,
    });
    expect(mapped).toEqual({ family: 4, address: "198.51.100.1", port: 4242 });
    expect(server.requests()).toBe(3);
  });

  it("gives up after its requests, naming the server", async () => {
    const server = await fakeServer(() => undefined);
    const { udp } = await wgSocket();
    const query = stunBinding({
      transport: udp,
      server: parseUdpEndpoint(`127.0.0.1:${server.port}`),
      rtoMs: 5,
      maxTransmits: 3,
    });
    await expect(query).rejects.toThrow(`STUN server 127.0.0.1:${server.port}: no answer to 3`);
    expect(server.requests()).toBe(3);
  });

  it("reports an error answer", async () => {
    const server = await fakeServer((request) =>
      encodeBindingError(idOf(request), 420, "Unknown Attribute", [3]),
    );
    const { udp } = await wgSocket();
    const query = stunBinding({
      transport: udp,
      server: parseUdpEndpoint(`127.0.0.1:${server.port}`),
    });
    await expect(query).rejects.toThrow("answered 420 Unknown Attribute");
  });

  it("leaves other datagrams and other transactions to the device", async () => {
    const server = await fakeServer((request, n) => {
      const other = new Uint8Array(12).fill(n);
      // First a success for another transaction, then junk, then the real answer.
      if (n === 1) return encodeBindingSuccess(other, { family: 4, address: "1.1.1.1", port: 1 });
      if (n === 2) return new Uint8Array([1, 0, 0, 0, 9, 9]);
      return encodeBindingSuccess(idOf(request), { family: 4, address: "1.2.3.4", port: 5 });
    });
    const { udp, delivered } = await wgSocket();
    const mapped = await stunBinding({
      transport: udp,
      server: parseUdpEndpoint(`127.0.0.1:${server.port}`),
      rtoMs: 10,
    });
    expect(mapped.address).toBe("1.2.3.4");
    expect(delivered()).toBe(2);
  });
});

const info = (address: string, family: "IPv4" | "IPv6", internal = false): NetworkInterfaceInfo =>
  ({ address, family, internal, netmask: "", mac: "", cidr: null }) as NetworkInterfaceInfo;

const HOST = {
  lo: [info("127.0.0.1", "IPv4", true), info("::1", "IPv6", true)],
  eth0: [info("192.0.2.10", "IPv4"), info("2001:db8::10", "IPv6"), info("fe80::1", "IPv6")],
  eth1: [info("169.254.3.4", "IPv4"), info("192.0.2.10", "IPv4")],
};

describe("endpoints", () => {
  it("lists usable interface addresses with the socket's port", () => {
    expect(localEndpoints(HOST, 51820, { family: 4 })).toEqual(["192.0.2.10:51820"]);
    expect(localEndpoints(HOST, 7, { family: 6 })).toEqual(["192.0.2.10:7", "[2001:db8::10]:7"]);
    expect(localEndpoints(HOST, 7, { family: 4, loopback: true, linkLocal: true })).toEqual([
      "127.0.0.1:7",
      "192.0.2.10:7",
      "169.254.3.4:7",
    ]);
    // A socket bound to one address is reachable only there.
    expect(localEndpoints(HOST, 7, { family: 6, bound: "2001:db8::10" })).toEqual([
      "[2001:db8::10]:7",
    ]);
    expect(localEndpoints(HOST, 7, { family: 4, bound: "0.0.0.0" })).toEqual(["192.0.2.10:7"]);
  });

  it("reports the STUN-mapped address first, and again only on a change", async () => {
    const s = await startStunServer({ host: "127.0.0.1", port: 0 });
    cleanup.push(() => s.close());
    const { udp } = await wgSocket();
    const reports: string[][] = [];
    let host: NodeJS.Dict<NetworkInterfaceInfo[]> = { eth0: [info("192.0.2.10", "IPv4")] };
    const reporter = new EndpointReporter({
      port: () => udp.localPort,
      rules: { family: 4 },
      transport: udp,
      stunServer: () => `127.0.0.1:${s.port}`,
      report: (list) => reports.push(list),
      interfaces: () => host,
    });
    cleanup.push(() => reporter.close());
    reporter.start();
    await waitUntil(() => reports.length === 2, "the local list, then the one with STUN");
    const p = udp.localPort;
    expect(reports).toEqual([[`192.0.2.10:${p}`], [`127.0.0.1:${p}`, `192.0.2.10:${p}`]]);
    reporter.check();
    expect(reports).toHaveLength(2);
    host = { eth0: [info("192.0.2.11", "IPv4")] };
    reporter.check();
    expect(reports.at(-1)).toEqual([`127.0.0.1:${p}`, `192.0.2.11:${p}`]);
    expect(reporter.current).toEqual(reports.at(-1));
  });
});
