// Network records: what a network is made of (its private key, addresses, peers, relay, the
// hosts the user named, its known hosts), where it is kept (IndexedDB, or memory for "this
// tab only"), and how records come from a wg-quick file or from a generated key and a form.

import type {
  CreateNetworkInput,
  HostEntry,
  NetworkOptions,
  NetworkSummary,
  PeerSummary,
} from "../api.ts";
import type { X25519Provider } from "../crypto/x25519.ts";
import { parseRelayTarget } from "../relay/relay-url.ts";
import { parseNetworkConfig } from "../wireguard/config-import.ts";
import { formatIp, parseIp } from "../wireguard/ip-address.ts";
import { generatePrivateKey, keyFromBase64, keyToBase64 } from "../wireguard/keys.ts";
import type { KeyChoices } from "./key-choice.ts";
import { type EngineStore, MemoryStore } from "./store.ts";

/**
 * A network as stored. Keys are base64. The WireGuard private key is stored as it is (no
 * passphrase: the network must start without asking; docs/security.md).
 */
export interface NetworkRecord extends KeyChoices {
  id: string;
  name: string;
  privateKey: string;
  publicKey: string;
  addresses: string[];
  peers: PeerSummary[];
  /** Preshared keys by peer public key (secret: never in a summary). */
  presharedKeys: Record<string, string>;
  relayUrl: string;
  mtu?: number;
  /** Hosts the user added: address and name. */
  hosts: { address: string; name: string }[];
  /** known_hosts text for this network's SSH hosts. */
  knownHosts: string;
  persisted: boolean;
}

/** The summary the page sees (no private key). */
export function summarize(record: NetworkRecord): NetworkSummary {
  return {
    id: record.id,
    name: record.name,
    publicKey: record.publicKey,
    addresses: [...record.addresses],
    peers: record.peers.map((p) => ({ ...p, allowedIps: [...p.allowedIps] })),
    relayUrl: record.relayUrl,
    persisted: record.persisted,
  };
}

/** Hosts of a network: single-address allowed IPs of its peers, then the user's. */
export function hostsOf(record: NetworkRecord): HostEntry[] {
  const out: HostEntry[] = [];
  const seen = new Set<string>();
  for (const host of record.hosts) {
    seen.add(host.address);
    out.push({ networkId: record.id, address: host.address, name: host.name, source: "user" });
  }
  for (const peer of record.peers) {
    for (const cidr of peer.allowedIps) {
      const [ip, prefix] = cidr.split("/");
      if (ip === undefined || (prefix !== "32" && prefix !== "128")) continue;
      if (seen.has(ip)) continue;
      seen.add(ip);
      out.push({ networkId: record.id, address: ip, name: "", source: "peer" });
    }
  }
  return out;
}

function checkName(name: string): string {
  const trimmed = name.trim();
  if (trimmed === "" || trimmed.length > 64)
    throw new Error("give the network a name (1-64 characters)");
  return trimmed;
}

function checkRelayUrl(url: string): string {
  if (!/^wss?:\/\/[^\s/]+\/\S*$/.test(url)) {
    throw new Error(`relay URL ${JSON.stringify(url)} is not a ws:// or wss:// URL with a path`);
  }
  // A `#key=` pin is checked now, so a mistyped key is refused when the network is added.
  parseRelayTarget(url);
  return url;
}

/** Canonical "ip:port" of a peer endpoint, or an error saying why the browser cannot use it. */
function checkEndpoint(endpoint: string | undefined): string | undefined {
  if (endpoint === undefined || endpoint.trim() === "") return undefined;
  const text = endpoint.trim();
  const match = /^\[?([^\]]+?)\]?:(\d+)$/.exec(text);
  if (match === null) throw new Error(`endpoint ${JSON.stringify(text)}: expected ip:port`);
  let ip: Uint8Array;
  try {
    ip = parseIp(match[1]!, "endpoint");
  } catch {
    throw new Error(
      `endpoint ${JSON.stringify(text)}: a browser cannot resolve host names; use the host's IP address`,
    );
  }
  const port = Number(match[2]);
  if (port < 1 || port > 65535) throw new Error(`endpoint ${JSON.stringify(text)}: bad port`);
  return ip.length === 4 ? `${formatIp(ip)}:${port}` : `[${formatIp(ip)}]:${port}`;
}

/** Network records in their stores; secrets never leave this class except to the runtime. */
export class NetworkRegistry {
  private readonly tabOnly = new MemoryStore();
  private readonly pendingKeys = new Map<string, string>();

  constructor(
    private readonly store: EngineStore,
    private readonly x25519: X25519Provider,
    private readonly defaultRelayUrl: string,
  ) {}

  async list(): Promise<NetworkRecord[]> {
    const saved = await this.store.list<NetworkRecord>("networks");
    const mine = await this.tabOnly.list<NetworkRecord>("networks");
    return [...saved, ...mine].sort((a, b) => a.name.localeCompare(b.name));
  }

  async get(id: string): Promise<NetworkRecord> {
    const record = (await this.list()).find((r) => r.id === id);
    if (record === undefined) throw new Error(`no network with id ${id}`);
    return record;
  }

  async save(record: NetworkRecord): Promise<void> {
    await (record.persisted ? this.store : this.tabOnly).put("networks", record);
  }

  async remove(id: string): Promise<void> {
    await this.store.delete("networks", id);
    await this.tabOnly.delete("networks", id);
  }

  /** A wg-quick file's text as a network. */
  async importConfig(text: string, options: NetworkOptions): Promise<NetworkRecord> {
    const config = parseNetworkConfig(text);
    const record: NetworkRecord = {
      id: crypto.randomUUID(),
      name: checkName(options.name),
      privateKey: keyToBase64(config.interface.privateKey),
      publicKey: keyToBase64(await this.x25519.publicKey(config.interface.privateKey)),
      addresses: config.interface.addresses,
      peers: config.peers.map((p) => ({
        publicKey: keyToBase64(p.publicKey),
        endpoint: checkEndpoint(p.endpoint),
        allowedIps: p.allowedIps,
        persistentKeepalive: p.persistentKeepalive,
      })),
      presharedKeys: Object.fromEntries(
        config.peers.flatMap((p) =>
          p.presharedKey === undefined
            ? []
            : [[keyToBase64(p.publicKey), keyToBase64(p.presharedKey)]],
        ),
      ),
      relayUrl: checkRelayUrl(options.relayUrl ?? this.defaultRelayUrl),
      mtu: config.interface.mtu,
      hosts: [],
      knownHosts: "",
      persisted: options.persist && this.store.persistent,
    };
    await this.save(record);
    return record;
  }

  /** A new key pair held until createNetwork uses it; returns the public key. */
  async generateKey(): Promise<string> {
    const privateKey = generatePrivateKey();
    const publicKey = keyToBase64(await this.x25519.publicKey(privateKey));
    this.pendingKeys.set(publicKey, keyToBase64(privateKey));
    privateKey.fill(0);
    return publicKey;
  }

  /** A network from a generated key and the page's form. */
  async create(input: CreateNetworkInput): Promise<NetworkRecord> {
    const privateKey = this.pendingKeys.get(input.publicKey);
    if (privateKey === undefined)
      throw new Error("that key was not generated here (generate a new one)");
    // The form's text goes through the same parser as a file, so its errors read the same.
    const lines = [
      "[Interface]",
      `PrivateKey = ${privateKey}`,
      `Address = ${input.addresses.join(", ")}`,
      "[Peer]",
      `PublicKey = ${input.peer.publicKey}`,
      `AllowedIPs = ${input.peer.allowedIps.join(", ")}`,
      ...(input.peer.endpoint ? [`Endpoint = ${input.peer.endpoint}`] : []),
      ...(input.peer.persistentKeepalive
        ? [`PersistentKeepalive = ${input.peer.persistentKeepalive}`]
        : []),
    ];
    keyFromBase64(input.peer.publicKey, "the host's public key");
    const record = await this.importConfig(`${lines.join("\n")}\n`, input);
    this.pendingKeys.delete(input.publicKey);
    return record;
  }
}
