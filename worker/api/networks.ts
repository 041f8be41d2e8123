// The engine's API, networks: wg-quick networks of the browser (import, create, start, their
// status) and the hosts reachable through them (part of EngineApi, re-exported by worker/api.ts).

/** A peer of a network, as configured. */
export interface PeerSummary {
  publicKey: string;
  /** "ip:port" reached through the relay's UDP bridge, or absent (reached by key on the relay). */
  endpoint?: string;
  allowedIps: string[];
  persistentKeepalive?: number;
}

/** A network (one WireGuard interface of the browser). */
export interface NetworkSummary {
  id: string;
  name: string;
  /** This browser's public key on the network (base64). */
  publicKey: string;
  /** Tunnel addresses of this browser ("100.64.0.5/32"). */
  addresses: string[];
  peers: PeerSummary[];
  /** The relay's WebSocket URL ("ws://127.0.0.1:8080/relay"). */
  relayUrl: string;
  /** True when kept in IndexedDB; false when only in the engine's memory (gone with the engine). */
  persisted: boolean;
}

/** Options shared by importing and creating a network. */
export interface NetworkOptions {
  name: string;
  /** Default: the page's own origin, path /relay. */
  relayUrl?: string;
  /** Keep the network (and its private key) in IndexedDB; false keeps it for the tab only. */
  persist: boolean;
}

/** A network made from a key the engine generated (generateNetworkKey) and a form. */
export interface CreateNetworkInput extends NetworkOptions {
  /** The public key generateNetworkKey returned: the engine holds its private half. */
  publicKey: string;
  /** This browser's tunnel address(es) with prefix, e.g. "100.64.0.5/32". */
  addresses: string[];
  peer: PeerSummary;
}

/** A host reachable through a network: from a peer's allowed IPs, or added by the user. */
export interface HostEntry {
  networkId: string;
  /** An IPv4 or IPv6 address inside the mesh. */
  address: string;
  /** A name the user gave, or "" (the address is shown). */
  name: string;
  /** "peer" when derived from a single-address allowed IP, "user" when added by hand. */
  source: "peer" | "user";
}

/** Live state of a network for the details panel. */
export interface NetworkStatus {
  id: string;
  state: "stopped" | "starting" | "running" | "error";
  /** Why it is in "error". */
  error?: string;
  relay: {
    state: string;
    rttMs: number | null;
    url: string;
    /** Set when the relay is reached unencrypted over a network (ws:// to a non-loopback host). */
    warning?: string;
    /** Why the relay connection stopped for good (refused, or a key other than the pinned one). */
    error?: string;
  };
  peers: {
    publicKey: string;
    /** Milliseconds since the epoch of the last handshake, or null before the first. */
    lastHandshake: number | null;
    rxBytes: number;
    txBytes: number;
    /**
     * Why the host looks offline, when the engine can tell (absent when it answers): the
     * relay refused its endpoint (UDP_ERROR 0-2), the endpoint bounced our datagrams (ICMP
     * port unreachable), or handshake initiations went unanswered. `message` is for people.
     */
    problem?: { kind: "relay-refused" | "unreachable" | "no-handshake"; message: string };
  }[];
}

/** The network and host calls of EngineApi. */
export interface NetworksApi {
  /** Networks saved in IndexedDB and those kept in the engine's memory; started on demand. */
  listNetworks(): Promise<NetworkSummary[]>;
  /** Imports a wg-quick file's text (its private key stays in the engine). */
  importNetwork(configText: string, options: NetworkOptions): Promise<NetworkSummary>;
  /** A fresh key pair for a new network; returns the public key (base64). */
  generateNetworkKey(): Promise<string>;
  /** Creates a network from a generated key (createNetworkInput.publicKey) and a form. */
  createNetwork(input: CreateNetworkInput): Promise<NetworkSummary>;
  removeNetwork(id: string): Promise<void>;
  /** Starts the network's WireGuard device and relay connection (no-op when running). */
  startNetwork(id: string): Promise<NetworkStatus>;
  networkStatus(id: string): Promise<NetworkStatus>;

  listHosts(networkId: string): Promise<HostEntry[]>;
  addHost(networkId: string, address: string, name: string): Promise<HostEntry>;
  removeHost(networkId: string, address: string): Promise<void>;
  /** ICMP echo through the tunnel; the round trip in ms, or null without an answer in time. */
  pingHost(networkId: string, address: string, timeoutMs?: number): Promise<number | null>;
}
