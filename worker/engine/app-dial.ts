// How the engine reaches a private service's host (docs/private-urls.md, "The engine side"): a
// mesh name, or a mesh address, through the mesh node (started if it is stopped: the page may
// not have joined yet); an IP address through the wg-quick network whose peers' allowed IPs
// hold it (started if needed), else the mesh. TCP runs on that network's userspace stack.
// Failures are AppServiceError with the code the app's error page is chosen by.

import type { MeshStatus } from "../api.ts";
import type { PeerView } from "../control/types.ts";
import type { Dial, DuplexStream } from "../http/connection.ts";
import type { NetInterface } from "../net/interface.ts";
import type { TcpConnection } from "../net/tcp/types.ts";
import { parseCidr } from "../wireguard/allowed-ips.ts";
import { parseIp } from "../wireguard/ip-address.ts";
import { keyToBase64 } from "../wireguard/keys.ts";
import { AppServiceError, refusedMessage } from "./app-errors.ts";

/** A wg-quick network as the dial needs it. */
export interface DialNetwork {
  id: string;
  name: string;
  peers: readonly { publicKey: string; allowedIps: readonly string[] }[];
}

/** A started wg-quick network: its interface and its peers' last handshakes (unix ms, 0: none). */
export interface DialRuntime {
  net: NetInterface;
  device: { peerStats(): { publicKey: Uint8Array; lastHandshake: number }[] };
}

/** The mesh node as the dial needs it (MeshRuntime). */
export interface DialMesh {
  status(): MeshStatus;
  start(): Promise<MeshStatus>;
  peer(host: string): PeerView;
  net(): NetInterface;
}

/** What the engine gives the dial. */
export interface AppDialDeps {
  /** The wg-quick networks (records). */
  networks: () => Promise<readonly DialNetwork[]>;
  /** Starts a wg-quick network (or returns the running one). */
  runtime: (id: string) => Promise<DialRuntime>;
  /** The mesh node (loaded, not necessarily joined). */
  mesh: () => Promise<DialMesh>;
  /** The nodes of the shares this browser accepted (each maps its one shared device). */
  shares?: () => Promise<readonly DialMesh[]>;
  /** How long a dial waits for the mesh to join (default MESH_JOIN_WAIT_MS). */
  meshJoinWaitMs?: number;
}

/** How long a dial to a name waits for a stopped mesh to join before "unknown-host". */
export const MESH_JOIN_WAIT_MS = 5000;

/** Handshakes older than this count as none (WireGuard rekeys every 2 minutes while in use). */
const HANDSHAKE_FRESH_MS = 180_000;

/** Where a host is: the interface, its address, and whether its tunnel looks up. */
interface Route {
  net: NetInterface;
  address: Uint8Array;
  /** The host's name for messages: "web-01 (100.64.0.3)", "10.8.0.1 on network office". */
  label: string;
  online: () => boolean;
}

function contains(cidr: string, address: Uint8Array): boolean {
  let prefix: ReturnType<typeof parseCidr>;
  try {
    prefix = parseCidr(cidr);
  } catch {
    return false;
  }
  if (prefix.addr.length !== address.length) return false;
  for (let bit = 0; bit < prefix.bits; bit++) {
    const mask = 0x80 >> (bit & 7);
    if ((prefix.addr[bit >> 3]! & mask) !== (address[bit >> 3]! & mask)) return false;
  }
  return true;
}

function ipOf(host: string): Uint8Array | undefined {
  try {
    return parseIp(host, "host");
  } catch {
    return undefined;
  }
}

/** Resolves private hosts and dials them. */
export class AppDialer {
  constructor(private readonly deps: AppDialDeps) {}

  /** The Dial for an HttpPool (and WebSockets): host is a mesh name or an address. */
  readonly dial: Dial = (host, port, signal) => this.connect(host, port, signal);

  /**
   * Whether the engine can name `host` (a mesh peer now, or an address a wg-quick network
   * routes), without starting anything: a redirect to it is rewritten to its app origin.
   */
  async knows(host: string): Promise<boolean> {
    const address = ipOf(host);
    if (address !== undefined) {
      const networks = await this.deps.networks().catch(() => []);
      if (networks.some((n) => n.peers.some((p) => p.allowedIps.some((c) => contains(c, address)))))
        return true;
    }
    if ((await this.shareOf(host)) !== undefined) return true;
    try {
      (await this.deps.mesh()).peer(host);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * The joined share node whose map has `host`. Tried before the mesh: a guest who opened a
   * share has no mesh to join, and must not wait MESH_JOIN_WAIT_MS for it.
   */
  private async shareOf(host: string): Promise<DialMesh | undefined> {
    const shares = (await this.deps.shares?.().catch(() => [])) ?? [];
    return shares.find((share) => {
      const state = share.status().state;
      if (state !== "ready" && state !== "reconnecting") return false;
      try {
        share.peer(host);
        return true;
      } catch {
        return false;
      }
    });
  }

  private async route(host: string): Promise<Route> {
    const address = ipOf(host);
    if (address !== undefined) {
      for (const network of await this.deps.networks()) {
        const peer = network.peers.find((p) => p.allowedIps.some((c) => contains(c, address)));
        if (peer === undefined) continue;
        let runtime: DialRuntime;
        try {
          runtime = await this.deps.runtime(network.id);
        } catch (error) {
          throw new AppServiceError(
            "offline",
            `network ${network.name}, which routes ${host}, cannot start: ${(error as Error).message}`,
          );
        }
        return {
          net: runtime.net,
          address,
          label: `${host} on network ${network.name}`,
          online: () => {
            const stats = runtime.device
              .peerStats()
              .find((s) => keyToBase64(s.publicKey) === peer.publicKey);
            return (
              stats !== undefined &&
              stats.lastHandshake > 0 &&
              Date.now() - stats.lastHandshake < HANDSHAKE_FRESH_MS
            );
          },
        };
      }
    }
    const share = await this.shareOf(host);
    if (share !== undefined) return this.meshRoute(share, host, address, "the share's");
    const mesh = await this.deps.mesh();
    const state = mesh.status().state;
    if (state === "stopped" || state === "error" || state === "starting") {
      // Joining waits on the control server (and retries while it is away): a page is not
      // kept waiting past MESH_JOIN_WAIT_MS for a name the mesh may never know.
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        mesh.start().catch(() => undefined),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, this.deps.meshJoinWaitMs ?? MESH_JOIN_WAIT_MS);
        }),
      ]).finally(() => clearTimeout(timer));
    }
    const joined = mesh.status();
    if (joined.state !== "ready" && joined.state !== "reconnecting") {
      const routed =
        address === undefined
          ? ` Sign in on the Corridor page so the mesh names ${host}, or use an address that a wg-quick network of this browser routes.`
          : ` No wg-quick network of this browser routes ${host} either (a peer's AllowedIPs must hold it).`;
      throw new AppServiceError(
        "unknown-host",
        `${host} is not a known host: this browser is not on the mesh (${joined.state}${joined.detail === undefined ? "" : `: ${joined.detail}`}).${routed}`,
      );
    }
    return this.meshRoute(mesh, host, address, "");
  }

  /** The route to `host` through a joined mesh node (the mesh, or a share's node). */
  private meshRoute(
    mesh: DialMesh,
    host: string,
    address: Uint8Array | undefined,
    whose: string,
  ): Route {
    let peer: PeerView;
    let net: NetInterface;
    try {
      net = mesh.net();
      peer = mesh.peer(host);
    } catch (error) {
      const routed =
        address === undefined || whose !== ""
          ? ""
          : ` No wg-quick network of this browser routes ${host} either (a peer's AllowedIPs must hold it).`;
      throw new AppServiceError("unknown-host", `${(error as Error).message}.${routed}`);
    }
    const text = address === undefined ? peer.addresses[0] : host;
    const target = text === undefined ? undefined : ipOf(text);
    if (target === undefined) {
      throw new AppServiceError("unknown-host", `mesh host ${peer.name} has no address`);
    }
    return {
      net,
      address: target,
      label: `${whose === "" ? "" : `${whose} `}${peer.name} (${text})`,
      online: () => {
        try {
          return mesh.peer(peer.name).online;
        } catch {
          return false;
        }
      },
    };
  }

  private async connect(host: string, port: number, signal?: AbortSignal): Promise<DuplexStream> {
    let route: Route | undefined;
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(this.abortError(route, host, port, signal!));
      if (signal?.aborted) onAbort();
      else signal?.addEventListener("abort", onAbort, { once: true });
    });
    aborted.catch(() => undefined);
    let connecting: Promise<TcpConnection> | undefined;
    try {
      route = await Promise.race([this.route(host), aborted]);
      const to = route;
      // The stack's own connect timeout is a backstop: the pool's signal decides first.
      connecting = to.net.tcp.connect(to.net.sourceFor(to.address), to.address, port, {
        timeoutMs: 120_000,
      });
      const connection = await Promise.race([connecting, aborted]);
      return {
        readable: connection.readable,
        writable: connection.writable,
        close: () => connection.abort("closed by the HTTP client"),
      };
    } catch (error) {
      // Established after all: nobody takes it.
      void connecting?.then(
        (c) => c.abort("connect abandoned"),
        () => undefined,
      );
      if (error instanceof AppServiceError) throw error;
      const text = (error as Error).message;
      const service = { host, port, scheme: "http" as const };
      if (/refused|reset/i.test(text))
        throw new AppServiceError("refused", refusedMessage(service));
      if (/timed out/i.test(text)) throw this.timeoutError(route, host, port);
      throw new AppServiceError("failed", `${host}:${port}: cannot connect (${text})`);
    } finally {
      if (onAbort !== undefined) signal?.removeEventListener("abort", onAbort);
    }
  }

  private abortError(
    route: Route | undefined,
    host: string,
    port: number,
    signal: AbortSignal,
  ): Error {
    const reason: unknown = signal.reason;
    if (reason instanceof Error && reason.name === "TimeoutError") {
      return this.timeoutError(route, host, port);
    }
    return new AppServiceError("aborted", `${host}:${port}: the request was aborted`);
  }

  private timeoutError(route: Route | undefined, host: string, port: number): AppServiceError {
    if (route === undefined) {
      return new AppServiceError(
        "timeout",
        `${host}:${port}: reaching ${host} took too long (joining the mesh or starting its network). Try again.`,
      );
    }
    if (!route.online()) {
      return new AppServiceError(
        "offline",
        `${route.label} does not answer through WireGuard: the host is offline, or its WireGuard is down. Start it (or its Corridor agent) and try again.`,
      );
    }
    return new AppServiceError(
      "timeout",
      `${route.label} is online but port ${port} did not answer the connection in time (a firewall dropping it?). Check the service on ${host}.`,
    );
  }
}
