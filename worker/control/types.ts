// The map stream's data model (docs/control.md): what the control server tells a node about
// itself, its peers and the rules that apply to it. Shared by the server (server/control/), the
// browser engine and the agent; plain data, JSON on the wire. Keys are base64 (standard, with
// padding), as WireGuard writes them; times are unix milliseconds.

/** The owner of a node: a signed-in person. A node belongs to a user or to tags, never both. */
export interface UserRef {
  id: number;
  /** Display name from the identity provider's claims (or "owner"). */
  name: string;
  /** Verified email from the provider's claims; "" when the provider gave none. */
  email: string;
  /**
   * When the user last signed in interactively (unix ms; OIDC, owner or invite link), or null
   * when never. API keys and auth keys are not sign-ins. SSH `check` rules compare against it.
   * A server older than this field sends none: decoded as null.
   */
  signedInAt: number | null;
}

/** What a node is, as every node that may see it is told. */
export interface PeerView {
  /** The control server's id of the node (stable across key rotation). */
  id: number;
  /** The node's WireGuard public key: its identity on the mesh. */
  key: string;
  /** Unique mesh name ("web-01", "web-01-2"); resolves as NAME and NAME.<domain>. */
  name: string;
  /** Mesh addresses: one IPv4 from 100.64.0.0/10 and one IPv6 from the mesh's ULA /48. */
  addresses: string[];
  /** The owning user, or null for a tagged node. */
  user: UserRef | null;
  /** "tag:server" and the like; empty for a user's node. */
  tags: string[];
  /** The hostname the node reported (its name is derived from it). */
  hostname: string;
  /** "linux", "browser", "darwin", ...: what the node reported. */
  os: string;
  /** True for nodes that are removed when their map stream ends (browser tabs, CI runners). */
  ephemeral: boolean;
  /** When the node's key expires (unix ms), or null when it never does (tagged nodes). */
  keyExpiry: number | null;
  /** SSH host keys of the node's built-in SSH server, as "ssh-ed25519 AAAA..." lines. */
  sshHostKeys: string[];
  /** Volatile state (patched often, kept in memory by the server). */
  online: boolean;
  /** Last time the node's map stream was up (unix ms), or null when never seen. */
  lastSeen: number | null;
  /** UDP endpoints "ip:port" where the node may be reached directly. */
  endpoints: string[];
  /** Id of the relay the node is reached through (see RelayMap), or "" when not chosen yet. */
  homeRelay: string;
  /**
   * Set for a share recipient's node only (issue 17): the acceptance it was made for. Such a
   * peer is matched by no rule but one whose source lists this acceptance id (`shares`): never
   * by `any`, users, tags or CIDRs, so the document's rules cannot leak to it.
   */
  share?: { acceptanceId: number };
}

/** The fields of PeerView that change often and travel as patches. */
export type PeerPatch = Pick<PeerView, "id"> &
  Partial<Pick<PeerView, "online" | "lastSeen" | "endpoints" | "homeRelay">>;

/**
 * Who a rule lets in, matched against the source peer of an inbound packet (the WireGuard key it
 * came from, looked up in the map) or, for `cidrs`, its source address alone.
 */
export interface SourceSelector {
  /** Every source. */
  any?: boolean;
  /** Nodes owned by these users (UserRef.id). */
  users?: number[];
  /** Nodes carrying any of these tags. */
  tags?: string[];
  /** Source addresses inside these prefixes (policy `hosts`, raw CIDRs). */
  cidrs?: string[];
  /**
   * Share recipients' nodes: peers whose `share.acceptanceId` is listed. The only selector
   * that matches such a peer; a peer without `share` never matches it.
   */
  shares?: number[];
}

/** A protocol and port range a rule opens on the destination node. */
export interface PortRange {
  /** "tcp", "udp", "icmp" or "*" (any IP protocol). ICMP ignores ports. */
  proto: "tcp" | "udp" | "icmp" | "*";
  /** Inclusive range; [0, 65535] for every port. */
  first: number;
  last: number;
}

/** One accept rule of a node's inbound packet filter; anything no rule accepts is dropped. */
export interface FilterRule {
  src: SourceSelector;
  ports: PortRange[];
}

/** One SSH rule for the node as SSH destination (its agent's built-in SSH server). */
export interface SshRule {
  src: SourceSelector;
  /** Local users the source may log in as; "autogroup:nonroot" means any user except root. */
  users: string[];
  /** accept: log in at once; check: the user must have signed in within `checkPeriodMs`. */
  action: "accept" | "check";
  /** For "check": how recent the user's sign-in must be (ms). */
  checkPeriodMs?: number;
}

/** A relay the node may use. */
export interface RelayInfo {
  /** Stable id ("default", "eu-1"). */
  id: string;
  /** Region name, for choosing by latency (issue 18). */
  region: string;
  /** WebSocket URL of the relay ("wss://relay.example.com/relay"). */
  url: string;
  /** The relay's static X25519 public key (base64): the client pins it (docs/relay.md). */
  key: string;
  /**
   * "host:port" of the relay's STUN (RFC 5389 Binding) UDP listener, where a node learns the
   * address its UDP socket is seen from; absent when the relay runs none.
   */
  stun?: string;
}

/** A relay token (DESIGN §4) and when it expires (unix ms). Refreshed at 3/4 of its life. */
export interface RelayTokenGrant {
  token: string;
  expiresAt: number;
}

/** Everything a node needs: itself, its peers, its rules, its relays. */
export interface NetworkMap {
  /** The node this map is for. */
  self: PeerView;
  /** Peers it may reach or that may reach it (and nothing else). */
  peers: PeerView[];
  /** Inbound packet filter enforced by this node's engine. */
  filter: FilterRule[];
  /** SSH rules for this node's built-in SSH server. */
  ssh: SshRule[];
  relays: RelayInfo[];
  token: RelayTokenGrant;
  /** The mesh domain: a peer's name resolves as NAME and NAME.<domain>. */
  domain: string;
}
