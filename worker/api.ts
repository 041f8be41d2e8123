// The engine's API as the page sees it, exposed over comlink by worker/index.ts (DESIGN §2:
// the page talks to the engine only through this). Calls are request/response; terminal
// bytes of a session move over a MessagePort (see TerminalMessage), not one call per chunk.
// Callbacks from the engine to the page (host key decisions, passwords, state changes) are
// comlink proxies of SessionUi.
//
// Secrets stay here: the page never receives a WireGuard or SSH private key back (it may
// hand one in when the user pastes a config or imports a key file).

import type { WasmBuild } from "./crypto/index.ts";

/** What the engine reports about itself. */
export interface EngineStatus {
  /** The crypto core build the engine runs. */
  cryptoBuild: WasmBuild;
  /** Whether this WebAssembly engine validates SIMD. */
  simdSupported: boolean;
  /** Whether secrets can be kept across reloads (IndexedDB works here). */
  persistentStorage: boolean;
  /** The engine runs in a SharedWorker, one for every tab of this browser (else per tab). */
  shared: boolean;
  /** Made when this engine started: a page compares it to tell whether the engine survived. */
  instanceId: string;
}

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

/** An SSH user key held by the engine. */
export interface SshKeySummary {
  id: string;
  type: string;
  comment: string;
  fingerprint: string;
  /** The authorized_keys line to paste on hosts. */
  authorizedKey: string;
  persisted: boolean;
  /** Saved sealed under a passphrase (no plaintext private key in IndexedDB). */
  encrypted: boolean;
  /** Encrypted and not opened in the engine's memory yet (or locked again). */
  locked: boolean;
}

/** The server's host key on first contact, for the user's decision. */
export interface HostKeyPrompt {
  host: string;
  port: number;
  keyType: string;
  fingerprint: string;
}

/** Where a session is; `detail` says more (the closing reason, a fingerprint). */
export type SessionState = "connecting" | "handshaking" | "authenticating" | "connected" | "closed";

/** Callbacks of one session, given to openSession as a comlink proxy. */
export interface SessionUi {
  onState(state: SessionState, detail: string): void;
  /** An unknown host key: resolve true to trust it (it is then remembered). */
  confirmHostKey(prompt: HostKeyPrompt): Promise<boolean>;
  /** Password for `prompt`; null cancels. */
  askPassword(prompt: string): Promise<string | null>;
  /** keyboard-interactive round; null cancels. */
  askInteractive(
    name: string,
    instruction: string,
    prompts: { prompt: string; echo: boolean }[],
  ): Promise<string[] | null>;
  onBanner(text: string): void;
  /**
   * The passphrase of a chosen SSH key saved encrypted, asked when a session first needs it
   * (attempt counts from 1); null skips the key. Absent or failing: the key is skipped.
   */
  askKeyPassphrase?(key: SshKeySummary, attempt: number): Promise<string | null>;
  /**
   * A mesh host's identity SSH server refused the login because a `check` rule wants a fresh
   * sign-in (`checkUrl`, "<server>/login/check"); `message` is the server's sentence. The
   * session is closed after this; the page sends the person through the sign-in and back.
   */
  onSignInRequired?(checkUrl: string, message: string): void;
  /**
   * A mesh host's identity SSH server refused the login (its policy, `message` its sentence):
   * not a network failure, so reconnecting as the same user would be refused again. Called
   * before onState("closed").
   */
  onLoginRefused?(message: string): void;
}

/** What to connect to. */
export interface SessionRequest {
  networkId: string;
  host: string;
  port: number;
  username: string;
  /**
   * The SSH keys to offer (ids), as the user chose them for this host; [] offers none
   * (password and prompts only). Once the login succeeds the choice is remembered for the
   * network, host and user. Default: the remembered choice, else no key at all (a server
   * learns every public key offered, so the engine never offers all it holds).
   */
  keyIds?: string[];
  cols: number;
  rows: number;
  term?: string;
  /**
   * An id the page picks, so closeSession can also cancel a session that is still connecting
   * (a closed tab); default: the engine picks one.
   */
  sessionId?: string;
}

/**
 * Messages on a session's MessagePort. Page → engine: "input" (keystrokes, pasted text),
 * "resize", and "ack" (output bytes the terminal has rendered: the engine keeps at most
 * OUTPUT_WINDOW bytes unacknowledged, so a flood of output waits in the SSH channel, not in
 * the page's memory). Engine → page: "output" (stdout and stderr bytes) and "exit".
 */
export type TerminalMessage =
  | { type: "input"; data: Uint8Array }
  | { type: "resize"; cols: number; rows: number }
  | { type: "ack"; bytes: number }
  | { type: "output"; data: Uint8Array }
  | { type: "exit"; code: number | null; signal: string | null };

/** Output bytes the engine sends ahead of the page's acks. */
export const OUTPUT_WINDOW = 1 << 20;

/** The API object the Worker exposes. */
export interface EngineApi {
  /** Loads the crypto core (once) and reports the engine's state. */
  status(): Promise<EngineStatus>;

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

  /**
   * Forgets the trusted host keys of host:port on a network (as `ssh-keygen -R`), after the
   * user confirmed the host's key was really replaced; the next session asks again. Returns
   * how many keys were forgotten.
   */
  forgetHostKey(networkId: string, host: string, port: number): Promise<number>;

  listSshKeys(): Promise<SshKeySummary[]>;
  /** A new Ed25519 key; with a passphrase (8+ characters) a saved key is stored encrypted. */
  generateSshKey(comment: string, persist: boolean, passphrase?: string): Promise<SshKeySummary>;
  /**
   * Imports an OpenSSH private key file; throws a clear error (wrong passphrase, RSA…). A
   * key file's passphrase also protects the saved copy.
   */
  importSshKey(
    text: string,
    passphrase: string | undefined,
    persist: boolean,
  ): Promise<SshKeySummary>;
  removeSshKey(id: string): Promise<void>;
  /**
   * Sets (8+ characters), changes or with null removes the passphrase that encrypts a saved
   * key; a locked key needs `current`. Throws "wrong passphrase for the key …".
   */
  setSshKeyPassphrase(
    id: string,
    passphrase: string | null,
    current?: string,
  ): Promise<SshKeySummary>;
  /** Opens an encrypted key in the engine's memory; throws "wrong passphrase for the key …". */
  unlockSshKey(id: string, passphrase: string): Promise<SshKeySummary>;
  /** Forgets every opened encrypted key (they ask again); returns how many were locked. */
  lockSshKeys(): Promise<number>;
  /** The keys chosen for `username` at `host` on a network, or null when never chosen. */
  sshKeyChoice(networkId: string, host: string, username: string): Promise<string[] | null>;

  /**
   * Opens an SSH session: TCP through the network, host key check against the network's
   * known hosts (unknown → ui.confirmHostKey; changed → refused, with both fingerprints in the
   * "closed" detail), authentication with keys then ui prompts, a pty of cols × rows and a
   * shell. Terminal bytes flow on `port`. Resolves with a session id once connected; rejects
   * with the reason (also reported as "closed").
   */
  openSession(request: SessionRequest, ui: SessionUi, port: MessagePort): Promise<string>;
  /** Closes a session, or cancels it while it connects (openSession then rejects). */
  closeSession(id: string): Promise<void>;

  /**
   * Joins the mesh as this browser's ephemeral node: a key made here (it never leaves), the
   * map stream at the page's origin (`/control`), registered by the signed-in session cookie
   * the WebSocket carries. Resolves at the first map, or with the refusal or error. One node
   * per engine: a second call (another tab) returns the running node's status.
   */
  meshStart(): Promise<MeshStatus>;
  meshStatus(): Promise<MeshStatus>;
  /** The node's peers (what the policy lets it see), with their live state. */
  meshHosts(): Promise<MeshHost[]>;
  /** Calls listener.onMesh now and at every change; returns an id for unwatchMesh. */
  watchMesh(listener: MeshListener): Promise<string>;
  unwatchMesh(id: string): Promise<void>;
  /**
   * Whether the engine still pushes to the watch `id`: it drops a listener that left
   * MAX_UNANSWERED pushes unanswered (a closed or frozen tab); a page that thaws asks and
   * watches again when this is false.
   */
  meshWatching(id: string): Promise<boolean>;
  /**
   * Leaves the mesh: the node logs out on its map stream (the server removes it at once), its
   * sessions close. The page signs the web session out itself (POST /api/v1/logout).
   */
  meshStop(): Promise<void>;
}

// ---- The mesh (issue 15): this browser as an ephemeral node of the control server's mesh ----

/**
 * The network id of the mesh in every per-network call (listHosts, pingHost, openSession,
 * forgetHostKey): hosts there are named by their mesh names ("web-01", "web-01.<domain>") or
 * addresses. wg-quick networks keep their own ids beside it.
 */
export const MESH_NETWORK_ID = "mesh";

/** Where this browser's mesh node is. */
export type MeshState =
  /** No node: not started, or stopped (signed out). */
  | "stopped"
  /** Registering and waiting for the first map. */
  | "starting"
  /** Following the map stream. */
  | "ready"
  /** The map stream dropped; the node works on its last map while it reconnects. */
  | "reconnecting"
  /** The control server refused the node for good (not signed in, node removed, ...). */
  | "refused"
  /** It could not start (the detail says why). */
  | "error";

/** The person a node belongs to, as the map names them. */
export interface MeshUser {
  id: number;
  name: string;
  email: string;
}

/** This browser's node and the mesh around it. */
export interface MeshStatus {
  state: MeshState;
  /** Why it is refused or in error, or what it is doing (a sentence for the person). */
  detail?: string;
  /** The refusal code when refused ("unauthenticated", "node_removed", ...). */
  code?: string;
  /** This browser's node, once registered. */
  self?: {
    id: number;
    name: string;
    key: string;
    addresses: string[];
    user: MeshUser | null;
  };
  /** The mesh domain (names resolve as NAME and NAME.<domain>). */
  domain?: string;
  /** The relay the node uses. */
  relay?: { id: string; url: string; state: string; rttMs: number | null };
}

/** A peer of this browser's node, as the map and the device know it. */
export interface MeshHost {
  /** The control server's node id. */
  id: number;
  /** Its WireGuard public key (base64). */
  key: string;
  /** Unique mesh name. */
  name: string;
  /** The host name it reported. */
  hostname: string;
  addresses: string[];
  os: string;
  tags: string[];
  /** Its owner, or null for a tagged node. */
  owner: MeshUser | null;
  ephemeral: boolean;
  /** Pushed from the map (the node's map stream is up). */
  online: boolean;
  /** Last time its map stream was up (unix ms), or null. */
  lastSeen: number | null;
  /** How our packets reach it: a direct path, the relay, or none before any traffic. */
  path: "direct" | "relay" | "none";
  /** Round trip of the path's probes or pings (ms), or null. */
  rttMs: number | null;
  /** Last WireGuard handshake with it (unix ms), or null. */
  lastHandshake: number | null;
  /** It runs the agent's identity SSH server: its host keys are in the map (no prompt). */
  identitySsh: boolean;
  /** Its published SSH host keys ("ssh-ed25519 AAAA..."), for the host's details. */
  sshHostKeys?: string[];
}

/** Receives the mesh's state: now, and at every change (pushed from the map, not polled). */
export interface MeshListener {
  onMesh(status: MeshStatus, hosts: MeshHost[]): void;
}

// ---- Files (issue 15 item 5): SFTP on a session's own SSH connection ----

/** One entry of a remote directory. */
export interface FileEntry {
  /** The entry's name (no slash). */
  name: string;
  /** Its absolute path on the host. */
  path: string;
  /** What it is; a symbolic link reports what it points to ("link" when that is gone). */
  type: "file" | "dir" | "link" | "other";
  /** True when the entry is a symbolic link. */
  symlink: boolean;
  /** Size in bytes, when the server says. */
  size: number | null;
  /** Last modification (unix ms), when the server says. */
  mtime: number | null;
  /** POSIX permission bits (0o755), when the server says. */
  permissions: number | null;
}

/** A directory listing: its canonical path and its entries (directories first, by name). */
export interface FileListing {
  path: string;
  entries: FileEntry[];
}

/** Progress of a transfer, given to download/upload as a comlink proxy (at most ~4 calls/s). */
export interface TransferProgress {
  onProgress(bytes: number, total: number | null): void;
}

/** A transfer the engine started: its id for cancelTransfer, and the size when known. */
export interface TransferStarted {
  id: string;
  size: number | null;
}

/**
 * Messages on a transfer's MessagePort. Download (engine → page): "data" chunks, then "done"
 * with the byte count (the only sign of a complete file), or "error"/"cancel"; the page sends
 * "ack" for bytes it has consumed (the engine keeps at most TRANSFER_WINDOW unacknowledged)
 * and may send "cancel". Upload (page → engine): "data" chunks, then "end"; the engine acks
 * bytes it has taken into the SFTP pipeline and answers "done" once the file is stored under its
 * name (it is written to a temporary name and renamed), or "error"/"cancel".
 */
export type TransferMessage =
  | { type: "data"; data: Uint8Array }
  | { type: "ack"; bytes: number }
  | { type: "end" }
  | { type: "done"; bytes: number }
  | { type: "cancel"; reason: string }
  | { type: "error"; message: string };

/** Bytes a transfer's sender keeps in flight ahead of the receiver's acks. */
export const TRANSFER_WINDOW = 4 << 20;

/** Largest "data" chunk either side accepts on a transfer port. */
export const TRANSFER_MAX_CHUNK = 1 << 20;

/** The files calls of EngineApi (SFTP on the session `sessionId`'s SSH connection). */
export interface FilesApi {
  /** Lists a directory ("" or "." is the login directory); errors name the path and cause. */
  listFiles(sessionId: string, path: string): Promise<FileListing>;
  /** One entry's attributes (following links). */
  statFile(sessionId: string, path: string): Promise<FileEntry>;
  /** Renames; fails when `to` exists. */
  renameFile(sessionId: string, from: string, to: string): Promise<void>;
  /** Removes a file, or a directory with everything in it (recursive). */
  removeFile(sessionId: string, path: string): Promise<void>;
  makeDir(sessionId: string, path: string): Promise<void>;
  /**
   * Opens `path` and streams it on `port` (TransferMessage). Rejects when it cannot be opened
   * (no such file, permission denied); failures after that arrive on the port.
   */
  download(
    sessionId: string,
    path: string,
    port: MessagePort,
    progress?: TransferProgress,
  ): Promise<TransferStarted>;
  /**
   * Receives a file on `port` and stores it at `path` (replacing a file there) through a
   * temporary name in the same directory, so a cancelled or failed upload never leaves a file
   * under the final name. `size` (when known) is for progress.
   */
  upload(
    sessionId: string,
    path: string,
    size: number | null,
    port: MessagePort,
    progress?: TransferProgress,
  ): Promise<TransferStarted>;
  /** Cancels a running transfer (a download's stream fails; an upload's temporary file goes). */
  cancelTransfer(id: string): Promise<void>;
}

/** The engine's API includes the files calls (declaration merging keeps this section apart). */
export interface EngineApi extends FilesApi {}

// ---- Live sessions (issue 15): one engine per browser, sessions that outlive a page ----

/**
 * Output bytes the engine keeps of every live session (its scrollback), replayed to a page
 * that attaches later (after a reload). Older output is dropped.
 */
export const SCROLLBACK_BYTES = 1 << 20;

/** A terminal session the engine holds, whichever page opened it. */
export interface LiveSession {
  id: string;
  networkId: string;
  /** The network's name ("mesh" for the mesh). */
  networkName: string;
  /** What the session connected to: an address, or a mesh name. */
  host: string;
  /** The name the person knows the host by (the network's host name), else `host`. */
  hostName: string;
  port: number;
  username: string;
  state: SessionState;
  /** When it connected (ms since the epoch). */
  startedAt: number;
  /** A page's port receives its output now; a page re-attaches only unattached sessions. */
  attached: boolean;
}

/**
 * Messages on a session's port besides TerminalMessage. Page → engine: "hello" (first, the
 * page's id: the page holds the Web Lock `corridor-page-<id>` while it lives, so the engine can
 * tell a crashed page's sessions from held ones) and "detach" (the page is going away: the
 * session lives on, its output kept in the scrollback only). Engine → page: "taken" (another
 * page attached the session; the engine closes this port after it).
 */
export type LiveSessionMessage =
  | { type: "hello"; page: string }
  | { type: "detach" }
  | { type: "taken" };

/** The Web Lock a page holds while it lives, named by its id ("hello"). */
export const PAGE_LOCK_PREFIX = "corridor-page-";

/** The live-session calls of the engine (declaration merging adds them to EngineApi). */
export interface EngineApi {
  /** Sessions the engine holds that have not ended, oldest first. */
  listSessions(): Promise<LiveSession[]>;
  /**
   * Attaches a page to a live session: the scrollback is replayed on `port`, then live output
   * follows; input, resizes and acks are taken from `port`. The port attached before is sent
   * "taken" and closed, and `ui` replaces the previous page's for the session's callbacks.
   * Rejects when the session ended (or the engine restarted since).
   */
  attachSession(id: string, ui: SessionUi, port: MessagePort): Promise<LiveSession>;
}
