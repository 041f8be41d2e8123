// The agent's seams (server/agent/types.ts) over a TunNode, so `corridor agent --tun` serves
// the local socket (status, ping, nc, ssh, known_hosts) like the userspace mode. Names,
// identities, host keys and status come from the map exactly as MeshAccess reads them (it is
// reused, over a view of the TunNode); what differs is the data path: a dial is a kernel TCP
// connection to the peer's mesh address (the interface's routes carry it), and a ping is the
// system's `ping` run where the interface lives (its network namespace, in tests).

import { createConnection, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { PeerView, SshRule } from "../../../worker/control/types.ts";
import type { NetInterface } from "../../../worker/net/interface.ts";
import { type AccessContext, DEFAULT_DIAL_TIMEOUT_MS, MeshAccess } from "../mesh-access.ts";
import {
  type AgentControl,
  type AgentStatus,
  DialError,
  type MeshDialer,
  type MeshIdentity,
} from "../types.ts";
import type { TunNode } from "./tun-node.ts";

/** Where `ping` is (iputils). */
export const PING = "/usr/bin/ping";

/** Opens a kernel TCP connection; rejects with DialError. */
export type KernelConnect = (address: string, port: number, timeoutMs: number) => Promise<Duplex>;

/** Which DialFailure a socket error code means. */
function failureOf(code: string | undefined): DialError["reason"] {
  if (code === "ECONNREFUSED" || code === "ECONNRESET") return "refused";
  if (code === "ETIMEDOUT") return "timeout";
  return "unreachable";
}

/**
 * A kernel TCP connection to `address`:`port` (the TUN interface routes mesh addresses), or a
 * DialError: refused (RST), timeout (nothing within `timeoutMs`), unreachable (no route).
 */
export const kernelConnect: KernelConnect = (address, port, timeoutMs) =>
  new Promise((resolve, reject) => {
    const socket: Socket = createConnection({ host: address, port, allowHalfOpen: true });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new DialError(
          "timeout",
          `${address} port ${port}: no answer within ${timeoutMs} ms (offline, or its firewall drops this port)`,
        ),
      );
    }, timeoutMs);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.removeAllListeners("error");
      resolve(socket);
    });
    socket.once("error", (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new DialError(failureOf(error.code), `${address} port ${port}: ${error.message}`));
    });
  });

/** Reads the round trip from `ping -c 1` output ("time=0.123 ms"), or undefined. */
export function pingTime(output: string): number | undefined {
  const m = /time[=<]([0-9]{1,7}(?:\.[0-9]{1,6})?) ?ms/.exec(output);
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

/** MeshDialer, MeshIdentity and AgentControl of a TUN-mode agent. */
export class TunAccess implements MeshDialer, MeshIdentity, AgentControl {
  readonly dialer: MeshDialer = this;
  private readonly inner: MeshAccess;

  constructor(
    private readonly node: TunNode,
    context: Omit<AccessContext, "mode">,
    private readonly connect: KernelConnect = kernelConnect,
  ) {
    this.inner = new MeshAccess(
      {
        get state() {
          return node.state;
        },
        get net(): NetInterface {
          throw new Error("TUN mode: packets go through the host's interface, not a userspace one");
        },
        control: node.control,
        device: undefined,
        get relay() {
          return node.relay;
        },
        get relayBind() {
          return node.relayBind;
        },
        peerStatus: () => node.peerStatus(),
        get endpoints() {
          return node.endpoints;
        },
      },
      { ...context, mode: "tun" },
    );
  }

  /** The mesh address `host` (name or address) is reached at; throws DialError. */
  addressOf(host: string): string {
    return this.inner.addressOf(host);
  }

  async dial(host: string, port: number, timeoutMs = DEFAULT_DIAL_TIMEOUT_MS): Promise<Duplex> {
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new DialError("unreachable", `port ${port} is not a TCP port (1-65535)`);
    }
    const address = this.addressOf(host);
    try {
      return await this.connect(address, port, timeoutMs);
    } catch (error) {
      if (error instanceof DialError && host !== address) {
        throw new DialError(error.reason, `${host} (${error.message})`);
      }
      throw error;
    }
  }

  /** One ICMP echo through the interface (the system's ping, where the interface lives). */
  async ping(host: string, timeoutMs: number): Promise<number> {
    const address = this.addressOf(host);
    const seconds = Math.max(1, Math.ceil(timeoutMs / 1000));
    const cmd = [PING, "-n", "-c", "1", "-W", `${seconds}`, address];
    const result = await this.node.commands.run(cmd, { timeoutMs: timeoutMs + 2000 });
    const rtt = pingTime(result.stdout);
    if (result.code !== 0 || rtt === undefined) {
      const why = result.stderr.trim() || "no reply";
      throw new Error(`ping ${address}: ${why} within ${timeoutMs} ms`);
    }
    return rtt;
  }

  peerByAddress(address: string): PeerView | undefined {
    return this.inner.peerByAddress(address);
  }

  sshRules(): readonly SshRule[] {
    return this.inner.sshRules();
  }

  status(): AgentStatus {
    return this.inner.status();
  }

  hostKeys(host: string): { name: string; names: string[]; keys: string[] } | undefined {
    return this.inner.hostKeys(host);
  }

  knownHosts(): string[] {
    return this.inner.knownHosts();
  }
}
